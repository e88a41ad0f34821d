import { InvokeCommand } from '@aws-sdk/client-lambda';
import { GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { unwrap, type SaveWorkflowBody } from '#sdk';
import { keys } from '#shared/store/keys';
import { aws } from '../helpers/aws';
import { subscribeToBus, type BusSubscription } from '../helpers/bus';
import { engineClient } from '../helpers/engine';
import { eventually } from '../helpers/poll';
import { resetData } from '../helpers/reset';
import { stack } from '../helpers/stack';

beforeEach(resetData);

/** Runs the deployed sweeper now, as its schedule would. */
interface SweepReport {
  republished: number;
  leasesExpired: number;
  timersDue: number;
  deadlinesPassed: number;
}
async function runSweeper(): Promise<SweepReport> {
  const response = await aws.lambda.send(new InvokeCommand({ FunctionName: stack.sweeperFunction, Payload: new TextEncoder().encode('{}') }));
  expect(response.FunctionError).toBeUndefined();
  return JSON.parse(new TextDecoder().decode(response.Payload)) as SweepReport;
}

describe('the sweeper on the deployed stack', () => {
  it('recovers a step whose worker died without reporting, once its lease has expired', async () => {
    const client = await engineClient();
    const workflowId = await client.workflow({ name: 'orphan', steps: [{ id: 'lost', kind: 'noop', input: { ok: true } }] });
    const { id } = await client.run(workflowId, { start: false });
    // What a worker leaves behind when it dies after its claim and its message is gone:
    // the run running, the step running with a lease that has run out, and nothing in the queue.
    // Expired well beyond the queue's visibility timeout: no redelivery is coming.
    const expired = new Date(Date.now() - 10 * 60_000).toISOString();
    await aws.documents.send(new UpdateCommand({ TableName: stack.tableName, Key: keys.run(id), UpdateExpression: 'SET #s = :running', ExpressionAttributeNames: { '#s': 'status' }, ExpressionAttributeValues: { ':running': 'running' } }));
    await aws.documents.send(
      new UpdateCommand({
        TableName: stack.tableName,
        Key: keys.step(id, 'lost'),
        UpdateExpression: 'SET #s = :running, attempt = :one, leaseUntil = :expired, timerPk = :lease, dueAt = :expired',
        ExpressionAttributeNames: { '#s': 'status' },
        ExpressionAttributeValues: { ':running': 'running', ':one': 1, ':expired': expired, ':lease': 'LEASE' },
      }),
    );

    const report = await runSweeper();
    const run = await client.waitFor(id, ['completed', 'blocked']);
    const started = (await client.events(id)).filter((event) => event.type === 'step.started');

    expect(report.leasesExpired).toBeGreaterThanOrEqual(1);
    expect(run.status).toBe('completed');
    expect(await client.step(id, 'lost')).toMatchObject({ status: 'completed', attempt: 2, output: { ok: true } });
    // (It also carries its X-Ray trace id, detail.traceId.)
    expect(started.map(({ detail: { traceId: _traceId, ...detail } }) => detail)).toEqual([{ attempt: 2, generation: 1, takeover: true }]);
  });

  it('dispatches a step parked until a far time once that time is near', async () => {
    const client = await engineClient();
    const workflowId = await client.workflow({ name: 'far', steps: [{ id: 'later', kind: 'noop', notBefore: new Date(Date.now() + 30 * 86_400_000).toISOString() }] });
    const { id } = await client.run(workflowId);
    await client.waitForStep(id, 'later', ['queued']);
    // Time passes (the test moves the due time instead of waiting a month).
    const due = new Date(Date.now() - 1_000).toISOString();
    await aws.documents.send(
      new UpdateCommand({
        TableName: stack.tableName,
        Key: keys.step(id, 'later'),
        UpdateExpression: 'SET notBefore = :due, dueAt = :due',
        ConditionExpression: 'timerPk = :parked',
        ExpressionAttributeValues: { ':due': due, ':parked': 'NOT_BEFORE' },
      }),
    );

    const report = await runSweeper();
    const run = await client.waitFor(id, ['completed', 'blocked']);

    expect(report.timersDue).toBeGreaterThanOrEqual(1);
    expect(run.status).toBe('completed');
  });

  it('fails a step that waited in needs_qa past its timeoutSeconds, and leaves one without a deadline waiting', async () => {
    const client = await engineClient();
    const workflowId = await client.workflow({
      name: 'deadline',
      steps: [
        { id: 'bounded', kind: 'approval', timeoutSeconds: 2 },
        { id: 'unbounded', kind: 'approval' },
      ],
    });
    const { id } = await client.run(workflowId);
    await client.waitForStep(id, 'bounded', ['needs_qa']);
    await client.waitForStep(id, 'unbounded', ['needs_qa']);

    // Sweep (as the schedule would) until the deadline has passed and the step is failed.
    let deadlinesPassed = 0;
    const bounded = await eventually('the bounded gate to fail', async () => {
      deadlinesPassed += (await runSweeper()).deadlinesPassed;
      const step = await client.step(id, 'bounded');
      return step.status === 'failed' ? step : undefined;
    }, { timeoutMs: 30_000, intervalMs: 500 });
    const run = await client.waitFor(id, ['blocked']);

    expect(bounded.error).toMatchObject({ code: 'DEADLINE_EXCEEDED', retryable: false });
    expect(run.status).toBe('blocked');
    // The schedule's own sweep may have been the one that failed it; at most one did.
    expect(deadlinesPassed).toBeLessThanOrEqual(1);
    expect((await client.step(id, 'unbounded')).status).toBe('needs_qa');
    expect((await client.events(id)).filter((event) => event.type === 'step.failed' && event.stepId === 'bounded')).toHaveLength(1);
  });

  it('refuses a timeoutSeconds beyond one invocation for a running kind, and accepts a day for a gate', async () => {
    const client = await engineClient();

    const save = (body: SaveWorkflowBody) => unwrap(client.baton.POST('/v1/projects/{projectId}/workflows', { params: { path: { projectId: client.projectId } }, body }));

    const tooLong = await save({ name: 'too-long', steps: [{ id: 'slow', kind: 'noop', timeoutSeconds: 3600 }] }).catch((error: unknown) => error);
    const gate = await save({ name: 'day-gate', steps: [{ id: 'review', kind: 'approval', timeoutSeconds: 86_400 }] });

    expect(tooLong).toMatchObject({ status: 400, field: 'body.steps[0].timeoutSeconds' });
    expect(gate.name).toBe('day-gate');
  });

  describe('with a subscriber on the bus', () => {
    let subscriber: BusSubscription;
    beforeAll(async () => {
      subscriber = await subscribeToBus(`e2e-sweeper-${Date.now()}`, { source: ['baton'], 'detail-type': ['step.completed'] });
    });
    afterAll(async () => {
      await subscriber.remove();
    });

    it('republishes an event whose publication failed, and marks it published', async () => {
      // A committed event whose PutEvents never happened (the writer died, or the bus refused it).
      const eventId = `01SWEEPTEST${Date.now()}`.slice(0, 26).padEnd(26, '0');
      const key = keys.runEvent('run_sweeper_test', eventId);
      await aws.documents.send(
        new PutCommand({
          TableName: stack.tableName,
          Item: {
            ...key,
            id: eventId,
            eventId,
            outboxPk: 'PENDING',
            type: 'step.completed',
            projectId: 'prj_sweeper',
            runId: 'run_sweeper_test',
            stepId: 'lost-event',
            at: new Date(Date.now() - 60_000).toISOString(),
            actor: 'worker',
            detail: { attempt: 1 },
          },
        }),
      );

      const report = await runSweeper();
      const delivered = await eventually('the republished event on the subscriber queue', async () =>
        (await subscriber.receive()).find((event) => event.detail.id === eventId),
      );
      const { Item } = await aws.documents.send(new GetCommand({ TableName: stack.tableName, Key: key }));

      expect(report.republished).toBeGreaterThanOrEqual(1);
      expect(delivered.detail).toMatchObject({ id: eventId, stepId: 'lost-event' });
      expect(Item?.outboxPk).toBeUndefined();
      expect(Item?.publishedAt).toEqual(expect.any(String));
    });
  });
});
