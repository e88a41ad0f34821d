import { createHash } from 'node:crypto';
import { DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { ReceiveMessageCommand, SendMessageBatchCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { BatchGetCommand, DynamoDBDocumentClient, GetCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import type { HttpRequest, HttpResponse } from '@smithy/types';
import { describe, expect, it } from 'vitest';
import { createDocumentClient } from '#shared/clients/dynamodb';
import { createEventBridgeClient } from '#shared/clients/eventbridge';
import { createS3Client } from '#shared/clients/s3';
import { createSecretsClient } from '#shared/clients/secrets-manager';
import { createSqsClient } from '#shared/clients/sqs';
import { addUsage, attachUsageMeter, currentUsage, emptyUsage, meterUsage, usageFromItem } from '#shared/clients/usage-meter';

type Body = Record<string, unknown>;
interface Reply {
  status?: number;
  body: Body;
  delayMs?: number;
}

// The JSON protocols hand the handler a string or, lately, the serialized bytes.
const requestText = (body: unknown): string =>
  typeof body === 'string' ? body : body instanceof Uint8Array ? Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8') : '{}';

/**
 * Stands in for AWS at the HTTP layer, so the real serializers, deserializers and middleware run.
 * DynamoDB, SQS and EventBridge all speak AWS JSON: the operation is in `x-amz-target`.
 */
class FakeAws {
  readonly requests: { operation: string; body: Body }[] = [];

  constructor(private readonly reply: (operation: string, body: Body) => Reply) {}

  async handle(request: HttpRequest): Promise<{ response: HttpResponse }> {
    const operation = (request.headers['x-amz-target'] ?? '').split('.').pop() ?? '';
    const body = JSON.parse(requestText(request.body)) as Body;
    this.requests.push({ operation, body });
    const { status = 200, body: responseBody, delayMs = 0 } = this.reply(operation, body);
    await new Promise((resolve) => setTimeout(resolve, delayMs));
    return {
      response: { statusCode: status, headers: { 'content-type': 'application/x-amz-json-1.0' }, body: Buffer.from(JSON.stringify(responseBody)) },
    };
  }

  updateHttpClientConfig(): void {}

  httpHandlerConfigs(): Record<string, never> {
    return {};
  }
}

const clientConfig = (aws: FakeAws) => ({
  region: 'us-east-1',
  credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  maxAttempts: 1,
  requestHandler: aws,
});

const dynamodb = (aws: FakeAws) => DynamoDBDocumentClient.from(attachUsageMeter(new DynamoDBClient(clientConfig(aws))));
const sqs = (aws: FakeAws) => attachUsageMeter(new SQSClient(clientConfig(aws)));
const eventBridge = (aws: FakeAws) => attachUsageMeter(new EventBridgeClient(clientConfig(aws)));

const md5 = (text: string) => createHash('md5').update(text).digest('hex');

// DynamoDB answers with the capacity only when asked, as the real service does.
const dynamodbReply =
  (capacity: Record<string, Body | Body[]>, delayMs = 0) =>
  (operation: string, request: Body): Reply => ({
    body: request.ReturnConsumedCapacity && capacity[operation] ? { ConsumedCapacity: capacity[operation] } : {},
    delayMs,
  });

// The SQS client checks the MD5 of every body it sent, so the fake computes them like SQS does.
const sqsReply = (operation: string, request: Body): Reply => {
  if (operation === 'SendMessage') return { body: { MessageId: 'm-1', MD5OfMessageBody: md5(String(request.MessageBody)) } };
  if (operation === 'SendMessageBatch') {
    const entries = request.Entries as { Id: string; MessageBody: string }[];
    return { body: { Successful: entries.map(({ Id, MessageBody }) => ({ Id, MessageId: `m-${Id}`, MD5OfMessageBody: md5(MessageBody) })), Failed: [] } };
  }
  return { body: {} };
};

const transactWrite = new TransactWriteCommand({
  TransactItems: [
    { Put: { TableName: 'baton', Item: { pk: 'RUN#1', sk: 'STEP#a', status: 'done' } } },
    { Update: { TableName: 'baton', Key: { pk: 'RUN#1', sk: 'RUN' }, UpdateExpression: 'ADD done :one', ExpressionAttributeValues: { ':one': 1 } } },
  ],
});

describe('usage meter', () => {
  it('counts calls by service and operation and sums the DynamoDB capacity they report', async () => {
    const aws = new FakeAws(
      dynamodbReply({
        TransactWriteItems: [{ TableName: 'baton', CapacityUnits: 4, WriteCapacityUnits: 4 }],
        GetItem: { TableName: 'baton', CapacityUnits: 0.5 },
      }),
    );
    const documents = dynamodb(aws);

    const { result, usage } = await meterUsage(async () => {
      await documents.send(transactWrite);
      await documents.send(new GetCommand({ TableName: 'baton', Key: { pk: 'RUN#1', sk: 'RUN' } }));
      return 'processed';
    });

    expect(result).toBe('processed');
    expect(usage.calls).toEqual({ 'DynamoDB.TransactWriteItems': 1, 'DynamoDB.GetItem': 1 });
    expect(usage.dynamodb).toEqual({ readUnits: 0.5, writeUnits: 4 });
  });

  it("counts a transaction's index writes, which its WriteCapacityUnits leave out and its CapacityUnits hold", async () => {
    const aws = new FakeAws(dynamodbReply({ TransactWriteItems: [{ TableName: 'baton', CapacityUnits: 6, WriteCapacityUnits: 4 }] }));
    const documents = dynamodb(aws);

    const { usage } = await meterUsage(async () => documents.send(transactWrite));

    expect(usage.dynamodb).toEqual({ readUnits: 0, writeUnits: 6 });
  });

  it('estimates the read units of a read that comes back without the capacity asked for (an emulator gap), and takes the reported ones otherwise', async () => {
    const run = { pk: { S: 'RUN#1' }, sk: { S: 'META' }, note: { S: 'x'.repeat(5000) } };
    const aws = new FakeAws((operation, request) =>
      operation === 'BatchGetItem'
        ? { body: { Responses: { baton: [run] }, UnprocessedKeys: {} } }
        : { body: { Item: run, ...(request.ReturnConsumedCapacity ? { ConsumedCapacity: { TableName: 'baton', CapacityUnits: 1 } } : {}) } },
    );
    const documents = dynamodb(aws);

    const { usage } = await meterUsage(async () => {
      // The run (5 KB: 2 units) and a step not found (1 unit), strongly consistent.
      await documents.send(new BatchGetCommand({ RequestItems: { baton: { Keys: [{ pk: 'RUN#1', sk: 'META' }, { pk: 'RUN#1', sk: 'STEP#a' }], ConsistentRead: true } } }));
      // Reported: 1 unit, whatever the estimate would say.
      await documents.send(new GetCommand({ TableName: 'baton', Key: { pk: 'RUN#1', sk: 'META' } }));
    });

    expect(aws.requests.map(({ body }) => body.ReturnConsumedCapacity)).toEqual(['TOTAL', 'TOTAL']);
    expect(usage.dynamodb).toEqual({ readUnits: 3 + 1, writeUnits: 0 });
  });

  it('asks DynamoDB for the consumed capacity unless the caller chose a level', async () => {
    const aws = new FakeAws(dynamodbReply({ GetItem: { TableName: 'baton', CapacityUnits: 1 } }));
    const documents = dynamodb(aws);
    const input = { TableName: 'baton', Key: { pk: 'RUN#1', sk: 'RUN' } };

    await meterUsage(async () => {
      await documents.send(new GetCommand(input));
      await documents.send(new GetCommand({ ...input, ReturnConsumedCapacity: 'INDEXES' }));
    });

    expect(aws.requests.map(({ body }) => body.ReturnConsumedCapacity)).toEqual(['TOTAL', 'INDEXES']);
    expect(input).not.toHaveProperty('ReturnConsumedCapacity');
  });

  it('counts SQS billable requests per started 64 KB of payload', async () => {
    const aws = new FakeAws(sqsReply);
    const queue = sqs(aws);
    const QueueUrl = 'https://sqs.us-east-1.amazonaws.com/000000000000/steps';
    const thirtyKb = 'x'.repeat(30 * 1024);

    const { usage } = await meterUsage(async () => {
      await queue.send(new SendMessageCommand({ QueueUrl, MessageBody: '{"runId":"1"}' }));
      // 3 × 30 KB = 90 KB: two 64 KB chunks.
      await queue.send(new SendMessageBatchCommand({ QueueUrl, Entries: ['a', 'b', 'c'].map((Id) => ({ Id, MessageBody: thirtyKb })) }));
      await queue.send(new ReceiveMessageCommand({ QueueUrl }));
    });

    expect(usage.calls).toEqual({ 'SQS.SendMessage': 1, 'SQS.SendMessageBatch': 1, 'SQS.ReceiveMessage': 1 });
    expect(usage.sqsBillableRequests).toBe(1 + 2 + 1);
  });

  it('counts only the EventBridge entries that were accepted', async () => {
    const aws = new FakeAws(() => ({ body: { FailedEntryCount: 1, Entries: [{ EventId: 'e-1' }, { ErrorCode: 'InternalFailure' }] } }));
    const bus = eventBridge(aws);
    const entry = { Source: 'baton', DetailType: 'run.completed', Detail: '{"runId":"1"}', EventBusName: 'baton' };

    const { usage } = await meterUsage(async () => {
      await bus.send(new PutEventsCommand({ Entries: [entry, entry] }));
    });

    expect(usage.calls).toEqual({ 'EventBridge.PutEvents': 1 });
    expect(usage.eventsPublished).toBe(1);
  });

  it('counts a failed call, and the write a failed condition still bills', async () => {
    const aws = new FakeAws(() => ({
      status: 400,
      body: { __type: 'com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException', message: 'The conditional request failed' },
    }));
    const client = attachUsageMeter(new DynamoDBClient(clientConfig(aws)));
    let usage = emptyUsage();

    const claim = meterUsage(async () => {
      try {
        await client.send(new PutItemCommand({ TableName: 'baton', Item: { pk: { S: 'RUN#1' } }, ConditionExpression: 'attribute_not_exists(pk)' }));
      } finally {
        usage = currentUsage() ?? usage;
      }
    });

    await expect(claim).rejects.toMatchObject({ name: 'ConditionalCheckFailedException' });
    expect(usage.calls).toEqual({ 'DynamoDB.PutItem': 1 });
    expect(usage.dynamodb.writeUnits).toBe(1);
  });

  it('keeps concurrent scopes apart', async () => {
    // Every reply takes a while, so both scopes' calls are in flight at once.
    const aws = new FakeAws(dynamodbReply({ GetItem: { TableName: 'baton', CapacityUnits: 1 } }, 5));
    const documents = dynamodb(aws);
    const read = () => documents.send(new GetCommand({ TableName: 'baton', Key: { pk: 'RUN#1', sk: 'RUN' } }));

    const [one, three] = await Promise.all([
      meterUsage(async () => read()),
      meterUsage(async () => Promise.all([read(), read(), read()])),
    ]);

    expect(one.usage.calls).toEqual({ 'DynamoDB.GetItem': 1 });
    expect(one.usage.dynamodb.readUnits).toBe(1);
    expect(three.usage.calls).toEqual({ 'DynamoDB.GetItem': 3 });
    expect(three.usage.dynamodb.readUnits).toBe(3);
  });

  it('adds a nested scope to the scope around it', async () => {
    const aws = new FakeAws(sqsReply);
    const queue = sqs(aws);
    const send = () => queue.send(new SendMessageCommand({ QueueUrl: 'https://sqs.us-east-1.amazonaws.com/000000000000/steps', MessageBody: '{}' }));

    const outer = await meterUsage(async () => {
      await send();
      return meterUsage(send);
    });

    expect(outer.result.usage.calls).toEqual({ 'SQS.SendMessage': 1 });
    expect(outer.usage.calls).toEqual({ 'SQS.SendMessage': 2 });
  });

  it('records nothing and changes no request outside a scope', async () => {
    const aws = new FakeAws(dynamodbReply({ TransactWriteItems: [{ TableName: 'baton', CapacityUnits: 4 }] }));

    await dynamodb(aws).send(transactWrite);

    expect(currentUsage()).toBeUndefined();
    expect(aws.requests[0]?.body).not.toHaveProperty('ReturnConsumedCapacity');
  });

  it('is attached to every client the factories create', () => {
    const clients = [createDocumentClient(), createS3Client(), createSqsClient(), createEventBridgeClient(), createSecretsClient()];

    for (const client of clients) expect(client.middlewareStack.identify()).toContainEqual(expect.stringMatching(/^batonUsageMeter /));
  });
});

describe('usage values', () => {
  it('adds usages without changing either', () => {
    const a = { ...emptyUsage(), calls: { 'SQS.SendMessage': 2 }, sqsBillableRequests: 2 };
    const b = { ...emptyUsage(), calls: { 'SQS.SendMessage': 1, 'S3.PutObject': 1 }, dynamodb: { readUnits: 1, writeUnits: 2 }, lambdaInvocations: 1 };

    expect(addUsage(a, b)).toEqual({
      calls: { 'SQS.SendMessage': 3, 'S3.PutObject': 1 },
      dynamodb: { readUnits: 1, writeUnits: 2 },
      sqsBillableRequests: 2,
      eventsPublished: 0,
      lambdaInvocations: 1,
    });
    expect(a.calls).toEqual({ 'SQS.SendMessage': 2 });
  });

  it('reads back what was stored, and zero for anything missing or malformed', () => {
    const stored = { calls: { 'DynamoDB.Query': 2, 'SQS.SendMessage': 'x' }, dynamodb: { readUnits: '1.5' }, eventsPublished: -3, sqsBillableRequests: 4 };

    expect(usageFromItem(stored)).toEqual({
      calls: { 'DynamoDB.Query': 2 },
      dynamodb: { readUnits: 1.5, writeUnits: 0 },
      sqsBillableRequests: 4,
      eventsPublished: 0,
    });
    expect(usageFromItem(undefined)).toEqual(emptyUsage());
    expect(usageFromItem(['not', 'usage'])).toEqual(emptyUsage());
  });
});
