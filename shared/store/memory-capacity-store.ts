import { waitRank } from '#shared/domain/capacity';
import type { CapacityStore, Waiter } from '#shared/engine/capacity';
import type { EventToWrite, TimerKind, Written } from '#shared/engine/store';
import type { CommittedEvent } from './event-outbox';
import type { StepRecord } from './runs';
import { stepGuardHolds } from './step-conditions';

type StoredStep = StepRecord & { timer?: { kind: TimerKind; dueAt: string } };

/**
 * Fair capacity in memory, with the DynamoDB adapter's semantics (shared/store/capacity-store.ts):
 * each operation checks all its conditions and applies all its changes in one synchronous turn,
 * so concurrent starts and completions interleave only between operations, as DynamoDB's
 * conditional writes and transactions do. Part of the in-memory engine store.
 */
export function createMemoryCapacityStore({ stepOf, commit }: { stepOf: (runId: string, stepId: string) => StoredStep | undefined; commit: (events: EventToWrite[]) => Written }) {
  const slots = new Map<string, Map<string, number>>();
  const lists = new Map<string, Map<string, Waiter>>();
  const scopeKey = (projectId: string, scopeId: string) => `${projectId}\n${scopeId}`;
  const slotsOf = (projectId: string, scopeId: string) => {
    const key = scopeKey(projectId, scopeId);
    if (!slots.has(key)) slots.set(key, new Map());
    return slots.get(key)!;
  };
  const listOf = (projectId: string, scopeId: string) => {
    const key = scopeKey(projectId, scopeId);
    if (!lists.has(key)) lists.set(key, new Map());
    return lists.get(key)!;
  };

  const capacity: CapacityStore = {
    async acquire(projectId, scope, holder, leaseUntil) {
      const held = slotsOf(projectId, scope.id);
      const waiting = listOf(projectId, scope.id).size;
      // A free slot while steps wait is the list's head's (it is on its way to it).
      if (!held.has(holder) && (held.size >= scope.limit || waiting > 0)) return { won: false, holders: Object.fromEntries(held), waiting };
      held.set(holder, leaseUntil);
      return { won: true };
    },
    async release(projectId, scopeId, holder, leaseUntil) {
      const held = slotsOf(projectId, scopeId);
      if (!held.has(holder) || (leaseUntil !== undefined && held.get(holder) !== leaseUntil)) return false;
      held.delete(holder);
      return true;
    },
    async reclaim(projectId, scopeId, expired) {
      const held = slotsOf(projectId, scopeId);
      for (const [holder, lease] of Object.entries(expired)) if (held.get(holder) === lease) held.delete(holder);
    },
    holders: async (projectId, scopeId) => Object.fromEntries(slotsOf(projectId, scopeId)),
    async throttle({ projectId, runId, stepId, transition, readAttempt, scope, throttle, recheckAt, publishStepEvents, queued, event }) {
      const held = slotsOf(projectId, scope.id);
      const step = stepOf(runId, stepId);
      if (!step || !stepGuardHolds(transition, step, { attempt: readAttempt })) return { won: false, why: 'moved' };
      if ((held.size < scope.limit && listOf(projectId, scope.id).size === 0) || held.has(`${runId}/${stepId}`)) return { won: false, why: 'room' };
      Object.assign(step, { status: 'throttled', throttle: structuredClone(throttle), timer: { kind: 'throttled', dueAt: recheckAt }, ...(queued ? { queuedAt: throttle.since, remaining: 0 } : {}) });
      listOf(projectId, scope.id).set(throttle.waitEntry, { runId, stepId, attempt: readAttempt, entry: throttle.waitEntry, ...(publishStepEvents ? { publishStepEvents: true } : {}) });
      return commit([...(queued ? [queued] : []), event]) as { won: true; events: CommittedEvent[] };
    },
    waiting: async (projectId, scopeId, limit) =>
      [...listOf(projectId, scopeId).values()]
        .sort((a, b) => (a.entry < b.entry ? -1 : a.entry > b.entry ? 1 : 0))
        .slice(0, limit)
        .map((waiter) => ({ ...waiter })),
    async handOff(projectId, scope, waiter, { at, leaseUntil }, event) {
      const held = slotsOf(projectId, scope.id);
      const holder = `${waiter.runId}/${waiter.stepId}`;
      if (!held.has(holder) && held.size >= scope.limit) return { won: false, why: 'full' };
      const list = listOf(projectId, scope.id);
      if (list.has(waiter.entry) && [...list.keys()].some((entry) => waitRank(entry) < waitRank(waiter.entry))) return { won: false, why: 'outranked' };
      const step = stepOf(waiter.runId, waiter.stepId);
      if (!list.has(waiter.entry) || !step || !stepGuardHolds('unthrottle', step, { attempt: waiter.attempt })) return { won: false, why: 'gone' };
      held.set(holder, leaseUntil);
      list.delete(waiter.entry);
      Object.assign(step, { status: 'queued', queuedAt: at, timer: { kind: 'dispatch', dueAt: at } });
      delete step.throttle;
      return commit([event]) as { won: true; events: CommittedEvent[] };
    },
    async forget(projectId, scopeId, entry) {
      listOf(projectId, scopeId).delete(entry);
    },
    async cancelThrottled({ runId, stepId, projectId, attempt, throttle }, at, event) {
      const step = stepOf(runId, stepId);
      if (!step || !stepGuardHolds('cancel', step, { attempt, readStatus: 'throttled' })) return { won: false };
      if (throttle.kind !== 'rate') listOf(projectId, throttle.scope).delete(throttle.waitEntry);
      Object.assign(step, { status: 'cancelled', finishedAt: at });
      delete step.throttle;
      delete step.timer;
      return commit([event]);
    },
    async recheckAt(runId, stepId, attempt, dueAt) {
      const step = stepOf(runId, stepId);
      if (step?.status === 'throttled' && step.attempt === attempt) step.timer = { kind: 'throttled', dueAt };
    },
  };
  return {
    capacity,
    /** What a scope's slot item holds: holder → lease end. */
    slots: (projectId: string, scopeId: string) => Object.fromEntries(slotsOf(projectId, scopeId)),
    /** A scope's waiting list, head first. */
    waitingList: (projectId: string, scopeId: string) => [...listOf(projectId, scopeId).keys()].sort(),
  };
}
