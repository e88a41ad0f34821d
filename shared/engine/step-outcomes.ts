/**
 * A step's outcomes (the second half of its lifecycle, after step-lifecycle.ts has claimed and
 * executed it): each is one transition of the table in shared/domain/states.ts, written with its
 * event, and returns the effects to apply after the commit, or undefined when the step had moved on
 * (the write lost). Also called by the API's step actions, callbacks, reactions and the sweeper.
 */
import type { LlmUsageRecord } from '#shared/domain/llm-usage';
import { blockReasonOf } from '#shared/domain/metrics';
import type { Progress } from '#shared/domain/limits';
import type { GateState } from '#shared/domain/quality-gates';
import { planIn } from '#shared/domain/planner';
import { NonRetryableStepError, type StepError } from '#shared/domain/step-errors';
import type { StepOutcome } from '#shared/executors/types';
import { webhookCorrelationKey, webhookInput } from '#shared/executors/webhook';
import { stepErrorRecord, type RunRecord, type StepRecord } from '#shared/store/runs';
import { runEvent, stepTrace, type EngineDeps } from './context';
import { messageFor, type Effects } from './dispatch';
import { dispatchDueAt } from './dispatch-markers';
import { checkProgress, recordNoProgress } from './limits';
import { continueLoop } from './loops';
import { preparePlan } from './planner';
import { awaitReview, gateFor } from './quality-gates';
import { afterFinish, planFinish } from './release-dependents';


/** running → completed (the worker, a callback) or needs_qa → completed (approve, CI, a delivery); releases the dependents. */
export async function completeStep(
  deps: EngineDeps,
  run: RunRecord,
  step: StepRecord,
  outcome: Extract<StepOutcome, { status: 'completed' }>,
  {
    actor,
    transition,
    usage,
    comment,
    gateRound,
    gate: endGate,
    llmUsage,
    kept,
  }: {
    actor: string;
    transition: 'complete' | 'approve' | 'pass';
    usage?: unknown;
    comment?: string;
    /** pass: the gate round of the verdict, and the gate as it ends (with its score). */
    gateRound?: number;
    gate?: GateState;
    /** Model calls to record instead of the outcome's (a reviewer's, on pass). */
    llmUsage?: LlmUsageRecord[];
    /** The output already on the step (a gated step's execution): completed with it, not stored again. */
    kept?: { output?: unknown; outputRef?: string };
  },
): Promise<Effects | undefined> {
  // A step that runs again and produced the same output once too often stops (NO_PROGRESS).
  const stalled = transition === 'complete' ? checkProgress(run, step, outcome.output) : undefined;
  if (stalled) {
    const effects = await failStep(deps, run, step, stalled.error, { actor, transition: 'stall', usage, progress: stalled.progress });
    if (effects) await recordNoProgress(deps, run, stalled.exceeded, actor);
    return effects;
  }
  // A loop step whose output does not meet its `until` runs its body again (loops.ts); a gate reviews only the last iteration.
  const looped = transition === 'complete' ? await continueLoop(deps, run, step, outcome.output, actor) : undefined;
  if (looped) return 'limit' in looped ? failStep(deps, run, step, looped.limit, { actor, transition: 'fail', usage }) : looped.effects;
  // A gated step's execution waits for its review instead (the worker's and a callback's completions).
  const gate = transition === 'complete' ? await gateFor(deps, run, step) : undefined;
  if (gate) return awaitReview(deps, run, step, outcome, gate, { actor, usage });
  const at = deps.clock();
  // A planner's output adds steps to the run with this completion (planner.ts), or fails it when the plan is refused.
  const raw = transition === 'complete' ? planIn(outcome.output) : undefined;
  // An empty plan adds nothing: an ordinary completion.
  const planned = raw?.length ? await preparePlan(deps, run, step, raw, at, actor) : undefined;
  if (planned instanceof Error) return failStep(deps, run, step, new NonRetryableStepError(planned.message, { code: 'INVALID_PLAN' }), { actor, transition: 'fail', usage });
  const address = { projectId: run.projectId, runId: run.id, stepId: step.stepId, attempt: step.attempt };
  const stored = kept ?? (await deps.artifacts.storeOutput(address, outcome.output));
  const artifacts = !kept && outcome.artifacts?.length ? await deps.artifacts.storeArtifacts(address, outcome.artifacts) : undefined;
  const plan = planned?.plan ?? (await planFinish(deps, run, step, at));
  const event = runEvent(run, 'step.completed', actor, { attempt: step.attempt, ...(stored.outputRef ? { outputRef: stored.outputRef } : {}), artifacts: artifacts?.length ?? 0, ...(comment ? { comment } : {}), ...stepTrace(deps, run, step.stepId) }, at, step.stepId);
  const written = await deps.store.complete(
    {
      runId: run.id,
      stepId: step.stepId,
      transition,
      attempt: step.attempt,
      ...(gateRound !== undefined ? { gateRound } : {}),
      ...(endGate ? { gate: endGate } : {}),
      finishedAt: at.toISOString(),
      ...(stored.outputRef ? { outputRef: stored.outputRef } : { output: stored.output }),
      ...(artifacts ? { artifacts } : {}),
      ...(outcome.usage ? { agentUsage: outcome.usage } : {}),
      ...(usage ? { usage } : {}),
      ...(comment ? { comment } : {}),
      llmUsage: llmUsage ?? outcome.usage?.llm ?? [],
      ...(plan.marker ? { dispatchDueAt: plan.marker.dueAt } : {}),
    },
    plan.finish,
    event,
  );
  if (!written.won) return undefined;
  deps.metrics.add('StepsCompleted', { kind: step.kind });
  return afterFinish(deps, run, step, plan, { dispatches: planned?.dispatches ?? [], events: written.events }, actor);
}

/**
 * → failed for good, blocking the run with the error as its reason (or, when the run is not
 * running, recording the failure alone). An optional step (`onFailure: "continue"`) blocks
 * nothing: it is listed in `failedOptionalSteps` and releases its dependents like a completion.
 */
export async function failStep(
  deps: EngineDeps,
  run: RunRecord,
  step: StepRecord,
  error: StepError,
  { actor, transition, usage, comment, progress, gateRound, gate }: { actor: string; transition: 'fail' | 'reject' | 'deadLetter' | 'stall' | 'qaFail'; usage?: unknown; comment?: string; progress?: Progress; gateRound?: number; gate?: GateState },
): Promise<Effects | undefined> {
  const at = deps.clock();
  const record = stepErrorRecord(error, step.attempt, at);
  // A map's child blocks nothing either: its map counts it and decides (map-children.ts).
  const optional = step.onFailure === 'continue' || step.mapItem !== undefined;
  const failure = { runId: run.id, stepId: step.stepId, transition, readStatus: step.status, attempt: step.attempt, ...(gateRound !== undefined ? { gateRound } : {}), ...(gate ? { gate } : {}), finishedAt: at.toISOString(), error: record, ...(usage ? { usage } : {}), ...(comment ? { comment } : {}), ...(progress ? { progress } : {}), llmUsage: error.llmUsage };
  const event = runEvent(run, 'step.failed', actor, { attempt: step.attempt, error: record, ...(comment ? { comment } : {}), ...(step.onFailure === 'continue' ? { onFailure: 'continue' } : {}), ...stepTrace(deps, run, step.stepId) }, at, step.stepId);
  if (optional) {
    const plan = await planFinish(deps, run, step, at, 'failed');
    const written = await deps.store.fail({ ...failure, ...(plan.marker ? { dispatchDueAt: plan.marker.dueAt } : {}) }, { finish: plan.finish }, event);
    if (!written.won) return undefined;
    deps.metrics.add('StepsFailed', { kind: step.kind });
    return afterFinish(deps, run, step, plan, { dispatches: [], events: written.events }, actor);
  }
  // A guard's stop says its code first (NO_PROGRESS: …), as a budget's or a limit's block does.
  const reason = transition === 'stall' ? error.message : `step ${step.stepId} failed: ${error.message}`;
  const code = error.details.code ? { code: error.details.code } : {};
  const blocked = await deps.store.fail(failure, { block: { reason, event: runEvent(run, 'run.blocked', actor, { stepId: step.stepId, ...code, reason }, at) } }, event);
  // The run was not running (paused, already blocked, cancelled): record the failure alone.
  const written = blocked.won ? blocked : await deps.store.fail(failure, {}, event);
  if (!written.won) return undefined;
  deps.metrics.add('StepsFailed', { kind: step.kind });
  if (blocked.won) deps.metrics.add('RunsBlocked', { reason: blockReasonOf(error.details.code) });
  return { dispatches: [], events: written.events };
}

/** running → queued after a failed attempt, with a message delayed by the backoff. */
export async function retryStep(deps: EngineDeps, run: RunRecord, step: StepRecord, error: StepError, delaySeconds: number, actor: string): Promise<Effects | undefined> {
  const at = deps.clock();
  const event = runEvent(run, 'step.retrying', actor, { attempt: step.attempt, delaySeconds, error: error.message, ...(error.details.code ? { code: error.details.code } : {}) }, at, step.stepId);
  // The failed attempt's model calls were paid for: they count.
  // Filed for dispatch even by the worker: the failed attempt's redelivered message takes itself for a duplicate.
  const change = { attempt: step.attempt, at: at.toISOString(), dispatchDueAt: dispatchDueAt(at, delaySeconds).toISOString(), error: stepErrorRecord(error, step.attempt, at), llmUsage: error.llmUsage };
  const written = await deps.store.retry(run.id, step.stepId, change, event);
  if (!written.won) return undefined;
  deps.metrics.add('StepsRetried', { kind: step.kind });
  return { events: written.events, dispatches: [messageFor(step, delaySeconds)] };
}

/**
 * running → needs_qa for a step that waits for someone or something (approval, webhook) until it
 * is approved, rejected, its delivery arrives or its deadline passes (the sweeper fails it).
 */
export async function waitStep(deps: EngineDeps, run: RunRecord, step: StepRecord, reason: string, actor: string): Promise<Effects | undefined> {
  const at = deps.clock();
  // Only an explicit timeoutSeconds bounds a wait: by default a gate waits as long as it takes.
  const deadline = step.timeoutSeconds ? new Date(at.getTime() + step.timeoutSeconds * 1000).toISOString() : undefined;
  const correlation = step.kind === 'webhook' ? webhookInput.safeParse(step.input) : undefined;
  const event = runEvent(run, 'step.needs_qa', actor, { attempt: step.attempt, reason, ...(deadline ? { deadline } : {}) }, at, step.stepId);
  const change = { reason, ...(deadline ? { deadline } : {}), ...(correlation?.success ? { correlationKey: webhookCorrelationKey(correlation.data) } : {}) };
  const written = await deps.store.wait(step, at.toISOString(), change, event);
  // Cancelled meanwhile: its own message cancels it (a crash first leaves that to the worker's redelivery).
  const cancelled = written.won && (await deps.store.getRun(run.id))?.status === 'cancelled';
  return written.won ? { events: written.events, dispatches: cancelled ? [messageFor(step)] : [] } : undefined;
}
