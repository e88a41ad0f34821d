import { z } from 'zod';
import { priceOf, type LlmPrices } from './llm-prices';
import type { LlmUsageRecord } from './llm-usage';

/**
 * Budgets (issue 12 §1): a limit in tokens and/or USD at three levels (a step, a run, a project's
 * calendar month), each `strict` (a step whose worst case could pass what is left never starts:
 * the run blocks with BUDGET_EXCEEDED), `warn` (`budget.warning` at 80% and 100%, and go on) or
 * `off`. Pure rules: what a step may spend at worst, what it did spend (its usage records), and
 * whether a reservation fits. The engine reserves and settles through the store port
 * (shared/engine/budgets.ts).
 */

export const budgetModes = ['strict', 'warn', 'off'] as const;
export type BudgetMode = (typeof budgetModes)[number];

/** USD: 0, or at least a billionth of a dollar (DynamoDB refuses numbers under 1e-130; usage is priced to 1e-9). */
const usdAmount = z.union([z.literal(0), z.number().min(1e-9).max(1e9)]);
const tokenAmount = z.number().int().min(0).max(1e12);

/** A budget; one with neither tokens nor usd limits nothing (the contract cannot say "at least one of them", so such a budget is accepted and not in force). */
export const budget = z
  .strictObject({
    tokens: tokenAmount.optional().meta({ description: 'Most tokens (input + output) to spend' }),
    usd: usdAmount.optional().meta({ description: 'Most USD to spend (usage records priced by the project or the list)' }),
    mode: z.enum(budgetModes).default('strict').meta({ description: 'strict: a step that could pass the limit never starts (the run blocks); warn: budget.warning at 80% and 100%; off: not enforced' }),
  });
export type Budget = z.infer<typeof budget>;

/** What an agent step declares it may spend at most (its worst case for strict budgets). */
export const estimate = z.strictObject({
  tokens: tokenAmount.optional(),
  usd: usdAmount.optional(),
});
export type Estimate = z.infer<typeof estimate>;

/** A project's budgets: one copied to every new run that brings none, one per calendar month (UTC) across its runs. */
export const projectBudgets = z.strictObject({
  perRun: budget.optional().meta({ description: 'The budget of a run created without its own' }),
  monthly: budget.optional().meta({ description: "The project's total per calendar month (UTC), across all its runs" }),
});
export type ProjectBudgets = z.infer<typeof projectBudgets>;

export interface Amount {
  tokens: number;
  usd: number;
}
export const zero: Amount = { tokens: 0, usd: 0 };

/** USD kept to a billionth of a dollar, as usage records are: sums stay exact in DynamoDB's decimals. */
export const roundUsd = (usd: number): number => Math.round(usd * 1e9) / 1e9;
export const addAmounts = (a: Amount, b: Amount): Amount => ({ tokens: a.tokens + b.tokens, usd: roundUsd(a.usd + b.usd) });
export const subtractAmounts = (a: Amount, b: Amount): Amount => ({ tokens: a.tokens - b.tokens, usd: roundUsd(a.usd - b.usd) });

/** Kinds that may spend: only they are checked, reserved and settled; a noop, approval or wait step costs a budget nothing. */
export const spendingKinds: readonly string[] = ['llm', 'http', 'lambda'];

/** `run` and `step` budgets; `project` is the project's month. */
export type BudgetLevel = 'step' | 'run' | 'project';

/** A budget that is enforced: `strict` or `warn`, with a limit in tokens or USD. */
export const inForce = (value: Budget | undefined): value is Budget => value !== undefined && value.mode !== 'off' && (value.tokens !== undefined || value.usd !== undefined);

/**
 * The most a step may spend in one attempt, before it starts: an `llm` step's `maxTokens` at its
 * model's output price (input tokens are not known until its prompt is rendered: settled after);
 * an agent's declared `estimate`, else its step budget, else nothing declared (0: it starts while
 * the budget is not used up, and what it reports is settled after).
 */
export function worstCase(step: { kind: string; input?: unknown; budget?: Budget; estimate?: Estimate }, prices?: LlmPrices): Amount {
  if (step.kind === 'llm') {
    const input = (step.input ?? {}) as { model?: string; maxTokens?: number };
    const tokens = input.maxTokens ?? 0;
    const price = input.model ? priceOf(input.model, prices) : undefined;
    return { tokens, usd: roundUsd((tokens * (price?.outputPerMillion ?? 0)) / 1_000_000) };
  }
  if (!spendingKinds.includes(step.kind)) return zero;
  const declared = step.estimate ?? step.budget;
  return { tokens: declared?.tokens ?? 0, usd: declared?.usd ?? 0 };
}

/** What usage records say was spent: every model call; an agent that reported totals only counts by those. */
export function spendOf(records: readonly LlmUsageRecord[] = [], reported?: { tokens?: { input?: number; output?: number }; costUsd?: number }): Amount {
  if (records.length > 0) return records.reduce<Amount>((sum, record) => addAmounts(sum, { tokens: record.totalTokens, usd: record.costUsd }), zero);
  return { tokens: (reported?.tokens?.input ?? 0) + (reported?.tokens?.output ?? 0), usd: roundUsd(reported?.costUsd ?? 0) };
}

/** The greatest `used` a reservation of `worst` still fits under, per limited unit. */
export const reservationCeiling = (limit: Budget, worst: Amount): Partial<Amount> => ({
  ...(limit.tokens !== undefined ? { tokens: limit.tokens - worst.tokens } : {}),
  ...(limit.usd !== undefined ? { usd: roundUsd(limit.usd - worst.usd) } : {}),
});

export interface Overrun {
  level: BudgetLevel;
  /** The month (YYYY-MM) of a project budget. */
  month?: string;
  stepId: string;
  unit: 'tokens' | 'usd';
  limit: number;
  /** Spent and reserved so far at this level. */
  used: number;
  /** The most the step could spend. */
  worstCase: number;
  left: number;
}

/** The first unit in which `used + worst` passes the limit; undefined when the step fits. */
export function overrun(limit: Budget, used: Amount, worst: Amount, where: { level: BudgetLevel; stepId: string; month?: string }): Overrun | undefined {
  for (const unit of ['tokens', 'usd'] as const) {
    const max = limit[unit];
    if (max === undefined || used[unit] + worst[unit] <= max) continue;
    return { ...where, unit, limit: max, used: used[unit], worstCase: worst[unit], left: unit === 'usd' ? roundUsd(max - used[unit]) : max - used[unit] };
  }
  return undefined;
}

const levelName = (overrun: Pick<Overrun, 'level' | 'month' | 'stepId'>) =>
  overrun.level === 'project' ? `the project's budget for ${overrun.month}` : overrun.level === 'run' ? 'the run budget' : `the budget of step ${overrun.stepId}`;
const quantity = (unit: Overrun['unit'], value: number) => (unit === 'usd' ? `$${value}` : `${value} tokens`);

/** The blocked run's reason: the code, the level and the numbers. */
export const overrunReason = (found: Overrun): string =>
  `BUDGET_EXCEEDED: step ${found.stepId} could spend up to ${quantity(found.unit, found.worstCase)}, and ${levelName(found)} (${quantity(found.unit, found.limit)}, strict) has ${quantity(found.unit, found.left)} left (${quantity(found.unit, found.used)} spent or reserved); raise it and resume the run`;

export const warningThresholds = [80, 100] as const;

export interface Warning {
  level: BudgetLevel;
  month?: string;
  unit: 'tokens' | 'usd';
  threshold: (typeof warningThresholds)[number];
  limit: number;
  spent: number;
}

/** The thresholds (80%, 100%) that spending from `before` to `after` crossed, per limited unit: each is crossed by exactly one settlement. */
export function warningsCrossed(limit: Budget, before: Amount, after: Amount, where: { level: BudgetLevel; month?: string }): Warning[] {
  const crossed: Warning[] = [];
  for (const unit of ['tokens', 'usd'] as const) {
    const max = limit[unit];
    if (max === undefined) continue;
    for (const threshold of warningThresholds) {
      const mark = (max * threshold) / 100;
      if (before[unit] < mark && after[unit] >= mark) crossed.push({ ...where, unit, threshold, limit: max, spent: after[unit] });
    }
  }
  return crossed;
}

/** A project's calendar month (UTC) for its monthly budget. */
export const monthOf = (at: Date): string => at.toISOString().slice(0, 7);
