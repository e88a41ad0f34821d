import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { LifecycleEvent } from '#shared/domain/events';
import type { CommittedEvent } from '#shared/store/event-outbox';
import { outboxIndex, timersIndex } from '#shared/store/keys';
import type { EngineDeps } from './context';
import type { Dispatch } from './dispatcher';

export interface SweepOptions {
  /** Events younger than this are still being published by their writer: leave them. */
  eventGraceSeconds: number;
  /** At most this many items of each kind per sweep (the next sweep takes the rest). */
  limit: number;
}

export interface SweepReport {
  republished: number;
  leasesExpired: number;
}

/**
 * The safety net that runs on a schedule: republishes events whose publication was missed
 * (outbox index) and re-dispatches steps whose worker vanished without a redelivery to notice
 * (timers index, lease expired). Both are idempotent: an event is deduplicated by id, and a
 * step message goes through the same claim conditions as any other.
 */
export async function sweep(deps: EngineDeps, options: SweepOptions): Promise<SweepReport> {
  const now = (deps.now ?? (() => new Date()))();
  const [republished, leasesExpired] = await Promise.all([republish(deps, now, options), recoverLeases(deps, now, options)]);
  return { republished, leasesExpired };
}

async function republish(deps: EngineDeps, now: Date, { eventGraceSeconds, limit }: SweepOptions): Promise<number> {
  const before = new Date(now.getTime() - eventGraceSeconds * 1000).toISOString();
  const items = await queryIndex(deps, outboxIndex.name, `${outboxIndex.partitionKey} = :pending`, { ':pending': outboxIndex.pending }, limit);
  const due = items.filter((item) => typeof item.at === 'string' && item.at <= before);
  const events: CommittedEvent[] = due.map((item) => {
    const { pk, sk, outboxPk: _pending, eventId: _id, ...event } = item;
    return { key: { pk: pk as string, sk: sk as string }, event: event as unknown as LifecycleEvent };
  });
  if (events.length === 0) return 0;
  const accepted = await deps.outbox.publish(events);
  deps.logger.info('republished events', { count: accepted.length, refused: events.length - accepted.length });
  return accepted.length;
}

async function recoverLeases(deps: EngineDeps, now: Date, { limit }: SweepOptions): Promise<number> {
  const items = await queryIndex(
    deps,
    timersIndex.name,
    `${timersIndex.partitionKey} = :lease AND ${timersIndex.sortKey} < :now`,
    { ':lease': timersIndex.lease, ':now': now.toISOString() },
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

async function queryIndex(deps: EngineDeps, indexName: string, condition: string, values: Record<string, unknown>, limit: number) {
  const items: Record<string, unknown>[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const page = await deps.documents.send(
      new QueryCommand({
        TableName: deps.tableName,
        IndexName: indexName,
        KeyConditionExpression: condition,
        ExpressionAttributeValues: values,
        Limit: limit - items.length,
        ExclusiveStartKey: start,
      }),
    );
    items.push(...(page.Items ?? []));
    start = page.LastEvaluatedKey;
  } while (start && items.length < limit);
  return items;
}
