import { GetCommand, PutCommand, QueryCommand, TransactWriteCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { priorities, waitRank } from '#shared/domain/capacity';
import type { CapacityStore } from '#shared/engine/capacity';
import type { EventToWrite, Written } from '#shared/engine/store';
import type { CommittedEvent } from './event-outbox';
import { eventItem } from './event-outbox';
import { capacityWaitPrefix, keys, timersIndex } from './keys';
import { stepCondition } from './step-conditions';
import { historyEntry } from './step-history';
import { updateExpression, type UpdateSpec } from './transaction';

type TransactItem = NonNullable<ConstructorParameters<typeof TransactWriteCommand>[0]['TransactItems']>[number];

/** The slot item's holders and their lease ends. */
const holdersOf = (item: Record<string, unknown> | undefined): Record<string, number> =>
  Object.fromEntries(Object.entries((item?.holders as Record<string, unknown> | undefined) ?? {}).map(([holder, lease]) => [holder, Number(lease)]));

/**
 * Fair capacity on DynamoDB (shared/engine/capacity.ts): per scope, one slot item
 * `CAPACITY#<p>#<scope> / SLOTS` whose `holders` map names each step holding a slot with its lease
 * end (a map, so taking a slot again and giving it back are idempotent, and `size(holders)` is the
 * count a condition compares with the limit), and the waiting list under the same partition,
 * `WAIT#<priority rank>#<arrival ulid>#<run>#<step>`, read head first by one Query. Throttling,
 * handing over and cancelling change the step, the list and (handing over) the slot item in one
 * transaction.
 */
const allRanks = priorities.map((_, rank) => rank);

export function createDynamoCapacityStore({ documents, tableName }: { documents: DynamoDBDocumentClient; tableName: string }): CapacityStore {
  const names = (holder: string) => ({ '#holders': 'holders', '#h': holder });
  /**
   * How many wait, per priority rank (`waiting0` high … `waiting2` low), kept on the slot item in
   * the same writes as the list's entries: the conditions that keep priority order read them.
   */
  const counter = (rank: number) => `#w${rank}`;
  const counterNames = (ranks: number[]) => Object.fromEntries(ranks.map((rank) => [counter(rank), `waiting${rank}`]));
  const noneWaiting = (ranks: number[]) => ranks.map((rank) => `(attribute_not_exists(${counter(rank)}) OR ${counter(rank)} < :one)`).join(' AND ');
  const waitingOf = (item: Record<string, unknown>) => allRanks.reduce((sum, rank) => sum + Math.max(0, Number(item[`waiting${rank}`] ?? 0)), 0);

  /**
   * A slot taken (or its lease renewed by its holder) only while the scope has room: the one
   * condition every taker writes under. A step arriving from outside the waiting list (`fresh`)
   * takes a free slot only while nobody waits: a slot freed between a release and its hand-over
   * is the list's head's. A waiter handed a slot (`rank`) takes it only while nobody of a higher
   * priority waits (the head it read may be stale), and leaves the count in the same write.
   */
  const takeSlot = (projectId: string, scope: { id: string; limit: number }, holder: string, leaseUntil: number, rank?: number) => {
    const above = rank === undefined ? allRanks : allRanks.filter((other) => other < rank);
    const room = `(attribute_exists(#holders.#h) OR size(#holders) < :limit)`;
    return {
      TableName: tableName,
      Key: keys.capacitySlots(projectId, scope.id),
      UpdateExpression: rank === undefined ? 'SET #holders.#h = :lease' : `SET #holders.#h = :lease ADD ${counter(rank)} :less`,
      ConditionExpression: rank === undefined ? `attribute_exists(#holders.#h) OR (size(#holders) < :limit AND ${noneWaiting(allRanks)})` : above.length ? `${room} AND ${noneWaiting(above)}` : room,
      ExpressionAttributeNames: { ...names(holder), ...counterNames(rank === undefined ? allRanks : [...above, rank]) },
      ExpressionAttributeValues: { ':lease': leaseUntil, ':limit': scope.limit, ...(above.length ? { ':one': 1 } : {}), ...(rank === undefined ? {} : { ':less': -1 }) },
    };
  };
  /** One entry of the list's fewer (removed in the same write). */
  const oneWaiterFewer = (projectId: string, scopeId: string, entry: string): TransactItem => ({
    Update: { TableName: tableName, Key: keys.capacitySlots(projectId, scopeId), UpdateExpression: `ADD ${counter(waitRank(entry))} :less`, ExpressionAttributeNames: counterNames([waitRank(entry)]), ExpressionAttributeValues: { ':less': -1 } },
  });

  /** A step's change with its events (kept in its history unless for the bus or the feed, as the engine store does). */
  const stepItems = (key: { pk: string; sk: string }, spec: UpdateSpec, written: EventToWrite[]) => {
    const items: TransactItem[] = [];
    const events: CommittedEvent[] = [];
    const kept = written.filter((entry) => !(entry.publish || entry.inFeed));
    const withHistory = kept.length ? { ...spec, append: { ...spec.append, history: kept.map((entry) => historyEntry(entry.event)) } } : spec;
    items.push({ Update: { TableName: tableName, Key: key, ...updateExpression(withHistory) } });
    for (const entry of written) {
      const eventKey = keys.runEvent(entry.event.runId!, entry.event.id);
      if (entry.publish || entry.inFeed) {
        items.push({ Put: { TableName: tableName, Item: eventItem(eventKey, entry.event, entry.publish) } });
        events.push({ key: eventKey, event: entry.event, ...(entry.publish ? {} : { publish: false }) });
      } else events.push({ key: eventKey, event: entry.event, publish: false });
    }
    return { items, events };
  };

  /** Commits; on a lost condition answers the index of the first item whose condition failed. */
  const transact = async (items: TransactItem[]): Promise<{ won: true } | { won: false; failed: number }> => {
    try {
      await documents.send(new TransactWriteCommand({ TransactItems: items }));
      return { won: true };
    } catch (error) {
      const reasons = (error as { CancellationReasons?: { Code?: string }[] }).CancellationReasons ?? [];
      const failed = reasons.findIndex((reason) => reason.Code === 'ConditionalCheckFailed');
      if ((error as Error).name === 'TransactionCanceledException' && failed >= 0) return { won: false, failed };
      throw error;
    }
  };

  const store: CapacityStore = {
    async acquire(projectId, scope, holder, leaseUntil) {
      for (let round = 0; round < 2; round += 1) {
        try {
          await documents.send(
            new UpdateCommand(takeSlot(projectId, scope, holder, leaseUntil)),
          );
          return { won: true };
        } catch (error) {
          if ((error as Error).name !== 'ConditionalCheckFailedException') throw error;
          // Full (a read only then: who holds the slots, and until when), or no slot item yet.
          const { Item } = await documents.send(new GetCommand({ TableName: tableName, Key: keys.capacitySlots(projectId, scope.id), ConsistentRead: true }));
          if (Item) return { won: false, holders: holdersOf(Item), waiting: waitingOf(Item) };
          // The scope's first slot ever: its item is created empty (once), then taken as any other.
          await documents
            .send(new PutCommand({ TableName: tableName, Item: { ...keys.capacitySlots(projectId, scope.id), type: 'capacitySlots', projectId, scope: scope.id, holders: {} }, ConditionExpression: 'attribute_not_exists(pk)' }))
            .catch((put: Error) => {
              if (put.name !== 'ConditionalCheckFailedException') throw put;
            });
        }
      }
      return { won: false, holders: await store.holders(projectId, scope.id), waiting: 0 };
    },

    async release(projectId, scopeId, holder, leaseUntil) {
      try {
        await documents.send(
          new UpdateCommand({
            TableName: tableName,
            Key: keys.capacitySlots(projectId, scopeId),
            UpdateExpression: 'REMOVE #holders.#h',
            ConditionExpression: leaseUntil === undefined ? 'attribute_exists(#holders.#h)' : '#holders.#h = :lease',
            ExpressionAttributeNames: names(holder),
            ...(leaseUntil === undefined ? {} : { ExpressionAttributeValues: { ':lease': leaseUntil } }),
          }),
        );
        return true;
      } catch (error) {
        if ((error as Error).name === 'ConditionalCheckFailedException') return false;
        throw error;
      }
    },

    async reclaim(projectId, scopeId, expired) {
      for (const [holder, lease] of Object.entries(expired)) await store.release(projectId, scopeId, holder, lease);
    },

    async holders(projectId, scopeId) {
      const { Item } = await documents.send(new GetCommand({ TableName: tableName, Key: keys.capacitySlots(projectId, scopeId), ConsistentRead: true }));
      return holdersOf(Item);
    },

    async throttle({ projectId, runId, stepId, transition, readAttempt, scope, throttle, recheckAt, publishStepEvents, queued, event }) {
      const condition = stepCondition(transition, { attempt: readAttempt });
      if (!condition) return { won: false, why: 'moved' };
      const step = stepItems(
        keys.step(runId, stepId),
        {
          set: { status: 'throttled', throttle, [timersIndex.partitionKey]: timersIndex.throttled, [timersIndex.sortKey]: recheckAt, ...(queued ? { queuedAt: throttle.since, remaining: 0 } : {}) },
          setIfMissing: { attempt: 0 },
          ...condition,
        },
        [...(queued ? [queued] : []), event],
      );
      const result = await transact([
        // Still full (or others still wait), and not by this step: a slot freed since the caller looked is taken instead. One more waiting.
        {
          Update: {
            TableName: tableName,
            Key: keys.capacitySlots(projectId, scope.id),
            UpdateExpression: `ADD ${counter(waitRank(throttle.waitEntry))} :more`,
            ConditionExpression: `(size(#holders) >= :limit OR ${allRanks.map((rank) => `${counter(rank)} > :none`).join(' OR ')}) AND attribute_not_exists(#holders.#h)`,
            ExpressionAttributeNames: { ...names(`${runId}/${stepId}`), ...counterNames(allRanks) },
            ExpressionAttributeValues: { ':limit': scope.limit, ':more': 1, ':none': 0 },
          },
        },
        { Put: { TableName: tableName, Item: { ...keys.capacityWait(projectId, scope.id, throttle.waitEntry), type: 'capacityWait', runId, stepId, attempt: readAttempt, ...(publishStepEvents ? { publishStepEvents: true } : {}) } } },
        ...step.items,
      ]);
      if (result.won) return { won: true, events: step.events };
      return { won: false, why: result.failed === 0 ? 'room' : 'moved' };
    },

    async waiting(projectId, scopeId, limit) {
      const { Items = [] } = await documents.send(
        new QueryCommand({
          TableName: tableName,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :wait)',
          ExpressionAttributeValues: { ':pk': keys.capacitySlots(projectId, scopeId).pk, ':wait': capacityWaitPrefix },
          ConsistentRead: true,
          Limit: limit,
        }),
      );
      return Items.map((item) => ({ runId: item.runId as string, stepId: item.stepId as string, attempt: Number(item.attempt), entry: item.sk as string, ...(item.publishStepEvents ? { publishStepEvents: true } : {}) }));
    },

    async handOff(projectId, scope, waiter, { at, leaseUntil }, event) {
      const holder = `${waiter.runId}/${waiter.stepId}`;
      const step = stepItems(
        keys.step(waiter.runId, waiter.stepId),
        { set: { status: 'queued', queuedAt: at, [timersIndex.partitionKey]: timersIndex.dispatch, [timersIndex.sortKey]: at }, remove: ['throttle'], ...stepCondition('unthrottle', { attempt: waiter.attempt })! },
        [event],
      );
      const result = await transact([
        { Update: takeSlot(projectId, scope, holder, leaseUntil, waitRank(waiter.entry)) },
        { Delete: { TableName: tableName, Key: keys.capacityWait(projectId, scope.id, waiter.entry), ConditionExpression: 'attribute_exists(pk)' } },
        ...step.items,
      ]);
      if (result.won) return { won: true, events: step.events };
      if (result.failed !== 0) return { won: false, why: 'gone' };
      // The slot item said no: full, or a step of a higher priority came to wait since the list was read.
      const holders = await store.holders(projectId, scope.id);
      return { won: false, why: holder in holders || Object.keys(holders).length < scope.limit ? 'outranked' : 'full' };
    },

    async forget(projectId, scopeId, entry) {
      // Counted off only when it was still there (a forget repeated changes nothing).
      await transact([{ Delete: { TableName: tableName, Key: keys.capacityWait(projectId, scopeId, entry), ConditionExpression: 'attribute_exists(pk)' } }, oneWaiterFewer(projectId, scopeId, entry)]);
    },

    async cancelThrottled({ runId, stepId, projectId, attempt, throttle }, at, event): Promise<Written> {
      const step = stepItems(
        keys.step(runId, stepId),
        { set: { status: 'cancelled', finishedAt: at }, remove: ['throttle', timersIndex.partitionKey, timersIndex.sortKey], ...stepCondition('cancel', { attempt, readStatus: 'throttled' })! },
        [event],
      );
      // A turn under a rate has no list entry: the step alone.
      const entry = throttle.kind === 'rate' ? [] : [{ Delete: { TableName: tableName, Key: keys.capacityWait(projectId, throttle.scope, throttle.waitEntry) } }, oneWaiterFewer(projectId, throttle.scope, throttle.waitEntry)];
      const result = await transact([...step.items, ...entry]);
      return result.won ? { won: true, events: step.events } : { won: false };
    },

    async recheckAt(runId, stepId, attempt, dueAt) {
      await documents
        .send(new UpdateCommand({ TableName: tableName, Key: keys.step(runId, stepId), ...updateExpression({ set: { [timersIndex.sortKey]: dueAt }, condition: '#status = :throttled AND #attempt = :attempt', values: { ':throttled': 'throttled', ':attempt': attempt } }) }))
        .catch((error: Error) => {
          if (error.name !== 'ConditionalCheckFailedException') throw error;
        });
    },
  };
  return store;
}
