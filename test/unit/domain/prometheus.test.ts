import { describe, expect, it } from 'vitest';
import { countEvent, countModelUsage, emptyCounters } from '#shared/domain/project-counters';
import { prometheusContentType, renderProjectMetrics } from '#shared/domain/prometheus';

const month = { period: '2026-12', spentUsd: 1.5, spentTokens: 1200 };

describe('the Prometheus text of a project (renderProjectMetrics)', () => {
  it('writes HELP and TYPE before each family, then one sample a line, ending with a line feed', () => {
    const counters = emptyCounters();
    for (const type of ['run.created', 'run.started', 'run.completed', 'step.queued', 'step.started', 'step.completed', 'step.needs_qa']) countEvent(counters, type);
    countModelUsage(counters, [], { tokens: { input: 30, output: 7 }, costUsd: 0.0021 });
    counters.awsCostUsd = 0.000_001_25;

    const text = renderProjectMetrics(counters, month);
    const lines = text.split('\n');

    expect(text.endsWith('\n')).toBe(true);
    expect(lines.slice(0, 3)).toEqual(['# HELP baton_runs_total Runs that entered each status (every recorded transition: a run resumed after a block enters running again).', '# TYPE baton_runs_total counter', 'baton_runs_total{status="pending"} 1']);
    expect(lines).toContain('baton_runs_total{status="completed"} 1');
    expect(lines).toContain('baton_runs_total{status="blocked"} 0');
    expect(lines).toContain('baton_steps_total{status="needs_qa"} 1');
    expect(lines).toContain('baton_steps_total{status="failed"} 0');
    expect(lines).toContain('baton_tokens_total{direction="input"} 30');
    expect(lines).toContain('baton_tokens_total{direction="output"} 7');
    expect(lines).toContain('baton_usage_usd_total 0.0021');
    expect(lines).toContain('baton_aws_cost_usd_total 0.00000125');
    expect(lines).toContain('# TYPE baton_budget_spend_usd gauge');
    expect(lines).toContain('baton_budget_spend_usd{period="2026-12"} 1.5');
    expect(lines).toContain('baton_budget_spend_tokens{period="2026-12"} 1200');
    // No limit without a monthly budget in force.
    expect(text).not.toContain('baton_budget_limit_usd');
    // Each family's samples follow its own TYPE line: no family is split.
    const typeLines = lines.filter((line) => line.startsWith('# TYPE')).map((line) => line.split(' ')[2]);
    expect(new Set(typeLines).size).toBe(typeLines.length);
  });

  it('lists a status it does not know after the known ones, and the monthly limits when set', () => {
    const counters = emptyCounters();
    counters.runs.archived = 2;
    const text = renderProjectMetrics(counters, { ...month, limitUsd: 10, limitTokens: 5000 });
    const runs = text.split('\n').filter((line) => line.startsWith('baton_runs_total'));
    expect(runs.at(-1)).toBe('baton_runs_total{status="archived"} 2');
    expect(text).toContain('baton_budget_limit_usd{period="2026-12"} 10\n');
    expect(text).toContain('baton_budget_limit_tokens{period="2026-12"} 5000\n');
  });

  it('counts model usage by its records, and by the reported totals only when there are none', () => {
    const counters = emptyCounters();
    const record = { provider: 'p', model: 'm', inputTokens: 5, outputTokens: 3, totalTokens: 8, latencyMs: 1, costUsd: 0.5, startedAt: '', endedAt: '' };
    countModelUsage(counters, [record, record], { tokens: { input: 1000, output: 1000 }, costUsd: 9 });
    expect([counters.inputTokens, counters.outputTokens, counters.usageUsd]).toEqual([10, 6, 1]);
  });

  it("names Prometheus' text format 0.0.4", () => {
    expect(prometheusContentType).toBe('text/plain; version=0.0.4; charset=utf-8');
  });
});
