import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { unwrap, type SaveWorkflowBody } from '#sdk';
import { engineClient, type EngineClient, type RunEvent } from '../helpers/engine';
import { eventually } from '../helpers/poll';
import { resetData } from '../helpers/reset';
import { useTestAgent } from '../helpers/test-agent';

/**
 * Per-agent rate limits on the deployed stack (issue 12 §6 `rate: {key, perSecond}`): steps are
 * `http` calls to a local agent; how fast they started is read from their `step.started` events,
 * whose time is the very instant the start passed the key's conditional write (so the rule's
 * spacing, 1/perSecond, holds between them exactly, whatever the machine's load).
 */

const testAgent = useTestAgent({ beforeAll, afterAll });
beforeEach(resetData);

const steps = (client: EngineClient, runId: string) => unwrap(client.baton.GET('/v1/runs/{runId}/steps', { params: { path: { runId } } }));

/** The start times (ms) of these runs' steps whose id starts with `prefix`, in order. */
const startsOf = (events: RunEvent[], prefix: string) =>
  events
    .filter((event) => event.type === 'step.started' && event.stepId?.startsWith(prefix))
    .map((event) => Date.parse(event.at))
    .sort((a, b) => a - b);

/** The most starts any one-second window holds (a window from each start). */
const busiestSecond = (times: number[]) => Math.max(0, ...times.map((start, index) => times.slice(index).filter((time) => time < start + 1000).length));

const gaps = (times: number[]) => times.slice(1).map((time, index) => time - times[index]!);

describe('rate limits', () => {
  it('a 20-wide fan and a second run sharing `rate {key: agent-x, perSecond: 2}`: never more than 2 starts in a second, every step once, the waiting ones throttled with kind rate', async () => {
    const client = await engineClient('rate');
    const fan: SaveWorkflowBody = {
      name: 'fan-20-rated',
      steps: [
        { id: 'root', kind: 'noop' },
        ...Array.from({ length: 20 }, (_, index) => ({ id: `leaf${index}`, kind: 'http', dependsOn: ['root'], input: { url: `${testAgent().url}/slow?ms=20` }, rate: { key: 'agent-{{runInput.agent}}', perSecond: 2 } })),
      ],
    };
    const workflowId = await client.workflow(fan);
    const first = await client.run(workflowId, { input: { agent: 'x' } });
    const second = await client.run(workflowId, { input: { agent: 'x' } });

    // A waiting step shows its turn under the resolved key.
    const throttled = await eventually('a rate-throttled step in the listing', async () => (await steps(client, second.id)).items.find((step) => step.status === 'throttled'), { timeoutMs: 60_000, intervalMs: 200 });
    expect(throttled.throttle).toMatchObject({ kind: 'rate', key: 'agent-x', perSecond: 2 });
    expect(throttled.throttle && 'until' in throttled.throttle && Date.parse(throttled.throttle.until)).toBeGreaterThan(Date.parse(throttled.throttle!.since));
    expect((await client.getRun(second.id)).steps.byStatus.throttled).toBeGreaterThan(0);

    for (const run of [first, second]) {
      const done = await client.waitFor(run.id, ['completed', 'blocked', 'failed'], 240_000);
      expect(done.status, done.reason).toBe('completed');
    }
    const events = [...(await client.events(first.id)), ...(await client.events(second.id))];
    const times = startsOf(events, 'leaf');
    // Every leaf of both runs started exactly once.
    expect(times).toHaveLength(40);
    for (const run of [first, second]) {
      const started = (await client.events(run.id)).filter((event) => event.type === 'step.started' && event.stepId?.startsWith('leaf')).map((event) => event.stepId);
      expect(new Set(started).size).toBe(20);
    }
    // The rule: starts at least 1/perSecond = 500 ms apart, so no second holds more than 2.
    expect(Math.min(...gaps(times))).toBeGreaterThanOrEqual(500);
    expect(busiestSecond(times)).toBeLessThanOrEqual(2);
    // Each wait is recorded: throttled, then woken at its turn.
    const throttledEvents = events.filter((event) => event.type === 'step.throttled');
    expect(throttledEvents.length).toBeGreaterThan(20);
    expect(throttledEvents[0]!.detail).toMatchObject({ kind: 'rate', key: 'agent-x', perSecond: 2 });
    expect(events.filter((event) => event.type === 'step.unthrottled')).toHaveLength(throttledEvents.length);
  }, 300_000);

  it('pause holds rate-throttled steps when their turn comes, resume runs them under the rate; cancel cancels the waiting ones', async () => {
    const client = await engineClient('rate-actions');
    const rated = (count: number, perSecond: number): SaveWorkflowBody => ({ name: `rated-${count}`, steps: Array.from({ length: count }, (_, index) => ({ id: `s${index}`, kind: 'noop', rate: { key: 'slow-agent', perSecond } })) });

    // Pause: 4 steps at one every 2 s; the 3 waiting ones are held at their turns, resume completes the run.
    const paused = await client.run(await client.workflow(rated(4, 0.5)));
    await eventually('a rate-throttled step', async () => (await steps(client, paused.id)).items.find((step) => step.status === 'throttled'), { timeoutMs: 30_000, intervalMs: 200 });
    await unwrap(client.baton.POST('/v1/runs/{runId}/actions/{action}', { params: { path: { action: 'pause', runId: paused.id } } }));
    await eventually('every waiting step held at its turn', async () => ((await steps(client, paused.id)).items.some((step) => step.status === 'throttled') ? undefined : true), { timeoutMs: 60_000, intervalMs: 500 });
    expect((await client.getRun(paused.id)).status).toBe('paused');
    await unwrap(client.baton.POST('/v1/runs/{runId}/actions/{action}', { params: { path: { action: 'resume', runId: paused.id } } }));
    const resumed = await client.waitFor(paused.id, ['completed', 'blocked', 'failed'], 120_000);
    expect(resumed.status, resumed.reason).toBe('completed');
    const pausedTimes = startsOf(await client.events(paused.id), 's');
    expect(pausedTimes).toHaveLength(4);
    expect(Math.min(...gaps(pausedTimes))).toBeGreaterThanOrEqual(2000);

    // Cancel: 5 steps at one every 10 s under a fresh key; the waiting ones are cancelled, never started.
    const cancelled = await client.run(await client.workflow({ ...rated(5, 0.1), steps: rated(5, 0.1).steps.map((step) => ({ ...step, rate: { key: 'slower-agent', perSecond: 0.1 } })) }));
    await eventually('4 rate-throttled steps', async () => ((await steps(client, cancelled.id)).items.filter((step) => step.status === 'throttled').length === 4 ? true : undefined), { timeoutMs: 30_000, intervalMs: 200 });
    await unwrap(client.baton.POST('/v1/runs/{runId}/actions/{action}', { params: { path: { action: 'cancel', runId: cancelled.id } } }));
    await eventually('every step ended', async () => ((await steps(client, cancelled.id)).items.every((step) => ['completed', 'cancelled'].includes(step.status)) ? true : undefined), { timeoutMs: 60_000, intervalMs: 500 });
    const after = await steps(client, cancelled.id);
    expect(after.items.filter((step) => step.status === 'cancelled')).toHaveLength(4);
    expect((await client.getRun(cancelled.id)).status).toBe('cancelled');
    expect(startsOf(await client.events(cancelled.id), 's')).toHaveLength(1);
  }, 300_000);

  it('refuses a bad rate with a 400 naming the field', async () => {
    const client = await engineClient('rate-input');
    const path = { projectId: client.projectId };
    const post = (rate: unknown) => client.baton.POST('/v1/projects/{projectId}/workflows', { params: { path }, body: { name: 'bad', steps: [{ id: 'a', kind: 'noop', rate: rate as { key: string; perSecond: number } }] } });
    for (const [rate, field] of [
      [{ key: 'agent', perSecond: 0 }, 'body.steps[0].rate.perSecond'],
      [{ key: 'agent', perSecond: 5000 }, 'body.steps[0].rate.perSecond'],
      [{ key: '{{dependencies.x.y}}', perSecond: 1 }, 'body.steps[0].rate.key'],
      [{ perSecond: 1 }, 'body.steps[0].rate.key'],
    ] as const) {
      const answer = await post(rate);
      expect(answer.response.status, JSON.stringify(rate)).toBe(400);
      expect(answer.error?.error.field).toBe(field);
    }
  });
});
