import { describe, expect, it } from 'vitest';
import { ValidationError } from '#shared/domain/errors';
import { compareRuns } from '#shared/domain/run-comparison';
import { forkRun } from '#shared/engine/fork-run';
import type { StepSpec } from '#shared/domain/workflow';
import type { Workflow } from '#shared/store/workflows';
import { createEngineHarness, projectId } from '../../helpers/engine-harness';

const specs: (Partial<StepSpec> & { id: string })[] = [{ id: 'a' }, { id: 'b', dependsOn: ['a'] }, { id: 'c', dependsOn: ['b'] }, { id: 'd', dependsOn: ['a'] }, { id: 'e', dependsOn: ['c', 'd'] }];
const workflowOf = (steps: typeof specs): Workflow => ({ id: 'wf_test', projectId, name: 'test', version: 1, createdAt: '2026-11-30T12:00:00.000Z', steps: steps.map((step) => ({ kind: 'work', dependsOn: [], ...step })) });

describe('fork of a run', () => {
  it('reuses every step not downstream of fromStep (never queued or started in the fork) and runs the rest', async () => {
    const harness = createEngineHarness();
    const sourceId = await harness.startRun(specs);
    await harness.drain();
    const before = harness.executions.length;

    const { run, reused } = await forkRun(harness.deps, harness.run(sourceId), workflowOf(specs), { fromStep: 'b', stepInputs: { b: { better: true }, c: { also: true } } }, 'tok_editor');
    // A step whose input the fork gives is written whole at creation (the version, which steps
    // are read from, says another input); the others are born when they are queued.
    expect(harness.memory.born(run.id, 'c')).toBe(true);
    expect(harness.memory.born(run.id, 'e')).toBe(false);
    await harness.drain();

    expect(reused).toEqual(['a', 'd']);
    expect(harness.run(run.id)).toMatchObject({ status: 'completed', forkedFrom: { runId: sourceId, stepId: 'b' } });
    expect(harness.executions.slice(before).map((execution) => execution.stepId)).toEqual(['b', 'c', 'e']);
    expect(harness.executions.slice(before).every((execution) => execution.runId === run.id && execution.dependenciesDone)).toBe(true);
    for (const id of ['a', 'd']) {
      expect(harness.step(run.id, id)).toMatchObject({ status: 'completed', attempt: 0, reusedFrom: { runId: sourceId, generation: 1 }, output: harness.step(sourceId, id).output });
      // Proven from the events: nothing happened to a reused step in the fork.
      expect(harness.typesOf(run.id, id)).toEqual([]);
    }
    expect(harness.step(run.id, 'b').input).toEqual({ better: true });
    expect(harness.step(run.id, 'c').input).toEqual({ also: true });
    expect(harness.eventsOf(run.id).find((event) => event.type === 'run.created')?.detail).toMatchObject({ forkedFrom: { runId: sourceId, stepId: 'b' }, reused: ['a', 'd'] });

    const comparison = await compareRuns({ run: harness.run(sourceId), steps: await harness.deps.store.listSteps(sourceId) }, { run: harness.run(run.id), steps: await harness.deps.store.listSteps(run.id) }, async () => null);
    expect(comparison.b).toMatchObject({ executedSteps: 3, reusedSteps: 2 });
    expect(comparison.a).toMatchObject({ executedSteps: 5, reusedSteps: 0 });
    expect(comparison.changedSteps).toEqual([]);
    expect(comparison.steps.find((step) => step.stepId === 'a')).toMatchObject({ a: { reused: false }, b: { reused: true }, output: { equal: true } });
  });

  it('refuses an unknown fromStep and a new input for a reused step, naming the field, and creates nothing', async () => {
    const harness = createEngineHarness();
    const sourceId = await harness.startRun(specs);
    await harness.drain();
    const runs = harness.memory.events().filter((event) => event.type === 'run.created').length;

    await expect(forkRun(harness.deps, harness.run(sourceId), workflowOf(specs), { fromStep: 'zz' }, 'tok')).rejects.toMatchObject({ field: 'body.fromStep' });
    const reusedInput = forkRun(harness.deps, harness.run(sourceId), workflowOf(specs), { fromStep: 'c', stepInputs: { a: {} } }, 'tok');
    await expect(reusedInput).rejects.toThrow(ValidationError);
    await expect(reusedInput).rejects.toMatchObject({ field: 'body.stepInputs.a' });
    await expect(forkRun(harness.deps, harness.run(sourceId), workflowOf(specs), { fromStep: 'c', stepInputs: { nope: {} } }, 'tok')).rejects.toMatchObject({ field: 'body.stepInputs.nope' });
    expect(harness.memory.events().filter((event) => event.type === 'run.created')).toHaveLength(runs);
  });
});
