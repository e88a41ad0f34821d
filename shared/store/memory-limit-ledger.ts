import type { LimitLedger } from '#shared/engine/limits';
import type { EventToWrite, Written } from '#shared/engine/store';
import type { RunRecord } from './runs';
import { runGuardHolds } from './step-conditions';

/**
 * Run limits in memory, with the DynamoDB adapter's semantics (shared/store/limit-ledger.ts):
 * each operation checks and applies in one synchronous turn, so a reservation past the limit
 * changes nothing however callers interleave. Part of the in-memory engine store.
 */
export function createMemoryLimitLedger({ runOf, commit }: { runOf: (runId: string) => RunRecord | undefined; commit: (events: EventToWrite[]) => Written }) {
  const executed = new Map<string, number>();
  /** Runs in the timers index under RUN_DEADLINE, with their due time. */
  const deadlines = new Map<string, string>();
  const hold = (run: RunRecord, stepId: string) => (run.heldSteps = [...new Set([...(run.heldSteps ?? []), stepId])]);
  const limits: LimitLedger = {
    async reserveExecution(runId, max) {
      const count = executed.get(runId) ?? 0;
      if (count >= max) return { won: false, executed: count };
      executed.set(runId, count + 1);
      return { won: true };
    },
    async releaseExecution(runId) {
      executed.set(runId, (executed.get(runId) ?? 0) - 1);
    },
    async block(runId, stepId, reason, events) {
      const run = runOf(runId);
      if (!run) return { won: false };
      if (runGuardHolds('engine:limitBlock', run)) {
        Object.assign(run, { status: 'blocked', reason });
        if (stepId) hold(run, stepId);
        deadlines.delete(runId);
        return commit(events.block);
      }
      if (!stepId || !runGuardHolds('engine:limitHold', run)) return { won: false };
      hold(run, stepId);
      return commit(events.hold);
    },
    async setRunLimits(runId, value, change, event) {
      const run = runOf(runId);
      if (!run || !runGuardHolds('engine:setLimits', run)) return { won: false };
      run.limits = structuredClone(value);
      if (change.deadline) deadlines.set(runId, change.deadline);
      else deadlines.delete(runId);
      if (change.executed !== undefined) executed.set(runId, change.executed);
      return commit([event]);
    },
    async fileDeadline(runId, deadline) {
      if (runOf(runId)?.status === 'running') deadlines.set(runId, deadline);
    },
    dueDeadlines: async (before, limit) =>
      [...deadlines.entries()]
        .filter(([, dueAt]) => dueAt <= before)
        .sort(([, a], [, b]) => (a < b ? -1 : 1))
        .slice(0, limit)
        .map(([runId]) => runId),
    async clearDeadline(runId) {
      deadlines.delete(runId);
    },
    record: async (events) => commit(events),
  };
  return { limits, executed: (runId: string) => executed.get(runId), deadline: (runId: string) => deadlines.get(runId) };
}
