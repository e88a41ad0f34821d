import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { engineClient, type EngineClient, type RunEvent } from '../helpers/engine';
import { resetData } from '../helpers/reset';

beforeEach(resetData);

/**
 * A counting agent on loopback: `/count` answers {n} = how many times this run's step has called
 * it (by the `runId:stepId` of its idempotency key), `/same` always {n: 0}.
 */
let server: Server;
let agentUrl: string;
const counts = new Map<string, number>();
beforeAll(async () => {
  server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      const key = String(request.headers['x-idempotency-key'] ?? '').split(':').slice(0, 2).join(':');
      counts.set(key, (counts.get(key) ?? 0) + 1);
      const n = request.url?.startsWith('/same') ? 0 : counts.get(key);
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ ok: true, data: { n } }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  agentUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const startsOf = (events: RunEvent[], stepId: string) => events.filter((event) => event.stepId === stepId && event.type === 'step.started');

async function runLoop(client: EngineClient, name: string, loop: { until: { path: string } & Record<string, unknown>; maxIterations: number }, path = '/count', limits?: { noProgressAfter: number }) {
  const workflowId = await client.workflow({
    name,
    steps: [
      { id: 'first', kind: 'noop' },
      { id: 'prepare', kind: 'noop', dependsOn: ['first'] },
      { id: 'count', kind: 'http', dependsOn: ['prepare'], input: { url: `${agentUrl}${path}` }, retry: { maxAttempts: 1 }, loop: { over: ['prepare', 'count'], ...loop } },
      { id: 'after', kind: 'noop', dependsOn: ['count'] },
    ],
  });
  const { id } = await client.run(workflowId, limits ? { limits } : {});
  return { id, run: await client.waitFor(id, ['completed', 'blocked', 'failed'], 120_000), events: () => client.events(id) };
}

describe('bounded loops on the deployed stack', () => {
  it('an agent counting up runs its loop body again until output.n >= 3, every iteration kept, then its dependent runs', async () => {
    const client = await engineClient('loops');
    const { id, run, events } = await runLoop(client, 'count-to-3', { until: { path: 'n', greaterThanOrEqual: 3 }, maxIterations: 5 });
    expect(run.status).toBe('completed');
    const history = await events();
    expect(startsOf(history, 'count')).toHaveLength(3);
    expect(startsOf(history, 'prepare')).toHaveLength(3);
    expect(startsOf(history, 'first')).toHaveLength(1);
    expect(startsOf(history, 'after')).toHaveLength(1);
    // Each ended iteration's output is in its step.iterated event; the last is the step's output.
    expect(history.filter((event) => event.type === 'step.iterated').map((event) => [event.detail.iteration, event.detail.output])).toEqual([[1, { n: 1 }], [2, { n: 2 }]]);
    expect(await client.step(id, 'count')).toMatchObject({ status: 'completed', output: { n: 3 }, iteration: 3, generation: 3 });
    // Every iteration is a new generation of the body: its agent saw three idempotency keys.
    expect([...counts.keys()].filter((key) => key.startsWith(`${id}:`))).toEqual([`${id}:count`]);
    const order = history.filter((event) => event.type === 'step.started').map((event) => event.stepId);
    expect(order).toEqual(['first', 'prepare', 'count', 'prepare', 'count', 'prepare', 'count', 'after']);
  });

  it('stops at maxIterations with LOOP_LIMIT when the condition never holds', async () => {
    const client = await engineClient('loops-limit');
    const { id, run, events } = await runLoop(client, 'count-forever', { until: { path: 'n', greaterThan: 100 }, maxIterations: 3 });
    expect(run.status).toBe('blocked');
    expect(run.reason).toMatch(/LOOP_LIMIT: step count ran 3 iterations \(loop.maxIterations 3\)/);
    expect(await client.step(id, 'count')).toMatchObject({ status: 'failed', iteration: 3, error: { code: 'LOOP_LIMIT' } });
    expect(startsOf(await events(), 'count')).toHaveLength(3);
    expect((await client.step(id, 'after')).status).toBe('pending');
  });

  it('identical outputs stop a loop with NO_PROGRESS when the run has limits.noProgressAfter', async () => {
    const client = await engineClient('loops-stall');
    const { id, run, events } = await runLoop(client, 'same-forever', { until: { path: 'n', equals: 1 }, maxIterations: 10 }, '/same', { noProgressAfter: 2 });
    expect(run.status).toBe('blocked');
    expect(run.reason).toMatch(/^NO_PROGRESS: step count produced the same output/);
    expect(await client.step(id, 'count')).toMatchObject({ status: 'failed', error: { code: 'NO_PROGRESS' } });
    expect(startsOf(await events(), 'count')).toHaveLength(2);
  });

  it('refuses a malformed loop at workflow creation with a 400 naming the field', async () => {
    const client = await engineClient('loops-400');
    const cases: [unknown, string][] = [
      [{ over: ['ghost'], until: { path: 'n', equals: 1 }, maxIterations: 3 }, 'body.steps[1].loop.over[0]'],
      [{ over: [], until: { path: 'n', equals: 1 }, maxIterations: 1000 }, 'body.steps[1].loop.maxIterations'],
      [{ over: [], until: { path: 'n' }, maxIterations: 3 }, 'body.steps[1].loop.until'],
      [{ over: ['first'], until: { path: 'n', equals: 1 }, maxIterations: 3 }, 'body.steps[1].loop.over'],
    ];
    for (const [loop, field] of cases) {
      const { error, response } = await client.baton.POST('/v1/projects/{projectId}/workflows', {
        params: { path: { projectId: client.projectId } },
        body: { name: 'bad-loop', steps: [{ id: 'first', kind: 'noop' }, { id: 'x', kind: 'noop', loop } as never, { id: 'y', kind: 'noop', dependsOn: ['first'] }] },
      });
      expect(response.status, field).toBe(400);
      expect(error?.error.field).toBe(field);
    }
  });
});
