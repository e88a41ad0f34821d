import { GetBucketEncryptionCommand, PutObjectCommand, GetObjectCommand } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { ChangeMessageVisibilityCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { beforeEach, describe, expect, it } from 'vitest';
import { stepMaxReceiveCount } from '../../infra/stacks/messaging-stack';
import { aws } from '../helpers/aws';
import { eventually } from '../helpers/poll';
import { resetData } from '../helpers/reset';
import { stack } from '../helpers/stack';

beforeEach(resetData);

describe('the step queue', () => {
  it('is deployed with its redrive policy to the DLQ', async () => {
    const { Attributes } = await aws.sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: stack.stepQueueUrl, AttributeNames: ['RedrivePolicy'] }),
    );
    const dlq = await aws.sqs.send(new GetQueueAttributesCommand({ QueueUrl: stack.stepDlqUrl, AttributeNames: ['QueueArn'] }));

    expect(JSON.parse(Attributes?.RedrivePolicy ?? '{}')).toEqual({
      deadLetterTargetArn: dlq.Attributes?.QueueArn,
      maxReceiveCount: stepMaxReceiveCount,
    });
  });

  it(`moves a message received ${stepMaxReceiveCount} times without being deleted to the DLQ`, async () => {
    const body = JSON.stringify({ poison: Date.now() });
    await aws.sqs.send(new SendMessageCommand({ QueueUrl: stack.stepQueueUrl, MessageBody: body }));

    let receives = 0;
    const deadLettered = await eventually(
      'the message on the DLQ',
      async () => {
        const { Messages } = await aws.sqs.send(new ReceiveMessageCommand({ QueueUrl: stack.stepQueueUrl, MaxNumberOfMessages: 1, WaitTimeSeconds: 1 }));
        for (const message of Messages ?? []) {
          receives += 1;
          // Give it back at once, as a crashing consumer would (after its visibility timeout).
          await aws.sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: stack.stepQueueUrl, ReceiptHandle: message.ReceiptHandle!, VisibilityTimeout: 0 }));
        }
        const dlq = await aws.sqs.send(new ReceiveMessageCommand({ QueueUrl: stack.stepDlqUrl, MaxNumberOfMessages: 1 }));
        return dlq.Messages?.find((message) => message.Body === body);
      },
      { timeoutMs: 30_000, intervalMs: 50 },
    );

    expect(deadLettered.Body).toBe(body);
    expect(receives).toBe(stepMaxReceiveCount);
  });
});

describe('the artifacts bucket', () => {
  it('is encrypted at rest and serves an object through a short-lived signed URL', async () => {
    const key = `e2e/${Date.now()}/hello.txt`;
    await aws.s3.send(new PutObjectCommand({ Bucket: stack.artifactsBucket, Key: key, Body: 'hello, artifact', ContentType: 'text/plain' }));

    const url = await getSignedUrl(aws.s3, new GetObjectCommand({ Bucket: stack.artifactsBucket, Key: key }), { expiresIn: 60 });
    const fetched = await fetch(url);
    const encryption = await aws.s3.send(new GetBucketEncryptionCommand({ Bucket: stack.artifactsBucket }));

    expect(fetched.status).toBe(200);
    expect(await fetched.text()).toBe('hello, artifact');
    expect(encryption.ServerSideEncryptionConfiguration?.Rules?.[0]?.ApplyServerSideEncryptionByDefault?.SSEAlgorithm).toBe('AES256');
  });
});
