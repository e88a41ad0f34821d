import type { LlmUsageRecord } from './llm-usage';

/**
 * A project's operating counters (the Prometheus endpoint's source): how often its runs and steps
 * entered each status, what its steps' model calls used, and what its runs cost Baton on AWS.
 * Kept by the writes that change state, as per-invocation sums added with one `ADD`
 * (shared/store/project-counters.ts), never by reading runs back.
 */
export interface ProjectCounters {
  /** Entries into each run status, counted by the event that records each (run.created: pending…). */
  runs: Record<string, number>;
  /** Entries into each step status, counted the same way (step.started: running…). */
  steps: Record<string, number>;
  /** Model tokens of every usage record the steps' outcome writes appended (llmUsage; an agent's reported totals when it sent no records). */
  inputTokens: number;
  outputTokens: number;
  /** What those records (or reports) say the calls cost, in USD: what budgets count. */
  usageUsd: number;
  /** What Baton's AWS requests for the project's runs cost at list prices: the run views' `usage.cost`, summed. */
  awsCostUsd: number;
  /** Baton's own Lambda compute for those runs, priced apart as the run views do (`usage.lambdaCompute`). */
  lambdaComputeUsd: number;
}

export const emptyCounters = (): ProjectCounters => ({ runs: {}, steps: {}, inputTokens: 0, outputTokens: 0, usageUsd: 0, awsCostUsd: 0, lambdaComputeUsd: 0 });

/** The run status each run event records the run entering (events that change no status are absent). */
export const runStatusOfEvent: Readonly<Record<string, string>> = {
  'run.created': 'pending',
  'run.started': 'running',
  'run.resumed': 'running',
  'run.retried': 'running',
  'run.rerun': 'running',
  'run.paused': 'paused',
  'run.blocked': 'blocked',
  'run.completed': 'completed',
  'run.cancelled': 'cancelled',
};

/**
 * The step status each step event records the step entering (stepTransitions' events). A
 * takeover's `step.started` and a gate's `qaPause` (needs_qa again) count as entries too: the
 * counter counts recorded transitions, not distinct steps. `step.pending` (waiting for a
 * callback while running) changes no status.
 */
export const stepStatusOfEvent: Readonly<Record<string, string>> = {
  'step.queued': 'queued',
  'step.unthrottled': 'queued',
  'step.retrying': 'queued',
  'step.retry_requested': 'queued',
  'step.rerun_requested': 'queued',
  'step.throttled': 'throttled',
  'step.started': 'running',
  'step.needs_qa': 'needs_qa',
  'step.completed': 'completed',
  'step.failed': 'failed',
  'step.cancelled': 'cancelled',
  'step.skipped': 'skipped',
  'step.reset': 'pending',
  'step.iterated': 'pending',
};

/** The statuses always shown (zero until entered), so a scrape sees every series from the start. */
export const runStatuses = ['pending', 'running', 'paused', 'blocked', 'completed', 'cancelled'] as const;
export const stepStatuses = ['pending', 'queued', 'throttled', 'running', 'needs_qa', 'completed', 'failed', 'cancelled', 'skipped'] as const;

const bump = (into: Record<string, number>, key: string, by = 1) => {
  into[key] = (into[key] ?? 0) + by;
};

/** Counts one committed event into `into` (a status entry, or nothing). */
export function countEvent(into: ProjectCounters, type: string): void {
  const run = runStatusOfEvent[type];
  if (run) bump(into.runs, run);
  const step = stepStatusOfEvent[type];
  if (step) bump(into.steps, step);
}

/** Reported totals of an agent's reply (`agentUsage`) when it sent no per-call records. */
export interface ReportedUsage {
  tokens?: { input?: number; output?: number };
  costUsd?: number;
}

/** Adds the model usage of one outcome write: its records, or else what the agent reported (as budgets' spendOf counts). */
export function countModelUsage(into: ProjectCounters, records: readonly LlmUsageRecord[] = [], reported?: ReportedUsage): void {
  if (records.length > 0) {
    for (const record of records) {
      into.inputTokens += record.inputTokens;
      into.outputTokens += record.outputTokens;
      into.usageUsd += record.costUsd;
    }
    return;
  }
  into.inputTokens += reported?.tokens?.input ?? 0;
  into.outputTokens += reported?.tokens?.output ?? 0;
  into.usageUsd += reported?.costUsd ?? 0;
}

/** `a` + `b`, key by key. */
export function addCounters(a: ProjectCounters, b: ProjectCounters): ProjectCounters {
  const sum = emptyCounters();
  for (const from of [a, b]) {
    for (const [status, count] of Object.entries(from.runs)) bump(sum.runs, status, count);
    for (const [status, count] of Object.entries(from.steps)) bump(sum.steps, status, count);
    sum.inputTokens += from.inputTokens;
    sum.outputTokens += from.outputTokens;
    sum.usageUsd += from.usageUsd;
    sum.awsCostUsd += from.awsCostUsd;
    sum.lambdaComputeUsd += from.lambdaComputeUsd;
  }
  return sum;
}

/** Nothing counted (no write needed). */
export const isEmptyCounters = (counters: ProjectCounters): boolean =>
  Object.keys(counters.runs).length === 0 &&
  Object.keys(counters.steps).length === 0 &&
  counters.inputTokens === 0 &&
  counters.outputTokens === 0 &&
  counters.usageUsd === 0 &&
  counters.awsCostUsd === 0 &&
  counters.lambdaComputeUsd === 0;
