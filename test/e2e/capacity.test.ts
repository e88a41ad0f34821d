import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { unwrap, type SaveWorkflowBody } from '#sdk';
import { engineClient, type EngineClient, type RunEvent } from '../helpers/engine';
import { eventually } from '../helpers/poll';
import { resetData } from '../helpers/reset';
import { useTestAgent } from '../helpers/test-agent';

/**
 * Fair capacity on the deployed stack (issue 12 §6): steps are `http` calls to a slow local agent,
 * so their runs overlap; how many ran at once is read from the steps' `step.started` and
 * `step.completed` events (a step holds its slot from before its start until after its finish).
 */

const testAgent = useTestAgent({ beforeAll, afterAll });
beforeEach(resetData);

const slowCall = (ms: number) => ({ url: `${testAgent().url}/slow?ms=${ms}` });

/** Each step's [started, completed] in ms, from the events of its last attempt. */
function intervalsOf(events: RunEvent[], label = ''): { step: string; start: number; end: number }[] {
  const started = new Map<string, number>();
  const finished = new Map<string, number>();
  for (const event of events) {
    if (!event.stepId) continue;
    if (event.type === 'step.started') started.set(event.stepId, Date.parse(event.at));
    if (event.type === 'step.completed') finished.set(event.stepId, Date.parse(event.at));
  }
  return [...started].map(([step, start]) => ({ step: `${label}${step}`, start, end: finished.get(step) ?? Number.POSITIVE_INFINITY }));
}

/** The most intervals open at one instant (a finish at the same millisecond as a start counts first). */
function mostAtOnce(intervals: { start: number; end: number }[]): number {
  const edges = intervals.flatMap(({ start, end }) => [{ at: start, delta: 1 }, { at: end, delta: -1 }]).sort((a, b) => a.at - b.at || a.delta - b.delta);
  let open = 0;
  let most = 0;
  for (const edge of edges) {
    open += edge.delta;
    most = Math.max(most, open);
  }
  return most;
}

async function setProjectLimit(client: EngineClient, limit: number | undefined) {
  return unwrap(client.baton.PATCH('/v1/projects/{projectId}/settings', { params: { path: { projectId: client.projectId } }, body: { concurrency: limit === undefined ? {} : { limit } } }));
}

const steps = (client: EngineClient, runId: string) => unwrap(client.baton.GET('/v1/runs/{runId}/steps', { params: { path: { runId } } }));

describe('fair capacity', () => {
  it('a project limit of 3 holds over a 50-wide fan: never more than 3 steps run at once, the others wait throttled with the key, and the run completes', async () => {
    const client = await engineClient('capacity');
    expect((await setProjectLimit(client, 3)).concurrency).toEqual({ limit: 3 });
    const fan: SaveWorkflowBody = {
      name: 'fan-50',
      steps: [{ id: 'root', kind: 'noop' }, ...Array.from({ length: 50 }, (_, index) => ({ id: `leaf${index}`, kind: 'http', dependsOn: ['root'], input: slowCall(150) }))],
    };
    const run = await client.run(await client.workflow(fan));

    // Waiting steps are visible in the step listing, with the limit they wait for.
    const throttled = await eventually('a throttled step in the listing', async () => (await steps(client, run.id)).items.find((step) => step.status === 'throttled'), { timeoutMs: 30_000, intervalMs: 200 });
    expect(throttled.throttle).toMatchObject({ kind: 'project', key: 'project', limit: 3 });
    const view = await client.getRun(run.id);
    expect(view.steps.byStatus.throttled).toBeGreaterThan(0);

    const done = await client.waitFor(run.id, ['completed', 'blocked', 'failed'], 180_000);
    expect(done.status, done.reason).toBe('completed');
    const events = await client.events(run.id);
    const leaves = intervalsOf(events).filter(({ step }) => step.startsWith('leaf'));
    expect(leaves).toHaveLength(50);
    expect(mostAtOnce(leaves)).toBeLessThanOrEqual(3);
    expect(mostAtOnce(leaves)).toBeGreaterThanOrEqual(2);
    // Every leaf started once; the ones that waited were throttled and then handed a slot.
    expect(events.filter((event) => event.type === 'step.started')).toHaveLength(51);
    expect(events.filter((event) => event.type === 'step.throttled').length).toBeGreaterThan(0);
    expect(events.filter((event) => event.type === 'step.unthrottled').length).toBe(events.filter((event) => event.type === 'step.throttled').length);
  }, 240_000);

  it('a high-priority run started later overtakes a low one: once its steps wait, no low step gets a slot before all of them did', async () => {
    const client = await engineClient('priority');
    await setProjectLimit(client, 3);
    const fanOf = (width: number): SaveWorkflowBody => ({
      name: `fan-${width}`,
      steps: [{ id: 'root', kind: 'noop' }, ...Array.from({ length: width }, (_, index) => ({ id: `leaf${index}`, kind: 'http', dependsOn: ['root'], input: slowCall(300) }))],
    });
    const low = await client.run(await client.workflow(fanOf(50)), { priority: 'low' });
    expect(low.priority).toBe('low');
    await eventually('the low run to have steps running and many waiting', async () => {
      const listed = (await steps(client, low.id)).items;
      return listed.some((step) => step.status === 'running') && listed.filter((step) => step.status === 'throttled').length >= 30 ? true : undefined;
    }, { timeoutMs: 60_000, intervalMs: 200 });

    const high = await client.run(await client.workflow(fanOf(10)), { priority: 'high' });
    const [lowDone, highDone] = await Promise.all([client.waitFor(low.id, ['completed', 'blocked'], 240_000), client.waitFor(high.id, ['completed', 'blocked'], 240_000)]);
    expect([lowDone.status, highDone.status]).toEqual(['completed', 'completed']);
    const lowEvents = await client.events(low.id);
    const highEvents = await client.events(high.id);
    const timesOf = (events: RunEvent[], type: string) => new Map(events.filter((event) => event.type === type && event.stepId?.startsWith('leaf')).map((event) => [event.stepId!, Date.parse(event.at)]));

    // Low steps were waiting, so none of the high run's leaves took a slot without waiting in the list.
    const highThrottled = timesOf(highEvents, 'step.throttled');
    expect(highThrottled.size).toBe(10);
    const highWaiting = Math.max(...highThrottled.values());
    const lastHighHanded = Math.max(...timesOf(highEvents, 'step.unthrottled').values());
    const lowHanded = timesOf(lowEvents, 'step.unthrottled');
    const lowStarted = timesOf(lowEvents, 'step.started');
    // Once every high leaf waited, the low leaves got slots only after the last high one got its own...
    const handedLater = [...lowHanded.values()].filter((at) => at > highWaiting);
    expect(handedLater.length).toBeGreaterThanOrEqual(20);
    expect(Math.min(...handedLater)).toBeGreaterThan(lastHighHanded);
    // ...so the only low leaves that started while high ones still waited are the few (at most the limit) handed their slot before.
    const startedMeanwhile = [...lowStarted].filter(([, at]) => at > highWaiting && at < lastHighHanded).map(([stepId]) => stepId);
    expect(startedMeanwhile.length).toBeLessThanOrEqual(3);
    for (const stepId of startedMeanwhile) expect(lowHanded.get(stepId) ?? 0, stepId).toBeLessThan(highWaiting);
    expect(mostAtOnce([...intervalsOf(lowEvents, 'low/'), ...intervalsOf(highEvents, 'high/')].filter(({ step }) => !step.endsWith('/root')))).toBeLessThanOrEqual(3);
  }, 300_000);

  it('a per-key limit holds across runs for the key resolved from each run\'s input; another key runs beside it', async () => {
    const client = await engineClient('per-key');
    const workflowId = await client.workflow({
      name: 'per-customer',
      steps: Array.from({ length: 5 }, (_, index) => ({ id: `c${index}`, kind: 'http', input: slowCall(200), concurrency: { key: 'customer-{{runInput.customer}}', limit: 2 } })),
    });
    const acme1 = await client.run(workflowId, { input: { customer: 'acme' } });
    const acme2 = await client.run(workflowId, { input: { customer: 'acme' } });
    const globex = await client.run(workflowId, { input: { customer: 'globex' } });

    const throttled = await eventually('a throttled acme step', async () => {
      for (const runId of [acme1.id, acme2.id]) {
        const found = (await steps(client, runId)).items.find((step) => step.status === 'throttled');
        if (found) return found;
      }
      return undefined;
    }, { timeoutMs: 30_000, intervalMs: 100 });
    expect(throttled.throttle).toMatchObject({ kind: 'concurrency', key: 'customer-acme', limit: 2 });

    const done = await Promise.all([acme1, acme2, globex].map((run) => client.waitFor(run.id, ['completed', 'blocked'], 120_000)));
    expect(done.map((run) => run.status)).toEqual(['completed', 'completed', 'completed']);
    const acme = [...intervalsOf(await client.events(acme1.id), 'a1/'), ...intervalsOf(await client.events(acme2.id), 'a2/')];
    expect(acme).toHaveLength(10);
    expect(mostAtOnce(acme)).toBeLessThanOrEqual(2);
    const globexSteps = intervalsOf(await client.events(globex.id), 'g/');
    expect(mostAtOnce(globexSteps)).toBeLessThanOrEqual(2);
    // The keys are separate: more than 2 ran at once across both customers.
    expect(mostAtOnce([...acme, ...globexSteps])).toBeGreaterThan(2);
  }, 180_000);

  it('refuses bad limits and priorities with a 400 naming the field', async () => {
    const client = await engineClient('capacity-input');
    const path = { projectId: client.projectId };
    const settings = await client.baton.PATCH('/v1/projects/{projectId}/settings', { params: { path }, body: { concurrency: { limit: 0 } } });
    expect(settings.response.status).toBe(400);
    expect(settings.error?.error.field).toBe('body.concurrency.limit');

    const workflow = await client.baton.POST('/v1/projects/{projectId}/workflows', { params: { path }, body: { name: 'bad', steps: [{ id: 'a', kind: 'noop', concurrency: { key: 'k', limit: 0 } }] } });
    expect(workflow.response.status).toBe(400);
    expect(workflow.error?.error.field).toBe('body.steps[0].concurrency.limit');

    const badKey = await client.baton.POST('/v1/projects/{projectId}/workflows', { params: { path }, body: { name: 'bad', steps: [{ id: 'a', kind: 'noop', concurrency: { key: '{{dependencies.x.y}}', limit: 1 } }] } });
    expect(badKey.response.status).toBe(400);
    expect(badKey.error?.error.field).toBe('body.steps[0].concurrency.key');

    const workflowId = await client.workflow({ name: 'ok', steps: [{ id: 'a', kind: 'noop' }] });
    // Cast: the SDK's types do not let an unknown priority through.
    const run = await client.baton.POST('/v1/projects/{projectId}/runs', { params: { path }, body: { workflowId, priority: 'urgent' as 'high' } });
    expect(run.response.status).toBe(400);
    expect(run.error?.error.field).toBe('body.priority');
  });
});
