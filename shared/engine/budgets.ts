import {
  addAmounts,
  inForce,
  monthOf,
  overrun,
  overrunReason,
  reservationCeiling,
  spendingKinds,
  spendOf,
  subtractAmounts,
  warningsCrossed,
  worstCase,
  zero,
  type Amount,
  type Budget,
  type BudgetLevel,
  type Overrun,
  type Warning,
} from '#shared/domain/budgets';
import { ConflictError } from '#shared/domain/errors';
import { finalRunStatuses } from '#shared/domain/states';
import type { StepError } from '#shared/domain/step-errors';
import type { StepOutcome } from '#shared/executors/types';
import type { RunRecord, StepRecord } from '#shared/store/runs';
import { runEvent, type EngineDeps } from './context';
import type { EventToWrite, Written } from './store';

/**
 * Budgets in the step lifecycle (issue 12 §1; the rules are in shared/domain/budgets.ts). Before
 * a spending step is claimed, its worst case is reserved at every strict level with a conditional
 * write that fits it under the limit, so concurrent steps cannot overspend together; a step that
 * does not fit is never claimed: the run blocks with BUDGET_EXCEEDED and the step waits in
 * `heldSteps` for `resume` (or `retry`). After the attempt, what its usage records say it spent
 * replaces the reservation, and warn levels emit `budget.warning` as they cross 80% and 100%.
 * A step with no budget in force (no step, run or monthly budget, or a kind that spends nothing)
 * does nothing here: no read, no write.
 */

/** A run's ledger, or a project's for one calendar month (UTC). */
export type LedgerScope = { runId: string } | { projectId: string; month: string };

/** The counters of a ledger: `used` = spent + reserved (what strict reservations are checked against). */
export interface Ledger {
  used: Amount;
  spent: Amount;
}

/** The budgets part of the engine's store port (adapters: shared/store/budget-ledger.ts, memory-budget-ledger.ts). */
export interface BudgetLedger {
  /** Adds `amount` to `used` only if `used` is at most `ceiling` in each unit given (one conditional write); lost: it did not fit, with what is used now. */
  reserve(scope: LedgerScope, amount: Amount, ceiling: Partial<Amount>): Promise<{ won: true } | { won: false; used: Amount }>;
  /** A reservation replaced by what was spent (`used` + actual − reserved, `spent` + actual), atomically; answers the counters after. */
  settle(scope: LedgerScope, reserved: Amount, actual: Amount): Promise<Ledger>;
  read(scope: LedgerScope): Promise<Ledger | undefined>;
  /**
   * A step that does not fit: a running run becomes blocked with the reason (`block` events), an
   * already blocked or paused one only holds it (`hold` events); either way the step waits in
   * `heldSteps`. Lost when the run is in none of those statuses.
   */
  block(runId: string, stepId: string, reason: string, events: { block: EventToWrite[]; hold: EventToWrite[] }): Promise<Written>;
  /** A person sets the run's budget (lost when the run has ended). */
  setRunBudget(runId: string, value: Budget, event: EventToWrite): Promise<Written>;
  /** Events that record no change of their own (`budget.warning`). */
  record(events: EventToWrite[]): Promise<Written>;
}

/** One level a step's attempt is held to: where it is counted, what it reserved. */
interface Level {
  level: BudgetLevel;
  limit: Budget;
  scope?: LedgerScope;
  month?: string;
  reserved: Amount;
}

/** An attempt's reservations, to settle after it (or release when its claim was lost). */
export interface BudgetHold {
  release(): Promise<void>;
  settle(outcome: StepOutcome | StepError): Promise<void>;
}

/**
 * Reserves a spending step's worst case at its strict levels before it is claimed. Undefined:
 * no budget is in force for it (nothing was read or written); `blocked`: it does not fit and the
 * run was blocked (or the step held).
 */
export async function reserveBudgets(deps: EngineDeps, run: RunRecord, step: StepRecord): Promise<BudgetHold | 'blocked' | undefined> {
  if (!spendingKinds.includes(step.kind)) return undefined;
  const { levels, settings } = await levelsOf(deps, run, step);
  if (levels.length === 0) return undefined;
  const worst = worstCase(step, settings.llmPrices);
  const hold = budgetHold(deps, run, step, levels);
  for (const entry of levels.filter((candidate) => candidate.limit.mode === 'strict')) {
    const found = await reserveLevel(deps, run, step, entry, worst);
    if (!found) continue;
    await hold.release();
    await blockOnBudget(deps, run, step, found);
    return 'blocked';
  }
  return hold;
}

/**
 * What an agent reports through its callback, after its attempt's reservation was settled (when it
 * answered "pending"): counted at every level in force, warnings included. Nothing to do without one.
 */
export async function settleLateSpend(deps: EngineDeps, run: RunRecord, step: StepRecord, outcome: StepOutcome | StepError): Promise<void> {
  if (!spendingKinds.includes(step.kind)) return;
  const { levels } = await levelsOf(deps, run, step);
  if (levels.length) await budgetHold(deps, run, step, levels).settle(outcome);
}

/** The levels in force for a step: its own budget, its run's, its project's month (each unless off). */
async function levelsOf(deps: EngineDeps, run: RunRecord, step: StepRecord) {
  const settings = await deps.projectSettings(run.projectId);
  const month = monthOf(deps.clock());
  const levels: Level[] = [
    ...(inForce(step.budget) ? [{ level: 'step' as const, limit: step.budget, reserved: zero }] : []),
    ...(inForce(run.budget) ? [{ level: 'run' as const, limit: run.budget, scope: { runId: run.id }, reserved: zero }] : []),
    ...(inForce(settings.budgets?.monthly) ? [{ level: 'project' as const, limit: settings.budgets.monthly, scope: { projectId: run.projectId, month }, month, reserved: zero }] : []),
  ];
  return { levels, settings };
}

/** One strict level: the step's own spend is its ledger; the run and the month reserve conditionally. */
async function reserveLevel(deps: EngineDeps, run: RunRecord, step: StepRecord, entry: Level, worst: Amount): Promise<Overrun | undefined> {
  const where = { level: entry.level, stepId: step.stepId, ...(entry.month ? { month: entry.month } : {}) };
  if (!entry.scope) return overrun(entry.limit, spendOf(step.llmUsage, step.agentUsage), worst, where);
  let limit = entry.limit;
  let reserved = await deps.store.budgets.reserve(entry.scope, worst, reservationCeiling(limit, worst));
  if (!reserved.won && entry.level === 'project') {
    // The cached settings may predate a raised monthly budget: ask once more with fresh ones.
    const fresh = (await deps.projectSettings(run.projectId, { fresh: true })).budgets?.monthly;
    if (fresh?.mode === 'strict') {
      limit = fresh;
      reserved = await deps.store.budgets.reserve(entry.scope, worst, reservationCeiling(limit, worst));
    } else reserved = { won: true };
  }
  if (reserved.won) {
    entry.reserved = worst;
    return undefined;
  }
  // Lost: a unit did not fit under the limit (an exact tie of floating sums aside, overrun names it).
  return overrun(limit, reserved.used, worst, where) ?? { ...where, unit: limit.tokens !== undefined ? 'tokens' : 'usd', limit: limit.tokens ?? limit.usd ?? 0, used: limit.tokens !== undefined ? reserved.used.tokens : reserved.used.usd, worstCase: limit.tokens !== undefined ? worst.tokens : worst.usd, left: 0 };
}

function budgetHold(deps: EngineDeps, run: RunRecord, step: StepRecord, levels: Level[]): BudgetHold {
  return {
    async release() {
      for (const entry of levels) {
        if (entry.scope && (entry.reserved.tokens || entry.reserved.usd)) await deps.store.budgets.settle(entry.scope, entry.reserved, zero);
        entry.reserved = zero;
      }
    },
    async settle(outcome) {
      const actual = outcome instanceof Error ? spendOf(outcome.llmUsage) : outcome.status === 'waiting' ? zero : spendOf(outcome.usage?.llm, outcome.usage);
      const warnings: (Warning & { stepId: string })[] = [];
      try {
        for (const entry of levels) {
          const where = { level: entry.level, ...(entry.month ? { month: entry.month } : {}) };
          if (!entry.scope) {
            const before = spendOf(step.llmUsage, step.agentUsage);
            if (entry.limit.mode === 'warn') warnings.push(...warningsCrossed(entry.limit, before, addAmounts(before, actual), where).map((found) => ({ ...found, stepId: step.stepId })));
            continue;
          }
          if (!entry.reserved.tokens && !entry.reserved.usd && !actual.tokens && !actual.usd) continue;
          const after = await deps.store.budgets.settle(entry.scope, entry.reserved, actual);
          entry.reserved = zero;
          if (entry.limit.mode === 'warn') warnings.push(...warningsCrossed(entry.limit, subtractAmounts(after.spent, actual), after.spent, where).map((found) => ({ ...found, stepId: step.stepId })));
        }
        if (warnings.length === 0) return;
        const at = deps.clock();
        const written = await deps.store.budgets.record(warnings.map((warning) => runEvent(run, 'budget.warning', 'worker', { ...warning }, at)));
        if (written.won) deps.metrics.add('BudgetEvents', { reason: 'warning' }, warnings.length);
        if (written.won) await deps.outbox.publish(written.events);
      } catch (error) {
        // The attempt's outcome is recorded; a reservation left unsettled only makes later steps wait sooner (never overspend).
        deps.logger.error('budget not settled', { runId: run.id, stepId: step.stepId, error: error as Error });
      }
    },
  };
}

/** The run blocks with BUDGET_EXCEEDED (or, already blocked or paused, keeps the step held), with `budget.exceeded`. */
async function blockOnBudget(deps: EngineDeps, run: RunRecord, step: StepRecord, found: Overrun): Promise<void> {
  const at = deps.clock();
  const reason = overrunReason(found);
  const exceeded = () => runEvent(run, 'budget.exceeded', 'worker', { ...found, reason }, at);
  const blocked = runEvent(run, 'run.blocked', 'worker', { stepId: step.stepId, code: 'BUDGET_EXCEEDED', reason }, at);
  const written = await deps.store.budgets.block(run.id, step.stepId, reason, { block: [blocked, exceeded()], hold: [exceeded()] });
  if (written.won) {
    // Blocked (the run was running) or held (already blocked or paused): an exceeded budget either way.
    deps.metrics.add('BudgetEvents', { reason: 'exceeded' });
    if (written.events.some(({ event }) => event.type === 'run.blocked')) deps.metrics.add('RunsBlocked', { reason: 'BUDGET_EXCEEDED' });
    await deps.outbox.publish(written.events);
  } else deps.logger.warn('budget block not recorded: the run ended meanwhile', { runId: run.id, stepId: step.stepId });
}

/** An editor sets the run's budget (any status but final); `budget.changed` records it. */
export async function setRunBudget(deps: EngineDeps, run: RunRecord, value: Budget, actor: string): Promise<void> {
  if (finalRunStatuses.includes(run.status)) throw new ConflictError(`Cannot change the budget of a run that is ${run.status}`);
  const event = runEvent(run, 'budget.changed', actor, { budget: value, ...(run.budget ? { previous: run.budget } : {}) }, deps.clock());
  const written = await deps.store.budgets.setRunBudget(run.id, value, event);
  if (!written.won) throw new ConflictError('The run ended meanwhile; its budget can no longer change');
  await deps.outbox.publish(written.events);
}

/** Spend against each budget in force or set, for the run detail: spent from the usage records, reserved from the ledgers. */
export async function runBudgets(deps: EngineDeps, run: RunRecord, steps: StepRecord[]) {
  const settings = await deps.projectSettings(run.projectId, { fresh: true });
  const spent = steps.reduce((sum, step) => addAmounts(sum, spendOf(step.llmUsage, step.agentUsage)), zero);
  const runLedger = run.budget ? await deps.store.budgets.read({ runId: run.id }) : undefined;
  const monthly = settings.budgets?.monthly;
  const month = monthOf(deps.clock());
  const monthLedger = monthly ? await deps.store.budgets.read({ projectId: run.projectId, month }) : undefined;
  const stepBudgets = steps.filter((step) => step.budget);
  return {
    ...(run.budget ? { run: { ...run.budget, spent, reserved: runLedger ? subtractAmounts(runLedger.used, runLedger.spent) : zero } } : {}),
    ...(stepBudgets.length ? { steps: Object.fromEntries(stepBudgets.map((step) => [step.stepId, { ...step.budget!, spent: spendOf(step.llmUsage, step.agentUsage) }])) } : {}),
    ...(monthly ? { projectMonthly: { ...monthly, month, spent: monthLedger?.spent ?? zero, reserved: monthLedger ? subtractAmounts(monthLedger.used, monthLedger.spent) : zero } } : {}),
  };
}
