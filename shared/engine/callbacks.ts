import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { hashCallbackToken } from '#shared/domain/callback-tokens';
import { callbackDueAt, defaultCallbackTimeoutSeconds } from '#shared/domain/callbacks';
import { decideRetry } from '#shared/domain/retry';
import { RetryableStepError, StepError } from '#shared/domain/step-errors';
import { agentReplyOutcome, type AgentReply } from '#shared/executors/agent-reply';
import { keys, timersIndex } from '#shared/store/keys';
import type { RunRecord, StepRecord } from '#shared/store/runs';
import { ConditionFailedError, updateExpression } from '#shared/store/transaction';
import { runEvent, transaction, type EngineDeps } from './context';
import { maxQueueDelaySeconds, type Dispatch } from './dispatcher';
import { applyEffects, completeStep, failStep, noEffects, retryStep, type Effects } from './step-transitions';

/**
 * Long agent work without a Lambda held (DESIGN §7). An agent that answers "pending" leaves its
 * step `running` with `waitingFor: callback` and a timer in the timers index (`CALLBACK`, due
 * when the next heartbeat or the deadline is); the worker returns. The agent then POSTs its
 * callback URL (completes the step as if it had answered then) and, meanwhile, its heartbeat
 * URL (pushes the timer on). A timer that runs out is a retryable timeout: a new attempt with a
 * new token, the old one answering 409 from then on.
 */

const now = (deps: EngineDeps) => (deps.now ?? (() => new Date()))();

/** The step execution a callback token is bound to. */
export interface CallbackRecord {
  projectId: string;
  runId: string;
  stepId: string;
  attempt: number;
}

/** Looks a token up by its hash; undefined for a token Baton never issued (or one long expired). */
export async function findCallback(deps: EngineDeps, token: string): Promise<CallbackRecord | undefined> {
  const { Item } = await deps.documents.send(new GetCommand({ TableName: deps.tableName, Key: keys.callback(hashCallbackToken(token)), ConsistentRead: true }));
  if (!Item) return undefined;
  return { projectId: Item.projectId as string, runId: Item.runId as string, stepId: Item.stepId as string, attempt: Item.attempt as number };
}

/** A delayed message that looks at the step when its timer is due, if that is within SQS's reach (else the sweeper does). */
const checkAt = (step: StepRecord, dueAt: Date, at: Date): Dispatch[] => {
  const seconds = (dueAt.getTime() - at.getTime()) / 1000 + 1;
  return seconds <= maxQueueDelaySeconds ? [{ message: { runId: step.runId, stepId: step.stepId, attempt: step.attempt - 1 }, delaySeconds: seconds }] : [];
};

/**
 * running → running, waiting for the callback: the worker's lease becomes the callback timer
 * (in the same write), and the worker is free to return.
 */
export async function pendStep(deps: EngineDeps, run: RunRecord, step: StepRecord, { actor, usage }: { actor: string; usage?: unknown }): Promise<Effects> {
  const at = now(deps);
  const deadline = new Date(at.getTime() + (step.callbackTimeoutSeconds ?? defaultCallbackTimeoutSeconds) * 1000);
  const dueAt = callbackDueAt(at, deadline, step.heartbeatSeconds);
  const tx = transaction(deps);
  tx.update(keys.step(run.id, step.stepId), {
    set: {
      waitingFor: 'callback',
      pendingSince: at.toISOString(),
      callbackDeadline: deadline.toISOString(),
      leaseUntil: dueAt.toISOString(),
      timerPk: timersIndex.callback,
      dueAt: dueAt.toISOString(),
      ...(usage ? { usage } : {}),
    },
    condition: '#status = :running AND #attempt = :attempt',
    values: { ':running': 'running', ':attempt': step.attempt },
  });
  const detail = { attempt: step.attempt, deadline: deadline.toISOString(), ...(step.heartbeatSeconds ? { heartbeatSeconds: step.heartbeatSeconds } : {}) };
  const { key, event, publish } = runEvent(run, 'step.pending', actor, detail, at, step.stepId);
  tx.event(key, event, publish);
  return { events: await tx.commit(), dispatches: checkAt(step, dueAt, at) };
}

/** Whether a step is still waiting for exactly this execution's callback, and its timer has not run out. */
const isWaitingFor = (step: StepRecord | undefined, attempt: number, at: Date): step is StepRecord =>
  step?.status === 'running' && step.attempt === attempt && step.waitingFor === 'callback' && Date.parse(step.leaseUntil ?? '') > at.getTime();

/**
 * The timer of a waiting step ran out (a missed heartbeat or the deadline): a retryable timeout,
 * so the retry policy decides between a new attempt and failing the step. Idempotent: a step
 * that moved on (completed, retried, heartbeat arrived) is left alone.
 */
export async function expireCallback(deps: EngineDeps, run: RunRecord, step: StepRecord, actor: string): Promise<Effects> {
  const at = now(deps);
  if (step.status !== 'running' || step.waitingFor !== 'callback' || Date.parse(step.leaseUntil ?? '') > at.getTime()) return noEffects();
  const deadlinePassed = Date.parse(step.callbackDeadline ?? '') <= at.getTime();
  const error = deadlinePassed
    ? new RetryableStepError(`The agent did not call back within ${step.callbackTimeoutSeconds ?? defaultCallbackTimeoutSeconds}s`, { code: 'CALLBACK_TIMEOUT' })
    : new RetryableStepError(`The agent sent no heartbeat for ${step.heartbeatSeconds}s`, { code: 'HEARTBEAT_TIMEOUT' });
  const decision = decideRetry({ ...step.retry, maxAttempts: step.allowedAttempts }, step.attempt, error, deps.random);
  try {
    return decision.retry ? await retryStep(deps, run, step, error, decision.delaySeconds, actor) : await failStep(deps, run, step, error, { actor, from: ['running'] });
  } catch (caught) {
    if (caught instanceof ConditionFailedError) return noEffects();
    throw caught;
  }
}

/** A step message reached a step waiting for its callback: expire it if due, else look again when it will be. */
export async function checkWaitingStep(deps: EngineDeps, run: RunRecord, step: StepRecord): Promise<'expired' | 'waiting'> {
  const at = now(deps);
  const dueAt = new Date(step.leaseUntil ?? 0);
  if (dueAt.getTime() <= at.getTime()) {
    await applyEffects(deps, await expireCallback(deps, run, step, 'worker'));
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
  const { run, step } = await deps.runs.getRunAndStep(callback.runId, callback.stepId);
  const at = now(deps);
  // Accepted while the worker still awaits the agent's first answer, too: the agent may be that quick.
  const open = step?.status === 'running' && step.attempt === callback.attempt && (step.waitingFor !== 'callback' || isWaitingFor(step, callback.attempt, at));
  if (!run || !open) return { outcome: 'closed', step: stateOf(callback, step), reason: closedReason(callback, step, at) };

  let effects: Effects;
  let outcome: 'completed' | 'retrying' | 'failed';
  try {
    try {
      const completed = agentReplyOutcome(reply, { who: 'the agent (callback)', details: {} });
      if (completed.status !== 'completed') throw new Error('unreachable: pending replies are refused before');
      effects = await completeStep(deps, run, step, completed, { actor: 'callback', from: 'running' });
      outcome = 'completed';
    } catch (error) {
      if (!(error instanceof StepError)) throw error;
      const decision = decideRetry({ ...step.retry, maxAttempts: step.allowedAttempts }, step.attempt, error, deps.random);
      effects = decision.retry ? await retryStep(deps, run, step, error, decision.delaySeconds, 'callback') : await failStep(deps, run, step, error, { actor: 'callback', from: ['running'] });
      outcome = decision.retry ? 'retrying' : 'failed';
    }
  } catch (error) {
    if (!(error instanceof ConditionFailedError)) throw error;
    const current = await deps.runs.getStep(callback.runId, callback.stepId, true);
    return { outcome: 'closed', step: stateOf(callback, current), reason: closedReason(callback, current, now(deps)) };
  }
  // failStep answers no effects when another write won (e.g. a second callback at the same moment).
  if (effects.events.length === 0) {
    const current = await deps.runs.getStep(callback.runId, callback.stepId, true);
    return { outcome: 'closed', step: stateOf(callback, current), reason: closedReason(callback, current, now(deps)) };
  }
  await applyEffects(deps, effects);
  return { outcome, step: stateOf(callback, await deps.runs.getStep(callback.runId, callback.stepId, true)) };
}

/**
 * `POST <heartbeat url>`: the agent is alive; its next heartbeat is due `heartbeatSeconds` from
 * now (never past the deadline). Before the agent's "pending" answer is recorded there is no
 * timer to push (the worker holds the attempt): noted, nothing changed.
 */
export async function heartbeatByToken(deps: EngineDeps, token: string): Promise<CallbackResult> {
  const callback = await findCallback(deps, token);
  if (!callback) return { outcome: 'unknown' };
  const step = await deps.runs.getStep(callback.runId, callback.stepId, true);
  const at = now(deps);
  if (step?.status === 'running' && step.attempt === callback.attempt && step.waitingFor !== 'callback') return { outcome: 'noted', step: stateOf(callback, step) };
  if (!isWaitingFor(step, callback.attempt, at)) return { outcome: 'closed', step: stateOf(callback, step), reason: closedReason(callback, step, at) };
  const dueAt = callbackDueAt(at, new Date(step.callbackDeadline ?? at), step.heartbeatSeconds).toISOString();
  try {
    await deps.documents.send(
      new UpdateCommand({
        TableName: deps.tableName,
        Key: keys.step(callback.runId, callback.stepId),
        ...updateExpression({
          set: { leaseUntil: dueAt, dueAt, lastHeartbeatAt: at.toISOString() },
          condition: '#status = :running AND #attempt = :attempt AND #waitingFor = :callback AND #leaseUntil > :now',
          values: { ':running': 'running', ':attempt': callback.attempt, ':callback': 'callback', ':now': at.toISOString() },
        }),
      }),
    );
  } catch (error) {
    if ((error as Error).name !== 'ConditionalCheckFailedException') throw error;
    const current = await deps.runs.getStep(callback.runId, callback.stepId, true);
    return { outcome: 'closed', step: stateOf(callback, current), reason: closedReason(callback, current, now(deps)) };
  }
  return { outcome: 'extended', step: { ...stateOf(callback, step), leaseUntil: dueAt } };
}
