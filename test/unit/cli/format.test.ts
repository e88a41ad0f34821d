import type { RunDetail, StepSummary } from '#sdk';
import { describe, expect, it } from 'vitest';
import { approvalHint, costOf, eventLine, formatCost, modelLines, formatDuration, formatUsd, progressLine, progressOf, summaryLines } from '#cli/format';

const now = Date.parse('2026-11-30T09:00:30Z');

const run = (overrides: Partial<RunDetail> = {}): RunDetail => ({
  id: 'run_01m8nr9vsag79msy2kv4hbxs92',
  projectId: 'prj_1',
  workflowId: 'wf_1',
  workflowName: 'release',
  workflowVersion: 3,
  status: 'running',
  createdAt: '2026-11-30T09:00:00.000Z',
  startedAt: '2026-11-30T09:00:00.000Z',
  steps: { total: 6, byStatus: { completed: 2, running: 1, needs_qa: 1, pending: 2, failed: 0 } },
  usage: { cost: { totalUsd: 0.0000312, breakdown: {} }, agentUsage: { tokens: { input: 1200, output: 340 }, costUsd: 0.0123 }, llm: {} },
  budgets: {},
  ...overrides,
});

const step = (id: string, status: StepSummary['status'], overrides: Partial<StepSummary> = {}): StepSummary => ({ id, kind: 'noop', status, attempt: 1, generation: 1, dependsOn: [], ...overrides });

const steps: StepSummary[] = [
  step('fetch', 'completed'),
  step('lint', 'completed'),
  step('build', 'running', { kind: 'http', startedAt: '2026-11-30T09:00:10.000Z' }),
  step('review', 'needs_qa', { kind: 'approval' }),
  step('publish', 'pending', { dependsOn: ['review'] }),
  step('announce', 'pending', { dependsOn: ['fetch'], notBefore: '2026-12-01T09:00:00.000Z' }),
];

describe('progressOf', () => {
  it('tells what runs, what waits and why, and what is done', () => {
    const progress = progressOf(run(), steps, now);

    expect(progress).toMatchObject({ total: 6, done: 2, running: ['build'], elapsedMs: 30_000, status: 'running' });
    expect(progress.waiting).toEqual([
      { step: 'announce', on: 'not_before', until: '2026-12-01T09:00:00.000Z' },
      { step: 'review', on: 'approval' },
    ]);
    expect(progress.cost).toEqual({ awsUsd: 0.0000312, agentUsd: 0.0123, tokensIn: 1200, tokensOut: 340, models: [] });
  });

  it('counts a wait or webhook step that is running as waiting, not running', () => {
    const progress = progressOf(run(), [step('pause', 'running', { kind: 'wait' }), step('hook', 'running', { kind: 'webhook' })], now);
    expect(progress.running).toEqual([]);
    expect(progress.waiting).toEqual([{ step: 'hook', on: 'webhook' }, { step: 'pause', on: 'timer' }]);
  });

  it('lists failures with their error, and stops the clock at finishedAt', () => {
    const failed = step('validate', 'failed', { kind: 'http', error: { message: 'agent answered 400', retryable: false, code: 'HTTP_400', attempt: 2, at: '2026-11-30T09:00:05.000Z' } });
    const progress = progressOf(run({ status: 'blocked', finishedAt: '2026-11-30T09:00:05.000Z' }), [failed], now);
    expect(progress.failed).toEqual([{ step: 'validate', status: 'failed', message: 'agent answered 400', code: 'HTTP_400', attempt: 2 }]);
    expect(progress.elapsedMs).toBe(5_000);
  });
});

describe('numbers as people read them', () => {
  it('durations', () => {
    expect(formatDuration(850)).toBe('0.8s');
    expect(formatDuration(9_999)).toBe('9.9s');
    expect(formatDuration(42_000)).toBe('42s');
    expect(formatDuration(187_000)).toBe('3m 07s');
    expect(formatDuration(7_500_000)).toBe('2h 05m');
  });

  it('dollars, small amounts with two significant digits', () => {
    expect(formatUsd(0)).toBe('$0.00');
    expect(formatUsd(1.254)).toBe('$1.25');
    expect(formatUsd(0.0000312)).toBe('$0.000031');
    expect(formatUsd(0.004)).toBe('$0.0040');
  });

  it('cost: AWS alone, or beside what agents and models reported', () => {
    const aws = { awsUsd: 0.00002, agentUsd: 0, tokensIn: 0, tokensOut: 0, models: [] };
    const haiku = { model: 'anthropic.claude-3-haiku', provider: 'bedrock', calls: 2, inputTokens: 1200, outputTokens: 340, costUsd: 0.0042 };
    expect(formatCost(aws)).toBe('$0.000020 AWS (estimated)');
    expect(formatCost({ ...aws, agentUsd: 0.0123, tokensIn: 1200, tokensOut: 340, models: [haiku] })).toBe('$0.000020 AWS (estimated) · $0.012 agents and models (1,200 tokens in, 340 out)');
    expect(formatCost({ ...aws, models: [haiku] })).toBe('$0.000020 AWS (estimated) · $0.0042 models');
    expect(modelLines({ ...aws, models: [haiku] })).toEqual(['bedrock anthropic.claude-3-haiku: 2 calls, 1,200 tokens in, 340 out, $0.0042']);
  });

  it('reads model usage from the run', () => {
    const llm = { 'anthropic.claude-3-haiku': { provider: 'bedrock', calls: 1, inputTokens: 10, outputTokens: 5, totalTokens: 15, costUsd: 0.00001, latencyMs: 120 } };
    expect(costOf(run({ usage: { cost: { totalUsd: 0 }, agentUsage: {}, llm } })).models).toEqual([
      { model: 'anthropic.claude-3-haiku', provider: 'bedrock', calls: 1, inputTokens: 10, outputTokens: 5, costUsd: 0.00001 },
    ]);
  });
});

describe('lines', () => {
  it('a plain progress line for CI logs: no escape codes', () => {
    const line = progressLine(progressOf(run(), steps, now));
    expect(line).toBe('[30s] running · 2/6 done · running: build · waiting: announce (not before 2026-12-01 09:00Z), review (approval)');
    expect(line).not.toContain('\u001b');
  });

  it('a hint naming the command that lets an approval go on', () => {
    expect(approvalHint(progressOf(run(), steps, now))).toEqual({ step: 'review', command: 'npx baton approve run_01m8nr9vsag79msy2kv4hbxs92 review' });
    expect(approvalHint(progressOf(run(), [step('a', 'running')], now))).toBeUndefined();
  });

  it('a completed summary: duration, counts and cost', () => {
    const done = run({ status: 'completed', finishedAt: '2026-11-30T09:01:12.000Z', steps: { total: 2, byStatus: { completed: 1, skipped: 1 } } });
    expect(summaryLines(progressOf(done, [step('a', 'completed'), step('b', 'skipped')], now))).toEqual([
      'Run run_01m8nr9vsag79msy2kv4hbxs92 (release v3) completed in 1m 12s',
      '  Steps:  2/2 done',
      '  Cost:   $0.000031 AWS (estimated) · $0.012 agents and models (1,200 tokens in, 340 out)',
    ]);
  });

  it("a map's items are counted apart from the run's own steps", () => {
    const mapped = run({ status: 'blocked', finishedAt: '2026-11-30T09:01:12.000Z', steps: { total: 2, byStatus: { failed: 1, pending: 1 }, children: { total: 30, done: 30, succeeded: 28, failed: 2 } } });
    const lines = summaryLines(progressOf(mapped, [step('fan', 'failed', { kind: 'map' }), step('after', 'pending', { dependsOn: ['fan'] })], now));
    expect(lines.slice(1, 3)).toEqual(['  Steps:  0/2 done; 1 pending, 1 failed', '  Items:  30/30 map items done (28 succeeded, 2 failed)']);
    expect(summaryLines(progressOf(run(), steps, now)).some((line) => line.startsWith('  Items:'))).toBe(false);
  });

  it('a blocked summary says what failed and how to retry', () => {
    const blocked = run({ status: 'blocked', reason: 'step validate failed', steps: { total: 3, byStatus: { completed: 1, failed: 1, pending: 1 } } });
    const failed = step('validate', 'failed', { error: { message: 'agent answered 400', retryable: false, code: 'HTTP_400', attempt: 1, at: '2026-11-30T09:00:05.000Z' } });
    const lines = summaryLines(progressOf(blocked, [step('a', 'completed'), failed, step('c', 'pending', { dependsOn: ['validate'] })], now));
    expect(lines[0]).toBe('Run run_01m8nr9vsag79msy2kv4hbxs92 (release v3) blocked after 30s: step validate failed');
    expect(lines).toContain('  Steps:  1/3 done; 1 pending, 1 failed');
    expect(lines).toContain('  Failed: validate: agent answered 400 (HTTP_400, attempt 1)');
    expect(lines.at(-1)).toBe('  Retry:  npx baton run retry run_01m8nr9vsag79msy2kv4hbxs92 [--step validate --input <file>]');
  });

  it('a run still moving (run show) says how long so far and what waits', () => {
    const lines = summaryLines(progressOf(run(), steps, now));
    expect(lines[0]).toBe('Run run_01m8nr9vsag79msy2kv4hbxs92 (release v3) running, 30s so far');
    expect(lines).toContain('  Waits:  review (approval)');
  });

  it('an event line: time, type, step, detail and who', () => {
    const line = eventLine({ id: '01', type: 'step.completed', projectId: 'p', runId: 'r', stepId: 'fetch', at: '2026-11-30T09:14:03.120Z', actor: 'worker', detail: { attempt: 1 } });
    expect(line).toBe('09:14:03.120  step.completed    fetch         {"attempt":1}  (by worker)');
  });
});

describe('budgets and a budget block', () => {
  const budgets: RunDetail['budgets'] = {
    run: { tokens: 110, mode: 'strict', spent: { tokens: 26, usd: 0.00003 }, reserved: { tokens: 0, usd: 0 } },
    projectMonthly: { usd: 200, mode: 'warn', month: '2026-11', spent: { tokens: 1200, usd: 1.5 }, reserved: { tokens: 100, usd: 0.01 } },
    steps: { draft: { usd: 0.5, mode: 'strict', spent: { tokens: 0, usd: 0 } } },
  };

  it('shows spend against each budget in the summary, and how to go on after a budget block', () => {
    const blocked = run({ status: 'blocked', reason: 'BUDGET_EXCEEDED: step draft could spend up to 100 tokens, and the run budget (110 tokens, strict) has 84 tokens left', heldSteps: ['draft'], budgets });
    const progress = progressOf(blocked, [step('research', 'completed'), step('draft', 'pending', { kind: 'llm', dependsOn: ['research'] })], now);

    const lines = summaryLines(progress);

    expect(progress.waiting).toEqual([{ step: 'draft', on: 'held' }]);
    expect(progress.running).toEqual([]);
    expect(lines.filter((line) => line.startsWith('  Budget: '))).toEqual([
      '  Budget: run 26 / 110 tokens · strict',
      '  Budget: project 2026-11 $1.50 / $200.00 · warn (+100 tokens, $0.010 reserved)',
      '  Budget: step draft $0.00 / $0.50 · strict',
    ]);
    expect(lines).toContain('  Waits:  draft (held until the run resumes)');
    expect(lines.at(-1)).toBe(`  Raise:  npx baton run budget ${blocked.id} --tokens <n> [--usd <usd>], then npx baton resume ${blocked.id}`);
  });

  it('a run blocked with another code and no failed step resumes; one with a failed step retries', () => {
    const guarded = summaryLines(progressOf(run({ status: 'blocked', reason: 'CAPACITY_LOST: the run waits for a person to resume it' }), [], now));
    const failed = step('check', 'failed', { error: { message: 'boom', retryable: false, attempt: 1, at: '2026-11-30T09:00:05.000Z' } });
    const retry = summaryLines(progressOf(run({ status: 'blocked', reason: 'step check failed: boom' }), [failed], now));
    expect(guarded.at(-1)).toBe('  Resume: npx baton resume run_01m8nr9vsag79msy2kv4hbxs92');
    expect(retry.at(-1)).toBe('  Retry:  npx baton run retry run_01m8nr9vsag79msy2kv4hbxs92 [--step check --input <file>]');
    expect(formatUsd(-0.000131)).toBe('-$0.00013');
  });
});

describe('throttled steps, quality reviews and guard stops', () => {
  it('says which limit a throttled step waits for, and that an automatic review is not waiting for a person', () => {
    const throttled = { ...step('call', 'queued', { kind: 'http' }), status: 'throttled', throttle: { kind: 'concurrency', key: 'customer-42', limit: 2, since: '2026-11-30T09:00:01.000Z' } } as unknown as StepSummary;
    const project = { ...step('other', 'queued', { kind: 'http' }), status: 'throttled', throttle: { kind: 'project', key: 'project', limit: 3, since: '2026-11-30T09:00:01.000Z' } } as unknown as StepSummary;
    const reviewing = { ...step('draft', 'needs_qa', { kind: 'llm' }), gate: { state: 'reviewing', threshold: 60 } } as unknown as StepSummary;
    const paused = { ...step('polish', 'needs_qa', { kind: 'llm' }), gate: { state: 'paused', score: 42, threshold: 60 } } as unknown as StepSummary;
    const rated = { ...step('ask', 'queued', { kind: 'http' }), status: 'throttled', throttle: { kind: 'rate', key: 'agent-x', perSecond: 2, since: '2026-11-30T09:00:01.000Z', until: '2026-11-30T09:00:04.500Z' } } as unknown as StepSummary;

    const progress = progressOf(run(), [throttled, project, reviewing, paused, rated], now);

    expect(progress.running).toEqual([]);
    expect(summaryLines(progress).filter((line) => line.startsWith('  Waits:'))).toEqual([
      '  Waits:  ask (throttled: key agent-x at 2 a second, its turn at 09:00:04Z)',
      '  Waits:  call (throttled: key customer-42 at its limit of 2)',
      '  Waits:  draft (quality review)',
      '  Waits:  other (throttled: the project at its limit of 3)',
      '  Waits:  polish (approval)',
    ]);
    expect(approvalHint(progress)?.step).toBe('polish');
  });

  it('after a guard stop: raise the limits and resume, or re-run the stalled step with guidance', () => {
    const limited = summaryLines(progressOf(run({ status: 'blocked', reason: "MAX_EXECUTED_STEPS: step b would be execution 4, and the run's limits.maxExecutedSteps is 3; raise it", limits: { maxExecutedSteps: 3, noProgressAfter: 3, executedSteps: 3 } }), [], now));
    expect(limited).toContain('  Limits: 3 / 3 executions · no duration limit · the same output 3× stops a step');
    const stalled = summaryLines(progressOf(run({ status: 'blocked', reason: 'NO_PROGRESS: step loop produced the same output (sha256 abc) 3 times in a row (limits.noProgressAfter 3); retry or re-run it' }), [], now));
    expect(limited.at(-1)).toBe('  Raise:  npx baton run limits run_01m8nr9vsag79msy2kv4hbxs92 --max-executed-steps <n>, then npx baton resume run_01m8nr9vsag79msy2kv4hbxs92');
    expect(stalled.at(-1)).toBe('  Re-run: npx baton rerun run_01m8nr9vsag79msy2kv4hbxs92 loop --guidance <text> (or --input <file>)');
  });
});
