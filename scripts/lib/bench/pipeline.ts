import { CreateTableCommand, DeleteTableCommand, DynamoDBClient, ScanCommand, waitUntilTableExists } from '@aws-sdk/client-dynamodb';
import {
  CreateEventSourceMappingCommand,
  CreateFunctionCommand,
  DeleteEventSourceMappingCommand,
  DeleteFunctionCommand,
  GetEventSourceMappingCommand,
  LambdaClient,
  waitUntilFunctionActiveV2,
} from '@aws-sdk/client-lambda';
import { CreateQueueCommand, DeleteQueueCommand, GetQueueAttributesCommand, SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { build } from 'esbuild';
import { zipSync } from 'fflate';
import type { PipelineMeasurement } from './report';

/**
 * The bare pipeline Baton is built on (issue 11): SQS → a Lambda with batch size 10 → one
 * conditional PutItem per message. The bench deploys it into the same emulator under names of
 * its own, runs it with as many messages as a case has steps, and removes it.
 */
const handlerSource = `
import { DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
const client = new DynamoDBClient({});
export const handler = async (event) => {
  const batchItemFailures = [];
  await Promise.all(event.Records.map(async (record) => {
    try {
      await client.send(new PutItemCommand({
        TableName: process.env.TABLE_NAME,
        Item: { pk: { S: record.body } },
        ConditionExpression: 'attribute_not_exists(pk)',
      }));
    } catch (error) {
      // A redelivered message finds its item written: done. Anything else is retried by SQS.
      if (error.name !== 'ConditionalCheckFailedException') batchItemFailures.push({ itemIdentifier: record.messageId });
    }
  }));
  return { batchItemFailures };
};
`;

/** The handler bundled as CDK bundles Baton's functions (esbuild, CommonJS, SDK inside). */
async function bundledHandler(root: string): Promise<Uint8Array> {
  const result = await build({
    stdin: { contents: handlerSource, resolveDir: root, loader: 'js' },
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    minify: true,
    write: false,
  });
  return zipSync({ 'index.js': result.outputFiles[0]!.contents });
}

export interface BarePipeline {
  /** Sends `messages` messages and waits until each has its item; the time from first send to last item. */
  measure(messages: number): Promise<PipelineMeasurement>;
  remove(): Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function deployBarePipeline({ root, log }: { root: string; log: (line: string) => void }): Promise<BarePipeline> {
  const name = `baton-bench-pipeline-${Date.now().toString(36)}`;
  const sqs = new SQSClient({});
  const dynamodb = new DynamoDBClient({});
  const lambda = new LambdaClient({});
  const removals: (() => Promise<unknown>)[] = [];
  const remove = async () => {
    for (const step of removals.reverse()) await step().catch((error: unknown) => log(`bench: removing the pipeline: ${String(error)}`));
    removals.length = 0;
  };

  try {
    const queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: { VisibilityTimeout: '30' } }))).QueueUrl!;
    removals.push(() => sqs.send(new DeleteQueueCommand({ QueueUrl: queueUrl })));
    const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }));

    await dynamodb.send(
      new CreateTableCommand({
        TableName: name,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      }),
    );
    removals.push(() => dynamodb.send(new DeleteTableCommand({ TableName: name })));
    await waitUntilTableExists({ client: dynamodb, maxWaitTime: 60, minDelay: 1, maxDelay: 2 }, { TableName: name });

    await lambda.send(
      new CreateFunctionCommand({
        FunctionName: name,
        Runtime: 'nodejs24.x',
        Architectures: ['arm64'],
        Handler: 'index.handler',
        MemorySize: 512,
        Timeout: 30,
        // The emulator checks no role; on AWS this would be the function's own execution role.
        Role: `arn:aws:iam::000000000000:role/${name}`,
        Code: { ZipFile: await bundledHandler(root) },
        Environment: { Variables: { TABLE_NAME: name } },
      }),
    );
    removals.push(() => lambda.send(new DeleteFunctionCommand({ FunctionName: name })));
    await waitUntilFunctionActiveV2({ client: lambda, maxWaitTime: 60, minDelay: 1, maxDelay: 2 }, { FunctionName: name });

    const mapping = await lambda.send(
      new CreateEventSourceMappingCommand({
        EventSourceArn: Attributes!.QueueArn!,
        FunctionName: name,
        BatchSize: 10,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        Enabled: true,
      }),
    );
    removals.push(() => lambda.send(new DeleteEventSourceMappingCommand({ UUID: mapping.UUID! })));
    for (let tries = 0; tries < 60; tries += 1) {
      const { State } = await lambda.send(new GetEventSourceMappingCommand({ UUID: mapping.UUID! }));
      if (State === 'Enabled') break;
      await sleep(500);
    }

    let round = 0;
    const measure = async (messages: number): Promise<PipelineMeasurement> => {
      round += 1;
      const prefix = `r${round}-`;
      const bodies = Array.from({ length: messages }, (_, index) => `${prefix}${index}`);
      const began = performance.now();
      // Ten requests in flight, ten messages each, as a producer would send.
      const batches: string[][] = [];
      for (let start = 0; start < bodies.length; start += 10) batches.push(bodies.slice(start, start + 10));
      await Promise.all(
        Array.from({ length: Math.min(10, batches.length) }, async () => {
          for (let batch = batches.shift(); batch; batch = batches.shift()) {
            const entries = batch.map((body, index) => ({ Id: String(index), MessageBody: body }));
            const result = await sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: entries }));
            if (result.Failed?.length) throw new Error(`the pipeline's queue refused ${result.Failed.length} message(s)`);
          }
        }),
      );
      const deadline = Date.now() + 300_000;
      for (;;) {
        const { Count } = await dynamodb.send(
          new ScanCommand({ TableName: name, Select: 'COUNT', FilterExpression: 'begins_with(pk, :prefix)', ExpressionAttributeValues: { ':prefix': { S: prefix } } }),
        );
        if ((Count ?? 0) >= messages) break;
        if (Date.now() > deadline) throw new Error(`the bare pipeline wrote ${Count} of ${messages} items in 300 s`);
        await sleep(100);
      }
      return { messages, seconds: (performance.now() - began) / 1000 };
    };
    return { measure, remove };
  } catch (error) {
    await remove();
    throw error;
  }
}
