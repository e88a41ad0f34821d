import { usageSinceCheckpoint } from '#shared/clients/usage-meter';
import { generateCallbackToken, hashCallbackToken } from '#shared/domain/callback-tokens';
import { callbackKinds, callbackUrls, defaultCallbackTimeoutSeconds } from '#shared/domain/callbacks';
import { decideRetry } from '#shared/domain/retry';
import type { SecretRef } from '#shared/domain/secrets';
import { classify, NonRetryableStepError, RetryableStepError, type StepError } from '#shared/domain/step-errors';
import { waitingKinds } from '#shared/domain/workflow';
import type { StepContext, StepOutcome } from '#shared/executors/types';
import { keys, timersIndex, waitingStepIndexAttributes } from '#shared/store/keys';
import { maxQueueDelaySeconds } from './dispatcher';
import { generationOf, type RunRecord, type StepRecord } from '#shared/store/runs';
import { ConditionFailedError, updateExpression } from '#shared/store/transaction';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { StepMessage } from '#shared/schemas/messages';
import { checkWaitingStep, pendStep } from './callbacks';
import { runEvent, transaction, type EngineDeps } from './context';
import {
  applyEffects,
  completeStep,
  failStep,
  mergeEffects,
  noEffects,
  queueSteps,
  releaseShared,
  retryStep,
  waitStep,
  type Effects,
} from './step-transitions';

export type MessageResult = 'executed' | 'duplicate' | 'held' | 'cancelled' | 'rereleased' | 'ignored' | 'deferred';

const now = (deps: EngineDeps) => (deps.now ?? (() => new Date()))();

/**
 * Handles one step message: claims the step (a conditional write on status and attempt, so a
 * duplicate delivery loses and does nothing), runs its executor, and records the outcome.
 * `remainingMs` is the Lambda time left: a step never runs past it.
 */
export async function processStepMessage(deps: EngineDeps, message: StepMessage, deadline: number, depth = 0): Promise<MessageResult> {
  const { run, step } = await deps.runs.getRunAndStep(message.runId, message.stepId);
  if (!run || !step) {
    deps.logger.warn('step message for an unknown run or step', { ...message });
    return 'ignored';
  }
  switch (step.status) {
    case 'completed':
      // A redelivery after the completion committed: make sure its dependents were released.
      await applyEffects(deps, await rerelease(deps, run, step));
      return 'rereleased';
    case 'failed':
      // An optional step's failure releases its dependents like a completion does.
      if (step.onFailure !== 'continue') return 'ignored';
      await applyEffects(deps, await rerelease(deps, run, step));
      return 'rereleased';
    case 'queued':
      if (step.attempt !== message.attempt) return 'duplicate';
      if (depth > 0 && !hasTimeFor(deps, step, deadline)) {
        await deps.dispatcher.send([{ message }]);
        return 'deferred';
      }
      return startAttempt(deps, run, step, 'queued', deadline, depth);
    case 'running':
      // Any message of this or an earlier attempt may find a dead worker's lease: takeovers
      // raise the attempt while the crashed message keeps being redelivered unchanged.
      if (message.attempt >= step.attempt) return 'duplicate';
      // Waiting for an agent's callback: no worker holds it, its timer decides (see checkCallback).
      if (step.waitingFor === 'callback') return (await checkWaitingStep(deps, run, step)) === 'expired' ? 'executed' : 'deferred';
      if (step.leaseUntil && Date.parse(step.leaseUntil) > now(deps).getTime()) return watchLease(deps, step);
      // The lease ran out: the worker that held it died mid-step. Take over (or give up).
      return startAttempt(deps, run, step, 'running', deadline, depth);
    default:
      return 'ignored';
  }
}

/**
 * A delivery while another worker holds a live lease: do not run it twice, but do not forget
 * it either; look again just after the lease ends (the other worker may die).
 */
async function watchLease(deps: EngineDeps, step: StepRecord): Promise<MessageResult> {
  const seconds = Math.max(1, (Date.parse(step.leaseUntil!) - now(deps).getTime()) / 1000 + 1);
  await deps.dispatcher.send([{ message: { runId: step.runId, stepId: step.stepId, attempt: step.attempt - 1 }, delaySeconds: seconds }]);
  return 'duplicate';
}

/** Steps run one after another in one invocation at most this deep, so a crash's recovery walk stays short. */
export const maxInlineDepth = 50;

/** Whether the invocation still has the step's full timeout (and margin) left. */
const hasTimeFor = (deps: EngineDeps, step: StepRecord, deadline: number): boolean =>
  deadline - now(deps).getTime() >= (runTimeoutOf(deps, step) + deps.leaseMarginSeconds + 1) * 1000;

/**
 * How long an attempt may run: its timeoutSeconds, never more than the stage allows (a workflow
 * saved under a larger limit included); a waiting kind's timeoutSeconds bounds its wait instead
 * (see waitStep).
 */
const runTimeoutOf = (deps: EngineDeps, step: StepRecord): number =>
  Math.min(waitingKinds.includes(step.kind) ? deps.defaultStepTimeoutSeconds : (step.timeoutSeconds ?? deps.defaultStepTimeoutSeconds), deps.maxStepTimeoutSeconds);

async function startAttempt(deps: EngineDeps, run: RunRecord, step: StepRecord, from: 'queued' | 'running', deadline: number, depth: number): Promise<MessageResult> {
  const remainingMs = deadline - now(deps).getTime();
  if (run.status === 'paused' || run.status === 'pending') return holdStep(deps, run, step);
  if (['cancelled', 'completed', 'failed'].includes(run.status)) return cancelStep(deps, run, step, from);
  if (step.notBefore && Date.parse(step.notBefore) > now(deps).getTime()) return defer(deps, step);
  if (from === 'running' && step.attempt >= step.allowedAttempts) {
    const error = new NonRetryableStepError(`The worker stopped during attempt ${step.attempt} (it crashed or timed out) and no attempt is left`, { code: 'WORKER_LOST' });
    await applyEffects(deps, await failStep(deps, run, step, error, { actor: 'worker', from: ['running'] }));
    return 'executed';
  }

  const timeoutSeconds = Math.max(1, Math.min(runTimeoutOf(deps, step), Math.floor(remainingMs / 1000) - deps.leaseMarginSeconds - 1));
  const callbackBase = callbackKinds.includes(step.kind) && deps.callbackBaseUrl ? await deps.callbackBaseUrl() : undefined;
  const claimed = await claim(deps, run, step, from, timeoutSeconds, callbackBase !== undefined);
  if (!claimed) return 'duplicate';
  // Subscribers hear of the start at once; the event is marked published with the outcome's
  // events, in one write (if we die first, the sweeper republishes it: dedupe by id).
  const startedEvents = await deps.outbox.publish(claimed.events, { mark: false });

  const callback = callbackBase !== undefined && claimed.callbackToken ? callbackUrls(callbackBase, claimed.callbackToken) : undefined;
  const outcome = await execute(deps, run, claimed.step, timeoutSeconds, callback);
  const effects = await recordOutcome(deps, run, claimed.step, outcome);
  // Run one released dependent right here instead of through the queue: a chain costs no SQS
  // round trip per step. Crash safety: this message stays undeleted until we return, and its
  // redelivery walks the completed chain to whatever was left unfinished (rerelease).
  const next = depth < maxInlineDepth ? effects.dispatches.findIndex((dispatch) => !dispatch.delaySeconds && dispatch.message.runId === run.id) : -1;
  const [inline] = next >= 0 ? effects.dispatches.splice(next, 1) : [];
  await applyEffects(deps, effects, startedEvents);
  if (inline) await processStepMessage(deps, inline.message, deadline, depth + 1);
  return 'executed';
}

/**
 * A step whose time has not come: back to the queue with a delay when it is due within SQS's
 * 15 minutes, otherwise parked in the timers index for the sweeper (no message, no Lambda
 * waiting: a plan step dated next month costs nothing until then).
 */
async function defer(deps: EngineDeps, step: StepRecord): Promise<MessageResult> {
  const seconds = (Date.parse(step.notBefore!) - now(deps).getTime()) / 1000;
  if (seconds <= maxQueueDelaySeconds) {
    await deps.dispatcher.send([{ message: { runId: step.runId, stepId: step.stepId, attempt: step.attempt }, delaySeconds: seconds }]);
    return 'deferred';
  }
  try {
    await deps.documents.send(
      new UpdateCommand({
        TableName: deps.tableName,
        Key: keys.step(step.runId, step.stepId),
        ...updateExpression({
          set: { timerPk: timersIndex.notBefore, dueAt: step.notBefore },
          condition: '#status = :queued AND #attempt = :attempt',
          values: { ':queued': 'queued', ':attempt': step.attempt },
        }),
      }),
    );
  } catch (error) {
    if ((error as Error).name !== 'ConditionalCheckFailedException') throw error;
  }
  return 'deferred';
}

/** queued → running (or an expired lease taken over): the conditional write that makes a step run once per attempt. */
async function claim(deps: EngineDeps, run: RunRecord, step: StepRecord, from: 'queued' | 'running', timeoutSeconds: number, withCallback: boolean) {
  const at = now(deps);
  const attempt = step.attempt + 1;
  // A fresh callback token per attempt, written with the claim: the agent may call back before
  // the worker has even recorded its "pending" answer. Only its hash is stored.
  const callbackToken = withCallback ? generateCallbackToken() : undefined;
  const leaseUntil = new Date(at.getTime() + (timeoutSeconds + deps.leaseMarginSeconds) * 1000).toISOString();
  const tx = transaction(deps);
  tx.update(keys.step(run.id, step.stepId), {
    set: { status: 'running', attempt, leaseUntil, startedAt: at.toISOString(), timerPk: timersIndex.lease, dueAt: leaseUntil },
    remove: ['waitingFor'],
    condition:
      from === 'queued'
        ? '#status = :queued AND #attempt = :attempt'
        : '#status = :running AND #attempt = :attempt AND #leaseUntil < :now',
    values: from === 'queued' ? { ':queued': 'queued', ':attempt': step.attempt } : { ':running': 'running', ':attempt': step.attempt, ':now': at.toISOString() },
  });
  const { key, event, publish } = runEvent(run, 'step.started', 'worker', { attempt, generation: generationOf(step), ...(from === 'running' ? { takeover: true } : {}) }, at, step.stepId);
  tx.event(key, event, publish);
  if (callbackToken) {
    const waitSeconds = timeoutSeconds + (step.callbackTimeoutSeconds ?? defaultCallbackTimeoutSeconds);
    tx.put({
      ...keys.callback(hashCallbackToken(callbackToken)),
      type: 'callback',
      projectId: run.projectId,
      runId: run.id,
      stepId: step.stepId,
      attempt,
      createdAt: at.toISOString(),
      // Kept a week past the longest wait, so a late callback still gets 409 rather than 404.
      expiresAt: Math.floor(at.getTime() / 1000) + waitSeconds + 7 * 24 * 3600,
    });
  }
  try {
    const events = await tx.commit();
    return { step: { ...step, status: 'running' as const, attempt, leaseUntil }, events, callbackToken };
  } catch (error) {
    if (error instanceof ConditionFailedError) return undefined;
    throw error;
  }
}

async function execute(
  deps: EngineDeps,
  run: RunRecord,
  step: StepRecord,
  timeoutSeconds: number,
  callback: StepContext['callback'],
): Promise<StepOutcome | StepError> {
  const executor = deps.executors.get(step.kind);
  if (!executor) return new NonRetryableStepError(`No executor for step kind "${step.kind}"`, { code: 'UNKNOWN_KIND' });
  const input = executor.input.safeParse(step.input);
  if (!input.success) return new NonRetryableStepError(`Invalid input: ${input.error.issues[0]?.message ?? 'invalid'}`, { code: 'INVALID_INPUT' });

  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      reject(new RetryableStepError(`Step timed out after ${timeoutSeconds}s`, { code: 'TIMEOUT' }));
    }, timeoutSeconds * 1000);
  });
  try {
    const context: StepContext = {
      projectId: run.projectId,
      runId: run.id,
      stepId: step.stepId,
      attempt: step.attempt,
      generation: generationOf(step),
      // The same for every attempt of this execution (automatic retries, takeovers): DESIGN §3.2.
      idempotencyKey: `${run.id}:${step.stepId}:${generationOf(step)}`,
      runInput: run.input,
      dependencyOutputs: await dependencyOutputs(deps, run.id, step.dependsOn),
      deadlineMs: timeoutSeconds * 1000,
      ...(callback ? { callback } : {}),
      allowPrivateTargets: deps.allowPrivateTargets,
      projectSettings: await deps.projectSettings(run.projectId),
      resolveSecret: secretResolver(deps, run.projectId),
      signal: controller.signal,
    };
    return await Promise.race([executor.run(input.data, context), timedOut]);
  } catch (error) {
    return classify(error);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Resolves project secrets for one attempt: each name is read and decrypted once, and the values
 * live only in this closure, which ends with the attempt (never cached across invocations, so a
 * secret replaced or deleted counts from the next attempt on).
 */
function secretResolver(deps: EngineDeps, projectId: string): (ref: SecretRef) => Promise<string> {
  const values = new Map<string, Promise<string>>();
  return (ref) => {
    let value = values.get(ref.$secret);
    if (!value) {
      value = revealSecret(deps, projectId, ref.$secret);
      values.set(ref.$secret, value);
    }
    return value;
  };
}

async function revealSecret(deps: EngineDeps, projectId: string, name: string): Promise<string> {
  if (!deps.secrets) throw new NonRetryableStepError('project secrets are not available to this function', { code: 'SECRETS_UNAVAILABLE' });
  const value = await deps.secrets.reveal(projectId, name);
  if (value === undefined) {
    // Checked when the workflow was saved: it has been deleted since. Retrying cannot bring it back.
    throw new NonRetryableStepError(
      `the project has no secret "${name}" (deleted since the workflow was saved?): set it with PUT /v1/projects/${projectId}/secrets/${name} and retry the run`,
      { code: 'SECRET_NOT_FOUND' },
    );
  }
  return value;
}

/**
 * The outputs of a step's dependencies, by id; an optional dependency that failed for good
 * (`onFailure: "continue"`) stands as `{failed: true, error}` so the step can do without it.
 */
async function dependencyOutputs(deps: EngineDeps, runId: string, ids: string[]): Promise<Record<string, unknown>> {
  if (ids.length === 0) return {};
  const steps = await deps.runs.getSteps(runId, ids);
  const entries = await Promise.all(
    steps.map(async (step) => {
      if (step.status === 'failed') return [step.stepId, { failed: true, error: step.error ?? null }] as const;
      return [step.stepId, step.outputRef ? await deps.artifacts.loadOutput(step.outputRef) : step.output] as const;
    }),
  );
  return Object.fromEntries(entries);
}

/** Done with as far as its dependents are concerned: completed, or failed but optional. */
const isFinished = (step: StepRecord): boolean => step.status === 'completed' || (step.status === 'failed' && step.onFailure === 'continue');

async function recordOutcome(deps: EngineDeps, run: RunRecord, step: StepRecord, outcome: StepOutcome | StepError): Promise<Effects> {
  const snapshot = usageSinceCheckpoint();
  try {
    if (!(outcome instanceof Error)) {
      if (outcome.status === 'waiting') return await waitStep(deps, run, step, outcome.reason, 'worker');
      if (outcome.status === 'pending') {
        if (!callbackKinds.includes(step.kind) || !deps.callbackBaseUrl) {
          const error = new NonRetryableStepError('the agent answered "pending", but this step kind takes no callback', { code: 'CALLBACK_UNSUPPORTED' });
          return await failStep(deps, run, step, error, { actor: 'worker', from: ['running'], usage: snapshot });
        }
        return await pendStep(deps, run, step, { actor: 'worker', usage: snapshot });
      }
      return await completeStep(deps, run, step, outcome, { actor: 'worker', from: 'running', usage: snapshot });
    }
    const decision = decideRetry({ ...step.retry, maxAttempts: step.allowedAttempts }, step.attempt, outcome, deps.random);
    if (decision.retry) return await retryStep(deps, run, step, outcome, decision.delaySeconds, 'worker');
    return await failStep(deps, run, step, outcome, { actor: 'worker', from: ['running'], usage: snapshot });
  } catch (error) {
    // Our lease was taken over meanwhile (we ran too long): the other attempt's result stands.
    if (error instanceof ConditionFailedError) {
      deps.logger.warn('outcome not recorded: the step changed meanwhile', { runId: run.id, stepId: step.stepId, attempt: step.attempt });
      return noEffects();
    }
    throw error;
  }
}

/**
 * Releases what a finished step (completed, or failed but optional) should have released, and
 * follows finished dependents down
 * to the unfinished frontier (steps run inline after it may have been cut short by a crash).
 * Idempotent: used on redelivery; a duplicate message it sends is harmless.
 */
async function rerelease(deps: EngineDeps, run: RunRecord, step: StepRecord): Promise<Effects> {
  const effects = noEffects();
  const seen = new Set<string>([step.stepId]);
  let frontier: StepRecord[] = [step];
  while (frontier.length > 0) {
    const parents = frontier;
    frontier = [];
    for (const parent of parents) {
      const ids = parent.dependents.filter((id) => !seen.has(id));
      ids.forEach((id) => seen.add(id));
      if (ids.length === 0) continue;
      const children = await deps.runs.getSteps(run.id, ids, true);
      const pending = children.filter((child) => child.status === 'pending');
      mergeEffects(effects, await releaseShared(deps, run, parent.stepId, pending.filter((child) => child.remaining > 0), 'worker'));
      mergeEffects(effects, await queueSteps(deps, run, pending.filter((child) => child.remaining === 0), 'worker'));
      for (const child of children) {
        if (child.status === 'queued') effects.dispatches.push({ message: { runId: run.id, stepId: child.stepId, attempt: child.attempt } });
        // A running child is checked against its lease (taken over if its worker died).
        if (child.status === 'running') effects.dispatches.push({ message: { runId: run.id, stepId: child.stepId, attempt: child.attempt - 1 } });
        if (isFinished(child)) frontier.push(child);
      }
    }
  }
  return effects;
}

/** The run is paused: keep the step queued and remember it for `resume`. */
async function holdStep(deps: EngineDeps, run: RunRecord, step: StepRecord): Promise<MessageResult> {
  try {
    await deps.documents.send(
      new UpdateCommand({
        TableName: deps.tableName,
        Key: keys.run(run.id),
        ...updateExpression({ add: { heldSteps: new Set([step.stepId]) }, condition: '#status IN (:paused, :pending)', values: { ':paused': 'paused', ':pending': 'pending' } }),
      }),
    );
    return 'held';
  } catch (error) {
    if ((error as Error).name !== 'ConditionalCheckFailedException') throw error;
    // Resumed meanwhile: try again now.
    await deps.dispatcher.send([{ message: { runId: run.id, stepId: step.stepId, attempt: step.attempt } }]);
    return 'deferred';
  }
}

/** The run ended (cancelled): the step will not run. */
async function cancelStep(deps: EngineDeps, run: RunRecord, step: StepRecord, from: 'queued' | 'running'): Promise<MessageResult> {
  const at = now(deps);
  const tx = transaction(deps);
  tx.update(keys.step(run.id, step.stepId), {
    set: { status: 'cancelled', finishedAt: at.toISOString() },
    remove: [...waitingStepIndexAttributes],
    condition: '#status = :from AND #attempt = :attempt',
    values: { ':from': from, ':attempt': step.attempt },
  });
  const { key, event, publish } = runEvent(run, 'step.cancelled', 'worker', { reason: `run ${run.status}` }, at, step.stepId);
  tx.event(key, event, publish);
  try {
    await applyEffects(deps, { dispatches: [], events: await tx.commit() });
  } catch (error) {
    if (!(error instanceof ConditionFailedError)) throw error;
  }
  return 'cancelled';
}

/**
 * A step message that kept failing (the worker crashed on it every time) reached the DLQ:
 * fail the step with that reason and block the run, so `retry` can pick it up.
 */
export async function handleDeadLetter(deps: EngineDeps, message: StepMessage, receiveCount: number): Promise<'failed' | 'ignored'> {
  const { run, step } = await deps.runs.getRunAndStep(message.runId, message.stepId);
  if (!run || !step) return 'ignored';
  // Only when this message's attempt is still the step's fate: queued for exactly this attempt,
  // or running with nobody alive behind the lease. A stale copy (the step was retried since, or
  // another delivery took over and is running) must not fail the step's current attempt.
  const now = (deps.now ?? (() => new Date()))().getTime();
  const stillQueued = step.status === 'queued' && step.attempt === message.attempt;
  // A step waiting for its callback has no worker to lose: its own timer ends the wait.
  const abandoned = step.status === 'running' && step.waitingFor !== 'callback' && message.attempt < step.attempt && Date.parse(step.leaseUntil ?? '') < now;
  if (!stillQueued && !abandoned) return 'ignored';
  const error = new NonRetryableStepError(
    `The step's message was dead-lettered after ${receiveCount} deliveries: the worker crashed or timed out each time`,
    { code: 'DEAD_LETTERED' },
  );
  const effects = await failStep(deps, run, step, error, { actor: 'dlq-handler', from: [step.status as 'queued' | 'running'] });
  await applyEffects(deps, mergeEffects(noEffects(), effects));
  return effects.events.length ? 'failed' : 'ignored';
}
