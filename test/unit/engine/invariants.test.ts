import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { NonRetryableStepError } from '#shared/domain/step-errors';
import { applyEffects } from '#shared/engine/dispatch';
import { runAction, stepAction } from '#shared/engine/run-actions';
import { processStepMessage } from '#shared/engine/step-lifecycle';
import { failStep, waitStep } from '#shared/engine/step-outcomes';
import { sweep } from '#shared/engine/sweeper';
import { createEngineHarness, statusFromEvents, type EngineHarness } from '#test/helpers/engine-harness';

/**
 * DESIGN §3, invariant by invariant, on the engine's in-memory store (the same semantics as the
 * DynamoDB adapter; the e2e suite runs the same paths on the emulator). Milliseconds each.
 */

const sweepOptions = { eventGraceSeconds: 30, limit: 100, leaseGraceSeconds: 20, dispatchGraceSeconds: 60 };

/** The engine as a function that dies right after a run action's write wins (nothing after it happens). */
const dyingAfterMove = (h: EngineHarness) => ({
  ...h.deps,
  store: {
    ...h.deps.store,
    moveRun: async (...args: Parameters<typeof h.deps.store.moveRun>) => {
      const written = await h.deps.store.moveRun(...args);
      if (written.won) throw new Error('the function died after the run\'s write');
      return written;
    },
  },
});

const chain = (n: number) => Array.from({ length: n }, (_, index) => ({ id: `s${index}`, ...(index ? { dependsOn: [`s${index - 1}`] } : {}) }));

/** Every step's status is what its event history says, and every event reached the bus. */
const expectEveryChangeRecorded = (h: EngineHarness, runId: string) => {
  const stepIds = new Set(h.memory.events().flatMap((event) => (event.runId === runId && event.stepId ? [event.stepId] : [])));
  for (const stepId of stepIds) expect(statusFromEvents(h.typesOf(runId, stepId)), stepId).toBe(h.step(runId, stepId).status);
  expect(h.memory.events().filter((event) => !event.published)).toEqual([]);
};

describe('invariant 1: nothing lost', () => {
  it('writes only the roots of a new run: every other step reads as pending from its definition until its first write', async () => {
    const h = createEngineHarness();
    const runId = await h.startRun([{ id: 'a' }, { id: 'b', dependsOn: ['a'] }, { id: 'c', dependsOn: ['a', 'b'] }, { id: 'done', done: true }, { id: 'd', dependsOn: ['done'] }]);
    expect(['a', 'b', 'c', 'done', 'd'].filter((id) => h.memory.born(runId, id))).toEqual(['a', 'done', 'd']);
    expect(h.step(runId, 'c')).toMatchObject({ status: 'pending', attempt: 0, remaining: 2, dependsOn: ['a', 'b'], dependents: [] });
    expect((await h.deps.store.listSteps(runId)).map((step) => `${step.stepId}:${step.status}`).sort()).toEqual(['a:queued', 'b:pending', 'c:pending', 'd:queued', 'done:completed']);
    await h.drain();
    expect(h.run(runId).status).toBe('completed');
    expect(h.step(runId, 'c')).toMatchObject({ status: 'completed', remaining: 0, releasedBy: ['a', 'b'] });
  });

  it('runs a chain to completion, one step after another within one delivery (inline)', async () => {
    const h = createEngineHarness();
    const runId = await h.startRun(chain(5));
    await h.drain();
    expect(h.run(runId).status).toBe('completed');
    expect(h.executions.map((execution) => execution.stepId)).toEqual(['s0', 's1', 's2', 's3', 's4']);
    expect(h.executions.every((execution) => execution.dependenciesDone)).toBe(true);
    expect(h.typesOf(runId)).toEqual(['run.created', 'run.started', 'run.completed']);
    expectEveryChangeRecorded(h, runId);
  });

  it('takes over the step of a worker that died mid-step once its lease is over, and completes the run', async () => {
    const h = createEngineHarness();
    const runId = await h.startRun([{ id: 'a' }]);
    // A worker claimed the step and died before recording anything (what a crash looks like from
    // outside: the claim committed, nothing after it); its message comes back.
    await h.deps.store.claim(runId, 'a', { transition: 'claim', readAttempt: 0, at: new Date(h.now()).toISOString(), leaseUntil: new Date(h.now() + 7_000).toISOString() }, { event: { id: '01CRASH', type: 'step.started', projectId: 'prj_test', runId, stepId: 'a', at: new Date(h.now()).toISOString(), actor: 'worker', detail: { attempt: 1 } }, publish: true });
    h.queue[0]!.receives = 1;
    expect(await h.deliver()).toBe('duplicate'); // the lease is live: look again just after it
    expect(h.queue).toEqual([expect.objectContaining({ visibleAt: h.now() + 8_000 })]);
    await h.drain();
    expect(h.step(runId, 'a')).toMatchObject({ status: 'completed', attempt: 2 });
    expect(h.eventsOf(runId, 'a').find((event) => event.type === 'step.started' && event.detail.takeover)).toBeDefined();
    expect(h.run(runId).status).toBe('completed');
  });

  it('blocks the run with the reason when a step fails for good, and retry resumes it to completion', async () => {
    let broken = true;
    const h = createEngineHarness({ failWhen: ({ stepId }) => (stepId === 'b' && broken ? 'fatal' : undefined) });
    const runId = await h.startRun(chain(3).map((step, index) => ({ ...step, id: ['a', 'b', 'c'][index]!, ...(index ? { dependsOn: [['a', 'b'][index - 1]!] } : {}) })));
    await h.drain();
    expect(h.run(runId)).toMatchObject({ status: 'blocked', failedSteps: ['b'], reason: expect.stringContaining('b failed for good') });
    broken = false;
    await runAction(h.deps, h.run(runId), 'retry', 'test');
    await h.drain();
    expect(h.run(runId).status).toBe('completed');
    expect(h.step(runId, 'c').status).toBe('completed');
    expectEveryChangeRecorded(h, runId);
  });

  it('holds steps released while paused and sends them on resume', async () => {
    const h = createEngineHarness();
    const runId = await h.startRun([{ id: 'a' }, { id: 'b' }]);
    await runAction(h.deps, h.run(runId), 'pause', 'test');
    await h.drain();
    expect(h.run(runId)).toMatchObject({ status: 'paused', heldSteps: ['a', 'b'] });
    expect(h.executions).toEqual([]);
    await runAction(h.deps, h.run(runId), 'resume', 'test');
    await h.drain();
    expect(h.run(runId).status).toBe('completed');
    expect(h.run(runId).heldSteps).toBeUndefined();
  });

  it('sends on resume a dead worker\'s step that was held at its takeover (still running: no queue marker, no lease timer)', async () => {
    const h = createEngineHarness();
    const runId = await h.startRun([{ id: 'a' }]);
    const at = new Date(h.now()).toISOString();
    await h.deps.store.claim(runId, 'a', { transition: 'claim', readAttempt: 0, at, leaseUntil: new Date(h.now() + 7_000).toISOString() }, { event: { id: '01CLAIM', type: 'step.started', projectId: 'prj_test', runId, stepId: 'a', at, actor: 'worker', detail: { attempt: 1 } }, publish: false });
    await runAction(h.deps, h.run(runId), 'pause', 'test');
    h.advance(30);
    // The dead worker's message comes back: its lease is over, but the run is paused.
    expect(await h.deliver()).toBe('held');
    expect(h.step(runId, 'a').status).toBe('running');
    expect(h.queue).toEqual([]);
    await runAction(h.deps, h.run(runId), 'resume', 'test');
    await h.drain();
    expect(h.step(runId, 'a')).toMatchObject({ status: 'completed', attempt: 2 });
    expect(h.run(runId).status).toBe('completed');
  });

  it('a resume that dies after its write: the sweeper sends the held steps it marked before, queued or running (held at a takeover)', async () => {
    const h = createEngineHarness();
    const runId = await h.startRun([{ id: 'a' }, { id: 'b' }]);
    const at = new Date(h.now()).toISOString();
    // A worker claimed `a` and died; the run is paused; `a`'s message comes back to a paused run, as does `b`'s.
    await h.deps.store.claim(runId, 'a', { transition: 'claim', readAttempt: 0, at, leaseUntil: new Date(h.now() + 7_000).toISOString() }, { event: { id: '01CLAIM', type: 'step.started', projectId: 'prj_test', runId, stepId: 'a', at, actor: 'worker', detail: { attempt: 1 } }, publish: false });
    await runAction(h.deps, h.run(runId), 'pause', 'test');
    h.advance(30);
    await h.drain();
    expect(h.run(runId)).toMatchObject({ status: 'paused', heldSteps: ['a', 'b'] });
    await expect(runAction(dyingAfterMove(h), h.run(runId), 'resume', 'test')).rejects.toThrow('died');
    expect(h.run(runId)).toMatchObject({ status: 'running' });
    expect(h.queue).toEqual([]);
    h.advance(120);
    expect((await sweep(h.deps, sweepOptions)).dispatchesResent).toBe(2);
    await h.drain();
    expect(h.step(runId, 'a')).toMatchObject({ status: 'completed', attempt: 2 });
    expect(h.run(runId).status).toBe('completed');
    expectEveryChangeRecorded(h, runId);
  });

  it('a step held after a resume read the run is not forgotten: the resume\'s write loses, it reads again and marks it, and a death after the write is recovered', async () => {
    const h = createEngineHarness();
    const runId = await h.startRun([{ id: 'a' }]);
    const at = new Date(h.now()).toISOString();
    await h.deps.store.claim(runId, 'a', { transition: 'claim', readAttempt: 0, at, leaseUntil: new Date(h.now() + 7_000).toISOString() }, { event: { id: '01CLAIM', type: 'step.started', projectId: 'prj_test', runId, stepId: 'a', at, actor: 'worker', detail: { attempt: 1 } }, publish: false });
    await runAction(h.deps, h.run(runId), 'pause', 'test');
    h.advance(30);
    // The person's resume reads the run; the dead worker's message is held before the resume writes.
    const read = h.run(runId);
    expect(await h.deliver()).toBe('held');
    await expect(runAction(dyingAfterMove(h), read, 'resume', 'test')).rejects.toThrow('died');
    expect(h.run(runId)).toMatchObject({ status: 'running' });
    expect(h.run(runId).heldSteps).toBeUndefined();
    h.advance(120);
    await sweep(h.deps, sweepOptions);
    await h.drain();
    expect(h.step(runId, 'a')).toMatchObject({ status: 'completed', attempt: 2 });
    expect(h.run(runId).status).toBe('completed');
  });

  it('a start that dies after the run\'s write: its roots were queued before it (and marked), the sweeper sends them', async () => {
    const h = createEngineHarness();
    const runId = await h.startRun([{ id: 'a' }, { id: 'b', dependsOn: ['a'] }, { id: 'c' }], { start: false });
    await expect(runAction(dyingAfterMove(h), h.run(runId), 'start', 'person')).rejects.toThrow('died');
    expect(h.run(runId).status).toBe('running');
    expect(h.queue).toEqual([]);
    h.advance(120);
    expect((await sweep(h.deps, sweepOptions)).dispatchesResent).toBe(2);
    await h.drain();
    expect(h.run(runId).status).toBe('completed');
    expect(h.typesOf(runId)).toEqual(['run.created', 'run.started', 'run.completed']);
    expectEveryChangeRecorded(h, runId);
  });

  it('a start that dies between its roots and the run\'s write leaves the run pending; the next start sends the roots (held meanwhile if the sweeper sent them)', async () => {
    const h = createEngineHarness();
    const runId = await h.startRun([{ id: 'a' }, { id: 'b' }], { start: false });
    const dying = { ...h.deps, store: { ...h.deps.store, moveRun: async () => { throw new Error('the function died before the run\'s write'); } } };
    await expect(runAction(dying, h.run(runId), 'start', 'person')).rejects.toThrow('died');
    expect(h.run(runId).status).toBe('pending');
    expect(h.step(runId, 'a').status).toBe('queued');
    h.advance(120);
    await sweep(h.deps, sweepOptions);
    await h.drain();
    expect(h.run(runId)).toMatchObject({ status: 'pending', heldSteps: ['a', 'b'] });
    await runAction(h.deps, h.run(runId), 'start', 'person');
    await h.drain();
    expect(h.run(runId).status).toBe('completed');
    expect(h.run(runId).heldSteps).toBeUndefined();
    expectEveryChangeRecorded(h, runId);
  });

  it('a creating request (start) that died before its start: the client\'s retry under the same Idempotency-Key starts the run it created', async () => {
    const h = createEngineHarness();
    const dying = { ...h.deps, store: { ...h.deps.store, getSteps: async () => { throw new Error('the function died after the run\'s creation'); } } };
    await expect(h.startRun([{ id: 'a' }], { as: dying, idempotencyKey: 'create-once' })).rejects.toThrow('died');
    const runId = await h.startRun([{ id: 'a' }], { idempotencyKey: 'create-once' });
    expect(h.run(runId).status).toBe('running');
    await h.drain();
    expect(h.run(runId).status).toBe('completed');
    expect(h.typesOf(runId)).toEqual(['run.created', 'run.started', 'run.completed']);
  });

  it('resumes blocked, with the reason, a run whose step failed for good while it was paused', async () => {
    let broken = true;
    const h = createEngineHarness({ failWhen: () => (broken ? 'fatal' : undefined) });
    const runId = await h.startRun([{ id: 'a' }, { id: 'b', dependsOn: ['a'] }]);
    // A worker claimed a before the pause and records its failure after it: a paused run cannot block.
    const at = new Date(h.now()).toISOString();
    await h.deps.store.claim(runId, 'a', { transition: 'claim', readAttempt: 0, at, leaseUntil: new Date(h.now() + 7_000).toISOString() }, { event: { id: '01CLAIM', type: 'step.started', projectId: 'prj_test', runId, stepId: 'a', at, actor: 'worker', detail: { attempt: 1 } }, publish: false });
    await runAction(h.deps, h.run(runId), 'pause', 'test');
    const effects = await failStep(h.deps, h.run(runId), h.step(runId, 'a'), new NonRetryableStepError('broken', { code: 'BROKEN', status: 400 }), { actor: 'worker', transition: 'fail' });
    await applyEffects(h.deps, effects!);
    expect(h.run(runId)).toMatchObject({ status: 'paused', failedSteps: ['a'] });
    await runAction(h.deps, h.run(runId), 'resume', 'test');
    expect(h.run(runId)).toMatchObject({ status: 'blocked', reason: 'step a failed: broken', failedSteps: ['a'] });
    expect(h.typesOf(runId).slice(-2)).toEqual(['run.paused', 'run.blocked']);
    broken = false;
    await runAction(h.deps, h.run(runId), 'retry', 'test');
    await h.drain();
    expect(h.run(runId).status).toBe('completed');
    expectEveryChangeRecorded(h, runId);
  });

  it('completes a run whose last step finished while it was paused (approved, or already running): nothing is left to resume', async () => {
    const h = createEngineHarness();
    const runId = await h.startRun([{ id: 'a' }, { id: 'gate', kind: 'approval', dependsOn: ['a'] }]);
    await h.drain();
    await runAction(h.deps, h.run(runId), 'pause', 'test');
    await stepAction(h.deps, h.run(runId), h.step(runId, 'gate'), 'approve', 'tok_person', {});
    expect(h.run(runId)).toMatchObject({ status: 'completed', remainingSinks: 0 });
    expect(h.typesOf(runId)).toEqual(['run.created', 'run.started', 'run.paused', 'run.completed']);
    await expect(runAction(h.deps, h.run(runId), 'resume', 'test')).rejects.toThrow('Cannot resume a run that is completed');
    expectEveryChangeRecorded(h, runId);
  });

  it('a person\'s retry that read the failed steps before another one failed goes again with it: no failed step is forgotten unblocked', async () => {
    const h = createEngineHarness({ failWhen: ({ stepId, attempt }) => (attempt === 1 && stepId !== 'c' ? 'fatal' : undefined) });
    const runId = await h.startRun([{ id: 'a' }, { id: 'b' }, { id: 'c' }]);
    await h.deliver(0);
    expect(h.run(runId)).toMatchObject({ status: 'blocked', failedSteps: ['a'] });
    // The person's retry read the run (failed: a); then b fails for good, recorded alone (the run is blocked).
    const read = h.run(runId);
    await h.deliver(0);
    expect(h.run(runId).failedSteps?.sort()).toEqual(['a', 'b']);
    await runAction(h.deps, read, 'retry', 'person');
    expect(h.run(runId)).toMatchObject({ status: 'running' });
    expect(h.run(runId).failedSteps).toBeUndefined();
    await h.drain();
    expect(h.run(runId).status).toBe('completed');
    expect(h.typesOf(runId, 'b')).toContain('step.retry_requested');
    expectEveryChangeRecorded(h, runId);
  });

  it('dead-letters a message that kept crashing the worker: the step fails with DEAD_LETTERED and the run blocks', async () => {
    const h = createEngineHarness();
    const runId = await h.startRun([{ id: 'a' }]);
    const [message] = h.queue.splice(0, 1);
    expect(await h.deadLetter(message!.message)).toBe('failed');
    expect(h.step(runId, 'a')).toMatchObject({ status: 'failed', error: { code: 'DEAD_LETTERED' } });
    expect(h.run(runId).status).toBe('blocked');
    await runAction(h.deps, h.run(runId), 'retry', 'test');
    await h.drain();
    expect(h.run(runId).status).toBe('completed');
    // A stale copy arriving after that changes nothing.
    expect(await h.deadLetter(message!.message)).toBe('ignored');
    expect(h.step(runId, 'a').status).toBe('completed');
  });

  it('ignores a second copy of a dead letter that arrives after a person retried the step it failed (the step never started)', async () => {
    const h = createEngineHarness();
    const runId = await h.startRun([{ id: 'a' }]);
    const sentAt = h.now();
    const [message] = h.queue.splice(0, 1);
    h.advance(300);
    expect(await h.deadLetter(message!.message, 5, sentAt)).toBe('failed');
    h.advance(600);
    await runAction(h.deps, h.run(runId), 'retry', 'test');
    expect(h.step(runId, 'a')).toMatchObject({ status: 'queued', attempt: message!.message.attempt });
    // The same dead letter again (SQS delivers at least once): it was sent before the retry.
    expect(await h.deadLetter(message!.message, 5, sentAt)).toBe('ignored');
    expect(h.step(runId, 'a').status).toBe('queued');
    expect(h.run(runId).status).toBe('running');
    await h.drain();
    expect(h.run(runId).status).toBe('completed');
    // Without the SentTimestamp (or sent after the queuing) a dead letter of the queued attempt still fails it.
    const again = await h.startRun([{ id: 'b' }]);
    const [fresh] = h.queue.splice(0, 1);
    expect(await h.deadLetter(fresh!.message, 5, h.now())).toBe('failed');
    expect(h.step(again, 'b').status).toBe('failed');
  });

  it('recovers a step whose worker died after its duplicate was acknowledged: the duplicate left a copy due when the lease ends (no lease timer)', async () => {
    const h = createEngineHarness();
    const runId = await h.startRun([{ id: 'a' }]);
    // A worker claimed the step and died; its message's other copy arrives during the live lease.
    const at = new Date(h.now()).toISOString();
    await h.deps.store.claim(runId, 'a', { transition: 'claim', readAttempt: 0, at, leaseUntil: new Date(h.now() + 7_000).toISOString() }, { event: { id: '01LOST', type: 'step.started', projectId: 'prj_test', runId, stepId: 'a', at, actor: 'worker', detail: { attempt: 1 } }, publish: true });
    expect(await h.deliver()).toBe('duplicate'); // acknowledged: the original message is gone
    expect(h.queue).toEqual([expect.objectContaining({ visibleAt: h.now() + 8_000 })]);
    expect((await h.deps.store.dueTimers('lease', new Date(h.now() + 3_600_000).toISOString(), 10))).toEqual([]);
    await h.drain();
    expect(h.step(runId, 'a')).toMatchObject({ status: 'completed', attempt: 2 });
    expect(h.run(runId).status).toBe('completed');
  });

  it('a message dead-lettered while a live lease holds its step sends a copy due when the lease ends, so a dead worker is still taken over', async () => {
    const h = createEngineHarness();
    const runId = await h.startRun([{ id: 'a' }]);
    const [entry] = h.queue.splice(0, 1);
    const at = new Date(h.now()).toISOString();
    await h.deps.store.claim(runId, 'a', { transition: 'claim', readAttempt: 0, at, leaseUntil: new Date(h.now() + 7_000).toISOString() }, { event: { id: '01DLQ', type: 'step.started', projectId: 'prj_test', runId, stepId: 'a', at, actor: 'worker', detail: { attempt: 1 } }, publish: true });
    expect(await h.deadLetter(entry!.message)).toBe('ignored');
    expect(h.step(runId, 'a').status).toBe('running');
    expect(h.queue).toEqual([expect.objectContaining({ visibleAt: h.now() + 8_000 })]);
    await h.drain();
    expect(h.step(runId, 'a')).toMatchObject({ status: 'completed', attempt: 2 });
    expect(h.run(runId).status).toBe('completed');
  });
});

describe('invariant 1: nothing lost when a person, an agent or a reaction dies after its write', () => {
  it('an approval whose function died after the step\'s write: the sweeper has the worker release what it left and complete the run', async () => {
    const h = createEngineHarness();
    const runId = await h.startRun([{ id: 'a' }, { id: 'gate', kind: 'approval' }, { id: 'c', dependsOn: ['a', 'gate'] }, { id: 'solo', kind: 'approval' }]);
    await h.drain();
    // The API function dies right after each approval's write: nothing after it happens.
    const dying = { ...h.deps, store: { ...h.deps.store, complete: async (...args: Parameters<typeof h.deps.store.complete>) => {
      await h.deps.store.complete(...args);
      throw new Error('the function died after its write');
    } } };
    for (const gate of ['gate', 'solo']) await expect(stepAction(dying, h.run(runId), h.step(runId, gate), 'approve', 'tok_person', {})).rejects.toThrow('died');
    expect(h.step(runId, 'c')).toMatchObject({ status: 'pending', remaining: 1 });
    expect(h.run(runId).status).toBe('running');
    // A retried approval is refused (the gate is completed): only the sweeper can see what is left.
    await expect(stepAction(h.deps, h.run(runId), h.step(runId, 'gate'), 'approve', 'tok_person', {})).rejects.toThrow('completed');
    h.advance(120);
    await sweep(h.deps, { eventGraceSeconds: 30, limit: 100, leaseGraceSeconds: 20, dispatchGraceSeconds: 60 });
    await h.drain();
    expect(h.typesOf(runId, 'c')).toEqual(['step.queued', 'step.started', 'step.completed']);
    expect(h.run(runId).status).toBe('completed');
    // Its follow-up done, the finished step is off the timers index.
    await sweep(h.deps, { eventGraceSeconds: 30, limit: 100, leaseGraceSeconds: 20, dispatchGraceSeconds: 60 });
    expect(h.memory.timer(runId, 'gate')).toBeUndefined();
    expect(h.queue).toEqual([]);
    expectEveryChangeRecorded(h, runId);
  });

  it('a finishing write with follow-up takes its marker off once its sends are done; its released child carries none (no write of its own)', async () => {
    const h = createEngineHarness();
    const runId = await h.startRun([{ id: 'gate', kind: 'approval' }, { id: 'next', dependsOn: ['gate'] }]);
    await h.drain();
    await stepAction(h.deps, h.run(runId), h.step(runId, 'gate'), 'approve', 'tok_person', {});
    expect(h.memory.timer(runId, 'gate')).toBeUndefined();
    expect(h.memory.timer(runId, 'next')).toBeUndefined();
    expect(h.step(runId, 'next').status).toBe('pending');
    await h.drain();
    expect(h.run(runId).status).toBe('completed');
  });
});

describe('invariant 1: nothing lost, when a finished step\'s message dead-letters', () => {
  it('re-releases from the DLQ handler what the worker queued but never sent (its releases counted on a redelivery that ended in the DLQ)', async () => {
    const h = createEngineHarness();
    const runId = await h.startRun([{ id: 'a' }, { id: 'b', dependsOn: ['a'] }, { id: 'c', dependsOn: ['a'] }]);
    const [entry] = h.queue.splice(0, 1);
    // The worker ran a, whose completion released b and c (no write of theirs, no dispatch marker: its message's redelivery recovers them), then died sending.
    const dying = { ...h.deps, releasesRecoveredByRedelivery: true, dispatcher: { send: async () => Promise.reject(new Error('the worker died')) } };
    await expect(processStepMessage(dying, entry!.message, h.now() + 20_000)).rejects.toThrow('the worker died');
    expect([h.step(runId, 'a').status, h.step(runId, 'b').status, h.step(runId, 'c').status]).toEqual(['completed', 'pending', 'pending']);
    expect(h.queue).toEqual([]);
    // It kept dying: the message dead-letters.
    expect(await h.deadLetter(entry!.message)).toBe('ignored');
    await h.drain();
    expect(h.run(runId).status).toBe('completed');
    expect(h.executions.map((execution) => execution.stepId).sort()).toEqual(['a', 'b', 'c']);
  });
});

describe('invariant 1: a cancelled run leaves no step half-way', () => {
  it('a gate that starts waiting after its run was cancelled is cancelled by its own message', async () => {
    const h = createEngineHarness();
    const runId = await h.startRun([{ id: 'gate', kind: 'approval' }]);
    // The worker claimed the gate; the run is cancelled (nothing waits yet); then the gate starts waiting.
    const at = new Date(h.now()).toISOString();
    await h.deps.store.claim(runId, 'gate', { transition: 'claim', readAttempt: 0, at, leaseUntil: new Date(h.now() + 7_000).toISOString() }, { event: { id: '01CLAIM', type: 'step.started', projectId: 'prj_test', runId, stepId: 'gate', at, actor: 'worker', detail: { attempt: 1 } }, publish: false });
    h.queue.length = 0;
    await runAction(h.deps, h.run(runId), 'cancel', 'person');
    const effects = await waitStep(h.deps, h.run(runId), h.step(runId, 'gate'), 'awaiting approval', 'worker');
    await applyEffects(h.deps, effects!);
    await h.drain();
    expect(h.step(runId, 'gate').status).toBe('cancelled');
    expect(h.memory.inbox()).toEqual([]);
    expectEveryChangeRecorded(h, runId);
  });

  it('a cancel whose function died after the run\'s write: the check messages it sent first cancel the waiting and the held steps', async () => {
    const h = createEngineHarness();
    const runId = await h.startRun([{ id: 'gate', kind: 'approval' }, { id: 'held' }]);
    await h.deliver(h.visible().findIndex((entry) => entry.message.stepId === 'gate'));
    await runAction(h.deps, h.run(runId), 'pause', 'person');
    await h.drain();
    expect(h.run(runId)).toMatchObject({ status: 'paused', heldSteps: ['held'] });
    const dying = { ...h.deps, store: { ...h.deps.store, moveRun: async (...args: Parameters<typeof h.deps.store.moveRun>) => {
      await h.deps.store.moveRun(...args);
      throw new Error('the function died after the run\'s write');
    } } };
    await expect(runAction(dying, h.run(runId), 'cancel', 'person')).rejects.toThrow('died');
    expect(h.run(runId).status).toBe('cancelled');
    expect(h.step(runId, 'gate').status).toBe('needs_qa');
    await h.drain();
    expect(h.step(runId, 'gate').status).toBe('cancelled');
    expect(h.step(runId, 'held').status).toBe('cancelled');
    expect(h.memory.inbox()).toEqual([]);
    expect(h.executions).toEqual([]);
  });
  it('a cancel cancels a step queued with its time far ahead (parked: no message until the sweeper\'s, maybe weeks later)', async () => {
    const h = createEngineHarness();
    const runId = await h.startRun([{ id: 'a' }, { id: 'later', kind: 'wait', input: { seconds: 3_600 }, dependsOn: ['a'] }]);
    await h.drain();
    expect(h.memory.timer(runId, 'later')).toMatchObject({ kind: 'notBefore' });
    await runAction(h.deps, h.run(runId), 'cancel', 'person');
    expect(h.step(runId, 'later').status).toBe('cancelled');
    expect(h.memory.timer(runId, 'later')).toBeUndefined();
    await h.drain();
    expect(h.step(runId, 'later').status).toBe('cancelled');
    expectEveryChangeRecorded(h, runId);
  });

  it('a far wait released in a cancelled run (an approval that died before its release, redone by the sweeper) is sent at once and cancelled, not parked', async () => {
    const h = createEngineHarness();
    const runId = await h.startRun([{ id: 'gate', kind: 'approval' }, { id: 'later', kind: 'wait', input: { seconds: 1_500 }, dependsOn: ['gate'] }]);
    await h.drain();
    const dying = { ...h.deps, store: { ...h.deps.store, complete: async (...args: Parameters<typeof h.deps.store.complete>) => {
      await h.deps.store.complete(...args);
      throw new Error('the function died after its write');
    } } };
    await expect(stepAction(dying, h.run(runId), h.step(runId, 'gate'), 'approve', 'tok_person', {})).rejects.toThrow('died');
    await runAction(h.deps, h.run(runId), 'cancel', 'person');
    h.advance(120);
    await sweep(h.deps, sweepOptions);
    await h.drain();
    expect(h.step(runId, 'later').status).toBe('cancelled');
    expect(h.memory.timer(runId, 'later')).toBeUndefined();
    expect(h.memory.timer(runId, 'gate')).toBeUndefined();
    expectEveryChangeRecorded(h, runId);
  });

  it('a step parked by a release that lands after the cancel looked at the steps gets its message at once, which cancels it', async () => {
    const h = createEngineHarness({
      executors: [{ kind: 'cancelling', input: z.unknown(), run: async (_input, context) => {
        // The run is cancelled while this step runs: the cancel finds its child still pending.
        await runAction(h.deps, h.run(context.runId), 'cancel', 'person');
        return { status: 'completed', output: {} };
      } }],
    });
    const runId = await h.startRun([{ id: 'a', kind: 'cancelling' }, { id: 'later', kind: 'wait', input: { seconds: 3_600 }, dependsOn: ['a'] }]);
    await h.deliver();
    expect(h.run(runId).status).toBe('cancelled');
    await h.drain();
    expect(h.step(runId, 'later').status).toBe('cancelled');
    expect(h.memory.timer(runId, 'later')).toBeUndefined();
    expectEveryChangeRecorded(h, runId);
  });
});

describe('invariant 1: the run completes exactly once, when its last sink is done (sink buckets)', () => {
  /** As the step worker: its releases and sink counts are recovered by its message's redelivery. */
  const asWorker = (h: EngineHarness) => {
    h.deps.releasesRecoveredByRedelivery = true;
  };

  it('counts a sink whose worker died after its completion, before its count, on the redelivery: the run completes once', async () => {
    const h = createEngineHarness();
    asWorker(h);
    const runId = await h.startRun([{ id: 'a' }, { id: 'b' }]);
    const { store } = h.deps;
    h.deps.store = { ...store, finishSinks: (...args) => (args[2].includes('a') ? Promise.reject(new Error('the worker died')) : store.finishSinks(...args)) };
    await expect(h.deliver(h.visible().findIndex((entry) => entry.message.stepId === 'a'))).rejects.toThrow('the worker died');
    await h.deliver(h.visible().findIndex((entry) => entry.message.stepId === 'b'));
    expect(h.step(runId, 'a').status).toBe('completed');
    expect(h.memory.pendingSinks(runId)).toEqual(['a']);
    expect(h.run(runId).status).toBe('running');

    h.deps.store = store;
    h.advance(20);
    await h.drain();
    expect(h.memory.pendingSinks(runId)).toEqual([]);
    expect(h.run(runId).status).toBe('completed');
    expect(h.typesOf(runId).filter((type) => type === 'run.completed')).toHaveLength(1);
    expect(h.executions.map((execution) => execution.stepId).sort()).toEqual(['a', 'b']);
  });

  it('completes a fan whose sinks finish in parallel and are redelivered, once; an optional sink that fails for good counts as done', async () => {
    const h = createEngineHarness({ failWhen: ({ stepId }) => (stepId === 'leaf3' ? 'fatal' : undefined) });
    asWorker(h);
    const leaves = Array.from({ length: 40 }, (_, index) => ({ id: `leaf${index}`, dependsOn: ['root'], ...(index === 3 ? { onFailure: 'continue' as const } : {}) }));
    const runId = await h.startRun([{ id: 'root' }, ...leaves]);
    expect(h.run(runId).sinkBuckets).toBeGreaterThan(0);
    await h.deliver(0);
    const copies = h.visible().slice(0, 5).map((entry) => ({ ...entry, message: { ...entry.message }, receives: 0 }));
    await Promise.all(h.visible().map(() => h.deliver(0)));
    h.queue.push(...copies);
    await h.drain();
    expect(h.run(runId)).toMatchObject({ status: 'completed', degraded: true, failedOptionalSteps: ['leaf3'] });
    expect(h.memory.pendingSinks(runId)).toEqual([]);
    expect(h.typesOf(runId).filter((type) => type === 'run.completed')).toHaveLength(1);
  });

  it('counts a sink in the same write when a person finishes it (no redelivery behind an approval)', async () => {
    const h = createEngineHarness();
    const runId = await h.startRun([{ id: 'gate', kind: 'approval', input: { prompt: 'ok?' } }]);
    await h.drain();
    const { store } = h.deps;
    // Whatever happens after the approval's write, its sink is counted by it.
    h.deps.store = { ...store, finishSinks: () => Promise.reject(new Error('the function died')) };
    await expect(stepAction(h.deps, h.run(runId), h.step(runId, 'gate'), 'approve', 'tok_person', {})).rejects.toThrow('the function died');
    expect(h.step(runId, 'gate').status).toBe('completed');
    expect(h.memory.pendingSinks(runId)).toEqual([]);
  });

  it('completes a run with no unfinished sink at its start (every sink done at import)', async () => {
    const h = createEngineHarness();
    const runId = await h.startRun([{ id: 'a', done: true }]);
    expect(h.run(runId)).toMatchObject({ status: 'completed', sinkBuckets: 0 });
  });
});

describe('invariant 1: nothing lost, when the sends after a completion never happen', () => {
  const worker = (h: EngineHarness) => ({ ...h.deps, releasesRecoveredByRedelivery: true });

  it('a worker that dies after the completion, before the sends: the redelivery sends the child, whose claim records its release', async () => {
    const h = createEngineHarness();
    const runId = await h.startRun([{ id: 'a' }, { id: 'b', dependsOn: ['a'] }]);
    const entry = h.queue[0]!;
    const dying = { ...worker(h), dispatcher: { send: async () => Promise.reject(new Error('the worker died')) } };
    // Inline execution would run b in the same delivery: keep the send (and so the crash) in the way.
    await expect(processStepMessage(dying, entry.message, h.now() + 20_000, 50)).rejects.toThrow('the worker died');
    expect([h.step(runId, 'a').status, h.step(runId, 'b').status]).toEqual(['completed', 'pending']);
    expect(h.typesOf(runId, 'b')).toEqual([]);
    // SQS shows the message again: its redelivery finds a finished and releases again.
    expect(await processStepMessage(worker(h), entry.message, h.now() + 20_000)).toBe('rereleased');
    h.queue.splice(h.queue.indexOf(entry), 1);
    await h.drain();
    expect(h.run(runId).status).toBe('completed');
    expect(h.typesOf(runId, 'b')).toEqual(['step.queued', 'step.started', 'step.completed']);
    expect(h.eventsOf(runId, 'b')[0]!.detail).toMatchObject({ attempt: 1, releasedBy: 'a' });
    // The history is read in id order: the release sorts before the start it was written with.
    const ids = h.eventsOf(runId, 'b').map((event) => event.id);
    expect([...ids].sort()).toEqual(ids);
    expect(h.executions.map((execution) => execution.stepId)).toEqual(['a', 'b']);
  });

  it('an approval whose sends are lost stays filed under DISPATCH until the sweeper released its children again', async () => {
    const h = createEngineHarness();
    const runId = await h.startRun([{ id: 'gate', kind: 'approval', input: { prompt: 'ok?' } }, { id: 'b', dependsOn: ['gate'] }, { id: 'c', dependsOn: ['gate'] }]);
    await h.drain();
    // The API committed the approval and died before its sends (a dropped send stands for that).
    const dying = { ...h.deps, dispatcher: { send: async () => ({ dropped: 2 }) } };
    await stepAction(dying, h.run(runId), h.step(runId, 'gate'), 'approve', 'tok_person', {});
    expect(h.step(runId, 'gate').status).toBe('completed');
    expect(h.memory.timer(runId, 'gate')).toMatchObject({ kind: 'dispatch' });
    expect(h.queue).toEqual([]);
    h.advance(120);
    // The gate's own message goes to the worker, whose rerelease sends its children.
    expect((await sweep(h.deps, { eventGraceSeconds: 30, limit: 10, leaseGraceSeconds: 20, dispatchGraceSeconds: 60 })).dispatchesResent).toBe(1);
    expect(h.memory.timer(runId, 'gate')).toBeUndefined();
    await h.drain();
    expect(h.run(runId).status).toBe('completed');
    expect(h.typesOf(runId, 'b')).toEqual(['step.queued', 'step.started', 'step.completed']);
    // An approval whose sends went through takes its marker off at once.
    const other = await h.startRun([{ id: 'gate', kind: 'approval', input: { prompt: 'ok?' } }, { id: 'b', dependsOn: ['gate'] }]);
    await h.drain();
    await stepAction(h.deps, h.run(other), h.step(other, 'gate'), 'approve', 'tok_person', {});
    expect(h.memory.timer(other, 'gate')).toBeUndefined();
    await h.drain();
    expect(h.run(other).status).toBe('completed');
  });

  it('a child released while its run is paused is queued and held for resume; one released after a cancel is cancelled', async () => {
    const h = createEngineHarness();
    const runId = await h.startRun([{ id: 'gate', kind: 'approval', input: { prompt: 'ok?' } }, { id: 'b', dependsOn: ['gate'] }]);
    await h.drain();
    await runAction(h.deps, h.run(runId), 'pause', 'test');
    await stepAction(h.deps, h.run(runId), h.step(runId, 'gate'), 'approve', 'tok_person', {});
    await h.drain();
    expect(h.step(runId, 'b').status).toBe('queued');
    expect(h.run(runId)).toMatchObject({ status: 'paused', heldSteps: ['b'] });
    await runAction(h.deps, h.run(runId), 'resume', 'test');
    await h.drain();
    expect(h.run(runId).status).toBe('completed');
    expect(h.typesOf(runId, 'b')).toEqual(['step.queued', 'step.started', 'step.completed']);

    const late = await h.startRun([{ id: 'gate', kind: 'approval', input: { prompt: 'ok?' } }, { id: 'b', dependsOn: ['gate'] }]);
    await h.drain();
    await stepAction(h.deps, h.run(late), h.step(late, 'gate'), 'approve', 'tok_person', {});
    await runAction(h.deps, h.run(late), 'cancel', 'test');
    await h.drain();
    expect(h.step(late, 'b').status).toBe('cancelled');
    expectEveryChangeRecorded(h, late);
  });

  it('a released wait step gets its not-before time at its release: queued with it, not claimed at once', async () => {
    const h = createEngineHarness();
    const runId = await h.startRun([{ id: 'a' }, { id: 'pause', kind: 'wait', input: { seconds: 30 }, dependsOn: ['a'] }]);
    const released = h.now();
    await h.deliver();
    expect(h.step(runId, 'pause')).toMatchObject({ status: 'queued', notBefore: new Date(released + 30_000).toISOString() });
  });
});

describe('invariant 2: no attempt executes twice', () => {
  it('a duplicate delivery of a message loses the claim and does nothing', async () => {
    const h = createEngineHarness();
    const runId = await h.startRun([{ id: 'a' }, { id: 'b', dependsOn: ['a'] }]);
    h.queue.push({ ...h.queue[0]!, message: { ...h.queue[0]!.message } });
    const results = await Promise.all([h.deliver(0), h.deliver(0)]);
    expect(results.sort()).toEqual(['duplicate', 'executed']);
    await h.drain();
    expect(h.executions.map((execution) => `${execution.stepId}#${execution.attempt}`)).toEqual(['a#1', 'b#1']);
    expect(h.run(runId).status).toBe('completed');
  });

  it('keeps one idempotency key across automatic retries and raises the generation only for a retry with a new input', async () => {
    const h = createEngineHarness({ failWhen: ({ attempt }) => (attempt === 1 ? 'retryable' : attempt === 2 ? 'fatal' : undefined) });
    const runId = await h.startRun([{ id: 'a', retry: { maxAttempts: 2, backoffBaseSeconds: 1, backoffCapSeconds: 1, jitter: 'full' as const } }]);
    await h.drain();
    expect(h.executions.map((execution) => execution.idempotencyKey)).toEqual([`${runId}:a:1`, `${runId}:a:1`]);
    await runAction(h.deps, h.run(runId), 'retry', 'test', { steps: { a: { input: { fixed: true } } } });
    await h.drain();
    expect(h.executions.map((execution) => [execution.attempt, execution.idempotencyKey])).toEqual([[1, `${runId}:a:1`], [2, `${runId}:a:1`], [3, `${runId}:a:2`]]);
    expect(h.step(runId, 'a')).toMatchObject({ status: 'completed', generation: 2, input: { fixed: true } });
  });
});

describe('invariant 3: released exactly once, no scans', () => {
  it('20 parents finishing at the same moment release their shared child once', async () => {
    const h = createEngineHarness();
    const parents = Array.from({ length: 20 }, (_, index) => ({ id: `p${index}` }));
    const runId = await h.startRun([...parents, { id: 'child', dependsOn: parents.map((parent) => parent.id) }]);
    await Promise.all(h.visible().map(() => h.deliver(0)));
    await h.drain();
    expect(h.typesOf(runId, 'child')).toEqual(['step.queued', 'step.started', 'step.completed']);
    expect(h.step(runId, 'child')).toMatchObject({ remaining: 0, releasedBy: expect.arrayContaining(parents.map((parent) => parent.id)) });
    expect(h.executions.filter((execution) => execution.stepId === 'child')).toHaveLength(1);
  });

  it('a redelivered parent decrements nothing more', async () => {
    const h = createEngineHarness();
    const runId = await h.startRun([{ id: 'a' }, { id: 'b' }, { id: 'c', dependsOn: ['a', 'b'] }]);
    const first = h.queue[0]!.message;
    await h.deliver(0);
    h.queue.unshift({ message: first, visibleAt: h.now(), receives: 0 });
    expect(await h.deliver(0)).toBe('rereleased');
    expect(h.step(runId, 'c')).toMatchObject({ status: 'pending', remaining: 1 });
    await h.drain();
    expect(h.typesOf(runId, 'c')).toEqual(['step.queued', 'step.started', 'step.completed']);
  });

  it('never lists the run\'s steps to find what is ready: a step reads only its own dependents', async () => {
    const h = createEngineHarness();
    const runId = await h.startRun(Array.from({ length: 30 }, (_, index) => ({ id: `s${index}` })));
    const read: string[][] = [];
    const { store } = h.deps;
    h.deps.store = { ...store, listSteps: () => Promise.reject(new Error('scanned the run')), getSteps: (id, ids, options) => (read.push(ids), store.getSteps(id, ids, options)) };
    await h.drain();
    expect(h.run(runId).status).toBe('completed');
    expect(Math.max(...read.map((ids) => ids.length))).toBeLessThanOrEqual(1);
  });
});

describe('invariant 4: every change has its event, every event is published', () => {
  it('records each transition of a retried, approved, degraded run with its event, and the sweeper publishes what a crash left', async () => {
    const h = createEngineHarness({ failWhen: ({ stepId, attempt }) => (stepId === 'flaky' && attempt === 1 ? 'retryable' : stepId === 'optional' ? 'fatal' : undefined) });
    const runId = await h.startRun([
      { id: 'flaky', retry: { maxAttempts: 3, backoffBaseSeconds: 1, backoffCapSeconds: 1, jitter: 'full' as const } },
      { id: 'gate', kind: 'approval', input: { prompt: 'ok?' }, dependsOn: ['flaky'] },
      { id: 'optional', onFailure: 'continue' },
      { id: 'last', dependsOn: ['gate', 'optional'] },
    ]);
    await h.drain();
    expect(h.step(runId, 'gate').status).toBe('needs_qa');
    expect(h.memory.inbox()).toEqual([`${runId}/gate`]);
    await stepAction(h.deps, h.run(runId), h.step(runId, 'gate'), 'approve', 'tok_person', {});
    expect(h.memory.inbox()).toEqual([]);
    await h.drain();
    expect(h.run(runId)).toMatchObject({ status: 'completed', degraded: true, failedOptionalSteps: ['optional'] });
    expect(h.typesOf(runId, 'flaky')).toEqual(['step.queued', 'step.started', 'step.retrying', 'step.started', 'step.completed']);
    expectEveryChangeRecorded(h, runId);
  });

  it('puts in the project feed the run events and the step events a person acts on (waiting gate, failure, retry asked for), the rest only in the history', async () => {
    let broken = true;
    const h = createEngineHarness({ failWhen: ({ stepId }) => (stepId === 'work' && broken ? 'fatal' : undefined) });
    const runId = await h.startRun([{ id: 'gate', kind: 'approval', input: { prompt: 'ok?' } }, { id: 'work', dependsOn: ['gate'] }]);
    await h.drain();
    await stepAction(h.deps, h.run(runId), h.step(runId, 'gate'), 'approve', 'tok_person', {});
    await h.drain();
    broken = false;
    await runAction(h.deps, h.run(runId), 'retry', 'tok_person');
    await h.drain();

    expect(h.run(runId).status).toBe('completed');
    const feed = h.memory.events().filter((event) => event.runId === runId && event.inFeed);
    expect(feed.map((event) => [event.type, event.stepId])).toEqual([
      ['run.created', undefined],
      ['run.started', undefined],
      ['step.needs_qa', 'gate'],
      ['step.failed', 'work'],
      ['run.blocked', undefined],
      // A retry requeues its steps before it moves the run (a retry that dies between leaves the run blocked).
      ['step.retry_requested', 'work'],
      ['run.retried', undefined],
      ['run.completed', undefined],
    ]);
    expect(h.memory.events().filter((event) => event.runId === runId && !event.inFeed).every((event) => ['step.queued', 'step.started', 'step.completed'].includes(event.type))).toBe(true);
  });
});

describe('invariant 5: failures are classified', () => {
  it('retries a retryable failure after its backoff and fails a non-retryable one at once', async () => {
    const h = createEngineHarness({ failWhen: ({ stepId, attempt }) => (stepId === 'flaky' && attempt < 3 ? 'retryable' : stepId === 'bad' ? 'fatal' : undefined) });
    const runId = await h.startRun([{ id: 'flaky', retry: { maxAttempts: 3, backoffBaseSeconds: 4, backoffCapSeconds: 60, jitter: 'full' as const } }, { id: 'bad' }]);
    await h.deliver(0);
    const retry = h.queue.find((entry) => entry.message.stepId === 'flaky');
    expect(retry!.visibleAt - h.now()).toBe(2_000); // backoff 4 s × 2^0 with full jitter (random 0.5)
    await h.drain();
    expect(h.step(runId, 'flaky')).toMatchObject({ status: 'completed', attempt: 3 });
    expect(h.step(runId, 'bad')).toMatchObject({ status: 'failed', attempt: 1, error: { code: 'FATAL', retryable: false } });
    expect(h.run(runId).status).toBe('blocked');
  });

  it('fails the step after its last attempt, and a takeover with no attempt left is WORKER_LOST', async () => {
    const h = createEngineHarness({ failWhen: () => 'retryable' });
    const runId = await h.startRun([{ id: 'a', retry: { maxAttempts: 2, backoffBaseSeconds: 1, backoffCapSeconds: 1, jitter: 'full' as const } }, { id: 'b', retry: { maxAttempts: 1, backoffBaseSeconds: 1, backoffCapSeconds: 1, jitter: 'full' as const } }]);
    await h.deliver(0);
    await h.drain();
    expect(h.step(runId, 'a')).toMatchObject({ status: 'failed', attempt: 2 });
    const at = new Date(h.now()).toISOString();
    expect(h.step(runId, 'b').status).toBe('failed');
    const other = await h.startRun([{ id: 'c', retry: { maxAttempts: 1, backoffBaseSeconds: 1, backoffCapSeconds: 1, jitter: 'full' as const } }]);
    const message = h.queue.splice(0)[0]!.message;
    await h.deps.store.claim(other, 'c', { transition: 'claim', readAttempt: 0, at, leaseUntil: at }, { event: { id: '01DEAD', type: 'step.started', projectId: 'prj_test', runId: other, stepId: 'c', at, actor: 'worker', detail: { attempt: 1 } }, publish: true });
    h.advance(1);
    h.queue.push({ message, visibleAt: h.now(), receives: 1 });
    await h.drain();
    expect(h.step(other, 'c')).toMatchObject({ status: 'failed', error: { code: 'WORKER_LOST' } });
  });
});

describe('cancel and time', () => {
  it('cancels a step released after its run was cancelled and, with the run, one parked far ahead; parks a step gated far ahead', async () => {
    const h = createEngineHarness();
    const runId = await h.startRun([{ id: 'a' }, { id: 'later', notBefore: new Date(h.now() + 3_600_000).toISOString() }]);
    await runAction(h.deps, h.run(runId), 'cancel', 'test');
    // The parked one is cancelled with the run (no message would come for it before its time).
    expect(h.step(runId, 'later').status).toBe('cancelled');
    await h.deliver(0);
    expect(h.step(runId, 'a').status).toBe('cancelled');
    expect(h.executions).toEqual([]);
    const timed = await h.startRun([{ id: 'later', notBefore: new Date(h.now() + 3_600_000).toISOString() }]);
    expect(h.queue.map((entry) => entry.message.runId)).not.toContain(timed); // parked at release: no message
    expect(h.memory.timer(timed, 'later')).toMatchObject({ kind: 'notBefore' });
    h.advance(3_600 - 100);
    // The parked step is sent; the cancelled run's was cancelled with it, off the timers index.
    expect((await sweep(h.deps, { eventGraceSeconds: 60, limit: 10, leaseGraceSeconds: 20, dispatchGraceSeconds: 60 })).timersDue).toBe(1);
    await h.drain();
    expect(h.step(timed, 'later').status).toBe('completed');
    expect(h.step(runId, 'later').status).toBe('cancelled');
    expect(h.executions.find((execution) => execution.runId === timed)).toBeDefined();
  });
});
