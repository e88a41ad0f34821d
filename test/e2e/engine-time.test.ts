import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { beforeEach, describe, expect, it } from 'vitest';
import { unwrap } from '#sdk';
import { keys } from '#shared/store/keys';
import { aws } from '../helpers/aws';
import { engineClient, type RunEvent } from '../helpers/engine';
import { planHeader } from '../helpers/plan';
import { stepQueueDrained } from '../helpers/queues';
import { resetData } from '../helpers/reset';
import { stack } from '../helpers/stack';

beforeEach(resetData);

const firstAt = (events: RunEvent[], type: string, stepId: string) => Date.parse(events.find((event) => event.type === type && event.stepId === stepId)!.at);

describe('time on the deployed engine', () => {
  it('runs a wait step only once its duration has passed after its release', async () => {
    const client = await engineClient();
    const workflowId = await client.workflow({
      name: 'pause-for-thought',
      steps: [
        { id: 'before', kind: 'noop' },
        { id: 'wait', kind: 'wait', input: { seconds: 4 }, dependsOn: ['before'] },
        { id: 'after', kind: 'noop', dependsOn: ['wait'] },
      ],
    });

    const { id } = await client.run(workflowId);
    const run = await client.waitFor(id, ['completed', 'blocked']);
    const events = await client.events(id);

    expect(run.status).toBe('completed');
    expect(firstAt(events, 'step.started', 'wait') - firstAt(events, 'step.completed', 'before')).toBeGreaterThanOrEqual(4_000);
    expect(firstAt(events, 'step.started', 'after')).toBeGreaterThanOrEqual(firstAt(events, 'step.completed', 'wait'));
  });

  it('does not dispatch a step before its notBefore instant', async () => {
    const client = await engineClient();
    const notBefore = new Date(Date.now() + 6_000).toISOString();
    const workflowId = await client.workflow({ name: 'gated', steps: [{ id: 'gated', kind: 'noop', notBefore }] });

    const { id } = await client.run(workflowId);
    const run = await client.waitFor(id, ['completed', 'blocked']);
    const events = await client.events(id);

    expect(run.status).toBe('completed');
    expect(firstAt(events, 'step.started', 'gated')).toBeGreaterThanOrEqual(Date.parse(notBefore));
  });

  it('holds a date-gated plan step until its day, and runs the days that have come; a cancel cancels it at once', async () => {
    const client = await engineClient();
    const day = (offset: number) => new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10);
    const csv = [planHeader, `1,${day(-1)},Past,Planner,Yesterday's work,tokens,Open,`, `2,${day(30)},Future,Planner,Next month's work,tokens,Open,1`].join('\n');
    const imported = await client.importPlan(csv, { dateGating: 'true', name: 'gated-plan' });

    const { id } = await client.run(imported.id);
    await client.waitForStep(id, 'day-1', ['completed']);
    const future = await client.waitForStep(id, 'day-2', ['queued']);
    // Every step message sent so far handled: a wrongly dispatched day-2 would have started.
    await stepQueueDrained();
    const events = await client.events(id);

    expect(imported.steps).toBe(2);
    expect(future).toMatchObject({ status: 'queued', notBefore: `${day(30)}T00:00:00Z` });
    expect(events.some((event) => event.type === 'step.started' && event.stepId === 'day-2')).toBe(false);
    expect((await client.getRun(id)).status).toBe('running');
    // Parked in the timers index for the sweeper: no message waits in the queue for a month.
    const { Item } = await aws.documents.send(new GetCommand({ TableName: stack.tableName, Key: keys.step(id, 'day-2') }));
    expect(Item).toMatchObject({ timerPk: 'NOT_BEFORE', dueAt: `${day(30)}T00:00:00Z` });

    // A cancel cancels the parked step with the run, rather than leaving it queued for a month.
    const cancelled = await unwrap(client.baton.POST('/v1/runs/{runId}/actions/{action}', { params: { path: { runId: id, action: 'cancel' } } }));
    const { Item: after } = await aws.documents.send(new GetCommand({ TableName: stack.tableName, Key: keys.step(id, 'day-2') }));
    expect(cancelled.status).toBe('cancelled');
    expect(after).toMatchObject({ status: 'cancelled' });
    expect(after?.timerPk).toBeUndefined();
  });
});
