import type { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { APIGatewayProxyEventV2, SQSEvent } from 'aws-lambda';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createDispatcher } from '#shared/clients/step-dispatcher';
import { CorrelatedLogger, callerRequestId, withCorrelation } from '#shared/middleware/correlation';
import { httpStack, json } from '#shared/middleware/http';
import { createMetering } from '#shared/middleware/metering';
import { sqsStack } from '#shared/middleware/sqs';
import { createMemoryProjectCounterStore } from '#shared/store/memory-project-counters';
import { stepMessage, stepMessageCorrelation } from '#shared/schemas/messages';
import { lambdaContext } from '../../fixtures/lambda';
import { silentLogger } from '../../helpers/fakes';

/** The JSON lines a Powertools Logger wrote to stdout while the test ran. */
let lines: Record<string, unknown>[] = [];
beforeEach(() => {
  lines = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
    return true;
  });
});
afterEach(() => vi.restoreAllMocks());
const logged = (message: string) => lines.filter((line) => line.message === message);

const stepBatch = (...bodies: object[]): SQSEvent => ({
  Records: bodies.map((body, index) => ({ messageId: `m${index}`, receiptHandle: `r${index}`, body: JSON.stringify(body), attributes: { ApproximateReceiveCount: '1' }, messageAttributes: {}, eventSource: 'aws:sqs' })),
} as unknown as SQSEvent);

/** An SQS queue that keeps the bodies it was sent. */
const recordingQueue = () => {
  const bodies: Record<string, unknown>[] = [];
  const sqs = {
    send: async (command: SendMessageBatchCommand) => {
      for (const entry of command.input.Entries ?? []) bodies.push(JSON.parse(entry.MessageBody!) as Record<string, unknown>);
      return { Successful: [], Failed: [] };
    },
  } as unknown as SQSClient;
  return { sqs, bodies };
};

describe('correlation: one request id from the API through the queue to each step', () => {
  it('puts each record\'s run, step, attempt and request id on its lines, records in parallel never mixing, and none after', async () => {
    // Prepare: two records whose work interleaves (each logs, waits, logs again).
    const logger = new CorrelatedLogger({ serviceName: 'test' });
    const handler = sqsStack({
      logger,
      metering: createMetering({ service: 'test', logger: silentLogger(), runUsage: async () => undefined, counters: createMemoryProjectCounterStore() }),
      body: stepMessage,
      unreadable: 'fail',
      processInParallel: true,
      runsOf: (message) => [message.runId],
      correlationOf: stepMessageCorrelation,
      handle: async (message) => {
        logger.info('working');
        await new Promise((resolve) => setTimeout(resolve, message.stepId === 'a' ? 20 : 1));
        logger.info('worked', { result: 'ok' });
      },
    });

    // Act
    await handler(stepBatch({ runId: 'run_1', stepId: 'a', attempt: 0, requestId: 'req-start' }, { runId: 'run_2', stepId: 'b', attempt: 2 }), lambdaContext());
    logger.info('after the batch');

    // Assess
    const keysOf = (line: Record<string, unknown>) => ({ runId: line.runId, stepId: line.stepId, attempt: line.attempt, requestId: line.requestId });
    expect([...logged('working'), ...logged('worked')].map(keysOf)).toEqual(expect.arrayContaining([
      { runId: 'run_1', stepId: 'a', attempt: 1, requestId: 'req-start' },
      { runId: 'run_2', stepId: 'b', attempt: 3, requestId: undefined },
    ]));
    expect(logged('worked').map((line) => [line.runId, line.stepId, line.attempt].map(String).join('/')).sort()).toEqual(['run_1/a/1', 'run_2/b/3']);
    expect(logged('worked')[0]).toMatchObject({ result: 'ok', service: 'test' });
    expect(keysOf(logged('after the batch')[0]!)).toEqual({ runId: undefined, stepId: undefined, attempt: undefined, requestId: undefined });
  });

  it('stamps the request id of the sending scope on every step message, keeping one a message already names', async () => {
    const queue = recordingQueue();
    const dispatcher = createDispatcher({ sqs: queue.sqs, queueUrl: 'q', gatherMs: 1 });

    await withCorrelation({ requestId: 'req-1' }, () =>
      dispatcher.send([{ message: { runId: 'run_1', stepId: 'a', attempt: 0 } }, { message: { runId: 'run_1', stepId: 'b', attempt: 0, requestId: 'req-0' } }]),
    );
    await dispatcher.send([{ message: { runId: 'run_1', stepId: 'c', attempt: 0 } }]);

    expect(queue.bodies).toEqual([
      { runId: 'run_1', stepId: 'a', attempt: 0, requestId: 'req-1' },
      { runId: 'run_1', stepId: 'b', attempt: 0, requestId: 'req-0' },
      { runId: 'run_1', stepId: 'c', attempt: 0 },
    ]);
    expect(stepMessage.parse(queue.bodies[0])).toMatchObject({ requestId: 'req-1' });
  });

  it('takes the caller\'s x-request-id for the API request (header, error body, log lines, messages sent) and refuses unusable ones', async () => {
    const queue = recordingQueue();
    const dispatcher = createDispatcher({ sqs: queue.sqs, queueUrl: 'q', gatherMs: 1 });
    const logger = new CorrelatedLogger({ serviceName: 'api' });
    const handler = httpStack(async () => {
      logger.info('starting a run');
      await dispatcher.send([{ message: { runId: 'run_9', stepId: 'root', attempt: 0 } }]);
      return json(201, {});
    }, { logger, corsOrigins: [] });
    const request = (headers: Record<string, string>) =>
      ({ version: '2.0', rawPath: '/', headers, requestContext: { requestId: 'apigw-1', http: { method: 'POST', path: '/' } }, isBase64Encoded: false } as unknown as APIGatewayProxyEventV2);

    const chosen = await handler(request({ 'x-request-id': 'my-trace-42' }), lambdaContext());
    const refused = await handler(request({ 'x-request-id': 'has spaces\nand a newline' }), lambdaContext());

    expect(chosen.headers?.['x-request-id']).toBe('my-trace-42');
    expect(refused.headers?.['x-request-id']).toBe('apigw-1');
    expect(logged('starting a run').map((line) => line.requestId)).toEqual(['my-trace-42', 'apigw-1']);
    expect(queue.bodies.map((body) => body.requestId)).toEqual(['my-trace-42', 'apigw-1']);
    expect(callerRequestId('x'.repeat(129))).toBeUndefined();
    expect(callerRequestId('')).toBeUndefined();
  });
});
