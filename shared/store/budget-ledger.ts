import { GetCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { roundUsd, subtractAmounts, zero, type Amount } from '#shared/domain/budgets';
import type { BudgetLedger, Ledger, LedgerScope } from '#shared/engine/budgets';
import type { EventToWrite, Written } from '#shared/engine/store';
import { keys } from './keys';
import { runCondition } from './step-conditions';
import { updateExpression, writeTransaction, type Transaction } from './transaction';

const keyOf = (scope: LedgerScope) => ('runId' in scope ? keys.runBudget(scope.runId) : keys.projectBudget(scope.projectId, scope.month));
const describe = (scope: LedgerScope) => ('runId' in scope ? { type: 'runBudget', runId: scope.runId } : { type: 'projectBudget', projectId: scope.projectId, month: scope.month });

/** The counters as stored: `used*` = spent + reserved, `spent*` = settled usage. */
const ledgerOf = (item: Record<string, unknown> | undefined): Ledger => ({
  used: { tokens: Number(item?.usedTokens ?? 0), usd: roundUsd(Number(item?.usedUsd ?? 0)) },
  spent: { tokens: Number(item?.spentTokens ?? 0), usd: roundUsd(Number(item?.spentUsd ?? 0)) },
});

/**
 * Budget ledgers on DynamoDB: one small item per run (`RUN#r / BUDGET`) and per project and month
 * (`PROJECT#p / BUDGET#YYYY-MM`), so a reservation is a one-write-unit UpdateItem whatever the run
 * item weighs. A reservation is `ADD used` conditional on `used <= limit - worstCase` (a
 * condition cannot add, so the caller passes the ceiling); a settlement is one unconditional ADD
 * of the difference. Both are atomic, so concurrent steps cannot pass a limit together.
 */
export function createDynamoBudgetLedger({ documents, tableName }: { documents: DynamoDBDocumentClient; tableName: string }): BudgetLedger {
  const write = (build: (tx: Transaction) => void): Promise<Written> => writeTransaction(documents, tableName, build);
  const event = (tx: Transaction, { event: lifecycle, publish }: EventToWrite) => tx.event(keys.runEvent(lifecycle.runId!, lifecycle.id), lifecycle, publish);
  const add = (scope: LedgerScope, used: Amount, spent: Amount) => ({
    set: describe(scope),
    add: { usedTokens: used.tokens, usedUsd: roundUsd(used.usd), ...(spent.tokens ? { spentTokens: spent.tokens } : {}), ...(spent.usd ? { spentUsd: roundUsd(spent.usd) } : {}) },
  });
  const ledger: BudgetLedger = {
    async read(scope) {
      const { Item } = await documents.send(new GetCommand({ TableName: tableName, Key: keyOf(scope), ConsistentRead: true }));
      return Item ? ledgerOf(Item) : undefined;
    },
    async reserve(scope, amount, ceiling) {
      const units = (['tokens', 'usd'] as const).filter((unit) => ceiling[unit] !== undefined);
      // Not even an empty ledger leaves room for it.
      if (units.some((unit) => ceiling[unit]! < 0)) return { won: false, used: (await ledger.read(scope))?.used ?? zero };
      const column = { tokens: 'usedTokens', usd: 'usedUsd' } as const;
      const condition = units.map((unit) => `(attribute_not_exists(#${column[unit]}) OR #${column[unit]} <= :max_${unit})`).join(' AND ');
      const values = Object.fromEntries(units.map((unit) => [`:max_${unit}`, unit === 'usd' ? roundUsd(ceiling.usd!) : ceiling.tokens]));
      try {
        await documents.send(new UpdateCommand({ TableName: tableName, Key: keyOf(scope), ...updateExpression({ ...add(scope, amount, zero), ...(condition ? { condition, values } : {}) }) }));
        return { won: true };
      } catch (error) {
        if ((error as Error).name !== 'ConditionalCheckFailedException') throw error;
        return { won: false, used: (await ledger.read(scope))?.used ?? zero };
      }
    },
    async settle(scope, reserved, actual) {
      const response = await documents.send(
        new UpdateCommand({ TableName: tableName, Key: keyOf(scope), ...updateExpression(add(scope, subtractAmounts(actual, reserved), actual)), ReturnValues: 'ALL_NEW' }),
      );
      return ledgerOf(response.Attributes);
    },
    async block(runId, stepId, reason, events) {
      const blocked = await write((tx) => {
        tx.update(keys.run(runId), { set: { status: 'blocked', reason }, add: { heldSteps: new Set([stepId]) }, ...runCondition('engine:budgetBlock') });
        for (const entry of events.block) event(tx, entry);
      });
      if (blocked.won) return blocked;
      return write((tx) => {
        tx.update(keys.run(runId), { add: { heldSteps: new Set([stepId]) }, ...runCondition('engine:budgetHold') });
        for (const entry of events.hold) event(tx, entry);
      });
    },
    setRunBudget: (runId, value, changed) =>
      write((tx) => {
        tx.update(keys.run(runId), { set: { budget: value }, ...runCondition('engine:setBudget') });
        event(tx, changed);
      }),
    record: (events) =>
      write((tx) => {
        for (const entry of events) event(tx, entry);
      }),
  };
  return ledger;
}
