import { beforeEach, describe, expect, it } from 'vitest';
import { unwrap } from '#sdk';
import { engineClient, type RunEvent } from '../helpers/engine';
import { resetData } from '../helpers/reset';

/**
 * Re-run, fork and compare (issue 12 §4) on the deployed stack, with `llm` steps on the
 * emulator's Bedrock Converse (deterministic replies from the prompt, token counts, priced calls).
 */

beforeEach(async () => {
  await resetData();
});

const haiku = 'anthropic.claude-3-haiku-20240307-v1:0';

/** topic → research (llm) → draft (llm) → publish, and topic → index: a middle step with a downstream and a side branch. */
const article = {
  name: 'article',
  steps: [
    { id: 'topic', kind: 'noop', input: { topic: 'otters' } },
    { id: 'research', kind: 'llm', dependsOn: ['topic'], input: { provider: 'bedrock', model: haiku, prompt: 'Find three facts about {{dependencies.topic.topic}}.', maxTokens: 200 } },
    { id: 'draft', kind: 'llm', dependsOn: ['research'], input: { provider: 'bedrock', model: haiku, prompt: 'Write a paragraph from these facts: {{dependencies.research.text}}', maxTokens: 300 } },
    { id: 'publish', kind: 'noop', dependsOn: ['draft'], input: { channel: 'blog' } },
    { id: 'index', kind: 'noop', dependsOn: ['topic'], input: { search: true } },
  ],
};

const startedCounts = (events: RunEvent[]) => {
  const counts: Record<string, number> = {};
  for (const event of events) if (event.type === 'step.started' && event.stepId) counts[event.stepId] = (counts[event.stepId] ?? 0) + 1;
  return counts;
};

describe('re-run of a step', () => {
  it('re-runs a middle step as a new generation and exactly its downstream, proven from the events', async () => {
    const client = await engineClient('rerun');
    const workflowId = await client.workflow(article);
    const { id } = await client.run(workflowId);
    const first = await client.waitFor(id, ['completed', 'blocked'], 90_000);
    expect(first.status, first.reason).toBe('completed');
    const researchBefore = await client.step(id, 'research');
    const draftBefore = await client.step(id, 'draft');

    const rerun = await unwrap(
      client.baton.POST('/v1/runs/{runId}/steps/{stepId}/actions/rerun', { params: { path: { runId: id, stepId: 'research' } }, body: { guidance: 'Only facts about sea otters.' } }),
    );
    expect(rerun.downstream).toEqual(['draft', 'publish']);
    // Read back right after its message went: the worker may have taken it already.
    expect(rerun.step).toMatchObject({ id: 'research', generation: 2 });
    expect(['queued', 'running', 'completed']).toContain(rerun.step.status);
    expect(['running', 'completed']).toContain(rerun.run.status);
    const second = await client.waitFor(id, ['completed', 'blocked'], 90_000);
    expect(second.status, second.reason).toBe('completed');

    const events = await client.events(id);
    expect(startedCounts(events)).toEqual({ topic: 1, index: 1, research: 2, draft: 2, publish: 2 });
    const rerunEvent = events.find((event) => event.type === 'run.rerun');
    expect(rerunEvent?.detail).toMatchObject({ stepId: 'research', generation: 2, downstream: ['draft', 'publish'], guidance: 'Only facts about sea otters.' });
    expect(events.filter((event) => event.type === 'step.reset').map((event) => [event.stepId, (event.detail as { rerunOf: string }).rerunOf])).toEqual([['draft', 'research'], ['publish', 'research']]);
    expect(events.filter((event) => event.type === 'step.rerun_requested').map((event) => event.stepId)).toEqual(['research']);
    // Nothing of the re-run started before the re-run was asked for; its downstream after it completed again.
    const asked = Date.parse(rerunEvent!.at);
    const starts = events.filter((event) => event.type === 'step.started' && Date.parse(event.at) >= asked).map((event) => event.stepId);
    expect(starts).toEqual(['research', 'draft', 'publish']);

    const research = await client.step(id, 'research');
    const draft = await client.step(id, 'draft');
    expect(research).toMatchObject({ status: 'completed', generation: 2, guidance: 'Only facts about sea otters.' });
    expect((research.input as { prompt: string }).prompt).toContain('Guidance for this re-run: Only facts about sea otters.');
    expect(research.output).not.toEqual(researchBefore.output);
    expect(draft.generation).toBe(2);
    expect(draft.output).not.toEqual(draftBefore.output);
    // Both generations' model calls are kept (both were paid for).
    expect(research.llmUsage).toHaveLength(2);
    expect(await client.step(id, 'topic')).toMatchObject({ generation: 1, attempt: 1 });
  });

  it('refuses a step that has not finished and an unknown step, naming the step', async () => {
    const client = await engineClient('rerun-refused');
    const workflowId = await client.workflow({ name: 'gated', steps: [{ id: 'prepare', kind: 'noop' }, { id: 'gate', kind: 'approval', dependsOn: ['prepare'], input: { prompt: 'Go?' } }] });
    const { id } = await client.run(workflowId);
    await client.waitForStep(id, 'gate', ['needs_qa']);

    const waiting = await client.baton.POST('/v1/runs/{runId}/steps/{stepId}/actions/rerun', { params: { path: { runId: id, stepId: 'gate' } }, body: {} });
    expect(waiting.response.status).toBe(409);
    const running = await client.baton.POST('/v1/runs/{runId}/steps/{stepId}/actions/rerun', { params: { path: { runId: id, stepId: 'prepare' } }, body: {} });
    expect(running.response.status).toBe(409);
    expect(running.error?.error.message).toContain('Cannot rerun a run that is running');
    await unwrap(client.baton.POST('/v1/runs/{runId}/steps/{stepId}/actions/{action}', { params: { path: { runId: id, stepId: 'gate', action: 'approve' } }, body: {} }));
    await client.waitFor(id, ['completed']);
    const unknown = await client.baton.POST('/v1/runs/{runId}/steps/{stepId}/actions/rerun', { params: { path: { runId: id, stepId: 'nope' } }, body: {} });
    expect(unknown.response.status).toBe(404);
    const badGuidance = await client.baton.POST('/v1/runs/{runId}/steps/{stepId}/actions/rerun', { params: { path: { runId: id, stepId: 'prepare' } }, body: { guidance: '' } });
    expect(badGuidance.response.status).toBe(400);
    expect(badGuidance.error?.error.field).toBe('body.guidance');
    expect((await client.getRun(id)).status).toBe('completed');
  });
});

describe('fork and compare', () => {
  it('forks at a middle step: the upstream outputs are reused (their steps never run in the fork), and the comparison shows the differences and the cost of both', async () => {
    const client = await engineClient('fork');
    const workflowId = await client.workflow(article);
    const { id: sourceId } = await client.run(workflowId);
    const source = await client.waitFor(sourceId, ['completed', 'blocked'], 90_000);
    expect(source.status, source.reason).toBe('completed');

    const newDraft = { provider: 'bedrock', model: haiku, prompt: 'Write a short poem from these facts: {{dependencies.research.text}}', maxTokens: 100 };
    const fork = await unwrap(client.baton.POST('/v1/runs/{runId}/fork', { params: { path: { runId: sourceId } }, body: { fromStep: 'draft', stepInputs: { draft: newDraft } } }));
    expect(fork.reused).toEqual(['topic', 'research', 'index']);
    expect(fork.forkedFrom).toEqual({ runId: sourceId, stepId: 'draft' });
    expect(fork.workflowVersion).toBe(source.workflowVersion);
    const forked = await client.waitFor(fork.id, ['completed', 'blocked'], 90_000);
    expect(forked.status, forked.reason).toBe('completed');

    // Proven from the fork's history: the reused steps have no event at all (never queued, never started).
    const events = await client.events(fork.id);
    const stepsWithEvents = new Set(events.filter((event) => event.stepId).map((event) => event.stepId));
    expect([...stepsWithEvents].sort()).toEqual(['draft', 'publish']);
    expect(startedCounts(events)).toEqual({ draft: 1, publish: 1 });
    expect(events.find((event) => event.type === 'run.created')?.detail).toMatchObject({ forkedFrom: { runId: sourceId, stepId: 'draft' }, reused: ['topic', 'research', 'index'] });
    const research = await client.step(fork.id, 'research');
    expect(research).toMatchObject({ status: 'completed', attempt: 0, reusedFrom: { runId: sourceId, generation: 1 }, llmUsage: [] });
    expect(research.output).toEqual((await client.step(sourceId, 'research')).output);

    const comparison = await unwrap(client.baton.GET('/v1/runs/{runId}/compare/{otherRunId}', { params: { path: { runId: sourceId, otherRunId: fork.id } } }));
    expect(comparison.changedSteps).toEqual(['draft']);
    const byStep = Object.fromEntries(comparison.steps.map((step) => [step.stepId, step]));
    expect(byStep.research).toMatchObject({ a: { status: 'completed', reused: false }, b: { status: 'completed', reused: true }, output: { equal: true } });
    expect(byStep.research!.a!.costUsd).toBeGreaterThan(0);
    expect(byStep.research!.b!.costUsd).toBe(0);
    expect(byStep.draft!.output.equal).toBe(false);
    expect(byStep.draft!.output.changes.map((change) => change.path)).toContain('text');
    expect(byStep.draft!.a!.tokens.input).toBeGreaterThan(0);
    expect(byStep.draft!.b!.tokens.input).toBeGreaterThan(0);
    expect(byStep.draft!.b!.durationMs).toBeGreaterThanOrEqual(0);
    // Totals: the source paid for two model steps, the fork for one.
    expect(comparison.a).toMatchObject({ id: sourceId, executedSteps: 5, reusedSteps: 0 });
    expect(comparison.b).toMatchObject({ id: fork.id, executedSteps: 2, reusedSteps: 3, forkedFrom: { runId: sourceId, stepId: 'draft' } });
    expect(comparison.a.costUsd).toBeGreaterThan(comparison.b.costUsd);
    expect(comparison.b.costUsd).toBeGreaterThan(0);
    expect(comparison.difference.costUsd).toBeCloseTo(comparison.b.costUsd - comparison.a.costUsd, 9);
    expect(comparison.a.durationMs).toBeGreaterThan(0);

    // Bad input: an unknown step, a new input for a reused step, another project's run.
    const unknown = await client.baton.POST('/v1/runs/{runId}/fork', { params: { path: { runId: sourceId } }, body: { fromStep: 'nope' } });
    expect(unknown.response.status).toBe(400);
    expect(unknown.error?.error.field).toBe('body.fromStep');
    const reusedInput = await client.baton.POST('/v1/runs/{runId}/fork', { params: { path: { runId: sourceId } }, body: { fromStep: 'draft', stepInputs: { research: newDraft } } });
    expect(reusedInput.response.status).toBe(400);
    expect(reusedInput.error?.error.field).toBe('body.stepInputs.research');
    const other = await engineClient('fork-other');
    const otherRun = await other.run(await other.workflow({ name: 'solo', steps: [{ id: 'only', kind: 'noop' }] }));
    const acrossProjects = await client.baton.GET('/v1/runs/{runId}/compare/{otherRunId}', { params: { path: { runId: sourceId, otherRunId: otherRun.id } } });
    expect(acrossProjects.response.status).toBe(404);
    expect(acrossProjects.error?.error.field).toBe('path.otherRunId');
  });
});
