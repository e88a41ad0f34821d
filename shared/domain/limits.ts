import { createHash } from 'node:crypto';
import { z } from 'zod';
import { canonicalJson } from './canonical-json';

/**
 * Guards against runaway agents (issue 12 §5): a run's `limits` (how many step executions it may
 * start, how long it may take) and NO_PROGRESS (a step that runs again and again with the same
 * output). Each stop blocks the run with a reason that starts with its code and names the
 * numbers; raising the limit (or, for NO_PROGRESS, a new input or guidance) and `resume` /
 * `retry` / a re-run continue. Pure rules; the engine's part is shared/engine/limits.ts.
 */

/** A NO_PROGRESS stop after this many identical outputs in a row when neither the run nor the project says otherwise. */
export const defaultNoProgressAfter = 3;

export const runLimits = z.strictObject({
  maxExecutedSteps: z.number().int().min(1).max(10_000_000).optional().meta({
    description: 'Most step executions (attempts that ran an executor: retries, re-runs and takeovers count) the run may start; the next one blocks the run with MAX_EXECUTED_STEPS',
  }),
  maxDurationSeconds: z.number().int().min(1).max(366 * 24 * 3600).optional().meta({
    description: 'Most seconds from the run\'s start; past it the run blocks with MAX_DURATION (no step starts, and a timer blocks an idle run)',
  }),
  noProgressAfter: z.number().int().min(2).max(1000).optional().meta({
    description: `A step that produces the same output this many times in a row (re-runs, retries) stops with NO_PROGRESS (default ${defaultNoProgressAfter})`,
  }),
});
export type RunLimits = z.infer<typeof runLimits>;

/** Codes a guard stops a run with (the run's `reason` starts with one, `limit.exceeded` names it). */
export type LimitCode = 'MAX_EXECUTED_STEPS' | 'MAX_DURATION' | 'NO_PROGRESS';

/**
 * A new run's limits: the project's defaults (`settings.limits`) overridden field by field by
 * the run's own; undefined when neither sets any.
 */
export function limitsOf(own: RunLimits | undefined, defaults: RunLimits | undefined): RunLimits | undefined {
  const merged = { ...defaults, ...own };
  const set = Object.fromEntries(Object.entries(merged).filter(([, value]) => value !== undefined)) as RunLimits;
  return Object.keys(set).length ? set : undefined;
}

/** When a run with a duration limit must stop (its start + maxDurationSeconds); undefined without one or before its start. */
export function deadlineOf(run: { limits?: RunLimits; startedAt?: string }): string | undefined {
  if (!run.limits?.maxDurationSeconds || !run.startedAt) return undefined;
  return new Date(Date.parse(run.startedAt) + run.limits.maxDurationSeconds * 1000).toISOString();
}

/** Whether the run is past its duration at `now`. */
export const pastDeadline = (run: { limits?: RunLimits; startedAt?: string }, now: Date): boolean => {
  const deadline = deadlineOf(run);
  return deadline !== undefined && now.getTime() >= Date.parse(deadline);
};

/** What a MAX_EXECUTED_STEPS stop records (`limit.exceeded` detail). */
export interface ExecutionsExceeded {
  code: 'MAX_EXECUTED_STEPS';
  limit: 'maxExecutedSteps';
  value: number;
  executed: number;
  stepId: string;
}
export interface DurationExceeded {
  code: 'MAX_DURATION';
  limit: 'maxDurationSeconds';
  value: number;
  startedAt: string;
  deadline: string;
  elapsedSeconds: number;
  stepId?: string;
}
export interface NoProgress {
  code: 'NO_PROGRESS';
  limit: 'noProgressAfter';
  value: number;
  stepId: string;
  outputHash: string;
  repeats: number;
}
export type LimitExceeded = ExecutionsExceeded | DurationExceeded | NoProgress;

/** The blocked run's reason: the code, then the numbers, then what to do. */
export function limitReason(found: LimitExceeded): string {
  switch (found.code) {
    case 'MAX_EXECUTED_STEPS':
      return `MAX_EXECUTED_STEPS: step ${found.stepId} would be execution ${found.executed + 1}, and the run's limits.maxExecutedSteps is ${found.value}; raise it (PUT /v1/runs/{runId}/limits) and resume the run`;
    case 'MAX_DURATION':
      return `MAX_DURATION: the run started at ${found.startedAt} and has run ${found.elapsedSeconds}s, past its limits.maxDurationSeconds of ${found.value}s (deadline ${found.deadline})${found.stepId ? `; step ${found.stepId} did not start` : ''}; raise it (PUT /v1/runs/{runId}/limits) and resume the run`;
    case 'NO_PROGRESS':
      return `NO_PROGRESS: step ${found.stepId} produced the same output (sha256 ${found.outputHash}) ${found.repeats} times in a row (limits.noProgressAfter ${found.value}); retry or re-run it with a new input or guidance`;
  }
}

/** A short fingerprint of a step's output: SHA-256 of its canonical JSON, 128 bits in base64url. */
export const outputHash = (output: unknown): string => createHash('sha256').update(canonicalJson(output ?? null)).digest('base64url').slice(0, 22);

/**
 * How often in a row a step's latest output came out the same: kept on the step (`progress`)
 * only once it runs again (a re-run, a retry), so a step's first execution writes nothing.
 */
export interface Progress {
  hash: string;
  repeats: number;
}

/** The streak after an execution with output hash `hash`: one longer when it repeats the last, else a new one. */
export const nextProgress = (previous: Progress | undefined, hash: string): Progress => ({ hash, repeats: previous?.hash === hash ? previous.repeats + 1 : 1 });

/** The streak an execution with `hash` makes when it completes, and whether it is one too many. */
export function progressCheck(previous: Progress | undefined, hash: string, noProgressAfter: number): { progress: Progress; stalled: boolean } {
  const progress = nextProgress(previous, hash);
  return { progress, stalled: previous !== undefined && progress.repeats >= noProgressAfter };
}
