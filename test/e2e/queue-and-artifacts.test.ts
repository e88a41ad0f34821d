import { GetBucketEncryptionCommand, PutObjectCommand, GetObjectCommand } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { beforeEach, describe, expect, it } from 'vitest';
import { stepMaxReceiveCount } from '../../infra/stacks/messaging-stack';
import { aws } from '../helpers/aws';
import { resetData } from '../helpers/reset';
import { stack } from '../helpers/stack';

beforeEach(resetData);

// That the redrive really happens on the emulator is proven through the engine: see
// engine-failures.test.ts (a step whose worker crashes on every delivery is dead-lettered).
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
