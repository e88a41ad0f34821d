import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { api } from '../helpers/api';
import { engineClient, type EngineClient } from '../helpers/engine';
import { eventually } from '../helpers/poll';
import { resetData } from '../helpers/reset';
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

    const paused = await client.action(id, 'pause');
    await client.waitForStep(id, 'first', ['completed']);
    const held = await eventually('second to be held', async () => {
      const run = await client.getRun(id);
      return run.heldSteps?.includes('second') ? run : undefined;
    });
    const secondWhilePaused = await client.step(id, 'second');
    const resumed = await client.action(id, 'resume');
    const done = await client.waitFor(id, ['completed', 'blocked']);

    expect(paused.status).toBe(200);
    expect(paused.body.status).toBe('paused');
    expect(held.status).toBe('paused');
    expect(secondWhilePaused.status).toBe('queued');
    expect(resumed.body.status).toBe('running');
    expect(done.status).toBe('completed');
  });

  it('cancel ends the run: nothing released afterwards runs', async () => {
    const client = await engineClient();
    const { id } = await client.run(await slowChain(client));
    await client.waitForStep(id, 'first', ['running']);

    const cancelled = await client.action(id, 'cancel');
    await client.waitForStep(id, 'first', ['completed']);
    const second = await client.waitForStep(id, 'second', ['cancelled', 'completed']);
    const events = await client.events(id);

    expect(cancelled.body.status).toBe('cancelled');
    expect(second.status).toBe('cancelled');
    expect(events.some((event) => event.type === 'step.started' && event.stepId !== 'first')).toBe(false);
    expect((await client.getRun(id)).status).toBe('cancelled');
  });

  it('answers 409 to an action the run status does not allow', async () => {
    const client = await engineClient();
    const workflowId = await client.workflow({ name: 'quick', steps: [{ id: 'only', kind: 'noop' }] });
    const { id } = await client.run(workflowId);
    await client.waitFor(id, ['completed']);

    const resume = await client.action(id, 'resume');
    const start = await client.action(id, 'start');
    const unknown = await client.action(id, 'explode');

    expect(resume.status).toBe(409);
    expect(resume.body.error).toMatchObject({ code: 'conflict', message: expect.stringContaining('completed') });
    expect(start.status).toBe(409);
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
    const approve = await client.stepAction(approved.id, 'review', 'approve', { output: { verdict: 'ship' } });
    const reject = await client.stepAction(rejected.id, 'review', 'reject', { reason: 'needs work' });
    const approveAgain = await client.stepAction(approved.id, 'review', 'approve');

    expect(publishWhileWaiting.status).toBe('pending');
    expect(approve.status).toBe(200);
    expect(approve.body).toMatchObject({ status: 'completed', output: { verdict: 'ship' } });
    expect((await client.waitFor(approved.id, ['completed', 'blocked'])).status).toBe('completed');
    expect(reject.body).toMatchObject({ status: 'failed', error: { code: 'REJECTED', message: 'rejected: needs work' } });
    expect((await client.waitFor(rejected.id, ['blocked', 'completed'])).status).toBe('blocked');
    expect(approveAgain.status).toBe(409);
  });

  it('creates one run per Idempotency-Key, however often the request is repeated', async () => {
    const client = await engineClient();
    const workflowId = await client.workflow({ name: 'once', steps: [{ id: 'only', kind: 'noop' }] });
    const key = `create-${Date.now()}`;

    const first = await client.run(workflowId, {}, { 'idempotency-key': key });
    const again = await Promise.all([1, 2, 3].map(() => client.run(workflowId, {}, { 'idempotency-key': key })));
    const other = await client.run(workflowId, {}, { 'idempotency-key': `${key}-other` });

    expect(again.map((run) => run.id)).toEqual([first.id, first.id, first.id]);
    expect(other.id).not.toBe(first.id);
  });

  it('refuses an Idempotency-Key reused with a different body (422 naming the header); the same body in another spelling replays', async () => {
    const client = await engineClient();
    const workflowId = await client.workflow({ name: 'once', steps: [{ id: 'only', kind: 'noop' }] });
    const key = `reuse-${Date.now()}`;
    const create = (body: string, idempotencyKey = key) =>
      api<{ id: string; error?: { code: string; field?: string; message: string } }>('POST', `/v1/projects/${client.project.id}/runs`, {
        token: client.token,
        body,
        headers: { 'content-type': 'application/json', 'idempotency-key': idempotencyKey },
      });

    const first = await create(JSON.stringify({ workflowId, input: { topic: 'otters', depth: 2 } }));
    // Same request: keys in another order, the default `start` spelled out.
    const same = await create(JSON.stringify({ start: true, input: { depth: 2, topic: 'otters' }, workflowId }));
    const different = await create(JSON.stringify({ workflowId, input: { topic: 'beavers', depth: 2 } }));
    const later = await Promise.all([3, 4, 5].map((depth) => create(JSON.stringify({ workflowId, input: { topic: 'otters', depth } }))));
    // A fresh key raced by two bodies at once: whichever commits first wins, its twins replay it,
    // the other body is refused (the lost-race path compares too).
    const raced = await Promise.all(['a', 'b', 'a', 'b'].map((variant) => create(JSON.stringify({ workflowId, input: { variant } }), `${key}-race`)));
    const runs = await api<{ items: { id: string }[] }>('GET', `/v1/projects/${client.project.id}/runs`, { token: client.token });
    const winner = raced.find((response) => response.status === 201)!;
    const winnerVariant = raced.indexOf(winner) % 2;

    expect(first.status).toBe(201);
    expect(same.status).toBe(201);
    expect(same.body.id).toBe(first.body.id);
    expect(same.headers.get('idempotent-replayed')).toBe('true');
    expect(different.status).toBe(422);
    expect(different.body.error).toMatchObject({ code: 'idempotency_key_reused', field: 'header.idempotency-key' });
    expect(different.body.error?.message).toContain(key);
    expect(later.map((response) => response.status)).toEqual([422, 422, 422]);
    expect(raced.map((response) => [response.status, response.body.id])).toEqual(
      raced.map((_, index) => (index % 2 === winnerVariant ? [201, winner.body.id] : [422, undefined])),
    );
    expect(runs.body.items.map((run) => run.id).sort()).toEqual([first.body.id, winner.body.id].sort());
  });
});
