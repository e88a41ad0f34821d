import type { RateStore } from '#shared/engine/rate';
import type { EventToWrite, TimerKind, Written } from '#shared/engine/store';
import type { StepRecord } from './runs';
import { stepGuardHolds } from './step-conditions';

type StoredStep = StepRecord & { timer?: { kind: TimerKind; dueAt: string } };

/**
 * Rate limits in memory, with the DynamoDB adapter's semantics (shared/store/rate-store.ts): each
 * operation checks its condition and applies its change in one synchronous turn, as a conditional
 * UpdateItem does. Part of the in-memory engine store.
 */
export function createMemoryRateStore({ stepOf, commit }: { stepOf: (runId: string, stepId: string) => StoredStep | undefined; commit: (events: EventToWrite[]) => Written }) {
  const items = new Map<string, { reservedUntil?: number; nextStart?: number }>();
  const itemOf = (projectId: string, key: string) => {
    const id = `${projectId}\n${key}`;
    if (!items.has(id)) items.set(id, {});
    return items.get(id)!;
  };

  const rate: RateStore = {
    async take(projectId, key, intervalMs, now) {
      const item = itemOf(projectId, key);
      if ((item.reservedUntil ?? 0) <= now && (item.nextStart ?? 0) <= now) {
        item.reservedUntil = item.nextStart = now + intervalMs;
        return { started: true };
      }
      const turn = (item.reservedUntil ?? 0) > now ? item.reservedUntil! : item.nextStart!;
      item.reservedUntil = turn + intervalMs;
      return { started: false, turn };
    },
    async start(projectId, key, intervalMs, now) {
      const item = itemOf(projectId, key);
      if ((item.nextStart ?? 0) > now) return { won: false, notBefore: item.nextStart! };
      item.nextStart = now + intervalMs;
      return { won: true };
    },
    async throttle({ runId, stepId, transition, readAttempt, throttle, recheckAt, queued, event }) {
      const step = stepOf(runId, stepId);
      if (!step || !stepGuardHolds(transition, step, { attempt: readAttempt })) return { won: false };
      Object.assign(step, { status: 'throttled', throttle: structuredClone(throttle), timer: { kind: 'throttled', dueAt: recheckAt }, ...(queued ? { queuedAt: throttle.since, remaining: 0 } : {}) });
      return commit([...(queued ? [queued] : []), event]);
    },
    async wake(runId, stepId, attempt, at, event) {
      const step = stepOf(runId, stepId);
      if (!step || !stepGuardHolds('unthrottle', step, { attempt })) return { won: false };
      Object.assign(step, { status: 'queued', queuedAt: at, timer: { kind: 'dispatch', dueAt: at } });
      delete step.throttle;
      return commit([event]);
    },
  };
  return {
    rate,
    /** A key's turns and starts: the end of the last turn handed out, the earliest next start. */
    rateOf: (projectId: string, key: string) => ({ ...itemOf(projectId, key) }),
  };
}
