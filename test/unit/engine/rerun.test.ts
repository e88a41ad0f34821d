import { describe, expect, it } from 'vitest';
import { ConflictError } from '#shared/domain/errors';
import { rerunStep } from '#shared/engine/rerun-step';
import { createEngineHarness, statusFromEvents, type EngineHarness } from '../../helpers/engine-harness';

const executed = (harness: EngineHarness, from: number) => harness.executions.slice(from).map((execution) => execution.stepId);

describe('re-run of a step', () => {
  it('runs the step again as a new generation and then exactly its downstream, leaving the rest alone', async () => {
    // a → b → c → d, a → e, and c → f ← e (f waits for one re-run parent and one that is not).
    const harness = createEngineHarness();
    const runId = await harness.startRun([
      { id: 'a' },
      { id: 'b', dependsOn: ['a'] },
      { id: 'c', dependsOn: ['b'] },
      { id: 'd', dependsOn: ['c'] },
      { id: 'e', dependsOn: ['a'] },
      { id: 'f', dependsOn: ['c', 'e'] },
    ]);
    await harness.drain();
    expect(harness.run(runId).status).toBe('completed');
    const before = harness.executions.length;

    const { downstream } = await rerunStep(harness.deps, harness.run(runId), 'b', { input: { again: true } }, 'tok_editor');
    expect(downstream).toEqual(['c', 'd', 'f']);
    expect(harness.run(runId).status).toBe('running');
    expect(harness.step(runId, 'b')).toMatchObject({ status: 'queued', generation: 2, input: { again: true } });
    expect(harness.step(runId, 'f')).toMatchObject({ status: 'pending', remaining: 1, releasedBy: ['e'] });
    expect(harness.step(runId, 'd').output).toBeUndefined();
    // Its finished sinks are back in their sink buckets: the run completes again only after them.
    expect(harness.memory.pendingSinks(runId)).toEqual(['d', 'f']);
    expect(harness.run(runId).openSinkBuckets).toEqual(['0']);
    await harness.drain();

    expect(harness.run(runId).status).toBe('completed');
    expect(harness.memory.pendingSinks(runId)).toEqual([]);
    expect(executed(harness, before).sort()).toEqual(['b', 'c', 'd', 'f']);
    expect(harness.executions.slice(before).map((execution) => execution.idempotencyKey).sort()).toEqual([`${runId}:b:2`, `${runId}:c:2`, `${runId}:d:2`, `${runId}:f:2`]);
    expect(harness.executions.slice(before).every((execution) => execution.dependenciesDone)).toBe(true);
    for (const id of ['a', 'e']) expect(harness.step(runId, id)).toMatchObject({ status: 'completed', generation: 1, attempt: 1 });
    // The history says what happened, and still replays to each step's status.
    expect(harness.typesOf(runId, 'b').slice(-4)).toEqual(['step.completed', 'step.rerun_requested', 'step.started', 'step.completed']);
    expect(harness.eventsOf(runId, 'c').find((event) => event.type === 'step.reset')?.detail).toMatchObject({ rerunOf: 'b', generation: 2 });
    expect(harness.typesOf(runId).filter((type) => type === 'run.rerun' || type === 'run.completed')).toEqual(['run.completed', 'run.rerun', 'run.completed']);
    for (const id of ['a', 'b', 'c', 'd', 'e', 'f']) expect(statusFromEvents(harness.typesOf(runId, id))).toBe(harness.step(runId, id).status);
  });

  it('re-runs a step of a blocked run whose failure lies downstream of it, and the run completes', async () => {
    const harness = createEngineHarness({ failWhen: ({ stepId, attempt }) => (stepId === 'b' && attempt === 1 ? 'fatal' : undefined) });
    const runId = await harness.startRun([{ id: 'a' }, { id: 'b', dependsOn: ['a'] }, { id: 'c', dependsOn: ['b'] }]);
    await harness.drain();
    expect(harness.run(runId)).toMatchObject({ status: 'blocked', failedSteps: ['b'] });

    await rerunStep(harness.deps, harness.run(runId), 'a', {}, 'tok_editor');
    await harness.drain();

    expect(harness.run(runId).status).toBe('completed');
    expect(harness.run(runId).failedSteps ?? []).toEqual([]);
    expect(harness.executions.map((execution) => `${execution.stepId}:${execution.idempotencyKey.split(':').at(-1)}`)).toEqual(['a:1', 'b:1', 'a:2', 'b:2', 'c:1']);
  });

  it('refuses a step that is not finished, a run that is moving, and a blocked run whose failure is elsewhere, changing nothing', async () => {
    const harness = createEngineHarness({ failWhen: ({ stepId }) => (stepId === 'b' ? 'fatal' : undefined) });
    const runId = await harness.startRun([{ id: 'a' }, { id: 'b', dependsOn: ['a'] }, { id: 'c', dependsOn: ['a'] }, { id: 'd', dependsOn: ['b'] }]);
    await expect(rerunStep(harness.deps, harness.run(runId), 'a', {}, 'tok')).rejects.toThrow(/run that is running/);
    await harness.drain();
    expect(harness.run(runId).status).toBe('blocked');
    const events = harness.typesOf(runId).length;

    const pending = rerunStep(harness.deps, harness.run(runId), 'd', {}, 'tok');
    await expect(pending).rejects.toThrow(ConflictError);
    await expect(pending).rejects.toMatchObject({ field: 'path.stepId', message: expect.stringContaining('it is pending') });
    await expect(rerunStep(harness.deps, harness.run(runId), 'c', {}, 'tok')).rejects.toThrow(/blocked by b, which is not downstream of it/);
    await expect(rerunStep(harness.deps, harness.run(runId), 'nope', {}, 'tok')).rejects.toThrow(/Step was not found/);
    expect(harness.typesOf(runId)).toHaveLength(events);
    expect(harness.step(runId, 'c')).toMatchObject({ status: 'completed', generation: 1 });
  });

  it('resets a downstream wider than one write in chunks and still runs each of them once', async () => {
    const harness = createEngineHarness();
    const leaves = Array.from({ length: 100 }, (_, index) => ({ id: `leaf-${index}`, dependsOn: ['root'] }));
    const runId = await harness.startRun([{ id: 'root' }, ...leaves]);
    await harness.drain();
    const before = harness.executions.length;

    await rerunStep(harness.deps, harness.run(runId), 'root', {}, 'tok');
    await harness.drain();

    expect(harness.run(runId).status).toBe('completed');
    expect(executed(harness, before)).toHaveLength(101);
    expect(new Set(executed(harness, before)).size).toBe(101);
  });
});
