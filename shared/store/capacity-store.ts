import { DeleteCommand, GetCommand, PutCommand, QueryCommand, TransactWriteCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
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
export function createDynamoCapacityStore({ documents, tableName }: { documents: DynamoDBDocumentClient; tableName: string }): CapacityStore {
  const slotName = { '#holders': 'holders', '#h': '' };
  const names = (holder: string) => ({ ...slotName, '#h': holder });

  /** A slot taken (or its lease renewed by its holder) only while the scope has room: the one condition every taker writes under. */
  const takeSlot = (projectId: string, scope: { id: string; limit: number }, holder: string, leaseUntil: number) => ({
    TableName: tableName,
    Key: keys.capacitySlots(projectId, scope.id),
    UpdateExpression: 'SET #holders.#h = :lease',
    ConditionExpression: 'attribute_exists(#holders.#h) OR size(#holders) < :limit',
    ExpressionAttributeNames: names(holder),
    ExpressionAttributeValues: { ':lease': leaseUntil, ':limit': scope.limit },
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
          if (Item) return { won: false, holders: holdersOf(Item) };
          // The scope's first slot ever: its item is created empty (once), then taken as any other.
          await documents
            .send(new PutCommand({ TableName: tableName, Item: { ...keys.capacitySlots(projectId, scope.id), type: 'capacitySlots', projectId, scope: scope.id, holders: {} }, ConditionExpression: 'attribute_not_exists(pk)' }))
            .catch((put: Error) => {
              if (put.name !== 'ConditionalCheckFailedException') throw put;
            });
        }
      }
      return { won: false, holders: await store.holders(projectId, scope.id) };
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
        // Still full, and not by this step: a slot freed since the caller looked is taken instead.
        { ConditionCheck: { TableName: tableName, Key: keys.capacitySlots(projectId, scope.id), ConditionExpression: 'size(#holders) >= :limit AND attribute_not_exists(#holders.#h)', ExpressionAttributeNames: names(`${runId}/${stepId}`), ExpressionAttributeValues: { ':limit': scope.limit } } },
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
        {
          Update: takeSlot(projectId, scope, holder, leaseUntil),
        },
        { Delete: { TableName: tableName, Key: keys.capacityWait(projectId, scope.id, waiter.entry), ConditionExpression: 'attribute_exists(pk)' } },
        ...step.items,
      ]);
      if (result.won) return { won: true, events: step.events };
      return { won: false, why: result.failed === 0 ? 'full' : 'gone' };
    },

    async forget(projectId, scopeId, entry) {
      await documents.send(new DeleteCommand({ TableName: tableName, Key: keys.capacityWait(projectId, scopeId, entry) }));
    },

    async cancelThrottled({ runId, stepId, projectId, attempt, throttle }, at, event): Promise<Written> {
      const step = stepItems(
        keys.step(runId, stepId),
        { set: { status: 'cancelled', finishedAt: at }, remove: ['throttle', timersIndex.partitionKey, timersIndex.sortKey], ...stepCondition('cancel', { attempt, readStatus: 'throttled' })! },
        [event],
      );
      const result = await transact([...step.items, { Delete: { TableName: tableName, Key: keys.capacityWait(projectId, throttle.scope, throttle.waitEntry) } }]);
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
