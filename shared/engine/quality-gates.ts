import { addUsage, usageFromItem } from '#shared/clients/usage-meter';
import { ConflictError, ValidationError } from '#shared/domain/errors';
import { applyGuidance } from '#shared/domain/guidance';
import type { LlmUsageRecord } from '#shared/domain/llm-usage';
import { nextProgress, outputHash, type Progress } from '#shared/domain/limits';
import {
  defaultGatedKinds,
  gatePolicyOf,
  inputWithReview,
  reviewedOutputName,
  reviewNote,
  reviewOf,
  ungatedKinds,
  verdictOf,
  type GateState,
  type QaPolicy,
  type Review,
  type ReviewerSpec,
} from '#shared/domain/quality-gates';
import { NonRetryableStepError, type StepError } from '#shared/domain/step-errors';
import type { StepOutcome } from '#shared/executors/types';
import type { StepMessage } from '#shared/schemas/messages';
import { generationOf, type RunRecord, type StepRecord } from '#shared/store/runs';
import { reserveBudgets } from './budgets';
import { runEvent, type EngineDeps } from './context';
import { applyEffects, messageFor, noEffects, type Effects } from './dispatch';
import { executeStep, runTimeoutOf } from './execute-step';
import { recordFeedback } from './feedback';
import { checkStepInput } from './rerun-step';
import type { MessageResult } from './step-lifecycle';
import { completeStep, failStep } from './step-outcomes';

/**
 * Quality gates (issue 12 §2; rules in shared/domain/quality-gates.ts). A step held to a `qa`
 * policy (its own, or the project's default for llm, http and lambda steps) does not complete when
 * its execution does: the execution's outcome is kept on the step, which waits in `needs_qa`
 * (`review`). A human reviewer's step goes into the inbox; an automatic reviewer runs as its own
 * execution through the same executors, driven by a step message: claimed with a lease
 * (`reviewStart`, so a duplicate delivery does not review twice and a dead reviewer is taken over
 * when its message comes back), its score recorded as feedback (source `reviewer`), then the
 * verdict written, each write conditional on the gate's round: `pass` (completes, releasing the
 * dependents), `qaPause` (waits for a person), `qaRetry` (runs again with the comment in its input),
 * `qaFail`. Below the threshold `feedback.critical` is written with the verdict.
 */

/** The policy a finished execution of this step is held to (none: it completes as usual). A step with no `qa` of a kind the default does not cover reads nothing. */
export async function gateFor(deps: EngineDeps, run: RunRecord, step: StepRecord): Promise<{ policy: QaPolicy; from: 'step' | 'project' } | undefined> {
  if (ungatedKinds.includes(step.kind) || (!step.qa && !defaultGatedKinds.includes(step.kind))) return undefined;
  const settings = step.qa ? undefined : await deps.projectSettings(run.projectId);
  return gatePolicyOf(step, settings?.qa);
}

/** running → needs_qa (`review`): the execution's outcome kept on the step; an automatic reviewer's message returned to send (the worker runs it inline). */
export async function awaitReview(
  deps: EngineDeps,
  run: RunRecord,
  step: StepRecord,
  outcome: Extract<StepOutcome, { status: 'completed' }>,
  { policy, from }: { policy: QaPolicy; from: 'step' | 'project' },
  { actor, usage }: { actor: string; usage?: unknown },
): Promise<Effects | undefined> {
  const at = deps.clock();
  const address = { projectId: run.projectId, runId: run.id, stepId: step.stepId, attempt: step.attempt };
  const stored = await deps.artifacts.storeOutput(address, outcome.output);
  const artifacts = outcome.artifacts?.length ? await deps.artifacts.storeArtifacts(address, outcome.artifacts) : undefined;
  const human = policy.reviewer === 'human';
  const gate: GateState = { policy, from, state: human ? 'waiting' : 'reviewing', round: (step.gate?.round ?? 0) + 1, retries: step.gate?.retries ?? 0 };
  const reason = human ? "qa: waiting for a person's review" : 'qa: reviewer';
  const reviewer = human ? 'human' : (policy.reviewer as ReviewerSpec).kind;
  const event = runEvent(run, 'step.needs_qa', actor, { attempt: step.attempt, reason, qa: { reviewer, threshold: policy.threshold, onBelow: policy.onBelow, from } }, at, step.stepId);
  const written = await deps.store.gate(
    {
      transition: 'review',
      runId: run.id,
      stepId: step.stepId,
      projectId: run.projectId,
      attempt: step.attempt,
      at: at.toISOString(),
      gate,
      ...(human ? { inbox: { waitingFor: reason } } : {}),
      // Its message has no redelivery behind it when a callback writes this: filed for the sweeper.
      ...(!human && !deps.releasesRecoveredByRedelivery ? { dispatchDueAt: at.toISOString() } : {}),
      outcome: { ...stored, ...(artifacts ? { artifacts } : {}), ...(outcome.usage ? { agentUsage: outcome.usage } : {}), ...(usage ? { usage } : {}) },
      llmUsage: outcome.usage?.llm ?? [],
    },
    [event],
  );
  if (!written.won) return undefined;
  return { events: written.events, dispatches: human ? [] : [messageFor(step)] };
}

/**
 * A step message for a step whose automatic reviewer is due (needs_qa, gate `reviewing`): claim
 * the review, run the reviewer, record its score, write the verdict. A live lease means another
 * worker reviews it now: look again when that lease ends (it may die).
 */
export async function reviewStep(deps: EngineDeps, run: RunRecord, step: StepRecord, message: StepMessage, deadline: number): Promise<MessageResult> {
  const gate = step.gate!;
  if (message.attempt !== step.attempt && message.attempt !== step.attempt - 1) return 'duplicate';
  const at = deps.clock();
  if (step.leaseUntil && Date.parse(step.leaseUntil) > at.getTime()) {
    await deps.dispatcher.send([messageFor(step, Math.max(1, (Date.parse(step.leaseUntil) - at.getTime()) / 1000 + 1))]);
    return 'duplicate';
  }
  const spec = gate.policy.reviewer as ReviewerSpec;
  // The reviewer is an execution of its own kind, with the step's budget and none of its gate.
  const { qa: _qa, gate: _gate, estimate: _estimate, ...rest } = step;
  const reviewer: StepRecord = { ...rest, kind: spec.kind, input: spec.input, dependsOn: [], status: 'running', ...(spec.timeoutSeconds ? { timeoutSeconds: spec.timeoutSeconds } : {}) };
  const left = Math.floor((deadline - at.getTime()) / 1000) - deps.leaseMarginSeconds - 1;
  if (left < Math.min(runTimeoutOf(deps, reviewer), 5)) {
    // Too little of this invocation is left (a long step ran inline before): review in the next one.
    await deps.dispatcher.send([messageFor(step)]);
    return 'deferred';
  }
  const timeoutSeconds = Math.max(1, Math.min(runTimeoutOf(deps, reviewer), left));
  const budget = await reserveBudgets(deps, run, reviewer);
  if (budget === 'blocked') return 'held';
  const round = gate.round + 1;
  const started = await deps.store.gate(
    {
      transition: 'reviewStart',
      runId: run.id,
      stepId: step.stepId,
      projectId: run.projectId,
      attempt: step.attempt,
      round: gate.round,
      at: at.toISOString(),
      leaseUntil: new Date(at.getTime() + (timeoutSeconds + deps.leaseMarginSeconds) * 1000).toISOString(),
      gate: { ...gate, round },
    },
    [],
  );
  if (!started.won) {
    await budget?.release();
    return 'duplicate';
  }
  const output = step.outputRef ? await deps.artifacts.loadOutput(step.outputRef) : step.output;
  const outcome = await executeStep(deps, run, reviewer, timeoutSeconds, undefined, {
    // One key per review of one execution: a reviewer taken over after a crash is the same review.
    idempotencyKey: `${run.id}:${step.stepId}:${generationOf(step)}:review`,
    dependencyOutputs: { [reviewedOutputName]: output, [step.stepId]: output },
  });
  const usage = withStoredUsage(step.usage, deps.usage.sinceCheckpoint());
  const llmUsage = outcome instanceof Error ? outcome.llmUsage : outcome.status === 'completed' ? (outcome.usage?.llm ?? []) : [];
  const review = !(outcome instanceof Error) && outcome.status === 'completed' ? reviewOf(outcome.output) : undefined;
  const scored = { ...step, gate: { ...gate, round } };
  let effects: Effects | undefined;
  if (review) {
    if (deps.feedback) await recordFeedback({ feedback: deps.feedback, outbox: deps.outbox, clock: deps.clock }, run, step, { score: review.score, ...(review.comment ? { comment: review.comment } : {}), source: 'reviewer', actor: 'engine' });
    effects = await decide(deps, run, scored, review, { actor: 'engine', llmUsage, usage });
  } else {
    effects = await pauseWithoutScore(deps, run, scored, describeFailure(outcome), { llmUsage, usage });
  }
  await budget?.settle(outcome);
  await applyEffects(deps, effects ?? noEffects());
  return 'executed';
}

/**
 * A score decides the gate (the reviewer's, or a person's feedback on a step whose reviewer is
 * `human`): conditional on the gate's round as read. Undefined when the step moved meanwhile.
 */
export async function decide(
  deps: EngineDeps,
  run: RunRecord,
  step: StepRecord,
  review: Review,
  { actor, llmUsage = [], usage }: { actor: string; llmUsage?: LlmUsageRecord[]; usage?: unknown },
): Promise<Effects | undefined> {
  const gate = step.gate!;
  const { policy } = gate;
  const verdict = verdictOf(policy, review.score, gate.retries);
  const at = deps.clock();
  const base = { runId: run.id, stepId: step.stepId, projectId: run.projectId, attempt: step.attempt, round: gate.round, at: at.toISOString() };
  const scored: GateState = { ...gate, round: gate.round + 1, score: review.score, ...(review.comment ? { comment: review.comment } : {}) };
  delete scored.error;
  const critical = runEvent(run, 'feedback.critical', actor, { score: review.score, threshold: policy.threshold, ...(review.comment ? { comment: review.comment } : {}), onBelow: policy.onBelow, verdict, generation: generationOf(step), retries: gate.retries }, at, step.stepId);
  switch (verdict) {
    case 'pass':
      return completeStep(deps, run, step, { status: 'completed', output: step.output }, { actor, transition: 'pass', usage, gateRound: gate.round, gate: scored, llmUsage, kept: keptOutput(step) });
    case 'fail': {
      const error = new NonRetryableStepError(`quality gate: scored ${review.score}, below the threshold ${policy.threshold}${review.comment ? `: ${review.comment}` : ''}`, { code: 'QA_BELOW_THRESHOLD' }, { llmUsage });
      // Written first: the verdict's own write carries one event (a crash in between repeats the review, and this event with it).
      const noted = await deps.store.budgets.record([critical]);
      if (!noted.won) return undefined;
      const effects = await failStep(deps, run, step, error, { actor, transition: 'qaFail', usage, gateRound: gate.round, gate: scored });
      return effects && { ...effects, events: [...noted.events, ...effects.events] };
    }
    case 'pause': {
      const reason = `qa: scored ${review.score}, below the threshold ${policy.threshold}`;
      const waiting = runEvent(run, 'step.needs_qa', actor, { attempt: step.attempt, reason, qa: { score: review.score, threshold: policy.threshold, retries: gate.retries } }, at, step.stepId);
      const written = await deps.store.gate({ ...base, transition: 'qaPause', gate: { ...scored, state: 'paused' }, inbox: { waitingFor: reason }, llmUsage, ...(usage ? { usage } : {}) }, [waiting, critical]);
      return written.won ? { events: written.events, dispatches: [] } : undefined;
    }
    case 'retry': {
      const note = reviewNote(review, policy);
      const { input } = inputWithReview(step.kind, step.input, note);
      const generation = generationOf(step) + 1;
      const retrying = runEvent(run, 'step.retrying', actor, { attempt: step.attempt, qa: { score: review.score, threshold: policy.threshold, retry: gate.retries + 1, of: policy.maxRetries }, generation, guidance: note }, at, step.stepId);
      // The streak NO_PROGRESS counts (limits.ts): a retry that keeps producing the same output is stopped.
      const requeue = { generation, allowedAttempts: step.attempt + step.retry.maxAttempts, input: { value: input }, guidance: note, progress: await progressOfGated(deps, step) };
      const written = await deps.store.gate({ ...base, transition: 'qaRetry', gate: { ...scored, state: 'retrying', retries: gate.retries + 1 }, requeue, llmUsage, ...(usage ? { usage } : {}) }, [retrying, critical]);
      return written.won ? { events: written.events, dispatches: [messageFor(step)] } : undefined;
    }
  }
}

/** The reviewer gave no score (it failed, or its output has none): the step waits for a person, the reason on its gate. */
export async function pauseWithoutScore(deps: EngineDeps, run: RunRecord, step: StepRecord, error: string, { llmUsage, usage }: { llmUsage: LlmUsageRecord[]; usage?: unknown }): Promise<Effects | undefined> {
  const gate = step.gate!;
  const at = deps.clock();
  const reason = `qa: the reviewer gave no score (${error})`;
  const waiting = runEvent(run, 'step.needs_qa', 'engine', { attempt: step.attempt, reason }, at, step.stepId);
  const written = await deps.store.gate(
    { runId: run.id, stepId: step.stepId, projectId: run.projectId, attempt: step.attempt, round: gate.round, at: at.toISOString(), transition: 'qaPause', gate: { ...gate, round: gate.round + 1, state: 'paused', error }, inbox: { waitingFor: reason }, llmUsage, ...(usage ? { usage } : {}) },
    [waiting],
  );
  return written.won ? { events: written.events, dispatches: [] } : undefined;
}

/**
 * A person's feedback on a step whose reviewer is `human` and which waits for it: the score
 * decides the gate as a reviewer's would. Nothing for any other step (the feedback is only recorded).
 */
export async function decideByPerson(deps: EngineDeps, run: RunRecord, step: StepRecord, review: Review, actor: string): Promise<void> {
  if (step.status !== 'needs_qa' || step.gate?.state !== 'waiting') return;
  const effects = await decide(deps, run, step, review, { actor, usage: withStoredUsage(step.usage, deps.usage.sinceCheckpoint()) });
  if (!effects) throw new ConflictError(`Step ${step.stepId} changed meanwhile; read it again`, 'path.stepId');
  await applyEffects(deps, effects);
}

/**
 * A person's re-run of a step held at its gate (`POST …/actions/rerun {input?, guidance?}` on a
 * step in needs_qa with a gate): it runs again as a new execution, its downstream untouched (it
 * never ran), and is reviewed again with a fresh gate.
 */
export async function rerunAtGate(deps: EngineDeps, run: RunRecord, step: StepRecord, body: { input?: unknown; guidance?: string }, actor: string): Promise<StepRecord> {
  let input: { value: unknown } | undefined = body.input !== undefined ? { value: body.input } : undefined;
  if (body.guidance) {
    const guided = applyGuidance(step.kind, input ? input.value : step.input, body.guidance);
    if (guided === undefined) throw new ValidationError(`body.guidance: a ${step.kind} step with this input has no place for guidance; give a new input instead`, 'body.guidance');
    input = { value: guided };
  }
  if (input) checkStepInput(deps, step, input.value, body.guidance && body.input === undefined ? 'body.guidance' : 'body.input');
  const at = deps.clock();
  const generation = generationOf(step) + 1;
  const event = runEvent(run, 'step.rerun_requested', actor, { from: step.status, generation, downstream: [], newInput: body.input !== undefined, ...(body.guidance ? { guidance: body.guidance } : {}), qa: { score: step.gate?.score } }, at, step.stepId);
  const written = await deps.store.gate(
    {
      transition: 'qaRerun',
      runId: run.id,
      stepId: step.stepId,
      projectId: run.projectId,
      attempt: step.attempt,
      at: at.toISOString(),
      requeue: { generation, allowedAttempts: step.attempt + step.retry.maxAttempts, ...(input ? { input } : {}), ...(body.guidance ? { guidance: body.guidance } : {}), progress: await progressOfGated(deps, step) },
    },
    [event],
  );
  if (!written.won) throw new ConflictError(`Step ${step.stepId} changed meanwhile; read it again`, 'path.stepId');
  await applyEffects(deps, { events: written.events, dispatches: [messageFor(step)] });
  return (await deps.store.getStep(run.id, step.stepId))!;
}

/** The NO_PROGRESS streak a gated step carries into its next execution: its reviewed output's hash (as a re-run of a completed step does). */
async function progressOfGated(deps: EngineDeps, step: StepRecord): Promise<Progress> {
  const output = step.outputRef ? await deps.artifacts.loadOutput(step.outputRef) : step.output;
  return nextProgress(step.progress, outputHash(output));
}

/** The output a gated step's execution left on it, to complete with (approve, pass) without storing it again. */
export const keptOutput = (step: StepRecord): { output?: unknown; outputRef?: string } => (step.outputRef ? { outputRef: step.outputRef } : { output: step.output ?? null });

/** The usage a step already recorded plus what was spent since: a step's item holds its total. */
export function withStoredUsage(stored: unknown, since: ReturnType<EngineDeps['usage']['sinceCheckpoint']>): unknown {
  if (!since) return stored;
  return stored ? addUsage(usageFromItem(stored), since) : since;
}

const describeFailure = (outcome: StepOutcome | StepError): string => {
  if (outcome instanceof Error) return outcome.message;
  if (outcome.status !== 'completed') return `it answered ${outcome.status}`;
  return 'its output has no score from 0 to 100 (expected {score, comment})';
};
