import { generateCallbackToken, hashCallbackToken } from '#shared/domain/callback-tokens';
import { callbackKinds, callbackUrls, defaultCallbackTimeoutSeconds } from '#shared/domain/callbacks';
import { spendingKinds } from '#shared/domain/budgets';
import { decideRetry } from '#shared/domain/retry';
import { NonRetryableStepError, type StepError } from '#shared/domain/step-errors';
import type { StepOutcome } from '#shared/executors/types';
import type { StepMessage } from '#shared/schemas/messages';
import { generationOf, type RunRecord, type StepRecord } from '#shared/store/runs';
import { reserveBudgets } from './budgets';
import { checkWaitingStep, pendStep } from './callbacks';
import { giveBackHandedSlots, recheckThrottled, takeSlots } from './capacity';
import { inStepScope, runEvent, stepTrace, type EngineDeps } from './context';
import { takeTurn, wakeTurn } from './rate';
import { applyEffects, maxQueueDelaySeconds, messageFor, noEffects, type Effects } from './dispatch';
import { executeStep, runTimeoutOf } from './execute-step';
import { reserveExecution } from './limits';
import { isReleasedByParent, queueSteps, releaseOf, rerelease } from './release-dependents';
import { cancelMapOf, childFinished } from './map-children';
import { startMap } from './map-step';
import { reviewStep } from './quality-gates';
import { invocationRunReads, unsharedRunReads, type RunReads } from './run-reads';
import { completeStep, failStep, retryStep, waitStep } from './step-outcomes';

/**
 * A step's life, one message at a time (DESIGN §3): read the step, claim it (a conditional write
 * on status and attempt, so a duplicate delivery loses and does nothing), run its executor,
 * record the outcome, release the dependents. Every status change is a named transition of
 * `stepTransitions` (shared/domain/states.ts) that the store turns into its condition; the
 * outcomes' writes are in step-outcomes.ts.
 */

export type MessageResult = 'executed' | 'duplicate' | 'held' | 'cancelled' | 'rereleased' | 'ignored' | 'deferred' | 'throttled';

/** Steps run one after another in one invocation at most this deep, so a crash's recovery walk stays short. */
export const maxInlineDepth = 50;

/**
 * Handles one step message; `deadline` is when the invocation ends (epoch ms): a step never runs
 * past it. `reads`: the invocation's run reads (run-reads.ts), shared by the records of its batch;
 * by default this message's own. `sentAt`: when SQS took the message (its SentTimestamp), for QueueLag.
 */
export async function processStepMessage(
  deps: EngineDeps,
  message: StepMessage,
  deadline: number,
  depth = 0,
  reads: RunReads = invocationRunReads(deps.store, () => deps.clock().getTime()),
  sentAt?: number,
): Promise<MessageResult> {
  const run = await reads.run(message.runId);
  const unread = run ? await unreadRelease(deps, run, message) : undefined;
  if (unread) {
    const result = await handleStep(deps, run!, unread, message, deadline, depth, reads, true, sentAt);
    // Lost only if the step has an item: read it and decide on what it says.
    if (result !== 'duplicate') return result;
  }
  const step = run ? await deps.store.getStep(message.runId, message.stepId) : undefined;
  if (!run || !step) {
    deps.logger.warn('step message for an unknown run or step', { ...message });
    return 'ignored';
  }
  return handleStep(deps, run, step, message, deadline, depth, reads, false, sentAt);
}

/**
 * A released single-parent child's message, claimed without reading the step (its claim is
 * `unborn`: lost unless the step has no item, i.e. unless it is exactly its definition; then the
 * caller reads it). Only where the claim is the attempt's first write: the run running and with no
 * limits (an execution reserved first), the step at its first attempt, not time-gated, of a kind
 * no budget holds. Undefined: read the step.
 */
async function unreadRelease(deps: EngineDeps, run: RunRecord, message: StepMessage): Promise<StepRecord | undefined> {
  if (run.status !== 'running' || run.limits !== undefined || message.attempt !== 0) return undefined;
  const [defined] = await deps.store.definedSteps(run, [message.stepId]);
  if (!defined || !isReleasedByParent(defined) || defined.attempt !== 0 || spendingKinds.includes(defined.kind)) return undefined;
  // A limited step takes its slots before its claim (fair capacity): read it first.
  if (defined.concurrency || defined.rate || (await deps.projectSettings(run.projectId)).concurrency?.limit) return undefined;
  const gated = defined.kind === 'wait' || (defined.notBefore !== undefined && Date.parse(defined.notBefore) > deps.clock().getTime());
  return gated ? undefined : defined;
}

/** What a message does to its step, as read (or, `unread`, as its definition says: unreadRelease). */
async function handleStep(deps: EngineDeps, run: RunRecord, step: StepRecord, message: StepMessage, deadline: number, depth: number, reads: RunReads, unread = false, sentAt?: number): Promise<MessageResult> {
  const now = deps.clock().getTime();
  switch (step.status) {
    case 'completed':
    case 'failed':
      // A map's child: its map counts it (again: idempotent) and its next child goes.
      if (step.mapItem) return applyEffects(deps, await childFinished(deps, run, step)).then(() => 'rereleased');
      // An optional step's failure releases its dependents like a completion does.
      if (step.status === 'failed' && step.onFailure !== 'continue') return 'ignored';
      // A redelivery after the outcome committed: make sure its dependents were released.
      await applyEffects(deps, await rerelease(deps, run, step));
      return 'rereleased';
    case 'pending':
    case 'queued':
      if (step.attempt !== message.attempt) return 'duplicate';
      // A pending step's message was sent by its only parent's finish: it is released (claimReleased).
      if (step.status === 'pending' && !isReleasedByParent(step)) return 'ignored';
      if (depth > 0 && deadline - now < (runTimeoutOf(deps, step) + deps.leaseMarginSeconds + 1) * 1000) {
        await deps.dispatcher.send([{ message }]);
        return 'deferred';
      }
      return startAttempt(deps, run, step, step.status === 'pending' ? 'claimReleased' : 'claim', deadline, depth, reads, unread, undefined, sentAt);
    case 'running':
      // Any message of this or an earlier attempt may find a dead worker's lease: takeovers
      // raise the attempt while the crashed message keeps being redelivered unchanged.
      if (message.attempt >= step.attempt) return 'duplicate';
      // Waiting for an agent's callback: no worker holds it, its timer decides.
      // A map waiting for its children: they finish it (map-children.ts).
      if (step.waitingFor === 'children') return 'ignored';
      if (step.waitingFor === 'callback') return (await checkWaitingStep(deps, run, step)) === 'expired' ? 'executed' : 'deferred';
      if (step.leaseUntil && Date.parse(step.leaseUntil) > now) {
        // Another worker holds a live lease: do not run it twice, but look again just after the lease ends (it may die).
        await deps.dispatcher.send([messageFor({ ...step, attempt: step.attempt - 1 }, Math.max(1, (Date.parse(step.leaseUntil) - now) / 1000 + 1))]);
        return 'duplicate';
      }
      // The lease ran out: the worker that held it died mid-step. Take over (or give up).
      return startAttempt(deps, run, step, 'takeover', deadline, depth, reads);
    case 'throttled': {
      // Its recheck (THROTTLED timer) or a cancel's check: a dead holder's slot, or a run that ended.
      if (step.throttle?.kind !== 'rate') return recheckThrottled(deps, run, step);
      // Its turn under its rate (its delayed message): it starts with that turn.
      const woken = await wakeTurn(deps, run, { ...step, throttle: step.throttle });
      return typeof woken === 'string' ? woken : startAttempt(deps, run, woken.step, 'claim', deadline, depth, reads, false, woken.turn);
    }
    case 'needs_qa':
      // Its run was cancelled while the step ran into its wait (after the cancel looked): it waits for nobody.
      if (run.status === 'cancelled') return cancelStep(deps, run, step);
      // Its execution is done and its automatic reviewer is due (quality-gates.ts).
      return step.gate?.state === 'reviewing' ? reviewStep(deps, run, step, message, deadline) : 'ignored';
    default:
      return 'ignored';
  }
}

async function startAttempt(
  deps: EngineDeps,
  run: RunRecord,
  step: StepRecord,
  transition: 'claim' | 'takeover' | 'claimReleased',
  deadline: number,
  depth: number,
  reads: RunReads,
  unread = false,
  turn?: number,
  sentAt?: number,
): Promise<MessageResult> {
  let at = deps.clock();
  const gated = step.notBefore !== undefined && Date.parse(step.notBefore) > at.getTime();
  // A queued step that will not run now gives back a slot handed to it while it was throttled.
  if (['cancelled', 'completed', 'failed', 'paused', 'pending'].includes(run.status)) await giveBackHandedSlots(deps, run, step);
  if (['cancelled', 'completed', 'failed'].includes(run.status)) return cancelStep(deps, run, step);
  // A released child that cannot start now (its run paused, its time not come) is queued as
  // shared children are, and its message comes back to the queued step (held, or deferred).
  if (transition === 'claimReleased' && (run.status === 'paused' || run.status === 'pending' || gated)) return queueReleased(deps, run, step);
  if (run.status === 'paused' || run.status === 'pending') return holdStep(deps, run, step);
  if (gated) return deferStep(deps, step);
  if (transition === 'takeover' && step.attempt >= step.allowedAttempts) {
    const error = new NonRetryableStepError(`The worker stopped during attempt ${step.attempt} (it crashed or timed out) and no attempt is left`, { code: 'WORKER_LOST' });
    await applyEffects(deps, (await failStep(deps, run, step, error, { actor: 'worker', transition: 'fail' })) ?? noEffects());
    return 'executed';
  }

  // A slot in every capacity scope in force (none: nothing read or written), or the step waits throttled.
  const slots = await takeSlots(deps, run, step, transition, at.getTime() + (runTimeoutOf(deps, step) + deps.leaseMarginSeconds) * 1000);
  if (slots === 'throttled' || slots === 'deferred') return slots;
  if (slots === 'moved') return 'duplicate';
  // It starts once it holds its slots (their wait may take a while): its start never precedes them.
  if (slots) at = deps.clock();
  // The run's limits first (an execution reserved), then its budgets: either may hold the step.
  const execution = await reserveExecution(deps, run, step, at);
  const budget = execution === 'blocked' ? 'blocked' : await reserveBudgets(deps, run, step);
  if (budget === 'blocked' && execution !== 'blocked') await execution?.release();
  if (budget === 'blocked') await slots?.release();
  // Held by the run's budget or limits: a released child is queued (no message), so `resume` finds it.
  if (budget === 'blocked' && transition === 'claimReleased') await deps.store.queue(run.id, [releaseOf(deps, run, step, at, 'worker', step.dependsOn.length === 1 ? step.dependsOn[0] : undefined)]);
  if (budget === 'blocked' || execution === 'blocked') return 'held';
  // Its rate last: the start it spaces is this one. Waiting for its turn, it holds nothing.
  const paced = await takeTurn(deps, run, step, transition, turn);
  if (typeof paced === 'string') for (const hold of [budget, execution, slots]) await hold?.release();
  if (paced === 'moved') return 'duplicate';
  if (typeof paced === 'string') return paced;
  if (paced) at = paced;
  const timeoutSeconds = Math.max(1, Math.min(runTimeoutOf(deps, step), Math.floor((deadline - at.getTime()) / 1000) - deps.leaseMarginSeconds - 1));
  const callbackBase = callbackKinds.includes(step.kind) && deps.callbackBaseUrl ? await deps.callbackBaseUrl() : undefined;
  const attempt = step.attempt + 1;
  const leaseUntil = new Date(at.getTime() + (timeoutSeconds + deps.leaseMarginSeconds) * 1000).toISOString();
  // A fresh callback token per attempt, written with the claim: the agent may call back before
  // the worker has even recorded its "pending" answer. Only its hash is stored.
  const callbackToken = callbackBase !== undefined ? generateCallbackToken() : undefined;
  const waitSeconds = timeoutSeconds + (step.callbackTimeoutSeconds ?? defaultCallbackTimeoutSeconds);
  // Released by its parent's finish (no write then): the claim records the queuing, before the start (ids sort the history).
  const parentId = step.dependsOn.length === 1 ? step.dependsOn[0] : undefined;
  const queued = transition === 'claimReleased' ? runEvent(run, 'step.queued', 'worker', { attempt, ...(parentId ? { releasedBy: parentId } : {}) }, at, step.stepId) : undefined;
  const started = runEvent(run, 'step.started', 'worker', { attempt, generation: generationOf(step), ...(transition === 'takeover' ? { takeover: true } : {}), ...stepTrace(deps, run, step.stepId) }, at, step.stepId);
  const claimed = await deps.store.claim(
    run.id,
    step.stepId,
    {
      transition,
      readAttempt: step.attempt,
      at: at.toISOString(),
      leaseUntil,
      // Kept a week past the longest wait, so a late callback still gets 409 rather than 404.
      ...(callbackToken ? { callback: { tokenHash: hashCallbackToken(callbackToken), projectId: run.projectId, runId: run.id, stepId: step.stepId, attempt, expiresAt: Math.floor(at.getTime() / 1000) + waitSeconds + 7 * 24 * 3600 } } : {}),
      ...(queued ? { queued } : {}),
      ...(unread ? { unborn: true } : {}),
    },
    started,
  );
  if (!claimed.won) {
    await budget?.release();
    await execution?.release();
    await slots?.release();
    return 'duplicate';
  }
  // Subscribers hear of the start at once; the event is marked published with the outcome's
  // events, in one write (if we die first, the sweeper republishes it: dedupe by id).
  const startedEvents = await deps.outbox.publish(claimed.events, { mark: false });
  deps.metrics.add('StepsStarted', { kind: step.kind });
  // Queue lag of a first attempt only: a retry's backoff and a time gate's delay are meant, not lag.
  if (sentAt !== undefined && transition !== 'takeover' && step.attempt === 0 && step.notBefore === undefined) deps.metrics.add('QueueLag', undefined, Math.max(0, at.getTime() - sentAt));

  const running: StepRecord = { ...step, status: 'running', attempt, leaseUntil };
  // A map's claim fans its children out instead of running an executor (map-step.ts).
  if (step.kind === 'map') return applyEffects(deps, await startMap(deps, run, running), startedEvents).then(() => Promise.all([budget?.release(), slots?.release()])).then(() => 'executed');
  const callback = callbackBase !== undefined && callbackToken ? callbackUrls(callbackBase, callbackToken) : undefined;
  const outcome = await executeStep(deps, run, running, timeoutSeconds, callback);
  const effects = (await recordOutcome(deps, run, running, outcome)) ?? noEffects();
  deps.metrics.add('StepDuration', { kind: step.kind }, deps.clock().getTime() - at.getTime());
  await budget?.settle(outcome);
  // The slots go to the steps waiting for them (a worker dead before this leaves them to their lease).
  await slots?.release();
  // Run one released dependent right here instead of through the queue: a chain costs no SQS
  // round trip per step. Crash safety: this message stays undeleted until we return, and its
  // redelivery walks the completed chain to whatever was left unfinished (rerelease).
  const next = depth < maxInlineDepth ? effects.dispatches.findIndex((dispatch) => !dispatch.delaySeconds && dispatch.message.runId === run.id) : -1;
  const [inline] = next >= 0 ? effects.dispatches.splice(next, 1) : [];
  await applyEffects(deps, effects, startedEvents);
  // Its run read again: it starts after this step ran, and a cancel or pause meanwhile must stop it
  // (a time-gated step parked in a run cancelled meanwhile would otherwise wait out its time).
  if (inline) await inStepScope(deps, inline.message, () => processStepMessage(deps, inline.message, deadline, depth + 1, unsharedRunReads(deps.store)));
  return 'executed';
}

/** The attempt's outcome, recorded conditional on the attempt still being ours; undefined: it was not (a takeover won). */
async function recordOutcome(deps: EngineDeps, run: RunRecord, step: StepRecord, outcome: StepOutcome | StepError): Promise<Effects | undefined> {
  const usage = deps.usage.sinceCheckpoint();
  let effects: Effects | undefined;
  if (outcome instanceof Error) {
    const decision = decideRetry({ ...step.retry, maxAttempts: step.allowedAttempts }, step.attempt, outcome, deps.random);
    effects = decision.retry ? await retryStep(deps, run, step, outcome, decision.delaySeconds, 'worker') : await failStep(deps, run, step, outcome, { actor: 'worker', transition: 'fail', usage });
  } else if (outcome.status === 'waiting') {
    effects = await waitStep(deps, run, step, outcome.reason, 'worker');
  } else if (outcome.status === 'pending' && (!callbackKinds.includes(step.kind) || !deps.callbackBaseUrl)) {
    const error = new NonRetryableStepError('the agent answered "pending", but this step kind takes no callback', { code: 'CALLBACK_UNSUPPORTED' });
    effects = await failStep(deps, run, step, error, { actor: 'worker', transition: 'fail', usage });
  } else {
    effects = outcome.status === 'pending' ? await pendStep(deps, run, step, { actor: 'worker', usage }) : await completeStep(deps, run, step, outcome, { actor: 'worker', transition: 'complete', usage });
  }
  if (!effects) deps.logger.warn('outcome not recorded: the step changed meanwhile', { runId: run.id, stepId: step.stepId, attempt: step.attempt });
  return effects;
}

/**
 * A step whose time has not come: back to the queue with a delay when it is due within SQS's
 * 15 minutes, otherwise parked in the timers index for the sweeper (no message, no Lambda waiting).
 */
async function deferStep(deps: EngineDeps, step: StepRecord): Promise<MessageResult> {
  const seconds = (Date.parse(step.notBefore!) - deps.clock().getTime()) / 1000;
  if (seconds <= maxQueueDelaySeconds) await deps.dispatcher.send([messageFor(step, seconds)]);
  else await deps.store.park(step.runId, step.stepId, step.attempt, step.notBefore!);
  return 'deferred';
}

/** A released child that does not start now: queued by its own write (with its gate), its message sent for the queued step; lost when queued meanwhile. */
async function queueReleased(deps: EngineDeps, run: RunRecord, step: StepRecord): Promise<MessageResult> {
  const effects = await queueSteps(deps, run, [step], 'worker', step.dependsOn.length === 1 ? step.dependsOn[0] : undefined);
  if (effects.events.length === 0) return 'duplicate';
  await applyEffects(deps, effects);
  return 'deferred';
}

/** The run is paused (or not started): keep the step queued and remember it for `resume`. */
async function holdStep(deps: EngineDeps, run: RunRecord, step: StepRecord): Promise<MessageResult> {
  if ((await deps.store.hold(run.id, step.stepId)).won) return 'held';
  // Resumed meanwhile: try again now (a takeover's message is for the attempt before).
  await deps.dispatcher.send([messageFor(step.status === 'running' ? { ...step, attempt: step.attempt - 1 } : step)]);
  return 'deferred';
}

/** The run ended (cancelled): the step will not run. */
async function cancelStep(deps: EngineDeps, run: RunRecord, step: StepRecord): Promise<MessageResult> {
  const at = deps.clock();
  const event = runEvent(run, 'step.cancelled', 'worker', { reason: `run ${run.status}` }, at, step.stepId);
  const written = await deps.store.cancel(run.id, step.stepId, { transition: step.status === 'needs_qa' ? 'cancelWaiting' : 'cancel', readStatus: step.status, attempt: step.attempt, at: at.toISOString() }, event);
  if (written.won) await applyEffects(deps, { dispatches: [], events: [...written.events, ...(step.mapItem ? await cancelMapOf(deps, run, step.mapItem.mapId) : [])] });
  return 'cancelled';
}
