import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { unwrap } from '#sdk';
import { engineClient, type EngineClient, type RunEvent } from '../helpers/engine';
import { resetData } from '../helpers/reset';

beforeEach(resetData);

/**
 * A planner agent on loopback (an http step): it answers `{ok: true, data: <its input>}`, so the
 * plan a test puts in the step's body comes back as the step's output, as a planning model's
 * structured reply would.
 */
let server: Server;
let agentUrl: string;
beforeAll(async () => {
  server = createServer((request, response) => {
    let text = '';
    request.on('data', (chunk: Buffer) => (text += chunk.toString()));
    request.on('end', () => {
      const body = JSON.parse(text || '{}') as { input?: unknown };
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ ok: true, data: body.input }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  agentUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const planner = (steps: unknown[]) => ({ id: 'planner', kind: 'http', input: { url: `${agentUrl}/plan`, body: { plan: { steps } } }, retry: { maxAttempts: 1 } });
const chain = Array.from({ length: 20 }, (_, index) => ({ id: `s${String(index + 1).padStart(2, '0')}`, kind: 'noop', input: { n: index + 1 }, ...(index ? { dependsOn: [`s${String(index).padStart(2, '0')}`] } : {}) }));

/** Where in the run's history (id order) a step's first event of a type is. */
const positionOf = (events: RunEvent[], stepId: string, type: string): number => events.findIndex((event) => event.stepId === stepId && event.type === type);

async function runPlanner(client: EngineClient, name: string, plan: unknown[]) {
  const workflowId = await client.workflow({ name, steps: [{ id: 'first', kind: 'noop' }, { ...planner(plan), dependsOn: ['first'] }, { id: 'after', kind: 'noop', dependsOn: ['planner'] }] });
  const { id } = await client.run(workflowId);
  return { id, run: await client.waitFor(id, ['completed', 'blocked', 'failed'], 120_000) };
}

describe('planner steps on the deployed stack', () => {
  it('a planner agent adds 20 steps that run in order, and its dependent runs after them', async () => {
    const client = await engineClient('planner');
    const { id, run } = await runPlanner(client, 'plan-20', chain);

    expect(run.status).toBe('completed');
    expect(run.steps.total).toBe(23);
    expect(run.steps.byStatus.completed).toBe(23);
    // The run's DAG (its step list) shows the added steps, who added them, and the dependent rewired behind them.
    const { items } = await unwrap(client.baton.GET('/v1/runs/{runId}/steps', { params: { path: { runId: id } } }));
    expect(items).toHaveLength(23);
    for (const step of chain) expect(items.find((item) => item.id === step.id)).toMatchObject({ plannedBy: 'planner', status: 'completed', dependsOn: step.dependsOn ?? ['planner'] });
    expect(items.find((item) => item.id === 'after')?.dependsOn).toEqual(['s20']);

    // The order, from the events: each added step starts after the one before it completed, and `after` after the last.
    const events = await client.events(id);
    const order = ['planner', ...chain.map((step) => step.id), 'after'];
    for (let index = 1; index < order.length; index += 1) {
      const started = positionOf(events, order[index]!, 'step.started');
      expect(started, `${order[index]} started`).toBeGreaterThan(-1);
      expect(started, `${order[index]} started after ${order[index - 1]} completed`).toBeGreaterThan(positionOf(events, order[index - 1]!, 'step.completed'));
    }
    const planned = events.filter((event) => event.type === 'run.planned');
    expect(planned).toHaveLength(1);
    expect(planned[0]!.detail).toMatchObject({ stepId: 'planner', entries: ['s01'], exits: ['s20'], rewired: ['after'] });
    expect((await client.step(id, 's07')).output).toEqual({ n: 7 });
  });

  it('an invalid plan (a cycle, a duplicate id, a dependency on an unknown step) fails the planner with a clear error and adds nothing', async () => {
    const client = await engineClient('planner-invalid');
    const cases: [string, unknown[], RegExp][] = [
      ['cycle', [{ id: 'a', kind: 'noop', dependsOn: ['b'] }, { id: 'b', kind: 'noop', dependsOn: ['a'] }], /cycle: a → b → a/],
      ['duplicate', [{ id: 'x', kind: 'noop' }, { id: 'x', kind: 'noop' }], /step id "x" is used by both/],
      ['taken', [{ id: 'after', kind: 'noop' }], /step id "after" is already a step of this run/],
      ['unknown', [{ id: 'a', kind: 'noop', dependsOn: ['ghost'] }], /depends on "ghost", which is neither a step of this run nor of the plan/],
    ];
    for (const [name, plan, message] of cases) {
      const { id, run } = await runPlanner(client, `plan-${name}`, plan);
      expect(run.status, name).toBe('blocked');
      expect(run.reason).toMatch(message);
      expect(run.steps.total).toBe(3);
      const planner = await client.step(id, 'planner');
      expect(planner).toMatchObject({ status: 'failed', error: { code: 'INVALID_PLAN', retryable: false } });
      expect(planner.error?.message).toMatch(message);
      const { items } = await unwrap(client.baton.GET('/v1/runs/{runId}/steps', { params: { path: { runId: id } } }));
      expect(items.map((item) => item.id).sort()).toEqual(['after', 'first', 'planner']);
      expect(items.find((item) => item.id === 'after')).toMatchObject({ status: 'pending', dependsOn: ['planner'] });
      expect((await client.events(id)).some((event) => event.type === 'run.planned')).toBe(false);
    }
  });
});
