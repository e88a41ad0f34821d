import { PutCommand } from '@aws-sdk/lib-dynamodb';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { addUsage, emptyUsage, usageSinceCheckpoint, type Usage } from '#shared/clients/usage-meter';
import { createMetering } from '#shared/middleware/metering';
import { createMemoryProjectCounterStore } from '#shared/store/memory-project-counters';
import { sqsStack } from '#shared/middleware/sqs';
import { stepMessage, type StepMessage } from '#shared/schemas/messages';
import { lambdaContext } from '../../fixtures/lambda';
import { silentLogger } from '../../helpers/fakes';
import { meteredTable as table } from '../../helpers/metered-table';

const record = (body: string, id: string): SQSRecord =>
  ({ messageId: id, receiptHandle: `r-${id}`, body, attributes: { ApproximateReceiveCount: '1' }, messageAttributes: {}, eventSource: 'aws:sqs' }) as unknown as SQSRecord;
const batch = (...bodies: string[]): SQSEvent => ({ Records: bodies.map((body, index) => record(body, `m${index}`)) });
const message = (runId: string, stepId: string) => JSON.stringify({ runId, stepId, attempt: 0 });

/** What a consumer recorded on its steps, and what the metering added to each run. */
function harness() {
  const documents = table();
  const stepRecords: Usage[] = [];
  const runRemainders = new Map<string, Usage>();
  const metering = createMetering({
    service: 'test',
    logger: silentLogger(),
    runUsage: async (runId, usage) => void runRemainders.set(runId, addUsage(runRemainders.get(runId) ?? emptyUsage(), usage)),
    counters: createMemoryProjectCounterStore(),
  });
  const write = (units: number) => documents.send(new PutCommand({ TableName: 't', Item: { pk: 'x', sk: 'y', units } }));
  /**
   * One noop step as the worker runs it: claim (1 unit), then the outcome write carries what was
   * spent so far (the worker's recordOutcome), then that write itself (2 units, a transaction)
   * and a release (1 unit) follow it.
   */
  const runStep = async () => {
    await write(1);
    stepRecords.push(usageSinceCheckpoint()!);
    await write(2);
    await write(1);
  };
  const total = () => [...stepRecords, ...runRemainders.values()].reduce(addUsage, emptyUsage());
  return { metering, runStep, stepRecords, runRemainders, total };
}

describe('the SQS consumer stack', () => {
  it('reports a throwing record and an unreadable one as batch item failures and deletes the rest', async () => {
    const { metering } = harness();
    const handled: string[] = [];
    const handler = sqsStack({
      logger: silentLogger(),
      metering,
      body: stepMessage,
      unreadable: 'fail',
      runsOf: (body) => [body.runId],
      handle: async (body: StepMessage) => {
        handled.push(body.stepId);
        if (body.stepId === 'boom') throw new Error('crashed');
      },
    });

    const response = await handler(batch(message('run_1', 'a'), message('run_1', 'boom'), 'not json', JSON.stringify({ runId: 'run_1' })), lambdaContext());

    expect(handled).toEqual(['a', 'boom']);
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: 'm1' }, { itemIdentifier: 'm2' }, { itemIdentifier: 'm3' }]);
  });

  it('drops an unreadable message when told to (a DLQ consumer), and still fails a throwing one', async () => {
    const { metering } = harness();
    const handler = sqsStack({
      logger: silentLogger(),
      metering,
      body: stepMessage,
      unreadable: 'drop',
      runsOf: (body) => [body.runId],
      handle: async () => {
        throw new Error('store down');
      },
    });

    const response = await handler(batch('{"hello":1}', message('run_1', 'a')), lambdaContext());

    expect(response.batchItemFailures).toEqual([{ itemIdentifier: 'm1' }]);
  });

  it('adds to its run what a message spent after its last step record: the outcome write itself and what follows it', async () => {
    const { metering, runStep, stepRecords, runRemainders } = harness();
    const handler = sqsStack({ logger: silentLogger(), metering, body: stepMessage, unreadable: 'fail', runsOf: (body) => [body.runId], handle: runStep });

    await handler(batch(message('run_1', 'a')), lambdaContext());

    expect(stepRecords.map((usage) => usage.dynamodb.writeUnits)).toEqual([1]);
    expect(runRemainders.get('run_1')?.dynamodb.writeUnits).toBe(3);
    expect(runRemainders.get('run_1')?.calls).toEqual({ 'DynamoDB.PutItem': 2 });
  });

  it('charges the same units per step to a fan (one step per message, in parallel) as to a chain (steps in one message)', async () => {
    const fan = harness();
    const chain = harness();
    const fanHandler = sqsStack({ logger: silentLogger(), metering: fan.metering, body: stepMessage, unreadable: 'fail', processInParallel: true, runsOf: (body) => [body.runId], handle: fan.runStep });
    const chainHandler = sqsStack({
      logger: silentLogger(),
      metering: chain.metering,
      body: stepMessage,
      unreadable: 'fail',
      runsOf: (body) => [body.runId],
      handle: async () => {
        for (let step = 0; step < 5; step += 1) await chain.runStep();
      },
    });

    await fanHandler(batch(...['a', 'b', 'c', 'd', 'e'].map((step) => message('run_fan', step))), lambdaContext());
    await chainHandler(batch(message('run_chain', 'a')), lambdaContext());

    // Each step costs 4 write units in both shapes, and every one of them is recorded somewhere.
    expect(fan.total().dynamodb.writeUnits / 5).toBe(4);
    expect(chain.total().dynamodb.writeUnits / 5).toBe(4);
    expect(fan.total().calls).toEqual(chain.total().calls);
    // Without the run's remainder a fan would show 1 unit per step and a chain 3.4.
    expect(fan.stepRecords.reduce(addUsage, emptyUsage()).dynamodb.writeUnits / 5).toBe(1);
    expect(chain.stepRecords.reduce(addUsage, emptyUsage()).dynamodb.writeUnits / 5).toBe(3.4);
  });
});
