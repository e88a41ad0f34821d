import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { unwrap, type CreateRunBody } from '#sdk';
import { engineClient, type EngineClient } from '../helpers/engine';
import { eventually } from '../helpers/poll';
import { resetData } from '../helpers/reset';
import { stack } from '../helpers/stack';
import { useTestAgent } from '../helpers/test-agent';

const testAgent = useTestAgent({ beforeAll, afterAll });
beforeEach(resetData);

/** first (slow agent call) → second → third */
async function slowChain(client: EngineClient) {
  return client.workflow({
    name: 'slow-chain',
    steps: [
      { id: 'first', kind: 'http', input: { url: `${testAgent().url}/slow?ms=2500` } },
      { id: 'second', kind: 'noop', dependsOn: ['first'] },
      { id: 'third', kind: 'noop', dependsOn: ['second'] },
    ],
  });
}

describe('run actions on the deployed engine', () => {
  it('pause lets the running step finish, holds what it released, and resume carries on', async () => {
    const client = await engineClient();
    const { id } = await client.run(await slowChain(client));
    await client.waitForStep(id, 'first', ['running']);

    const paused = await unwrap(client.baton.POST('/v1/runs/{runId}/actions/{action}', { params: { path: { runId: id, action: 'pause' } } }));
    await client.waitForStep(id, 'first', ['completed']);
    const held = await eventually('second to be held', async () => {
      const run = await client.getRun(id);
      return run.heldSteps?.includes('second') ? run : undefined;
    });
    const secondWhilePaused = await client.step(id, 'second');
    const resumed = await unwrap(client.baton.POST('/v1/runs/{runId}/actions/{action}', { params: { path: { runId: id, action: 'resume' } } }));
    const done = await client.waitFor(id, ['completed', 'blocked']);

    expect(paused.status).toBe('paused');
    expect(held.status).toBe('paused');
    expect(secondWhilePaused.status).toBe('queued');
    expect(resumed.status).toBe('running');
    expect(done.status).toBe('completed');
  });

  it('cancel ends the run: nothing released afterwards runs', async () => {
    const client = await engineClient();
    const { id } = await client.run(await slowChain(client));
    await client.waitForStep(id, 'first', ['running']);

    const cancelled = await unwrap(client.baton.POST('/v1/runs/{runId}/actions/{action}', { params: { path: { runId: id, action: 'cancel' } } }));
    await client.waitForStep(id, 'first', ['completed']);
    const second = await client.waitForStep(id, 'second', ['cancelled', 'completed']);
    const events = await client.events(id);

    expect(cancelled.status).toBe('cancelled');
    expect(second.status).toBe('cancelled');
    expect(events.some((event) => event.type === 'step.started' && event.stepId !== 'first')).toBe(false);
    expect((await client.getRun(id)).status).toBe('cancelled');
  });

  it('answers 409 to an action the run status does not allow', async () => {
    const client = await engineClient();
    const workflowId = await client.workflow({ name: 'quick', steps: [{ id: 'only', kind: 'noop' }] });
    const { id } = await client.run(workflowId);
    await client.waitFor(id, ['completed']);

    const resume = await unwrap(client.baton.POST('/v1/runs/{runId}/actions/{action}', { params: { path: { runId: id, action: 'resume' } } })).catch((error: unknown) => error);
    const start = await unwrap(client.baton.POST('/v1/runs/{runId}/actions/{action}', { params: { path: { runId: id, action: 'start' } } })).catch((error: unknown) => error);
    // Raw fetch: the SDK's types allow only the actions the contract names.
    const unknown = await fetch(`${stack.apiUrl}/v1/runs/${id}/actions/explode`, { method: 'POST', headers: { authorization: `Bearer ${client.token}` } });

    expect(resume).toMatchObject({ status: 409, code: 'conflict', message: expect.stringContaining('completed') });
    expect(start).toMatchObject({ status: 409 });
    expect(unknown.status).toBe(400);
  });

  it('waits at an approval step until approved, then completes; a rejection blocks the run', async () => {
    const client = await engineClient();
    const workflowId = await client.workflow({
      name: 'gate',
      steps: [
        { id: 'draft', kind: 'noop', input: { text: 'v1' } },
        { id: 'review', kind: 'approval', input: { prompt: 'ship it?' }, dependsOn: ['draft'] },
        { id: 'publish', kind: 'noop', dependsOn: ['review'] },
      ],
    });

    const approved = await client.run(workflowId);
    const rejected = await client.run(workflowId);
    await client.waitForStep(approved.id, 'review', ['needs_qa']);
    await client.waitForStep(rejected.id, 'review', ['needs_qa']);
    const publishWhileWaiting = await client.step(approved.id, 'publish');
    const stepAction = (runId: string, action: 'approve' | 'reject', body?: { output?: unknown; reason?: string }) =>
      unwrap(client.baton.POST('/v1/runs/{runId}/steps/{stepId}/actions/{action}', { params: { path: { runId, stepId: 'review', action } }, ...(body ? { body } : {}) }));
    const approve = await stepAction(approved.id, 'approve', { output: { verdict: 'ship' } });
    const reject = await stepAction(rejected.id, 'reject', { reason: 'needs work' });
    const approveAgain = await stepAction(approved.id, 'approve').catch((error: unknown) => error);

    expect(publishWhileWaiting.status).toBe('pending');
    expect(approve).toMatchObject({ status: 'completed', output: { verdict: 'ship' } });
    expect((await client.waitFor(approved.id, ['completed', 'blocked'])).status).toBe('completed');
    expect(reject).toMatchObject({ status: 'failed', error: { code: 'REJECTED', message: 'rejected: needs work' } });
    expect((await client.waitFor(rejected.id, ['blocked', 'completed'])).status).toBe('blocked');
    expect(approveAgain).toMatchObject({ status: 409 });
  });

  it('creates one run per Idempotency-Key, however often the request is repeated', async () => {
    const client = await engineClient();
    const workflowId = await client.workflow({ name: 'once', steps: [{ id: 'only', kind: 'noop' }] });
    const key = `create-${Date.now()}`;

    const first = await client.run(workflowId, {}, key);
    const again = await Promise.all([1, 2, 3].map(() => client.run(workflowId, {}, key)));
    const other = await client.run(workflowId, {}, `${key}-other`);

    expect(again.map((run) => run.id)).toEqual([first.id, first.id, first.id]);
    expect(other.id).not.toBe(first.id);
  });

  it('refuses an Idempotency-Key reused with a different body (422 naming the header); the same body in another spelling replays', async () => {
    const client = await engineClient();
    const workflowId = await client.workflow({ name: 'once', steps: [{ id: 'only', kind: 'noop' }] });
    const key = `reuse-${Date.now()}`;
    // The SDK sends the body's keys in the order written: the "other spelling" below reaches the API as such.
    const create = (body: CreateRunBody, idempotencyKey = key) =>
      client.baton.POST('/v1/projects/{projectId}/runs', { params: { path: { projectId: client.projectId }, header: { 'idempotency-key': idempotencyKey } }, body });

    const first = await create({ workflowId, input: { topic: 'otters', depth: 2 } });
    // Same request: keys in another order, the default `start` spelled out.
    const same = await create({ start: true, input: { depth: 2, topic: 'otters' }, workflowId });
    const different = await create({ workflowId, input: { topic: 'beavers', depth: 2 } });
    const later = await Promise.all([3, 4, 5].map((depth) => create({ workflowId, input: { topic: 'otters', depth } })));
    // A fresh key raced by two bodies at once: whichever commits first wins, its twins replay it,
    // the other body is refused (the lost-race path compares too).
    const raced = await Promise.all(['a', 'b', 'a', 'b'].map((variant) => create({ workflowId, input: { variant } }, `${key}-race`)));
    const runs = await unwrap(client.baton.GET('/v1/projects/{projectId}/runs', { params: { path: { projectId: client.projectId } } }));
    const winner = raced.find(({ response }) => response.status === 201)!;
    const winnerVariant = raced.indexOf(winner) % 2;

    expect(first.response.status).toBe(201);
    expect(same.response.status).toBe(201);
    expect(same.data?.id).toBe(first.data?.id);
    expect(same.response.headers.get('idempotent-replayed')).toBe('true');
    expect(different.response.status).toBe(422);
    expect(different.error?.error).toMatchObject({ code: 'idempotency_key_reused', field: 'header.idempotency-key' });
    expect(different.error?.error.message).toContain(key);
    expect(later.map(({ response }) => response.status)).toEqual([422, 422, 422]);
    expect(raced.map(({ response, data }) => [response.status, data?.id])).toEqual(
      raced.map((_, index) => (index % 2 === winnerVariant ? [201, winner.data?.id] : [422, undefined])),
    );
    expect(runs.items.map((run) => run.id).sort()).toEqual([first.data?.id, winner.data?.id].sort());
  });
});
