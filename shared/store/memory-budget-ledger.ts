import { addAmounts, subtractAmounts, zero, type Amount } from '#shared/domain/budgets';
import type { BudgetLedger, Ledger, LedgerScope } from '#shared/engine/budgets';
import type { EventToWrite, Written } from '#shared/engine/store';
import type { RunRecord } from './runs';
import { runGuardHolds } from './step-conditions';

/**
 * Budget ledgers in memory, with the DynamoDB adapter's semantics (shared/store/budget-ledger.ts):
 * each operation checks and applies in one synchronous turn, so a reservation that does not fit
 * changes nothing however callers interleave. Part of the in-memory engine store.
 */
export function createMemoryBudgetLedger({ runOf, commit }: { runOf: (runId: string) => RunRecord | undefined; commit: (events: EventToWrite[]) => Written }) {
  const ledgers = new Map<string, Ledger>();
  const keyOf = (scope: LedgerScope) => ('runId' in scope ? `run\n${scope.runId}` : `project\n${scope.projectId}\n${scope.month}`);
  const of = (scope: LedgerScope): Ledger => structuredClone(ledgers.get(keyOf(scope)) ?? { used: zero, spent: zero });
  const hold = (run: RunRecord, stepId: string) => (run.heldSteps = [...new Set([...(run.heldSteps ?? []), stepId])]);
  const budgets: BudgetLedger = {
    read: async (scope) => (ledgers.has(keyOf(scope)) ? of(scope) : undefined),
    async reserve(scope, amount: Amount, ceiling) {
      const current = of(scope);
      if ((ceiling.tokens !== undefined && current.used.tokens > ceiling.tokens) || (ceiling.usd !== undefined && current.used.usd > ceiling.usd)) return { won: false, used: current.used };
      ledgers.set(keyOf(scope), { ...current, used: addAmounts(current.used, amount) });
      return { won: true };
    },
    async settle(scope, reserved, actual) {
      const current = of(scope);
      const after = { used: addAmounts(current.used, subtractAmounts(actual, reserved)), spent: addAmounts(current.spent, actual) };
      ledgers.set(keyOf(scope), after);
      return structuredClone(after);
    },
    async block(runId, stepId, reason, events) {
      const run = runOf(runId);
      if (!run) return { won: false };
      if (runGuardHolds('engine:budgetBlock', run)) {
        Object.assign(run, { status: 'blocked', reason });
        hold(run, stepId);
        return commit(events.block);
      }
      if (!runGuardHolds('engine:budgetHold', run)) return { won: false };
      hold(run, stepId);
      return commit(events.hold);
    },
    async setRunBudget(runId, value, event) {
      const run = runOf(runId);
      if (!run || !runGuardHolds('engine:setBudget', run)) return { won: false };
      run.budget = structuredClone(value);
      return commit([event]);
    },
    record: async (events) => commit(events),
  };
  return { budgets, ledger: (scope: LedgerScope) => (ledgers.has(keyOf(scope)) ? of(scope) : undefined) };
}
