import { describe, expect, it } from 'vitest';
import { rootsInRequest, rootsPerJob } from '#shared/engine/background-start';
import { runAction, startRun } from '#shared/engine/run-actions';
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
});
