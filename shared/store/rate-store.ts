import { UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { RateStore } from '#shared/engine/rate';
import type { EventToWrite } from '#shared/engine/store';
import { keys, timersIndex } from './keys';
import { stepCondition } from './step-conditions';
import { historyEntry } from './step-history';
import { writeTransaction, type UpdateSpec } from './transaction';

/** A number DynamoDB handed back raw (the document client does not unmarshall a failed condition's item). */
const rawNumber = (value: unknown): number | undefined => {
  const number = Number(value && typeof value === 'object' && 'N' in value ? (value as { N: string }).N : value);
  return value === undefined || !Number.isFinite(number) ? undefined : number;
};

/** How long a rate item outlives the last turn a take handed out (DynamoDB's TTL then removes it). */
export const rateItemKeptSeconds = 24 * 3600;
/** The item's `expiresAt` (epoch seconds) for a last turn ending at `until` (epoch ms). */
const expiresAfter = (until: number) => Math.ceil(until / 1000) + rateItemKeptSeconds;

/**
 * Rate limits on DynamoDB (shared/engine/rate.ts): one item per project and resolved key,
 * `CAPACITY#<p>#rate#<key> / RATE`, holding `reservedUntil` (the end of the last turn handed out)
 * and `nextStart` (the last start + one interval), both epoch ms. Every change is one conditional
 * UpdateItem, so concurrent takers and starters can neither share a turn nor start closer than
 * the interval. A rate-throttled step is one conditional write of the step (with its events).
 * Keys templated from run input (one per customer, say) would pile up: every take sets the item's
 * `expiresAt` a day past the turn it hands out, so a key idle for a day is removed by the table's
 * TTL (a start never needs the item again by then; a key used again starts idle, as it would).
 */
export function createDynamoRateStore({ documents, tableName }: { documents: DynamoDBDocumentClient; tableName: string }): RateStore {
  const names = { '#r': 'reservedUntil', '#n': 'nextStart' };
  const update = async (projectId: string, key: string, command: Omit<ConstructorParameters<typeof UpdateCommand>[0], 'TableName' | 'Key'>) => {
    try {
      return { won: true as const, attributes: (await documents.send(new UpdateCommand({ TableName: tableName, Key: keys.rate(projectId, key), ...command }))).Attributes };
    } catch (error) {
      if ((error as Error).name !== 'ConditionalCheckFailedException') throw error;
      const item = (error as { Item?: Record<string, unknown> }).Item;
      return { won: false as const, reservedUntil: rawNumber(item?.reservedUntil), nextStart: rawNumber(item?.nextStart) };
    }
  };

  /** A step's change and its events in one write (kept in its history unless for the bus or the feed). */
  const stepWrite = (runId: string, stepId: string, spec: UpdateSpec, written: EventToWrite[]) =>
    writeTransaction(documents, tableName, (tx) => {
      const kept = written.filter((entry) => !(entry.publish || entry.inFeed));
      tx.update(keys.step(runId, stepId), kept.length ? { ...spec, append: { history: kept.map((entry) => historyEntry(entry.event)) } } : spec);
      for (const entry of written) {
        const eventKey = keys.runEvent(runId, entry.event.id);
        if (entry.publish || entry.inFeed) tx.event(eventKey, entry.event, entry.publish);
        else tx.recorded(eventKey, entry.event);
      }
    });

  const store: RateStore = {
    async take(projectId, key, intervalMs, now) {
      for (let round = 0; round < 5; round += 1) {
        // Idle (no turn ahead, the last start an interval ago): it starts now.
        const idle = await update(projectId, key, {
          UpdateExpression: 'SET #r = :next, #n = :next, projectId = :project, expiresAt = :expires',
          ConditionExpression: '(attribute_not_exists(#r) OR #r <= :now) AND (attribute_not_exists(#n) OR #n <= :now)',
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: { ':next': now + intervalMs, ':now': now, ':project': projectId, ':expires': expiresAfter(now + intervalMs) },
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        });
        if (idle.won) return { started: true };
        // Turns ahead: the next one, atomically (concurrent takers each get their own).
        // Concurrent takers may each add an interval past the end read here: the day kept covers them.
        const ahead = (idle.reservedUntil ?? 0) > now;
        const after = ahead ? idle.reservedUntil! + intervalMs : (idle.nextStart ?? now) + intervalMs;
        const turn = await update(projectId, key, {
          UpdateExpression: ahead ? 'SET #r = #r + :interval, expiresAt = :expires' : 'SET #r = :after, expiresAt = :expires',
          ConditionExpression: ahead ? '#r > :now' : 'attribute_not_exists(#r) OR #r <= :now',
          ExpressionAttributeNames: { '#r': names['#r'] },
          ExpressionAttributeValues: { ':now': now, ':expires': expiresAfter(after), ...(ahead ? { ':interval': intervalMs } : { ':after': after }) },
          ReturnValues: 'UPDATED_NEW',
        });
        // No turn ahead but a start within the interval (it came late): the turn after it.
        if (turn.won) return { started: false, turn: Number(turn.attributes?.reservedUntil) - intervalMs };
      }
      throw new Error(`the rate item of ${projectId} key ${key} kept changing`);
    },

    async start(projectId, key, intervalMs, now) {
      const started = await update(projectId, key, {
        UpdateExpression: 'SET #n = :next, projectId = :project',
        ConditionExpression: 'attribute_not_exists(#n) OR #n <= :now',
        ExpressionAttributeNames: { '#n': names['#n'] },
        ExpressionAttributeValues: { ':next': now + intervalMs, ':now': now, ':project': projectId },
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      });
      return started.won ? { won: true } : { won: false, notBefore: started.nextStart ?? now + intervalMs };
    },

    async throttle({ runId, stepId, transition, readAttempt, throttle, recheckAt, queued, event }) {
      const condition = stepCondition(transition, { attempt: readAttempt });
      if (!condition) return { won: false };
      return stepWrite(
        runId,
        stepId,
        {
          set: { status: 'throttled', throttle, [timersIndex.partitionKey]: timersIndex.throttled, [timersIndex.sortKey]: recheckAt, ...(queued ? { queuedAt: throttle.since, remaining: 0 } : {}) },
          setIfMissing: { attempt: 0 },
          ...condition,
        },
        [...(queued ? [queued] : []), event],
      );
    },

    wake: (runId, stepId, attempt, at, event) =>
      stepWrite(runId, stepId, { set: { status: 'queued', queuedAt: at, [timersIndex.partitionKey]: timersIndex.dispatch, [timersIndex.sortKey]: at }, remove: ['throttle'], ...stepCondition('unthrottle', { attempt })! }, [event]),
  };
  return store;
}
