import { GetCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { LimitLedger } from '#shared/engine/limits';
import type { EventToWrite, Written } from '#shared/engine/store';
import { keys, timersIndex } from './keys';
import { queryAll } from './query';
import { runCondition } from './step-conditions';
import { updateExpression, writeTransaction, type Transaction } from './transaction';

const deadlineTimer = (deadline: string) => ({ [timersIndex.partitionKey]: timersIndex.runDeadline, [timersIndex.sortKey]: deadline });
const timerAttributes = [timersIndex.partitionKey, timersIndex.sortKey];

/**
 * Run limits on DynamoDB (shared/engine/limits.ts): an execution is one UpdateItem on the run's
 * small counter item (`RUN#r / LIMITS`: `ADD executed 1` if `executed < max`), so concurrent steps
 * cannot pass the limit together and the run item (larger, indexed) is not written per step. The
 * duration timer is the run item itself in the timers index (`RUN_DEADLINE`, due at its
 * deadline), filed at start, resume and retry, removed by a block or by the sweeper.
 */
export function createDynamoLimitLedger({ documents, tableName }: { documents: DynamoDBDocumentClient; tableName: string }): LimitLedger {
  const write = (build: (tx: Transaction) => void): Promise<Written> => writeTransaction(documents, tableName, build);
  const event = (tx: Transaction, { event: lifecycle, publish }: EventToWrite) => tx.event(keys.runEvent(lifecycle.runId!, lifecycle.id), lifecycle, publish);
  const update = async (key: { pk: string; sk: string }, spec: Parameters<typeof updateExpression>[0]): Promise<boolean> => {
    try {
      await documents.send(new UpdateCommand({ TableName: tableName, Key: key, ...updateExpression(spec) }));
      return true;
    } catch (error) {
      if ((error as Error).name === 'ConditionalCheckFailedException') return false;
      throw error;
    }
  };
  return {
    async reserveExecution(runId, max) {
      if (await update(keys.runLimits(runId), { add: { executed: 1 }, condition: 'attribute_not_exists(#executed) OR #executed < :max', values: { ':max': max } })) return { won: true };
      const { Item } = await documents.send(new GetCommand({ TableName: tableName, Key: keys.runLimits(runId), ConsistentRead: true }));
      return { won: false, executed: Number(Item?.executed ?? 0) };
    },
    async releaseExecution(runId) {
      await update(keys.runLimits(runId), { add: { executed: -1 } });
    },
    async block(runId, stepId, reason, events) {
      const blocked = await write((tx) => {
        tx.update(keys.run(runId), { set: { status: 'blocked', reason }, ...(stepId ? { add: { heldSteps: new Set([stepId]) } } : {}), remove: timerAttributes, ...runCondition('engine:limitBlock') });
        for (const entry of events.block) event(tx, entry);
      });
      if (blocked.won || !stepId) return blocked;
      return write((tx) => {
        tx.update(keys.run(runId), { add: { heldSteps: new Set([stepId]) }, ...runCondition('engine:limitHold') });
        for (const entry of events.hold) event(tx, entry);
      });
    },
    setRunLimits: (runId, limits, { executed, deadline }, changed) =>
      write((tx) => {
        tx.update(keys.run(runId), {
          set: { limits, ...(deadline ? deadlineTimer(deadline) : {}) },
          ...(deadline ? {} : { remove: timerAttributes }),
          ...runCondition('engine:setLimits'),
        });
        if (executed !== undefined) tx.update(keys.runLimits(runId), { set: { executed } });
        event(tx, changed);
      }),
    async fileDeadline(runId, deadline) {
      await update(keys.run(runId), { set: deadlineTimer(deadline), condition: '#status = :running', values: { ':running': 'running' } });
    },
    async dueDeadlines(before, limit) {
      const items = await queryAll(
        documents,
        { TableName: tableName, IndexName: timersIndex.name, KeyConditionExpression: `${timersIndex.partitionKey} = :kind AND ${timersIndex.sortKey} <= :before`, ExpressionAttributeValues: { ':kind': timersIndex.runDeadline, ':before': before } },
        limit,
      );
      return items.map((item) => (item.pk as string).slice('RUN#'.length));
    },
    async clearDeadline(runId) {
      await update(keys.run(runId), { remove: timerAttributes, condition: '#timerPk = :timer', values: { ':timer': timersIndex.runDeadline } });
    },
    record: (events) =>
      write((tx) => {
        for (const entry of events) event(tx, entry);
      }),
  };
}
