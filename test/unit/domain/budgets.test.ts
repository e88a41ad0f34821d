import { describe, expect, it } from 'vitest';
import { budget, inForce, monthOf, overrun, overrunReason, reservationCeiling, spendOf, warningsCrossed, worstCase } from '#shared/domain/budgets';
import { stepSpec } from '#shared/domain/workflow';

const record = (totalTokens: number, costUsd: number) => ({ provider: 'bedrock', model: 'm', inputTokens: 1, outputTokens: totalTokens - 1, totalTokens, latencyMs: 1, costUsd, startedAt: '', endedAt: '' });

describe('budget rules', () => {
  it('an llm step at worst spends its maxTokens at the model output price', () => {
    expect(worstCase({ kind: 'llm', input: { model: 'gpt-4o', maxTokens: 1000 } })).toEqual({ tokens: 1000, usd: 0.01 });
    // A project's own price replaces the list's.
    expect(worstCase({ kind: 'llm', input: { model: 'gpt-4o', maxTokens: 1000 } }, { 'gpt-4o': { inputPerMillion: 1, outputPerMillion: 2 } })).toEqual({ tokens: 1000, usd: 0.002 });
  });

  it("an agent's worst case is its estimate, else its step budget, else nothing declared; other kinds spend nothing", () => {
    expect(worstCase({ kind: 'http', estimate: { tokens: 500, usd: 0.5 }, budget: { tokens: 9000, mode: 'strict' } })).toEqual({ tokens: 500, usd: 0.5 });
    expect(worstCase({ kind: 'lambda', budget: { usd: 3, mode: 'strict' } })).toEqual({ tokens: 0, usd: 3 });
    expect(worstCase({ kind: 'http' })).toEqual({ tokens: 0, usd: 0 });
    expect(worstCase({ kind: 'noop', estimate: { tokens: 5 } })).toEqual({ tokens: 0, usd: 0 });
  });

  it('spend is what the usage records say: every call, else the totals an agent reported', () => {
    expect(spendOf([record(30, 0.1), record(12, 0.2)])).toEqual({ tokens: 42, usd: 0.3 });
    expect(spendOf([], { tokens: { input: 5, output: 7 }, costUsd: 0.01 })).toEqual({ tokens: 12, usd: 0.01 });
    expect(spendOf()).toEqual({ tokens: 0, usd: 0 });
  });

  it('a step fits while used + worst case stays within every limited unit', () => {
    const limit = { tokens: 100, usd: 1, mode: 'strict' as const };
    const where = { level: 'run' as const, stepId: 's' };
    expect(overrun(limit, { tokens: 60, usd: 0.5 }, { tokens: 40, usd: 0.5 }, where)).toBeUndefined();
    const found = overrun(limit, { tokens: 60, usd: 0.5 }, { tokens: 40, usd: 0.6 }, where);
    expect(found).toEqual({ level: 'run', stepId: 's', unit: 'usd', limit: 1, used: 0.5, worstCase: 0.6, left: 0.5 });
    expect(overrunReason(found!)).toBe('BUDGET_EXCEEDED: step s could spend up to $0.6, and the run budget ($1, strict) has $0.5 left ($0.5 spent or reserved); raise it and resume the run');
    expect(reservationCeiling(limit, { tokens: 40, usd: 0.6 })).toEqual({ tokens: 60, usd: 0.4 });
    expect(reservationCeiling({ usd: 1, mode: 'strict' }, { tokens: 40, usd: 0.25 })).toEqual({ usd: 0.75 });
  });

  it('warnings: each of 80% and 100% is crossed by exactly one settlement', () => {
    const limit = { tokens: 100, mode: 'warn' as const };
    const at = (tokens: number) => ({ tokens, usd: 0 });
    expect(warningsCrossed(limit, at(50), at(79), { level: 'run' })).toEqual([]);
    expect(warningsCrossed(limit, at(79), at(80), { level: 'run' }).map((warning) => warning.threshold)).toEqual([80]);
    expect(warningsCrossed(limit, at(80), at(99), { level: 'run' })).toEqual([]);
    expect(warningsCrossed(limit, at(10), at(150), { level: 'project', month: '2026-11' })).toEqual([
      { level: 'project', month: '2026-11', unit: 'tokens', threshold: 80, limit: 100, spent: 150 },
      { level: 'project', month: '2026-11', unit: 'tokens', threshold: 100, limit: 100, spent: 150 },
    ]);
  });

  it('budgets are validated: amounts DynamoDB can hold, strict by default; one without a limit or off is not in force', () => {
    expect(budget.parse({ tokens: 10 })).toEqual({ tokens: 10, mode: 'strict' });
    expect(inForce(budget.parse({ tokens: 10 }))).toBe(true);
    expect(inForce(budget.parse({}))).toBe(false);
    expect(inForce(budget.parse({ usd: 1, mode: 'off' }))).toBe(false);
    expect(inForce(undefined)).toBe(false);
    expect(budget.safeParse({ usd: 5e-324 }).success).toBe(false);
    expect(budget.safeParse({ tokens: 1.5 }).success).toBe(false);
    expect(budget.safeParse({ tokens: 1, mode: 'hard' }).success).toBe(false);
    expect(stepSpec.safeParse({ id: 'a', kind: 'http', budget: { usd: 1 }, estimate: { usd: 0.2 } }).success).toBe(true);
    expect(stepSpec.safeParse({ id: 'a', kind: 'http', estimate: { dollars: 1 } }).success).toBe(false);
  });

  it('a month is the UTC calendar month', () => {
    expect(monthOf(new Date('2026-11-30T23:59:59Z'))).toBe('2026-11');
    expect(monthOf(new Date('2026-12-01T00:00:00Z'))).toBe('2026-12');
  });
});
