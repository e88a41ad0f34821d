import { describe, expect, it } from 'vitest';
import { rootsInRequest, rootsPerJob } from '#shared/engine/background-start';
import { runAction, startRun } from '#shared/engine/run-actions';
import { sweep } from '#shared/engine/sweeper';
import { maxRootsOnRun } from '#shared/store/step-definitions';
import { createEngineHarness } from '../../helpers/engine-harness';

/** Bigger runs (docs/ARCHITECTURE.md "Bigger runs"): roots born at their queuing, big starts in the background. */

const roots = (count: number) => Array.from({ length: count }, (_, index) => ({ id: `r-${String(index).padStart(5, '0')}` }));

describe('bigger runs', () => {
  it('writes no step item at creation: roots are born when start queues them', async () => {
    const h = createEngineHarness();

    const runId = await h.startRun([{ id: 'a' }, { id: 'b', dependsOn: ['a'] }], { start: false });
    const bornBeforeStart = h.memory.born(runId, 'a');
    await startRun(h.deps, h.run(runId), 'test');

    expect(bornBeforeStart).toBe(false);
    expect(h.run(runId).roots).toEqual(['a']);
    expect(h.memory.born(runId, 'a')).toBe(true);
    expect(h.step(runId, 'a').status).toBe('queued');
    expect(h.memory.born(runId, 'b')).toBe(false);
  });

  it('starts a run of up to rootsInRequest roots within the request; over maxRootsOnRun the run item names none', async () => {
    const h = createEngineHarness();

    const runId = await h.startRun(roots(rootsInRequest));

    expect(h.run(runId).status).toBe('running');
    expect(h.run(runId).roots).toBeUndefined();
    expect(maxRootsOnRun).toBeLessThan(rootsInRequest);
    expect(h.queue.filter((entry) => !entry.message.start)).toHaveLength(rootsInRequest);
    await h.drain(5_000);
    expect(h.run(runId).status).toBe('completed');
  });

  it('starts a run of 1,200 roots in the background: pending until every root is queued, then running, each root run once', async () => {
    const h = createEngineHarness();

    const runId = await h.startRun(roots(1_200));
    const afterRequest = { status: h.run(runId).status, messages: h.queue.map((entry) => entry.message) };
    // A second start while the first is under way (a person's, or the creating request repeated): safe.
    await startRun(h.deps, h.run(runId), 'test');
    await h.deliver();
    const afterFirstJob = { status: h.run(runId).status, queued: roots(1_200).filter(({ id }) => h.step(runId, id).status === 'queued').length, stepMessages: h.queue.filter((entry) => !entry.message.start).length };
    await h.drain(10_000);

    expect(afterRequest.status).toBe('pending');
    expect(afterRequest.messages).toEqual([{ runId, stepId: '@start', attempt: 0, start: { actor: 'test', phase: 'queue' } }]);
    expect(afterFirstJob).toEqual({ status: 'pending', queued: rootsPerJob, stepMessages: 0 });
    expect(h.run(runId).status).toBe('completed');
    expect(h.typesOf(runId).filter((type) => type === 'run.started')).toHaveLength(1);
    expect(h.executions).toHaveLength(1_200);
    expect(new Set(h.executions.map((execution) => execution.stepId)).size).toBe(1_200);
    // Each root's history replays: queued once, started once, completed once.
    expect(h.typesOf(runId, 'r-01199')).toEqual(['step.queued', 'step.started', 'step.completed']);
  });

  it('a background start stops when the run is cancelled before it got every root in', async () => {
    const h = createEngineHarness();
    const runId = await h.startRun(roots(1_200));
    await h.deliver();

    await runAction(h.deps, h.run(runId), 'cancel', 'test');
    await h.drain(10_000);

    expect(h.run(runId).status).toBe('cancelled');
    // The roots it had queued got no message; the sweeper's DISPATCH check sends them later, and they are cancelled then.
    expect(h.executions).toHaveLength(0);
    expect(h.typesOf(runId)).not.toContain('run.started');
  });
  it('the sweeper never sends a root the background send jobs have not reached; a dead-lettered send job hands its roots to the sweeper', async () => {
    const h = createEngineHarness();
    // As the step worker: its writes are recovered by their message's redelivery, so roots carry no DISPATCH marker.
    h.deps.releasesRecoveredByRedelivery = true;
    const sweepOptions = { eventGraceSeconds: 5, limit: 500, leaseGraceSeconds: 25, dispatchGraceSeconds: 60 };
    const runId = await h.startRun(roots(1_200));
    while (h.run(runId).status === 'pending') await h.deliver();
    // The first send job: its roots' messages, and the next job behind them.
    expect(await h.deliver()).toBe('sent');
    // Long after (a 10,000-root backlog drains for minutes), with the second send job still waiting: nothing to re-send.
    h.advance(600);
    const early = await sweep(h.deps, sweepOptions);
    const job = h.queue.find((entry) => entry.message.start)!;
    // That job dies at every delivery and is dead-lettered: the DLQ handler files its roots and those after it.
    h.queue.splice(h.queue.indexOf(job), 1);
    await h.deadLetter(job.message);
    h.advance(61);
    const resent = [await sweep(h.deps, sweepOptions), await sweep(h.deps, sweepOptions)].map((report) => report.dispatchesResent);
    await h.drain(10_000);

    expect(early.dispatchesResent).toBe(0);
    expect(resent).toEqual([500, 200]);
    expect(h.run(runId).status).toBe('completed');
    expect(new Set(h.executions.map((execution) => execution.stepId)).size).toBe(1_200);
    expect(h.executions).toHaveLength(1_200);
  });
});
