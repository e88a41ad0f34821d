import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { LifecycleEvent } from '#shared/domain/events';
import type { CommittedEvent } from '#shared/store/event-outbox';
import { outboxIndex, timersIndex } from '#shared/store/keys';
import { queryAll } from '#shared/store/query';
import { NonRetryableStepError } from '#shared/domain/step-errors';
import { ConditionFailedError, updateExpression } from '#shared/store/transaction';
import type { EngineDeps } from './context';
import { dispatchMarker, planDispatchRecovery, type MarkedStep } from './dispatch-markers';
import { maxQueueDelaySeconds, type Dispatch } from './dispatcher';
import { expireCallback } from './callbacks';
import { applyEffects, failStep } from './step-transitions';

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
}

/**
 * The safety net that runs on a schedule: republishes events whose publication was missed
 * (outbox index), re-dispatches steps whose worker vanished without a redelivery to notice
 * (timers index, lease expired) and re-sends queued steps whose message was lost (DISPATCH). Both are idempotent: an event is deduplicated by id, and a
 * step message goes through the same claim conditions as any other.
 */
export async function sweep(deps: EngineDeps, options: SweepOptions): Promise<SweepReport> {
  const now = (deps.now ?? (() => new Date()))();
  const [republished, leasesExpired, timersDue, deadlinesPassed, callbacksExpired, dispatchesResent] = await Promise.all([
    republish(deps, now, options),
    recoverLeases(deps, now, options),
    dispatchDueTimers(deps, now, options),
    failPastDeadlines(deps, now, options),
    expireCallbacks(deps, now, options),
    resendLostDispatches(deps, now, options),
  ]);
  return { republished, leasesExpired, timersDue, deadlinesPassed, callbacksExpired, dispatchesResent };
}

async function republish(deps: EngineDeps, now: Date, { eventGraceSeconds, limit }: SweepOptions): Promise<number> {
  const before = new Date(now.getTime() - eventGraceSeconds * 1000).toISOString();
  const items = await queryIndex(deps, outboxIndex.name, `${outboxIndex.partitionKey} = :pending`, { ':pending': outboxIndex.pending }, limit);
  const due = items.filter((item) => typeof item.at === 'string' && item.at <= before);
  const events: CommittedEvent[] = due.map((item) => {
    // The feed keys (gsi2) are storage, not the event: they are written again with it.
    const { pk, sk, outboxPk: _pending, eventId: _id, gsi2pk: _feed, gsi2sk: _feedKey, ...event } = item;
    return { key: { pk: pk as string, sk: sk as string }, event: event as unknown as LifecycleEvent };
  });
  if (events.length === 0) return 0;
  const accepted = await deps.outbox.publish(events);
  deps.logger.info('republished events', { count: accepted.length, refused: events.length - accepted.length });
  return accepted.length;
}

async function recoverLeases(deps: EngineDeps, now: Date, { limit, leaseGraceSeconds }: SweepOptions): Promise<number> {
  const expiredBefore = new Date(now.getTime() - leaseGraceSeconds * 1000).toISOString();
  const items = await queryIndex(
    deps,
    timersIndex.name,
    `${timersIndex.partitionKey} = :lease AND ${timersIndex.sortKey} < :before`,
    { ':lease': timersIndex.lease, ':before': expiredBefore },
    limit,
  );
  const dispatches: Dispatch[] = items
    .filter((item) => item.status === 'running' && typeof item.attempt === 'number')
    .map((item) => ({ message: { runId: item.runId as string, stepId: item.stepId as string, attempt: (item.attempt as number) - 1 } }));
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
  const items = await queryIndex(
    deps,
    timersIndex.name,
    `${timersIndex.partitionKey} = :timer AND ${timersIndex.sortKey} <= :horizon`,
    { ':timer': timersIndex.notBefore, ':horizon': horizon },
    limit,
  );
  const due = items.filter((item) => item.status === 'queued');
  if (due.length === 0) return 0;
  await deps.dispatcher.send(
    due.map((item) => ({
      message: { runId: item.runId as string, stepId: item.stepId as string, attempt: item.attempt as number },
      delaySeconds: Math.max(0, (Date.parse(item.dueAt as string) - now.getTime()) / 1000),
    })),
  );
  // Sent: clear the timer (a second sweep before this lands would only send a harmless duplicate).
  await Promise.all(
    due.map((item) =>
      deps.documents
        .send(
          new UpdateCommand({
            TableName: deps.tableName,
            Key: { pk: item.pk as string, sk: item.sk as string },
            UpdateExpression: 'REMOVE timerPk, dueAt',
            ConditionExpression: 'timerPk = :timer',
            ExpressionAttributeValues: { ':timer': timersIndex.notBefore },
          }),
        )
        .catch((error: unknown) => {
          if ((error as Error).name !== 'ConditionalCheckFailedException') throw error;
        }),
    ),
  );
  return due.length;
}

/**
 * Steps waiting in needs_qa (approval, webhook) past their `timeoutSeconds`: failed with
 * DEADLINE_EXCEEDED, which blocks the run (`retry` waits again). Not retried automatically: a
 * new attempt would only wait for the same person or delivery again.
 */
async function failPastDeadlines(deps: EngineDeps, now: Date, { limit }: SweepOptions): Promise<number> {
  const items = await queryIndex(
    deps,
    timersIndex.name,
    `${timersIndex.partitionKey} = :deadline AND ${timersIndex.sortKey} <= :now`,
    { ':deadline': timersIndex.deadline, ':now': now.toISOString() },
    limit,
  );
  let failed = 0;
  for (const item of items.filter((candidate) => candidate.status === 'needs_qa')) {
    const { run, step } = await deps.runs.getRunAndStep(item.runId as string, item.stepId as string);
    if (!run || step?.status !== 'needs_qa') continue;
    const waited = step.timeoutSeconds ?? 0;
    const error = new NonRetryableStepError(`Waited ${waited}s in needs_qa (${(item.waitingFor as string | undefined) ?? 'waiting'}) without a decision`, { code: 'DEADLINE_EXCEEDED' });
    try {
      await applyEffects(deps, await failStep(deps, run, step, error, { actor: 'sweeper', from: ['needs_qa'] }));
      failed += 1;
    } catch (caught) {
      // Decided meanwhile: the decision stands.
      if (!(caught instanceof ConditionFailedError)) throw caught;
    }
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
  const items = await queryIndex(
    deps,
    timersIndex.name,
    `${timersIndex.partitionKey} = :callback AND ${timersIndex.sortKey} <= :now`,
    { ':callback': timersIndex.callback, ':now': now.toISOString() },
    limit,
  );
  let expired = 0;
  for (const item of items.filter((candidate) => candidate.status === 'running')) {
    const { run, step } = await deps.runs.getRunAndStep(item.runId as string, item.stepId as string);
    if (!run || !step) continue;
    const effects = await expireCallback(deps, run, step, 'sweeper');
    if (effects.events.length === 0) continue;
    await applyEffects(deps, effects);
    expired += 1;
  }
  if (expired > 0) deps.logger.warn('expired callback waits', { count: expired });
  return expired;
}

/**
 * Queued steps whose DISPATCH marker is still there past the grace: their message was lost (or
 * is very late). Sent again, then the marker moves to now, so a step that stays queued (its run
 * paused) is re-sent once per grace at most; markers of steps that moved on are removed.
 */
async function resendLostDispatches(deps: EngineDeps, now: Date, { limit, dispatchGraceSeconds }: SweepOptions): Promise<number> {
  const before = new Date(now.getTime() - dispatchGraceSeconds * 1000).toISOString();
  const items = await queryIndex(
    deps,
    timersIndex.name,
    `${timersIndex.partitionKey} = :dispatch AND ${timersIndex.sortKey} < :before`,
    { ':dispatch': timersIndex.dispatch, ':before': before },
    limit,
  );
  const { resend, clear } = planDispatchRecovery(items as unknown as MarkedStep[], now, dispatchGraceSeconds);
  if (resend.length > 0) await deps.dispatcher.send(resend.map(({ dispatch }) => dispatch));
  const moveMarker = (step: MarkedStep, update: { set?: Record<string, unknown>; remove?: string[] }, condition: string, values: Record<string, unknown>) =>
    deps.documents
      .send(new UpdateCommand({ TableName: deps.tableName, Key: { pk: step.pk, sk: step.sk }, ...updateExpression({ ...update, condition, values: { ':dispatch': timersIndex.dispatch, ...values } }) }))
      .catch((error: unknown) => {
        // Claimed (or otherwise moved) meanwhile: its write decided the timer.
        if ((error as Error).name !== 'ConditionalCheckFailedException') throw error;
      });
  await Promise.all([
    ...resend.map(({ step }) =>
      moveMarker(step, { set: dispatchMarker(now) }, '#timerPk = :dispatch AND #status = :queued AND #attempt = :attempt', { ':queued': 'queued', ':attempt': step.attempt }),
    ),
    ...clear.map((step) => moveMarker(step, { remove: [timersIndex.partitionKey, timersIndex.sortKey] }, '#timerPk = :dispatch AND #status = :status', { ':status': step.status })),
  ]);
  if (resend.length > 0) deps.logger.warn('re-sent queued steps whose message never arrived', { count: resend.length, steps: resend.slice(0, 20).map(({ step }) => `${step.runId}/${step.stepId}`) });
  return resend.length;
}

const queryIndex = (deps: EngineDeps, indexName: string, condition: string, values: Record<string, unknown>, limit: number) =>
  queryAll(deps.documents, { TableName: deps.tableName, IndexName: indexName, KeyConditionExpression: condition, ExpressionAttributeValues: values }, limit);
