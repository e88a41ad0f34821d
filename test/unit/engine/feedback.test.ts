import { describe, expect, it } from 'vitest';
import { ConflictError } from '#shared/domain/errors';
import { recordFeedback } from '#shared/engine/feedback';
import { createMemoryFeedbackStore } from '#shared/store/memory-feedback-store';
import { createEngineHarness } from '../../helpers/engine-harness';

describe('feedback', () => {
  it('records human and reviewer feedback on a step that ran, lists it per step and run, and averages it per workflow version', async () => {
    const harness = createEngineHarness();
    const feedback = createMemoryFeedbackStore();
    const published: string[] = [];
    const deps = { feedback: feedback.store, outbox: { publish: async (events: { event: { type: string } }[]) => (published.push(...events.map(({ event }) => event.type)), []) }, clock: harness.deps.clock };
    const runId = await harness.startRun([{ id: 'a' }, { id: 'b', dependsOn: ['a'] }]);
    await harness.drain();
    const run = harness.run(runId);

    await recordFeedback(deps, run, harness.step(runId, 'a'), { score: 90, comment: 'good', source: 'human', actor: 'tok_1' });
    await recordFeedback(deps, run, harness.step(runId, 'b'), { score: 41, source: 'reviewer', actor: 'engine', reviewerStepId: 'b.review' });
    await recordFeedback(deps, run, harness.step(runId, 'a'), { score: 70, source: 'human', actor: 'tok_2' });

    expect((await feedback.store.list(runId, 'a')).map((entry) => [entry.score, entry.source, entry.generation])).toEqual([[90, 'human', 1], [70, 'human', 1]]);
    expect((await feedback.store.list(runId)).map((entry) => entry.stepId).sort()).toEqual(['a', 'a', 'b']);
    expect(await feedback.store.averages('prj_test', 'wf_test')).toEqual([{ workflowId: 'wf_test', version: 1, count: 3, averageScore: 67 }]);
    expect(published).toEqual(['feedback.recorded', 'feedback.recorded', 'feedback.recorded']);
    expect(feedback.events()[1]).toMatchObject({ type: 'feedback.recorded', stepId: 'b', actor: 'engine', detail: { score: 41, source: 'reviewer', reviewerStepId: 'b.review' } });
  });

  it('refuses feedback on a step that has not run, naming the step', async () => {
    const harness = createEngineHarness();
    const feedback = createMemoryFeedbackStore();
    const runId = await harness.startRun([{ id: 'a' }, { id: 'b', dependsOn: ['a'] }]);
    const attempt = recordFeedback({ feedback: feedback.store, outbox: { publish: async () => [] }, clock: harness.deps.clock }, harness.run(runId), harness.step(runId, 'b'), { score: 50, source: 'human', actor: 'tok_1' });
    await expect(attempt).rejects.toThrow(ConflictError);
    await expect(attempt).rejects.toMatchObject({ field: 'path.stepId' });
    expect(await feedback.store.list(runId)).toEqual([]);
  });
});
