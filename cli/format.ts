import type { Event, RunDetail, StepSummary } from '#sdk';

/**
 * Pure formatting of what the CLI shows: a run's progress as a model (`progressOf`), then as
 * lines for a terminal, a CI log or JSON. No I/O here: the unit tests read these directly.
 */

/** Why a step that is not running waits. */
export interface WaitingStep {
  step: string;
  on: 'approval' | 'webhook' | 'timer' | 'not_before' | 'callback' | 'held' | 'throttled' | 'review';
  /** A throttled step's limit: `project`, or its concurrency key (README "Fair capacity"). */
  key?: string;
  limit?: number;
  /** A rate-throttled step's rate (its turn is `until`). */
  perSecond?: number;
  /** When it is due (timers, not-before dates, a rate's turn), ISO. */
  until?: string;
}

export interface FailedStep {
  step: string;
  status: string;
  message: string;
  code?: string;
  attempt?: number;
}

export interface RunProgress {
  runId: string;
  workflow: string;
  version: number;
  status: RunDetail['status'];
  reason?: string;
  total: number;
  /** completed + skipped: the steps that will not run again. */
  done: number;
  byStatus: Record<string, number>;
  running: string[];
  waiting: WaitingStep[];
  failed: FailedStep[];
  elapsedMs: number;
  cost: RunCost;
  /** Spend against each budget in force (absent when the run has none). */
  budgets?: RunDetail['budgets'];
  /** The run's guards, when it has a limit of executions or duration. */
  limits?: RunDetail['limits'];
  /** The children of its map steps, counted apart from its own steps (absent: no map started). */
  mapItems?: NonNullable<RunDetail['steps']['children']>;
}

export interface RunCost {
  /** Baton's estimated AWS cost of the run (DynamoDB, SQS, EventBridge, S3, Lambda requests). */
  awsUsd: number;
  /** What the run's agents reported (tokens and their price). */
  agentUsd: number;
  tokensIn: number;
  tokensOut: number;
  /** Model calls of llm steps (and agents that reported them), by model id. */
  models: ModelCost[];
}

export interface ModelCost {
  model: string;
  provider: string;
  calls: number;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
}

const waitingKinds: Record<string, WaitingStep['on']> = { approval: 'approval', webhook: 'webhook', wait: 'timer' };

/** What a step may carry beyond the contract this CLI was built with: a throttled step's limit, a quality gate's state. */
interface StepExtras {
  throttle?: { kind: string; key: string; limit?: number; perSecond?: number; since?: string; until?: string };
  gate?: { state: string; score?: number; threshold?: number };
}

/** The progress model of a run and its steps at `now`. */
export function progressOf(run: RunDetail, steps: StepSummary[], now: number): RunProgress {
  // Counted from the same list as the names, so one line never disagrees with itself (the run
  // and its steps are two reads, and steps move in between).
  const byStatus: Record<string, number> = {};
  for (const step of steps) byStatus[step.status] = (byStatus[step.status] ?? 0) + 1;
  const running: string[] = [];
  const waiting: WaitingStep[] = [];
  const failed: FailedStep[] = [];
  // Held until resume (queued, or pending when refused at its claim): released while the run was paused, or refused by a strict budget.
  const held = new Set(run.heldSteps ?? []);
  for (const step of [...steps].sort(byStart)) {
    const extras = step as StepSummary & StepExtras;
    // Statuses newer than this contract (throttled) are compared as strings.
    const status: string = step.status;
    const throttle = extras.throttle;
    if (status === 'throttled') waiting.push({ step: step.id, on: 'throttled', ...(throttle ? { key: throttle.key, ...(throttle.kind === 'rate' ? { perSecond: throttle.perSecond, until: throttle.until } : { limit: throttle.limit }) } : {}) });
    else if (step.status === 'needs_qa' && extras.gate && extras.gate.state !== 'paused' && extras.gate.state !== 'waiting') waiting.push({ step: step.id, on: 'review' });
    else if (step.status === 'needs_qa') waiting.push({ step: step.id, on: 'approval' });
    else if ((step.status === 'queued' || step.status === 'pending') && held.has(step.id)) waiting.push({ step: step.id, on: 'held' });
    else if ((step.status === 'running' || step.status === 'queued') && waitingKinds[step.kind]) waiting.push({ step: step.id, on: waitingKinds[step.kind]! });
    else if (step.status === 'running' || step.status === 'queued') running.push(step.attempt > 1 ? `${step.id} (attempt ${step.attempt})` : step.id);
    else if (step.status === 'pending' && step.notBefore && Date.parse(step.notBefore) > now && dependenciesMet(step, steps)) {
      waiting.push({ step: step.id, on: 'not_before', until: step.notBefore });
    } else if ((step.status === 'failed' || step.status === 'blocked') && step.error) {
      failed.push({ step: step.id, status: step.status, message: step.error.message, ...(step.error.code ? { code: step.error.code } : {}), attempt: step.error.attempt });
    }
  }
  const started = Date.parse(run.startedAt ?? run.createdAt);
  const ended = run.finishedAt ? Date.parse(run.finishedAt) : now;
  return {
    runId: run.id,
    workflow: run.workflowName,
    version: run.workflowVersion,
    status: run.status,
    ...(run.reason ? { reason: run.reason } : {}),
    total: run.steps.total,
    done: (byStatus.completed ?? 0) + (byStatus.skipped ?? 0),
    byStatus,
    running,
    waiting,
    failed,
    elapsedMs: Math.max(0, ended - started),
    cost: costOf(run),
    ...(run.budgets && (run.budgets.run || run.budgets.projectMonthly || run.budgets.steps) ? { budgets: run.budgets } : {}),
    ...(run.limits && (run.limits.maxExecutedSteps !== undefined || run.limits.maxDurationSeconds !== undefined) ? { limits: run.limits } : {}),
    ...(run.steps.children ? { mapItems: run.steps.children } : {}),
  };
}

// By when each was queued (kept once it starts), so a line does not change only because a step started.
const byStart = (a: StepSummary, b: StepSummary) => (a.queuedAt ?? a.startedAt ?? '').localeCompare(b.queuedAt ?? b.startedAt ?? '') || a.id.localeCompare(b.id);

const dependenciesMet = (step: StepSummary, steps: StepSummary[]) =>
  step.dependsOn.every((id) => {
    const parent = steps.find((candidate) => candidate.id === id);
    return parent?.status === 'completed' || parent?.status === 'skipped';
  });

export function costOf(run: RunDetail): RunCost {
  const cost = run.usage.cost as { totalUsd?: unknown };
  const agents = run.usage.agentUsage as { costUsd?: unknown; tokens?: { input?: unknown; output?: unknown } };
  const number = (value: unknown) => (typeof value === 'number' && Number.isFinite(value) ? value : 0);
  const models = Object.entries(run.usage.llm ?? {}).map(([model, usage]) => ({
    model,
    provider: usage.provider,
    calls: usage.calls,
    inputTokens: usage.inputTokens,
    outputTokens: usage.outputTokens,
    costUsd: usage.costUsd,
  }));
  return { awsUsd: number(cost.totalUsd), agentUsd: number(agents.costUsd), tokensIn: number(agents.tokens?.input), tokensOut: number(agents.tokens?.output), models };
}

/** `0.8s`, `42s`, `3m 07s`, `2h 05m`. */
export function formatDuration(ms: number): string {
  if (ms < 10_000) return `${(Math.floor(ms / 100) / 10).toFixed(1)}s`;
  const seconds = Math.floor(ms / 1000);
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m ${String(seconds % 60).padStart(2, '0')}s`;
  return `${Math.floor(minutes / 60)}h ${String(minutes % 60).padStart(2, '0')}m`;
}

/** `$0.00`, `$1.25`, and small amounts with two significant digits: `$0.000031` (`-$0.000031` below zero). */
export function formatUsd(usd: number): string {
  if (usd === 0) return '$0.00';
  if (usd < 0) return `-${formatUsd(-usd)}`;
  if (usd >= 1) return `$${usd.toFixed(2)}`;
  const decimals = Math.min(12, Math.max(2, Math.ceil(-Math.log10(usd)) + 1));
  return `$${usd.toFixed(decimals)}`;
}

/**
 * `$0.000021 AWS (estimated) · $0.000029 agents and models (7 tokens in, 22 out)`. Not summed:
 * a step's agent usage already holds its model calls, while the per-model records also count
 * failed attempts, so neither adds to the other.
 */
export function formatCost(cost: RunCost): string {
  const aws = `${formatUsd(cost.awsUsd)} AWS (estimated)`;
  if (cost.agentUsd || cost.tokensIn || cost.tokensOut) return `${aws} · ${formatUsd(cost.agentUsd)} agents and models (${count(cost.tokensIn)} tokens in, ${count(cost.tokensOut)} out)`;
  if (cost.models.length) return `${aws} · ${formatUsd(cost.models.reduce((sum, model) => sum + model.costUsd, 0))} models`;
  return aws;
}

/** One line per model: `bedrock anthropic.claude-3-haiku: 2 calls, 1,200 tokens in, 340 out, $0.0042`. */
export function modelLines(cost: RunCost): string[] {
  return cost.models.map(
    (model) => `${model.provider} ${model.model}: ${count(model.calls)} call${model.calls === 1 ? '' : 's'}, ${count(model.inputTokens)} tokens in, ${count(model.outputTokens)} out, ${formatUsd(model.costUsd)}`,
  );
}

const count = (value: number) => value.toLocaleString('en-US');

type BudgetLimit = { tokens?: number; usd?: number; mode: string };
type Amount = { tokens: number; usd: number };

/** `1,200 / 5,000 tokens · $0.0012 / $0.020 · strict (+100 tokens reserved)`: one budget against its spend. */
export function budgetLine(limit: BudgetLimit, spent: Amount, reserved?: Amount): string {
  const parts = [
    ...(limit.tokens !== undefined ? [`${count(spent.tokens)} / ${count(limit.tokens)} tokens`] : []),
    ...(limit.usd !== undefined ? [`${formatUsd(spent.usd)} / ${formatUsd(limit.usd)}`] : []),
  ];
  const held = reserved && (reserved.tokens || reserved.usd) ? ` (+${count(reserved.tokens)} tokens, ${formatUsd(reserved.usd)} reserved)` : '';
  return `${parts.join(' · ') || 'no limit'} · ${limit.mode}${held}`;
}

/** One line per budget in force: the run's, the project's month, each step's own. */
export function budgetLines(budgets: RunDetail['budgets'] | undefined): string[] {
  if (!budgets) return [];
  return [
    ...(budgets.run ? [`run ${budgetLine(budgets.run, budgets.run.spent, budgets.run.reserved)}`] : []),
    ...(budgets.projectMonthly ? [`project ${budgets.projectMonthly.month} ${budgetLine(budgets.projectMonthly, budgets.projectMonthly.spent, budgets.projectMonthly.reserved)}`] : []),
    ...Object.entries(budgets.steps ?? {}).map(([stepId, step]) => `step ${stepId} ${budgetLine(step, step.spent)}`),
  ];
}

/** `4 / 10 executions · 600s (until 2026-11-30 10:00Z) · same output 3× stops a step`: a run's guards and how far it got. */
export function limitsLine(limits: RunDetail['limits'] | undefined): string {
  if (!limits) return 'no limits';
  const executions = `${count(limits.executedSteps)}${limits.maxExecutedSteps !== undefined ? ` / ${count(limits.maxExecutedSteps)}` : ''} executions`;
  const duration = limits.maxDurationSeconds !== undefined ? `at most ${limits.maxDurationSeconds}s${limits.deadline ? ` (until ${shortTime(limits.deadline)})` : ''}` : 'no duration limit';
  return `${executions} · ${duration} · the same output ${limits.noProgressAfter}× stops a step`;
}

/** `BUDGET_EXCEEDED: step …` → `BUDGET_EXCEEDED`; a reason without a code has none. */
export const reasonCode = (reason: string | undefined): string | undefined => (reason ? /^([A-Z][A-Z0-9_]+):/.exec(reason)?.[1] : undefined);

/** `review (approval)`, `deploy (not before 2026-12-01 09:00Z)`. */
export function describeWaiting({ step, on, until, key, limit, perSecond }: WaitingStep): string {
  if (on === 'not_before' && until) return `${step} (not before ${shortTime(until)})`;
  if (on === 'held') return `${step} (held until the run resumes)`;
  if (on === 'throttled' && perSecond !== undefined) return `${step} (throttled: key ${key} at ${perSecond} a second, its turn at ${until ? `${until.slice(11, 19)}Z` : 'soon'})`;
  if (on === 'throttled') return `${step} (throttled${key ? `: ${key === 'project' ? 'the project' : `key ${key}`}${limit !== undefined ? ` at its limit of ${limit}` : ''}` : ''})`;
  if (on === 'review') return `${step} (quality review)`;
  return `${step} (${on})`;
}

const shortTime = (iso: string) => iso.replace('T', ' ').replace(/:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/, '$2').replace(/Z$/, 'Z');

/** `a, b, c (+4 more)`: at most `max` names. */
export function listNames(names: string[], max = 3): string {
  if (names.length === 0) return 'none';
  return names.length <= max ? names.join(', ') : `${names.slice(0, max).join(', ')} (+${names.length - max} more)`;
}

/** The counts that are not `done`, in the order a reader scans them: `1 failed, 2 pending`. */
export function otherCounts(progress: RunProgress): string {
  const order = ['running', 'queued', 'throttled', 'needs_qa', 'pending', 'blocked', 'failed', 'cancelled'];
  return order
    .filter((status) => (progress.byStatus[status] ?? 0) > 0)
    .map((status) => `${progress.byStatus[status]} ${status === 'needs_qa' ? 'awaiting approval' : status}`)
    .join(', ');
}

/** One line of progress for a log that is not a terminal (CI): no colour, no redraw. */
export function progressLine(progress: RunProgress): string {
  const parts = [`${progress.status}`, `${progress.done}/${progress.total} done`];
  if (progress.running.length) parts.push(`running: ${listNames(progress.running)}`);
  if (progress.waiting.length) parts.push(`waiting: ${listNames(progress.waiting.map(describeWaiting), 2)}`);
  if (progress.failed.length) parts.push(`failed: ${listNames(progress.failed.map((failure) => failure.step))}`);
  return `[${formatDuration(progress.elapsedMs)}] ${parts.join(' · ')}`;
}

/** The command that lets the first step waiting for approval go on, or undefined when none waits. */
export function approvalHint(progress: RunProgress, command = 'npx baton'): { step: string; command: string } | undefined {
  const step = progress.waiting.find((waiting) => waiting.on === 'approval')?.step;
  return step ? { step, command: `${command} approve ${progress.runId} ${step}` } : undefined;
}

/** What `run watch` prints when the run stops moving. */
export function summaryLines(progress: RunProgress, { command = 'npx baton' }: { command?: string } = {}): string[] {
  const elapsed = formatDuration(progress.elapsedMs);
  const state =
    progress.status === 'completed'
      ? `completed in ${elapsed}`
      : (['blocked', 'failed', 'cancelled'] as string[]).includes(progress.status)
        ? `${progress.status} after ${elapsed}`
        : `${progress.status}, ${elapsed} so far`;
  const lines = [`Run ${progress.runId} (${progress.workflow} v${progress.version}) ${state}${progress.reason && progress.status !== 'completed' ? `: ${progress.reason}` : ''}`];
  const others = otherCounts(progress);
  lines.push(`  Steps:  ${progress.done}/${progress.total} done${others ? `; ${others}` : ''}`);
  const items = progress.mapItems;
  if (items) lines.push(`  Items:  ${items.done}/${items.total} map items done (${items.succeeded} succeeded, ${items.failed} failed)`);
  for (const failure of progress.failed) {
    lines.push(`  Failed: ${failure.step}: ${failure.message}${failure.code ? ` (${failure.code}` : ''}${failure.attempt ? `${failure.code ? ', ' : ' ('}attempt ${failure.attempt})` : failure.code ? ')' : ''}`);
  }
  for (const waiting of progress.waiting) lines.push(`  Waits:  ${describeWaiting(waiting)}`);
  lines.push(`  Cost:   ${formatCost(progress.cost)}`);
  for (const line of modelLines(progress.cost)) lines.push(`  Model:  ${line}`);
  for (const line of budgetLines(progress.budgets)) lines.push(`  Budget: ${line}`);
  if (progress.limits) lines.push(`  Limits: ${limitsLine(progress.limits)}`);
  if (progress.status === 'blocked') {
    const step = progress.failed[0]?.step;
    const code = reasonCode(progress.reason);
    if (code === 'MAX_EXECUTED_STEPS' || code === 'MAX_DURATION') lines.push(`  Raise:  ${command} run limits ${progress.runId} --${code === 'MAX_DURATION' ? 'max-duration-seconds' : 'max-executed-steps'} <n>, then ${command} resume ${progress.runId}`);
    else if (code === 'NO_PROGRESS') {
      const stalled = /step (\S+) produced/.exec(progress.reason ?? '')?.[1];
      lines.push(`  Re-run: ${command} rerun ${progress.runId} ${stalled ?? '<step>'} --guidance <text> (or --input <file>)`);
    } else if (code === 'BUDGET_EXCEEDED') lines.push(`  Raise:  ${command} run budget ${progress.runId} --tokens <n> [--usd <usd>], then ${command} resume ${progress.runId}`);
    else if (!step && code) lines.push(`  Resume: ${command} resume ${progress.runId}`);
    else lines.push(`  Retry:  ${command} run retry ${progress.runId}${step ? ` [--step ${step} --input <file>]` : ''}`);
  }
  return lines;
}

/** One event as a log line: `09:14:03.120  step.completed  fetch  by system`. */
export function eventLine(event: Event): string {
  const time = event.at.slice(11, 23);
  const detail = Object.keys(event.detail).length ? `  ${truncate(JSON.stringify(event.detail), 160)}` : '';
  return `${time}  ${event.type.padEnd(16)}  ${(event.stepId ?? '-').padEnd(12)}${detail}  (by ${event.actorName ?? event.actor})`;
}

export function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, Math.max(0, max - 1))}…`;
}
