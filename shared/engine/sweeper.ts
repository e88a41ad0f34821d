import { NonRetryableStepError } from '#shared/domain/step-errors';
import type { EngineDeps } from './context';
import { applyEffects, maxQueueDelaySeconds, messageFor } from './dispatch';
import { expireCallback } from './callbacks';
import { planDispatchRecovery } from './dispatch-markers';
import { blockPastDeadlines } from './limits';
import { failStep } from './step-outcomes';

export interface SweepOptions {
  /** Events younger than this are still being published by their writer: leave them. */
  eventGraceSeconds: number;
  /** At most this many items of each kind per sweep (the next sweep takes the rest). */
  limit: number;
  /**
   * How long a lease must have been expired before the sweeper steps in: at least the queue's
   * visibility timeout, so a step whose message still exists is left to its redelivery.
   */
  leaseGraceSeconds: number;
  /**
   * How long a queued step's message may be overdue (its DISPATCH marker not yet replaced by a
   * claim) before the sweeper sends it again: longer than a normal queue backlog, so the
   * re-send is almost always for a message that was really lost.
   */
  dispatchGraceSeconds: number;
}

export interface SweepReport {
  republished: number;
  leasesExpired: number;
  timersDue: number;
  /** Steps that waited in needs_qa past their deadline, now failed. */
  deadlinesPassed: number;
  /** Steps whose agent missed its heartbeat or callback deadline, now retried (or failed). */
  callbacksExpired: number;
  /** Queued steps whose message never arrived (a lost send), sent again. */
  dispatchesResent: number;
  /** Running runs past their limits.maxDurationSeconds, now blocked (MAX_DURATION). */
  runsPastDuration: number;
  /** Throttled steps whose scope's first lease ended: sent to look for slots of holders that died. */
  throttledRechecked: number;
}

/**
 * The safety net that runs on a schedule: republishes events whose publication was missed
 * (outbox index), re-dispatches steps whose worker vanished without a redelivery to notice
 * (timers index, lease expired) and re-sends queued steps whose message was lost (DISPATCH). All
 * idempotent: an event is deduplicated by id, and a step message goes through the same claim
 * conditions as any other.
 */
export async function sweep(deps: EngineDeps, options: SweepOptions): Promise<SweepReport> {
  const now = deps.clock();
  const [republished, leasesExpired, timersDue, deadlinesPassed, callbacksExpired, dispatchesResent, runsPastDuration] = await Promise.all([
    republish(deps, now, options),
    recoverLeases(deps, now, options),
    dispatchDueTimers(deps, now, options),
    failPastDeadlines(deps, now, options),
    expireCallbacks(deps, now, options),
    resendLostDispatches(deps, now, options),
    blockPastDeadlines(deps, now, options.limit),
  ]);
  const throttledRechecked = await recheckThrottledSteps(deps, now, options);
  return { republished, leasesExpired, timersDue, deadlinesPassed, callbacksExpired, dispatchesResent, runsPastDuration, throttledRechecked };
}

async function republish(deps: EngineDeps, now: Date, { eventGraceSeconds, limit }: SweepOptions): Promise<number> {
  const before = new Date(now.getTime() - eventGraceSeconds * 1000).toISOString();
  const events = (await deps.store.unpublishedEvents(limit)).filter(({ event }) => typeof event.at === 'string' && event.at <= before);
  if (events.length === 0) return 0;
  const accepted = await deps.outbox.publish(events);
  deps.logger.info('republished events', { count: accepted.length, refused: events.length - accepted.length });
  return accepted.length;
}

async function recoverLeases(deps: EngineDeps, now: Date, { limit, leaseGraceSeconds }: SweepOptions): Promise<number> {
  const expiredBefore = new Date(now.getTime() - leaseGraceSeconds * 1000).toISOString();
  const timers = await deps.store.dueTimers('lease', expiredBefore, limit);
  const dispatches = timers.filter((timer) => timer.status === 'running').map((timer) => messageFor({ ...timer, attempt: timer.attempt - 1 }));
  if (dispatches.length > 0) {
    await deps.dispatcher.send(dispatches);
    deps.logger.warn('re-dispatched steps whose lease expired', { count: dispatches.length });
  }
  return dispatches.length;
}

/**
 * Steps parked until a time more than 15 minutes ahead: once within reach of an SQS delay,
 * send them with the delay that remains and take them off the timers index.
 */
async function dispatchDueTimers(deps: EngineDeps, now: Date, { limit }: SweepOptions): Promise<number> {
  const horizon = new Date(now.getTime() + (maxQueueDelaySeconds - 60) * 1000).toISOString();
  const due = (await deps.store.dueTimers('notBefore', horizon, limit)).filter((timer) => timer.status === 'queued');
  if (due.length === 0) return 0;
  await deps.dispatcher.send(due.map((timer) => messageFor(timer, Math.max(0, (Date.parse(timer.dueAt) - now.getTime()) / 1000))));
  // Sent: clear the timer (a second sweep before this lands would only send a harmless duplicate).
  await Promise.all(due.map((timer) => deps.store.unpark(timer.runId, timer.stepId)));
  return due.length;
}

/**
 * Steps waiting in needs_qa (approval, webhook) past their `timeoutSeconds`: failed with
 * DEADLINE_EXCEEDED, which blocks the run (`retry` waits again). Not retried automatically: a
 * new attempt would only wait for the same person or delivery again.
 */
async function failPastDeadlines(deps: EngineDeps, now: Date, { limit }: SweepOptions): Promise<number> {
  let failed = 0;
  for (const timer of (await deps.store.dueTimers('deadline', now.toISOString(), limit)).filter((candidate) => candidate.status === 'needs_qa')) {
    const { run, step } = await deps.store.getRunAndStep(timer.runId, timer.stepId);
    if (!run || step?.status !== 'needs_qa') continue;
    const error = new NonRetryableStepError(`Waited ${step.timeoutSeconds ?? 0}s in needs_qa (${timer.waitingFor ?? 'waiting'}) without a decision`, { code: 'DEADLINE_EXCEEDED' });
    // Decided meanwhile (lost): the decision stands.
    const effects = await failStep(deps, run, step, error, { actor: 'sweeper', transition: 'reject' });
    if (!effects) continue;
    await applyEffects(deps, effects);
    failed += 1;
  }
  if (failed > 0) deps.logger.warn('failed steps past their deadline', { count: failed });
  return failed;
}

/**
 * Steps waiting for an agent's callback whose heartbeat or deadline passed: a retryable timeout
 * (see expireCallback). A delayed step message usually notices first, within seconds; this
 * catches waits longer than SQS's 15-minute delay and any lost message.
 */
async function expireCallbacks(deps: EngineDeps, now: Date, { limit }: SweepOptions): Promise<number> {
  let expired = 0;
  for (const timer of (await deps.store.dueTimers('callback', now.toISOString(), limit)).filter((candidate) => candidate.status === 'running')) {
    const { run, step } = await deps.store.getRunAndStep(timer.runId, timer.stepId);
    if (!run || !step) continue;
    const effects = await expireCallback(deps, run, step, 'sweeper');
    if (!effects) continue;
    await applyEffects(deps, effects);
    expired += 1;
  }
  if (expired > 0) deps.logger.warn('expired callback waits', { count: expired });
  return expired;
}

/**
 * Queued steps whose DISPATCH marker is still there past the grace: their message was lost (or
 * is very late). Sent again, then the marker moves to now, so a step that stays queued (its run
 * paused) is re-sent once per grace at most. A held running step (its takeover held by a paused
 * run, marked by a `resume` that died before its send) gets a message for the attempt before. Finished steps still marked: whoever finished them
 * (approve, callback, reaction) did not get through the sends of their release: the step's own
 * message goes to the worker, whose rerelease does them again (idempotent), and the marker goes.
 * Markers of steps that moved on are removed.
 */
async function resendLostDispatches(deps: EngineDeps, now: Date, { limit, dispatchGraceSeconds }: SweepOptions): Promise<number> {
  const before = new Date(now.getTime() - dispatchGraceSeconds * 1000).toISOString();
  const { resend, redo, clear } = planDispatchRecovery(await deps.store.dueTimers('dispatch', before, limit), now, dispatchGraceSeconds);
  if (resend.length + redo.length > 0) await deps.dispatcher.send([...resend, ...redo].map(({ dispatch }) => dispatch));
  await Promise.all([
    ...resend.map(({ step }) => deps.store.moveDispatchMarker(step.runId, step.stepId, step.attempt, now.toISOString())),
    ...[...redo.map(({ step }) => step), ...clear].map((step) => deps.store.clearDispatchMarker(step.runId, step.stepId, step.status)),
  ]);
  if (redo.length > 0) deps.logger.warn('re-sent finished steps whose follow-up was cut short', { count: redo.length, steps: redo.slice(0, 20).map(({ step }) => `${step.runId}/${step.stepId}`) });
  if (resend.length > 0) deps.logger.warn('re-sent queued steps whose message never arrived', { count: resend.length, steps: resend.slice(0, 20).map(({ step }) => `${step.runId}/${step.stepId}`) });
  return resend.length + redo.length;
}

/**
 * Throttled steps whose scope's first holder lease has ended (fair capacity): each gets its own
 * message, whose worker takes back the slots of holders that died and hands free slots to the
 * waiting list's heads (shared/engine/capacity.ts, recheckThrottled). Slots freed normally are
 * handed over by their holder; this only catches a holder that died.
 */
async function recheckThrottledSteps(deps: EngineDeps, now: Date, { limit }: SweepOptions): Promise<number> {
  const due = (await deps.store.dueTimers('throttled', now.toISOString(), limit)).filter((timer) => timer.status === 'throttled');
  if (due.length > 0) await deps.dispatcher.send(due.map((timer) => messageFor(timer)));
  return due.length;
}
