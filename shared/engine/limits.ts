import { ConflictError } from '#shared/domain/errors';
import {
  deadlineOf,
  defaultNoProgressAfter,
  limitReason,
  outputHash,
  nextProgress,
  pastDeadline,
  progressCheck,
  type DurationExceeded,
  type LimitExceeded,
  type Progress,
  type RunLimits,
} from '#shared/domain/limits';
import { finalRunStatuses } from '#shared/domain/states';
import { NonRetryableStepError } from '#shared/domain/step-errors';
import type { RunRecord, StepRecord } from '#shared/store/runs';
import { runEvent, type EngineDeps } from './context';
import type { EventToWrite, Written } from './store';

/**
 * Guards against runaway agents in the step lifecycle (issue 12 §5; the rules are in
 * shared/domain/limits.ts). Before a step of a run with `limits.maxExecutedSteps` is claimed, one
 * execution is reserved on the run's small counter item with a conditional write (so concurrent
 * steps cannot pass the limit together); a run past `limits.maxDurationSeconds` starts no step,
 * and a timer in the sweeper's index blocks it when idle. A step that would pass either is never
 * claimed: the run blocks (MAX_EXECUTED_STEPS, MAX_DURATION) and the step waits in `heldSteps`
 * for `resume`, as a budget's block does. A run with no limit does nothing here: no read, no write.
 */

/** The limits part of the engine's store port (adapters: shared/store/limit-ledger.ts, memory-limit-ledger.ts). */
export interface LimitLedger {
  /** One more execution on the run's counter, only while it is under `max` (one conditional write); lost: with the count now. */
  reserveExecution(runId: string, max: number): Promise<{ won: true } | { won: false; executed: number }>;
  /** An execution reserved and not started (its claim was lost): given back. */
  releaseExecution(runId: string): Promise<void>;
  /**
   * A limit stops the run: a running run becomes blocked with the reason (`block` events), an
   * already blocked or paused one only holds the step (`hold` events); the step (if any) waits in
   * `heldSteps`; the run's deadline timer goes. Lost when the run is in none of those statuses.
   */
  block(runId: string, stepId: string | undefined, reason: string, events: { block: EventToWrite[]; hold: EventToWrite[] }): Promise<Written>;
  /**
   * A person sets the run's limits (lost when the run has ended). `executed`: the counter starts
   * there (a maxExecutedSteps newly in force counts what already ran); `deadline`: the duration
   * timer moves there (null: none).
   */
  setRunLimits(runId: string, limits: RunLimits, change: { executed?: number; deadline: string | null }, event: EventToWrite): Promise<Written>;
  /** Files the run under the timers index, due at its deadline (only while it is running). */
  fileDeadline(runId: string, deadline: string): Promise<void>;
  /** Runs whose deadline timer is due at or before `before`. */
  dueDeadlines(before: string, limit: number): Promise<string[]>;
  /** The run's deadline timer goes (it ended, or it moved on). */
  clearDeadline(runId: string): Promise<void>;
  /** Events that record no change of their own (`limit.exceeded` of a NO_PROGRESS stop). */
  record(events: EventToWrite[]): Promise<Written>;
}

/** An execution reserved before a claim: given back if the claim is lost. */
export interface ExecutionHold {
  release(): Promise<void>;
}

/**
 * Before a step is claimed: a run past its duration, or out of executions, blocks (the step is
 * held; 'blocked'); with maxExecutedSteps one execution is reserved (given back by `release`
 * when the claim is lost). Undefined: the run has no limit to check (nothing read or written).
 */
export async function reserveExecution(deps: EngineDeps, run: RunRecord, step: StepRecord, at: Date): Promise<ExecutionHold | 'blocked' | undefined> {
  if (!run.limits) return undefined;
  if (pastDeadline(run, at)) {
    await blockOnLimit(deps, run, step.stepId, durationExceeded(run, at, step.stepId));
    return 'blocked';
  }
  const max = run.limits.maxExecutedSteps;
  if (max === undefined) return undefined;
  const reserved = await deps.store.limits.reserveExecution(run.id, max);
  if (!reserved.won) {
    await blockOnLimit(deps, run, step.stepId, { code: 'MAX_EXECUTED_STEPS', limit: 'maxExecutedSteps', value: max, executed: reserved.executed, stepId: step.stepId });
    return 'blocked';
  }
  return { release: () => deps.store.limits.releaseExecution(run.id) };
}

function durationExceeded(run: RunRecord, at: Date, stepId?: string): DurationExceeded {
  return {
    code: 'MAX_DURATION',
    limit: 'maxDurationSeconds',
    value: run.limits!.maxDurationSeconds!,
    startedAt: run.startedAt!,
    deadline: deadlineOf(run)!,
    elapsedSeconds: Math.floor((at.getTime() - Date.parse(run.startedAt!)) / 1000),
    ...(stepId ? { stepId } : {}),
  };
}

/** The run blocks with the limit's reason (or, already blocked or paused, keeps the step held), with `limit.exceeded`. */
async function blockOnLimit(deps: EngineDeps, run: RunRecord, stepId: string | undefined, found: LimitExceeded): Promise<boolean> {
  const at = deps.clock();
  const reason = limitReason(found);
  const exceeded = () => runEvent(run, 'limit.exceeded', 'worker', { ...found, reason }, at);
  const blocked = runEvent(run, 'run.blocked', 'worker', { ...(stepId ? { stepId } : {}), code: found.code, reason }, at);
  const written = await deps.store.limits.block(run.id, stepId, reason, { block: [blocked, exceeded()], hold: stepId ? [exceeded()] : [] });
  if (written.won && written.events.some(({ event }) => event.type === 'run.blocked')) deps.metrics.add('RunsBlocked', { reason: found.code });
  if (written.won) await deps.outbox.publish(written.events);
  else deps.logger.warn('limit block not recorded: the run ended meanwhile', { runId: run.id, ...(stepId ? { stepId } : {}) });
  return written.won;
}

/** After `start`: a run with maxDurationSeconds is filed under its deadline, so an idle run stops too. */
export async function fileRunDeadline(deps: EngineDeps, run: RunRecord): Promise<void> {
  const deadline = deadlineOf(run);
  if (deadline) await deps.store.limits.fileDeadline(run.id, deadline);
}

/**
 * The sweeper's part: runs whose deadline passed. A running one blocks with MAX_DURATION (its
 * timer goes in the same write); any other (paused, blocked for another reason, ended) only
 * loses its timer: `resume` and `retry` refuse a run past its duration until the limit is
 * raised, and raising it files the timer again. Answers how many runs were blocked.
 */
export async function blockPastDeadlines(deps: EngineDeps, now: Date, limit: number): Promise<number> {
  let blocked = 0;
  for (const runId of await deps.store.limits.dueDeadlines(now.toISOString(), limit)) {
    const run = await deps.store.getRun(runId);
    if (run?.status === 'running' && pastDeadline(run, now)) {
      if (await blockOnLimit(deps, run, undefined, durationExceeded(run, now))) {
        blocked += 1;
        continue;
      }
    }
    // Raised meanwhile: the raise filed the new deadline, which this run may not have reached.
    if (run && !finalRunStatuses.includes(run.status) && !pastDeadline(run, now) && deadlineOf(run)) await deps.store.limits.fileDeadline(run.id, deadlineOf(run)!);
    else await deps.store.limits.clearDeadline(runId);
  }
  if (blocked > 0) deps.logger.warn('blocked runs past their maxDurationSeconds', { count: blocked });
  return blocked;
}

/** `resume` and `retry` of a run past its duration are refused: it would only block again (409 naming the limit). */
export function assertWithinDuration(run: RunRecord, now: Date): void {
  if (!pastDeadline(run, now)) return;
  throw new ConflictError(
    `The run is past its limits.maxDurationSeconds (${run.limits!.maxDurationSeconds}s from ${run.startedAt}, deadline ${deadlineOf(run)}); raise it with PUT /v1/runs/${run.id}/limits first`,
    'limits.maxDurationSeconds',
  );
}

/** An editor sets the run's limits (any status but final); `limits.changed` records it. */
export async function setRunLimits(deps: EngineDeps, run: RunRecord, value: RunLimits, actor: string): Promise<void> {
  if (finalRunStatuses.includes(run.status)) throw new ConflictError(`Cannot change the limits of a run that is ${run.status}`);
  const at = deps.clock();
  // A count newly in force starts from what already ran: every attempt started so far is an execution.
  const executed = value.maxExecutedSteps !== undefined && run.limits?.maxExecutedSteps === undefined ? (await deps.store.listSteps(run.id)).reduce((sum, step) => sum + step.attempt, 0) : undefined;
  const deadline = run.status === 'pending' ? null : (deadlineOf({ ...run, limits: value }) ?? null);
  const event = runEvent(run, 'limits.changed', actor, { limits: value, ...(run.limits ? { previous: run.limits } : {}) }, at);
  const written = await deps.store.limits.setRunLimits(run.id, value, { ...(executed !== undefined ? { executed } : {}), deadline }, event);
  if (!written.won) throw new ConflictError('The run ended meanwhile; its limits can no longer change');
  await deps.outbox.publish(written.events);
}

/** The limits of a run as the run detail shows them: what is set, and how far the run got. */
export function runLimitsView(run: RunRecord, steps: StepRecord[]) {
  const deadline = deadlineOf(run);
  return {
    ...run.limits,
    noProgressAfter: run.limits?.noProgressAfter ?? defaultNoProgressAfter,
    executedSteps: steps.reduce((sum, step) => sum + step.attempt, 0),
    ...(deadline ? { deadline } : {}),
  };
}

// --- NO_PROGRESS ---

/**
 * A completing execution of a step that runs again (it carries `progress`): when its output
 * repeats the last ones `noProgressAfter` times in a row, the error that stops it (NO_PROGRESS)
 * and the streak to keep on the failed step. Undefined: it made progress, or it is a first
 * execution (no hash computed, nothing written).
 */
export function checkProgress(run: RunRecord, step: StepRecord, output: unknown): { error: NonRetryableStepError; progress: Progress; exceeded: LimitExceeded } | undefined {
  if (!step.progress) return undefined;
  const noProgressAfter = run.limits?.noProgressAfter ?? defaultNoProgressAfter;
  const { progress, stalled } = progressCheck(step.progress, outputHash(output), noProgressAfter);
  if (!stalled) return undefined;
  const exceeded: LimitExceeded = { code: 'NO_PROGRESS', limit: 'noProgressAfter', value: noProgressAfter, stepId: step.stepId, outputHash: progress.hash, repeats: progress.repeats };
  return { error: new NonRetryableStepError(limitReason(exceeded), { code: 'NO_PROGRESS' }), progress, exceeded };
}

/** Records `limit.exceeded` for a NO_PROGRESS stop (the step's failure and the run's block are already written). */
export async function recordNoProgress(deps: EngineDeps, run: RunRecord, exceeded: LimitExceeded, actor: string): Promise<void> {
  const written = await deps.store.limits.record([runEvent(run, 'limit.exceeded', actor, { ...exceeded, reason: limitReason(exceeded) }, deps.clock())]);
  if (written.won) await deps.outbox.publish(written.events);
}

/**
 * The streak a completed step carries into its next execution (a re-run): its current output's
 * hash, one longer when it repeats the streak it had. A failed step keeps what it has (a
 * NO_PROGRESS stop wrote its streak; another failure produced no output to compare).
 */
export async function progressBeforeRerun(deps: EngineDeps, step: StepRecord): Promise<Progress | undefined> {
  if (step.status !== 'completed' || step.reusedFrom || step.doneAtImport) return step.progress;
  const output = step.outputRef ? await deps.artifacts.loadOutput(step.outputRef) : step.output;
  return nextProgress(step.progress, outputHash(output));
}
