import { hashCallbackToken } from '#shared/domain/callback-tokens';
import { callbackDueAt, defaultCallbackTimeoutSeconds } from '#shared/domain/callbacks';
import { decideRetry } from '#shared/domain/retry';
import { RetryableStepError, StepError } from '#shared/domain/step-errors';
import { agentReplyOutcome, type AgentReply } from '#shared/executors/agent-reply';
import type { RunRecord, StepRecord } from '#shared/store/runs';
import { runEvent, type EngineDeps } from './context';
import { applyEffects, maxQueueDelaySeconds, messageFor, type Dispatch, type Effects } from './dispatch';
import type { StepOutcome } from '#shared/executors/types';
import { settleLateSpend } from './budgets';
import { completeStep, failStep, retryStep } from './step-outcomes';
import type { CallbackRecord } from './store';

/**
 * Long agent work without a Lambda held (DESIGN §7). An agent that answers "pending" leaves its
 * step `running` with `waitingFor: callback` and a timer in the timers index (`CALLBACK`, due
 * when the next heartbeat or the deadline is); the worker returns. The agent then POSTs its
 * callback URL (completes the step as if it had answered then) and, meanwhile, its heartbeat
 * URL (pushes the timer on). A timer that runs out is a retryable timeout: a new attempt with a
 * new token, the old one answering 409 from then on.
 */

const now = (deps: EngineDeps) => deps.clock();

/** Looks a token up by its hash; undefined for a token Baton never issued (or one long expired). */
export const findCallback = (deps: EngineDeps, token: string): Promise<CallbackRecord | undefined> => deps.store.findCallback(hashCallbackToken(token));

/** A delayed message that looks at the step when its timer is due, if that is within SQS's reach (else the sweeper does). */
const checkAt = (step: StepRecord, dueAt: Date, at: Date): Dispatch[] => {
  const seconds = (dueAt.getTime() - at.getTime()) / 1000 + 1;
  return seconds <= maxQueueDelaySeconds ? [messageFor({ ...step, attempt: step.attempt - 1 }, seconds)] : [];
};

/**
 * running → running, waiting for the callback: the worker's lease becomes the callback timer
 * (in the same write), and the worker is free to return.
 */
export async function pendStep(deps: EngineDeps, run: RunRecord, step: StepRecord, { actor, usage }: { actor: string; usage?: unknown }): Promise<Effects | undefined> {
  const at = now(deps);
  const deadline = new Date(at.getTime() + (step.callbackTimeoutSeconds ?? defaultCallbackTimeoutSeconds) * 1000);
  const dueAt = callbackDueAt(at, deadline, step.heartbeatSeconds);
  const detail = { attempt: step.attempt, deadline: deadline.toISOString(), ...(step.heartbeatSeconds ? { heartbeatSeconds: step.heartbeatSeconds } : {}) };
  const event = runEvent(run, 'step.pending', actor, detail, at, step.stepId);
  const change = { at: at.toISOString(), deadline: deadline.toISOString(), dueAt: dueAt.toISOString(), ...(usage ? { usage } : {}) };
  const written = await deps.store.pend(run.id, step.stepId, step.attempt, change, event);
  return written.won ? { events: written.events, dispatches: checkAt(step, dueAt, at) } : undefined;
}

/** Whether a step is still waiting for exactly this execution's callback, and its timer has not run out. */
const isWaitingFor = (step: StepRecord | undefined, attempt: number, at: Date): step is StepRecord =>
  step?.status === 'running' && step.attempt === attempt && step.waitingFor === 'callback' && Date.parse(step.leaseUntil ?? '') > at.getTime();

/**
 * The timer of a waiting step ran out (a missed heartbeat or the deadline): a retryable timeout,
 * so the retry policy decides between a new attempt and failing the step. Idempotent: a step
 * that moved on (completed, retried, heartbeat arrived) is left alone.
 */
export async function expireCallback(deps: EngineDeps, run: RunRecord, step: StepRecord, actor: string): Promise<Effects | undefined> {
  const at = now(deps);
  if (step.status !== 'running' || step.waitingFor !== 'callback' || Date.parse(step.leaseUntil ?? '') > at.getTime()) return undefined;
  const deadlinePassed = Date.parse(step.callbackDeadline ?? '') <= at.getTime();
  const error = deadlinePassed
    ? new RetryableStepError(`The agent did not call back within ${step.callbackTimeoutSeconds ?? defaultCallbackTimeoutSeconds}s`, { code: 'CALLBACK_TIMEOUT' })
    : new RetryableStepError(`The agent sent no heartbeat for ${step.heartbeatSeconds}s`, { code: 'HEARTBEAT_TIMEOUT' });
  const decision = decideRetry({ ...step.retry, maxAttempts: step.allowedAttempts }, step.attempt, error, deps.random);
  const effects = decision.retry ? await retryStep(deps, run, step, error, decision.delaySeconds, actor) : await failStep(deps, run, step, error, { actor, transition: 'fail' });
  if (effects) deps.metrics.add('CallbacksTimedOut', { reason: deadlinePassed ? 'callback' : 'heartbeat' });
  return effects;
}

/** A step message reached a step waiting for its callback: expire it if due, else look again when it will be. */
export async function checkWaitingStep(deps: EngineDeps, run: RunRecord, step: StepRecord): Promise<'expired' | 'waiting'> {
  const at = now(deps);
  const dueAt = new Date(step.leaseUntil ?? 0);
  if (dueAt.getTime() <= at.getTime()) {
    const effects = await expireCallback(deps, run, step, 'worker');
    if (effects) await applyEffects(deps, effects);
    return 'expired';
  }
  await deps.dispatcher.send(checkAt(step, dueAt, at));
  return 'waiting';
}

/** What a callback or heartbeat did, with the step as it now stands. */
export type CallbackResult =
  | { outcome: 'completed' | 'retrying' | 'failed' | 'extended' | 'noted'; step: StepState }
  | { outcome: 'closed'; step: StepState; reason: string }
  | { outcome: 'unknown' };

export interface StepState {
  runId: string;
  stepId: string;
  status: string;
  attempt: number;
  /** The attempt the token was issued for. */
  tokenAttempt: number;
  leaseUntil?: string;
}

const stateOf = (callback: CallbackRecord, step: StepRecord | undefined): StepState => ({
  runId: callback.runId,
  stepId: callback.stepId,
  status: step?.status ?? 'unknown',
  attempt: step?.attempt ?? callback.attempt,
  tokenAttempt: callback.attempt,
  ...(step?.waitingFor === 'callback' && step.status === 'running' && step.leaseUntil ? { leaseUntil: step.leaseUntil } : {}),
});

const closedReason = (callback: CallbackRecord, step: StepRecord | undefined, at: Date): string => {
  if (!step) return 'the step no longer exists';
  if (step.attempt !== callback.attempt) return `this callback was for attempt ${callback.attempt}; the step has moved on to attempt ${step.attempt} (${step.status})`;
  if (step.status !== 'running') return `the step already ended (${step.status})`;
  if (step.waitingFor === 'callback' && Date.parse(step.leaseUntil ?? '') <= at.getTime()) return 'the wait timed out (missed heartbeat or deadline); the attempt is being retried';
  return `the step is ${step.status}`;
};

/**
 * `POST <callback url>`: the agent's reply completes the step exactly as if the agent had
 * answered then (same completion path, releasing dependents); `ok: false` fails or retries the
 * attempt like a reply. Exactly once: every write is conditional on the step still running this
 * attempt, so a second or late callback changes nothing and is told why.
 */
export async function completeByCallback(deps: EngineDeps, token: string, reply: AgentReply): Promise<CallbackResult> {
  const callback = await findCallback(deps, token);
  if (!callback) return { outcome: 'unknown' };
  const { run, step } = await deps.store.getRunAndStep(callback.runId, callback.stepId);
  const at = now(deps);
  // Accepted while the worker still awaits the agent's first answer, too: the agent may be that quick.
  const open = step?.status === 'running' && step.attempt === callback.attempt && (step.waitingFor !== 'callback' || isWaitingFor(step, callback.attempt, at));
  if (!run || !open) return { outcome: 'closed', step: stateOf(callback, step), reason: closedReason(callback, step, at) };

  let effects: Effects | undefined;
  let outcome: 'completed' | 'retrying' | 'failed';
  let spent: StepOutcome | StepError;
  try {
    const completed = agentReplyOutcome(reply, { who: 'the agent (callback)', details: {} });
    if (completed.status !== 'completed') throw new Error('unreachable: pending replies are refused before');
    spent = completed;
    effects = await completeStep(deps, run, step, completed, { actor: 'callback', transition: 'complete' });
    outcome = 'completed';
  } catch (error) {
    if (!(error instanceof StepError)) throw error;
    spent = error;
    const decision = decideRetry({ ...step.retry, maxAttempts: step.allowedAttempts }, step.attempt, error, deps.random);
    effects = decision.retry ? await retryStep(deps, run, step, error, decision.delaySeconds, 'callback') : await failStep(deps, run, step, error, { actor: 'callback', transition: 'fail' });
    outcome = decision.retry ? 'retrying' : 'failed';
  }
  // Another write won meanwhile (e.g. a second callback at the same moment): this one changes nothing.
  if (!effects) {
    const current = await deps.store.getStep(callback.runId, callback.stepId);
    return { outcome: 'closed', step: stateOf(callback, current), reason: closedReason(callback, current, now(deps)) };
  }
  await settleLateSpend(deps, run, step, spent);
  await applyEffects(deps, effects);
  return { outcome, step: stateOf(callback, await deps.store.getStep(callback.runId, callback.stepId)) };
}

/**
 * `POST <heartbeat url>`: the agent is alive; its next heartbeat is due `heartbeatSeconds` from
 * now (never past the deadline). Before the agent's "pending" answer is recorded there is no
 * timer to push (the worker holds the attempt): noted, nothing changed.
 */
export async function heartbeatByToken(deps: EngineDeps, token: string): Promise<CallbackResult> {
  const callback = await findCallback(deps, token);
  if (!callback) return { outcome: 'unknown' };
  const step = await deps.store.getStep(callback.runId, callback.stepId);
  const at = now(deps);
  if (step?.status === 'running' && step.attempt === callback.attempt && step.waitingFor !== 'callback') return { outcome: 'noted', step: stateOf(callback, step) };
  if (!isWaitingFor(step, callback.attempt, at)) return { outcome: 'closed', step: stateOf(callback, step), reason: closedReason(callback, step, at) };
  const dueAt = callbackDueAt(at, new Date(step.callbackDeadline ?? at), step.heartbeatSeconds).toISOString();
  if (!(await deps.store.heartbeat(callback.runId, callback.stepId, callback.attempt, at.toISOString(), dueAt)).won) {
    const current = await deps.store.getStep(callback.runId, callback.stepId);
    return { outcome: 'closed', step: stateOf(callback, current), reason: closedReason(callback, current, now(deps)) };
  }
  return { outcome: 'extended', step: { ...stateOf(callback, step), leaseUntil: dueAt } };
}
