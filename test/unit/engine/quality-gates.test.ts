import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ValidationError } from '#shared/domain/errors';
import { reviewOf, verdictOf, type QaPolicy } from '#shared/domain/quality-gates';
import { parseWorkflowDefinition } from '#shared/domain/workflow-definition';
import { completeByCallback } from '#shared/engine/callbacks';
import { decideByPerson } from '#shared/engine/quality-gates';
import { sweep } from '#shared/engine/sweeper';
import { rerunStep } from '#shared/engine/rerun-step';
import { stepAction } from '#shared/engine/run-actions';
import { processStepMessage } from '#shared/engine/step-lifecycle';
import { createStepKindRegistry } from '#shared/executors/registry';
import type { Executor, StepContext } from '#shared/executors/types';
import { defaultProjectSettings, type ProjectSettings } from '#shared/schemas/projects';
import { createMemoryFeedbackStore } from '#shared/store/memory-feedback-store';
import { Crash, crashing } from '../../helpers/crashing';
import { createEngineHarness, statusFromEvents } from '../../helpers/engine-harness';

/** A `lambda` reviewer that answers the next score of its script, and remembers what it was shown. */
function scriptedReviewer(scores: number[]) {
  const calls: { output: unknown; key: string; attempt: number }[] = [];
  const executor: Executor = {
    kind: 'lambda',
    input: z.unknown(),
    async run(_input, context: StepContext) {
      calls.push({ output: context.dependencyOutputs.output, key: context.idempotencyKey, attempt: context.attempt });
      const score = scores[Math.min(calls.length - 1, scores.length - 1)]!;
      return { status: 'completed', output: { score, comment: `draft ${calls.length} is ${score >= 60 ? 'fine' : 'too vague'}` }, usage: { llm: [{ provider: 'bedrock', model: 'reviewer', inputTokens: 10, outputTokens: 5, totalTokens: 15, latencyMs: 1, costUsd: 0.001, startedAt: '2026-11-30T12:00:00.000Z', endedAt: '2026-11-30T12:00:00.000Z' }] } };
    },
  };
  return { executor, calls };
}

/** An `http` agent step that echoes its input (the project default covers http, llm and lambda steps). */
const echoAgent: Executor = { kind: 'http', input: z.unknown(), run: async (input) => ({ status: 'completed', output: { echo: input } }) };

const reviewer = { kind: 'lambda' as const, input: { function: 'baton-agent-reviewer' } };
const policy = (onBelow: QaPolicy['onBelow'], extra: Partial<QaPolicy> = {}): QaPolicy => ({ reviewer, threshold: 60, onBelow, maxRetries: 1, ...extra });

function gated(scores: number[], settings?: () => ProjectSettings) {
  const review = scriptedReviewer(scores);
  const harness = createEngineHarness({ executors: [review.executor, echoAgent], ...(settings ? { settings } : {}) });
  const feedback = createMemoryFeedbackStore();
  harness.deps.feedback = feedback.store;
  return { harness, review, feedback };
}

describe('quality gates', () => {
  it('completes a step its reviewer scores at or above the threshold, records the score as feedback, then runs its dependents', async () => {
    const { harness, review, feedback } = gated([80]);
    const runId = await harness.startRun([{ id: 'draft', qa: policy('pause') }, { id: 'publish', dependsOn: ['draft'] }]);
    await harness.drain();

    expect(harness.run(runId).status).toBe('completed');
    expect(harness.step(runId, 'draft')).toMatchObject({ status: 'completed', output: { by: 'draft', attempt: 1 }, gate: { state: 'reviewing', score: 80 } });
    // The reviewer saw the output as `output`, under a key of its own, once.
    expect(review.calls).toEqual([{ output: { by: 'draft', attempt: 1 }, key: `${runId}:draft:1:review`, attempt: 1 }]);
    expect(harness.typesOf(runId, 'draft')).toEqual(['step.queued', 'step.started', 'step.needs_qa', 'step.completed']);
    expect(feedback.events().map((event) => event.type)).toEqual(['feedback.recorded']);
    expect((await feedback.store.list(runId, 'draft')).map(({ score, source, actor }) => ({ score, source, actor }))).toEqual([{ score: 80, source: 'reviewer', actor: 'engine' }]);
    // The reviewer's model call counts with the step's.
    expect(harness.step(runId, 'draft').llmUsage?.map((call) => call.model)).toEqual(['reviewer']);
    expect(harness.executions.filter((execution) => execution.stepId === 'publish')).toHaveLength(1);
  });

  it('pauses a step scored below the threshold with feedback.critical; a guided re-run passes and the run completes', async () => {
    const { harness, review } = gated([40, 90]);
    const runId = await harness.startRun([{ id: 'draft', qa: policy('pause') }, { id: 'publish', dependsOn: ['draft'] }]);
    await harness.drain();

    expect(harness.step(runId, 'draft')).toMatchObject({ status: 'needs_qa', gate: { state: 'paused', score: 40, comment: 'draft 1 is too vague' } });
    expect(harness.memory.inbox()).toEqual([`${runId}/draft`]);
    expect(harness.published.find((event) => event.type === 'feedback.critical')).toMatchObject({ stepId: 'draft', detail: { score: 40, threshold: 60, verdict: 'pause' } });
    expect(harness.run(runId).status).toBe('running');
    expect(harness.executions.some((execution) => execution.stepId === 'publish')).toBe(false);

    const { step } = await rerunStep(harness.deps, harness.run(runId), 'draft', { guidance: 'Name the sources.' }, 'tok_editor');
    expect(step).toMatchObject({ status: 'queued', generation: 2, guidance: 'Name the sources.' });
    expect(harness.memory.inbox()).toEqual([]);
    await harness.drain();

    expect(harness.run(runId).status).toBe('completed');
    expect(harness.step(runId, 'draft')).toMatchObject({ status: 'completed', generation: 2, gate: { score: 90 } });
    expect(review.calls.map((call) => call.key)).toEqual([`${runId}:draft:1:review`, `${runId}:draft:2:review`]);
    expect(statusFromEvents(harness.typesOf(runId, 'draft'))).toBe('completed');
  });

  it('onBelow retry runs the step again with the reviewer\'s comment in its input, up to maxRetries, then pauses for a person', async () => {
    const passing = gated([30, 85]);
    const runId = await passing.harness.startRun([{ id: 'draft', kind: 'http', input: { url: 'https://agent.example/draft', body: { topic: 'otters' } }, qa: policy('retry', { maxRetries: 2 }) }]);
    await passing.harness.drain();
    const draft = passing.harness.step(runId, 'draft');
    expect(passing.harness.run(runId).status).toBe('completed');
    expect(draft).toMatchObject({ status: 'completed', generation: 2, gate: { retries: 1, score: 85 } });
    // The second execution's input carries the comment (an http agent's body.guidance).
    expect((draft.input as { body: { guidance: string } }).body.guidance).toContain('draft 1 is too vague');
    expect(draft.output).toEqual({ echo: draft.input });
    expect(passing.harness.typesOf(runId, 'draft').filter((type) => type === 'feedback.critical' || type === 'step.retrying')).toEqual(['step.retrying', 'feedback.critical']);

    const failing = gated([30, 20]);
    const stuck = await failing.harness.startRun([{ id: 'draft', qa: policy('retry', { maxRetries: 1 }) }]);
    await failing.harness.drain();
    expect(failing.harness.step(stuck, 'draft')).toMatchObject({ status: 'needs_qa', gate: { state: 'paused', retries: 1, score: 20 } });
    expect(failing.review.calls).toHaveLength(2);
  });

  it('a QA retry loop whose step keeps producing the same output is stopped by NO_PROGRESS', async () => {
    const same: Executor = { kind: 'lambda', input: z.unknown(), run: async () => ({ status: 'completed', output: { text: 'the same draft' } }) };
    const review = scriptedReviewer([10]);
    const harness = createEngineHarness({ executors: [same, { ...review.executor, kind: 'http' }] });
    harness.deps.feedback = createMemoryFeedbackStore().store;
    const runId = await harness.startRun([{ id: 'draft', kind: 'lambda', input: { function: 'baton-agent-draft' }, qa: { reviewer: { kind: 'http', input: { url: 'https://reviewer.example/' } }, threshold: 60, onBelow: 'retry', maxRetries: 10 } }]);
    await harness.drain();
    expect(harness.step(runId, 'draft')).toMatchObject({ status: 'failed', error: { code: 'NO_PROGRESS' } });
    expect(harness.run(runId).status).toBe('blocked');
    // Three executions with the same output: the third stops before its review.
    expect(review.calls).toHaveLength(2);
  });

  it('onBelow fail fails the step with QA_BELOW_THRESHOLD and blocks the run', async () => {
    const { harness } = gated([10]);
    const runId = await harness.startRun([{ id: 'draft', qa: policy('fail') }]);
    await harness.drain();
    expect(harness.step(runId, 'draft')).toMatchObject({ status: 'failed', error: { code: 'QA_BELOW_THRESHOLD' } });
    expect(harness.run(runId)).toMatchObject({ status: 'blocked', failedSteps: ['draft'] });
    expect(harness.typesOf(runId, 'draft')).toContain('feedback.critical');
  });

  it('a human reviewer: the step waits in the inbox; a person\'s score decides, and an approval keeps the execution\'s output', async () => {
    const { harness, review } = gated([]);
    const first = await harness.startRun([{ id: 'draft', qa: { reviewer: 'human', threshold: 70, onBelow: 'pause', maxRetries: 0 } }]);
    await harness.drain();
    expect(harness.step(first, 'draft')).toMatchObject({ status: 'needs_qa', gate: { state: 'waiting' } });
    expect(harness.memory.inbox()).toEqual([`${first}/draft`]);
    await decideByPerson(harness.deps, harness.run(first), harness.step(first, 'draft'), { score: 75, comment: 'ok' }, 'tok_editor');
    await harness.drain();
    expect(harness.run(first).status).toBe('completed');
    expect(harness.step(first, 'draft')).toMatchObject({ status: 'completed', output: { by: 'draft', attempt: 1 }, gate: { score: 75 } });

    const second = await harness.startRun([{ id: 'draft', qa: { reviewer: 'human', threshold: 70, onBelow: 'pause', maxRetries: 0 } }]);
    await harness.drain();
    await stepAction(harness.deps, harness.run(second), harness.step(second, 'draft'), 'approve', 'tok_editor', {});
    await harness.drain();
    expect(harness.step(second, 'draft')).toMatchObject({ status: 'completed', output: { by: 'draft', attempt: 1 } });
    expect(review.calls).toEqual([]);
  });

  it('applies the project\'s default policy to agent steps without their own, and not to other kinds', async () => {
    const settings = { ...defaultProjectSettings, qa: policy('pause') };
    const { harness, review } = gated([20], () => settings);
    const runId = await harness.startRun([{ id: 'agent', kind: 'http', input: { url: 'https://agent.example/a' } }, { id: 'plain' }]);
    await harness.drain();
    expect(harness.step(runId, 'agent')).toMatchObject({ status: 'needs_qa', gate: { state: 'paused', from: 'project' } });
    expect(harness.step(runId, 'plain').status).toBe('completed');
    expect(review.calls).toHaveLength(1);
  });

  it('reviews once when the review message comes twice, and takes over a reviewer that died', async () => {
    const { harness, review } = gated([90]);
    const runId = await harness.startRun([{ id: 'draft', qa: policy('pause') }]);
    await harness.deliver();
    // The worker reviewed inline; a duplicate of the review message arrives afterwards.
    await harness.deps.dispatcher.send([{ message: { runId, stepId: 'draft', attempt: 1 } }]);
    await harness.drain();
    expect(review.calls).toHaveLength(1);
    expect(harness.run(runId).status).toBe('completed');

    // A worker that dies after the reviewer ran, before the verdict: its message comes back after
    // the visibility timeout, past the reviewer's lease, and the review is taken over: nothing is lost.
    const dying = gated([90]);
    const crashed = await dying.harness.startRun([{ id: 'draft', qa: policy('pause') }]);
    const record = dying.feedback.store.record.bind(dying.feedback.store);
    dying.feedback.store.record = async () => {
      dying.feedback.store.record = record;
      throw new Error('the worker died');
    };
    await expect(dying.harness.deliver()).rejects.toThrow('the worker died');
    expect(dying.harness.step(crashed, 'draft')).toMatchObject({ status: 'needs_qa', gate: { state: 'reviewing' } });
    await dying.harness.drain();
    expect(dying.harness.step(crashed, 'draft').status).toBe('completed');
    expect(dying.review.calls).toHaveLength(2);
    expect(await dying.feedback.store.list(crashed)).toHaveLength(1);
  });

  it('an agent\'s callback whose function dies at any call after its review write: the sweeper re-sends the lost review message and the gate decides', async () => {
    const sweepOptions = { eventGraceSeconds: 30, limit: 100, leaseGraceSeconds: 20, dispatchGraceSeconds: 60 };
    const outcomes: string[] = [];
    // The callback makes fewer than 20 calls (store, queue, bus): die at each, after its effect.
    for (let crashAt = 1; crashAt <= 20; crashAt += 1) {
      const review = scriptedReviewer([90]);
      const urls: string[] = [];
      const pendingAgent: Executor = { kind: 'http', input: z.unknown(), run: async (_input, context) => (urls.push(context.callback!.url), { status: 'pending' }) };
      const harness = createEngineHarness({ executors: [review.executor, pendingAgent], callbackBaseUrl: 'https://api.example' });
      harness.deps.feedback = createMemoryFeedbackStore().store;
      const worker = { ...harness.deps, releasesRecoveredByRedelivery: true };
      const runId = await harness.startRun([{ id: 'draft', kind: 'http', input: { url: 'https://agent.example/draft' }, qa: policy('pause') }, { id: 'publish', dependsOn: ['draft'] }]);
      await harness.drain();
      expect(harness.step(runId, 'draft')).toMatchObject({ status: 'running', waitingFor: 'callback' });

      // The API function that takes the agent's callback dies at call `crashAt`, after that call's effect.
      let died = false;
      try {
        await completeByCallback(crashing(harness.deps, { crashAt, afterEffect: true }, [0]), urls[0]!.split('/').at(-1)!, { ok: true, data: { draft: 'otters' } });
      } catch (error) {
        if (!(error instanceof Crash)) throw error;
        died = true;
      }
      if (!died) break;
      // The agent sees a 5xx and calls back again: accepted if nothing was written, else told the step moved on.
      await completeByCallback(harness.deps, urls[0]!.split('/').at(-1)!, { ok: true, data: { draft: 'otters' } });
      outcomes.push(harness.step(runId, 'draft').gate?.state ?? harness.step(runId, 'draft').status);
      // Whatever messages were sent are delivered by workers; then the sweeper, past its grace.
      for (let round = 0; round < 3; round += 1) {
        while (harness.queue.length > 0) {
          if (harness.visible().length === 0) harness.advance(30);
          const entry = harness.visible()[0]!;
          await processStepMessage(worker, entry.message, harness.now() + 20_000);
          harness.queue.splice(harness.queue.indexOf(entry), 1);
        }
        harness.advance(120);
        await sweep(harness.deps, sweepOptions);
      }
      expect(harness.run(runId).status, `died at call ${crashAt}`).toBe('completed');
      expect(harness.step(runId, 'draft'), `died at call ${crashAt}`).toMatchObject({ status: 'completed', output: { draft: 'otters' }, gate: { score: 90 } });
      expect(review.calls.length, `died at call ${crashAt}`).toBeGreaterThanOrEqual(1);
      expect(harness.memory.timer(runId, 'draft'), `died at call ${crashAt}`).toBeUndefined();
    }
    // Some deaths came after the review was written and before its message was sent.
    expect(outcomes).toContain('reviewing');
  });

  it('a reviewer whose message is dead-lettered (the worker died at every delivery) hands the gate to a person, the reason on it; approving completes the run', async () => {
    const { harness, review, feedback } = gated([90]);
    feedback.store.record = async () => Promise.reject(new Error('the worker died'));
    const runId = await harness.startRun([{ id: 'draft', qa: policy('fail') }, { id: 'publish', dependsOn: ['draft'] }]);
    const entry = harness.queue[0]!;
    for (let receive = 1; receive <= 5; receive += 1) {
      await expect(harness.deliver()).rejects.toThrow('the worker died');
      // Past the reviewer's lease before the next receive: each delivery takes the review over.
      harness.advance(30);
    }
    expect(entry.receives).toBe(5);
    harness.queue.splice(harness.queue.indexOf(entry), 1);
    expect(harness.step(runId, 'draft')).toMatchObject({ status: 'needs_qa', gate: { state: 'reviewing' } });

    expect(await harness.deadLetter(entry.message, 5)).toBe('paused');
    expect(harness.step(runId, 'draft')).toMatchObject({ status: 'needs_qa', gate: { state: 'paused', error: expect.stringContaining('DEAD_LETTERED') } });
    expect(harness.memory.inbox()).toEqual([`${runId}/draft`]);
    expect(review.calls).toHaveLength(5);
    // A second copy of the dead letter changes nothing.
    expect(await harness.deadLetter(entry.message, 5)).toBe('ignored');

    await stepAction(harness.deps, harness.run(runId), harness.step(runId, 'draft'), 'approve', 'tok_editor', {});
    await harness.drain();
    expect(harness.run(runId).status).toBe('completed');
    expect(harness.step(runId, 'draft')).toMatchObject({ status: 'completed', output: { by: 'draft', attempt: 1 } });
  });

  it('a dead-lettered review message while a reviewer holds a live lease leaves it running and looks again after the lease', async () => {
    const { harness, feedback } = gated([90]);
    const record = feedback.store.record.bind(feedback.store);
    feedback.store.record = async () => Promise.reject(new Error('the worker died'));
    const runId = await harness.startRun([{ id: 'draft', qa: policy('pause') }]);
    await expect(harness.deliver()).rejects.toThrow('the worker died');
    // Within the reviewer's lease: not taken from it.
    expect(await harness.deadLetter({ runId, stepId: 'draft', attempt: 1 }, 5)).toBe('ignored');
    expect(harness.step(runId, 'draft').gate?.state).toBe('reviewing');
    feedback.store.record = record;
    await harness.drain();
    expect(harness.step(runId, 'draft').status).toBe('completed');
  });

  it('reads a score from every reviewer shape and decides by threshold and retries', () => {
    expect(reviewOf({ score: 72, comment: 'fine' })).toEqual({ score: 72, comment: 'fine' });
    expect(reviewOf({ text: 'x', json: { score: 55 } })).toEqual({ score: 55 });
    expect(reviewOf({ text: 'Verdict: {"score": 64, "comment": "ok"}' })).toEqual({ score: 64, comment: 'ok' });
    expect(reviewOf({ text: 'Score: 81. Good.' })).toMatchObject({ score: 81 });
    expect(reviewOf({ text: '[ministack mock anthropic m] reply for prompt#1a2b3c4d' })).toBeUndefined();
    expect(reviewOf({ score: 140 })).toBeUndefined();
    expect(verdictOf(policy('retry', { maxRetries: 2 }), 59, 1)).toBe('retry');
    expect(verdictOf(policy('retry', { maxRetries: 2 }), 59, 2)).toBe('pause');
    expect(verdictOf(policy('fail'), 60, 0)).toBe('pass');
  });

  it('refuses a bad qa with a 400 naming the field', () => {
    const kinds = createStepKindRegistry();
    const check = (qa: unknown, kind = 'noop') => {
      try {
        const body = parseWorkflowDefinition({ name: 'w', steps: [{ id: 'a', kind, qa }] }, 'application/json');
        kinds.validateInputs(body.steps);
        return undefined;
      } catch (error) {
        return (error as ValidationError).field;
      }
    };
    expect(check({ reviewer: 'human', threshold: 101 })).toBe('body.steps[0].qa.threshold');
    expect(check({ reviewer: 'human', maxRetries: -1 })).toBe('body.steps[0].qa.maxRetries');
    expect(check({ reviewer: { kind: 'noop' } })).toBe('body.steps[0].qa.reviewer');
    expect(check({ reviewer: 'human', onBelow: 'shrug' })).toBe('body.steps[0].qa.onBelow');
    expect(check({ reviewer: { kind: 'lambda', input: {} } })).toBe('body.steps[0].qa.reviewer.input.function');
    expect(check({ reviewer: 'human' }, 'approval')).toBe('body.steps[0].qa');
    expect(check({ reviewer: { kind: 'llm', input: { provider: 'bedrock', model: 'm', maxTokens: 200, prompt: 'Rate {{dependencies.output.text}} and {{dependencies.a.text}}' } } })).toBeUndefined();
  });
});
