import { capacityScopesOf, expiredHolders, firstLeaseEnd, holderOf, priorityRank, type CapacityScope } from '#shared/domain/capacity';
import { newEventId } from '#shared/domain/ids';
import type { CommittedEvent } from '#shared/store/event-outbox';
import type { RunRecord, SlotThrottle, StepRecord, StepThrottle } from '#shared/store/runs';
import { runEvent, type EngineDeps } from './context';
import { messageFor } from './dispatch';
import type { EventToWrite, Written } from './store';

/**
 * Fair capacity in the step lifecycle (issue 12 §6; the rules are in shared/domain/capacity.ts).
 * Each limit is a scope with one slot item holding its holders (step → lease end) and a waiting
 * list sorted by priority, then arrival. Before a limited step is claimed it takes a slot in each
 * of its scopes with a conditional write (it holds one already, or the scope has room and nobody
 * waits), so concurrent starts can never pass a limit, and a step arriving from outside the list
 * never takes a slot freed for the list's head (that would let a low step overtake a high one
 * waiting). A step that finds a scope full (or others waiting) is written `throttled` into that
 * scope's waiting list, in a write that holds only while that is still so: a slot freed meanwhile
 * cannot be missed. Whoever frees a slot hands it to the head of the list in
 * one write (the slot, the list entry and the step together) and sends its message: no polling.
 * A Lambda that dies holding a slot leaves its lease to run out: a throttled step looks again at
 * the first lease end (a THROTTLED timer the sweeper acts on), and whoever finds the scope full
 * takes expired holders off. A step with no limit in force reads and writes nothing here.
 */

/** A step waiting in a scope's list, as the list holds it. */
export interface Waiter {
  runId: string;
  stepId: string;
  attempt: number;
  /** Its entry's place in the list (priority, arrival): the sort key. */
  entry: string;
  publishStepEvents?: boolean;
}

/** The capacity part of the engine's store port (adapters: shared/store/capacity-store.ts, memory-capacity-store.ts). */
export interface CapacityStore {
  /** The holder's slot (lease end in epoch ms): taken when it holds one already, or the scope has room and nobody waits; lost: with the holders, their leases and how many wait. */
  acquire(projectId: string, scope: CapacityScope, holder: string, leaseUntil: number): Promise<{ won: true } | { won: false; holders: Record<string, number>; waiting: number }>;
  /** Gives the holder's slot back: only the one taken with `leaseUntil` when given (a takeover may hold it now). True when a slot was freed. */
  release(projectId: string, scopeId: string, holder: string, leaseUntil?: number): Promise<boolean>;
  /** Takes holders whose lease ran out off (each only while its lease is the one seen). */
  reclaim(projectId: string, scopeId: string, expired: Record<string, number>): Promise<void>;
  holders(projectId: string, scopeId: string): Promise<Record<string, number>>;
  /** queued (or released pending) → throttled, into the scope's waiting list, only while the scope is full or others wait; lost: `room` (a slot was freed: try again) or `moved`. */
  throttle(request: ThrottleRequest): Promise<{ won: true; events: CommittedEvent[] } | { won: false; why: 'room' | 'moved' }>;
  /** The first entries of a scope's waiting list (priority, then arrival). */
  waiting(projectId: string, scopeId: string, limit: number): Promise<Waiter[]>;
  /** A free slot handed to a waiting step: the slot, the entry's removal and throttled → queued (DISPATCH timer) in one write, only while no step of a higher priority waits; lost: `full`, `outranked` (read the list again) or `gone` (its step moved on). */
  handOff(projectId: string, scope: CapacityScope, waiter: Waiter, change: { at: string; leaseUntil: number }, event: EventToWrite): Promise<{ won: true; events: CommittedEvent[] } | { won: false; why: 'full' | 'gone' | 'outranked' }>;
  /** An entry whose step moved on without it (skipped, a lost race) leaves the list. */
  forget(projectId: string, scopeId: string, entry: string): Promise<void>;
  /** throttled → cancelled, out of its waiting list, in one write. */
  cancelThrottled(step: { runId: string; stepId: string; projectId: string; attempt: number; throttle: StepThrottle }, at: string, event: EventToWrite): Promise<Written>;
  /** A throttled step's THROTTLED timer moves to `dueAt` (while it is still throttled at that attempt). */
  recheckAt(runId: string, stepId: string, attempt: number, dueAt: string): Promise<void>;
}

export interface ThrottleRequest {
  projectId: string;
  runId: string;
  stepId: string;
  transition: 'throttle' | 'throttleReleased';
  readAttempt: number;
  scope: CapacityScope;
  throttle: SlotThrottle;
  /** When it looks again in case a holder died: the THROTTLED timer. */
  recheckAt: string;
  publishStepEvents?: boolean;
  /** throttleReleased: the release's `step.queued`, recorded before `step.throttled`. */
  queued?: EventToWrite;
  event: EventToWrite;
}

/** The slots a step took for its attempt, given back after its outcome (or when it does not run after all). */
export interface SlotHold {
  release(): Promise<void>;
}

/** A handed slot's lease: its step's message is on its way; if it never claims (lost twice over) the slot comes back by then. */
const handedLeaseMs = 15 * 60 * 1000;
/** Looks again this long after the first lease end, so the holder's own release usually comes first. */
const recheckGraceMs = 2_000;

const capacityOf = (deps: EngineDeps) => deps.store.capacity;

/** The limits in force for a step (cached project settings; nothing read for a step without any). */
async function scopesOf(deps: EngineDeps, run: RunRecord, step: StepRecord): Promise<CapacityScope[]> {
  const settings = await deps.projectSettings(run.projectId);
  return capacityScopesOf(settings.concurrency, step, run.input);
}

/**
 * Takes a slot in every scope in force for the step's next attempt. Undefined: no limit (nothing
 * written); `throttled`: a scope was full and the step now waits in its list; `moved`: the step
 * was not where it was read (a duplicate delivery); `deferred`: a takeover found no room and looks
 * again when the first lease ends.
 */
export async function takeSlots(deps: EngineDeps, run: RunRecord, step: StepRecord, transition: 'claim' | 'takeover' | 'claimReleased', leaseUntil: number): Promise<SlotHold | 'throttled' | 'moved' | 'deferred' | undefined> {
  const scopes = await scopesOf(deps, run, step);
  if (scopes.length === 0) return undefined;
  const holder = holderOf(run.id, step.stepId);
  for (let round = 0; round < 5; round += 1) {
    const held: CapacityScope[] = [];
    let full: { scope: CapacityScope; holders: Record<string, number> } | undefined;
    for (const scope of scopes) {
      const taken = await acquire(deps, run.projectId, scope, holder, leaseUntil);
      if (!taken.won) {
        full = { scope, holders: taken.holders };
        break;
      }
      held.push(scope);
    }
    const hold = slotHold(deps, run.projectId, held, holder, leaseUntil);
    if (!full) return hold;
    await hold.release();
    const now = deps.clock().getTime();
    if (transition === 'takeover') {
      await deps.dispatcher.send([messageFor({ ...step, attempt: step.attempt - 1 }, Math.min(900, Math.max(1, (firstLeaseEnd(full.holders, now) - now + recheckGraceMs) / 1000)))]);
      return 'deferred';
    }
    const throttled = await throttle(deps, run, step, transition, full.scope, full.holders);
    if (throttled === 'room') continue;
    // It found room but others waiting: it queued behind them by rank, and the room goes to the list's head.
    if (throttled === 'throttled' && Object.keys(full.holders).length < full.scope.limit) await fillFreeSlots(deps, run.projectId, full.scope);
    return throttled;
  }
  // The scope keeps changing under us: let the message come back (its redelivery tries again).
  throw new Error(`capacity of ${run.projectId} kept changing while step ${step.stepId} tried to start`);
}

/** One scope's slot; a full scope with expired holders is cleared of them first (their Lambdas died). */
async function acquire(deps: EngineDeps, projectId: string, scope: CapacityScope, holder: string, leaseUntil: number) {
  const taken = await capacityOf(deps).acquire(projectId, scope, holder, leaseUntil);
  if (taken.won) return taken;
  const expired = expiredHolders(taken.holders, deps.clock().getTime());
  if (Object.keys(expired).length === 0) return taken;
  deps.logger.warn('slots of holders whose lease ran out taken back', { projectId, scope: scope.id, holders: Object.keys(expired) });
  await capacityOf(deps).reclaim(projectId, scope.id, expired);
  // Waiting steps come first to the reclaimed slots; this one takes what is left.
  await fillFreeSlots(deps, projectId, scope);
  return capacityOf(deps).acquire(projectId, scope, holder, leaseUntil);
}

function slotHold(deps: EngineDeps, projectId: string, held: CapacityScope[], holder: string, leaseUntil: number): SlotHold {
  return {
    async release() {
      for (const scope of held.splice(0)) {
        if (await capacityOf(deps).release(projectId, scope.id, holder, leaseUntil)) await fillFreeSlots(deps, projectId, scope);
      }
    },
  };
}

/** The step waits in the scope's list (only while the scope is still full). */
async function throttle(deps: EngineDeps, run: RunRecord, step: StepRecord, transition: 'claim' | 'claimReleased', scope: CapacityScope, holders: Record<string, number>): Promise<'throttled' | 'moved' | 'room'> {
  const at = deps.clock();
  const entry = `WAIT#${priorityRank(step.priority ?? run.priority)}#${newEventId()}#${run.id}#${step.stepId}`;
  const throttleInfo: SlotThrottle = { kind: scope.kind, key: scope.key, limit: scope.limit, since: at.toISOString(), waitEntry: entry, scope: scope.id };
  const parentId = step.dependsOn.length === 1 ? step.dependsOn[0] : undefined;
  const released = transition === 'claimReleased';
  const written = await capacityOf(deps).throttle({
    projectId: run.projectId,
    runId: run.id,
    stepId: step.stepId,
    transition: released ? 'throttleReleased' : 'throttle',
    readAttempt: step.attempt,
    scope,
    throttle: throttleInfo,
    recheckAt: new Date(firstLeaseEnd(holders, at.getTime()) + recheckGraceMs).toISOString(),
    ...(run.publishStepEvents ? { publishStepEvents: true } : {}),
    ...(released ? { queued: runEvent(run, 'step.queued', 'worker', { attempt: step.attempt, ...(parentId ? { releasedBy: parentId } : {}) }, at, step.stepId) } : {}),
    event: runEvent(run, 'step.throttled', 'worker', { attempt: step.attempt, kind: scope.kind, key: scope.key, limit: scope.limit }, at, step.stepId),
  });
  if (written.won) {
    await deps.outbox.publish(written.events);
    return 'throttled';
  }
  return written.why === 'room' ? 'room' : 'moved';
}

/** Hands the scope's free slots to the heads of its waiting list, each in one write, and sends their messages. */
export async function fillFreeSlots(deps: EngineDeps, projectId: string, scope: CapacityScope): Promise<string[]> {
  const handed: string[] = [];
  for (let round = 0; round < 20; round += 1) {
    const heads = await capacityOf(deps).waiting(projectId, scope.id, Math.min(scope.limit, 10));
    if (heads.length === 0) return handed;
    for (const head of heads) {
      const at = deps.clock();
      const event = runEvent({ id: head.runId, projectId, ...(head.publishStepEvents ? { publishStepEvents: true } : {}) }, 'step.unthrottled', 'worker', { attempt: head.attempt, kind: scope.kind, key: scope.key }, at, head.stepId);
      const written = await capacityOf(deps).handOff(projectId, scope, head, { at: at.toISOString(), leaseUntil: at.getTime() + handedLeaseMs }, event);
      if (written.won) {
        // Filed under DISPATCH in the same write: a message lost here is sent again by the sweeper.
        await deps.dispatcher.send([messageFor({ runId: head.runId, stepId: head.stepId, attempt: head.attempt })]);
        await deps.outbox.publish(written.events);
        handed.push(`${head.runId}/${head.stepId}`);
        continue;
      }
      if (written.why === 'full') return handed;
      // A higher priority came to wait since the list was read: read it again.
      if (written.why === 'outranked') break;
      await capacityOf(deps).forget(projectId, scope.id, head.entry);
    }
  }
  return handed;
}

/**
 * A throttled step's own message (its THROTTLED timer, sent by the sweeper, or a duplicate): a
 * cancelled run's step is cancelled; otherwise its scope is checked for holders that died (their
 * slots go to the waiting list's heads), and the step looks again at the next lease end.
 */
export async function recheckThrottled(deps: EngineDeps, run: RunRecord, step: StepRecord): Promise<'cancelled' | 'throttled'> {
  const throttleInfo = step.throttle;
  // A turn under a rate is woken by its own delayed message (shared/engine/rate.ts), not here.
  if (!throttleInfo || throttleInfo.kind === 'rate') return 'throttled';
  if (['cancelled', 'completed', 'failed'].includes(run.status)) {
    await cancelThrottled(deps, run, step, 'worker');
    return 'cancelled';
  }
  const scope: CapacityScope = { id: throttleInfo.scope, kind: throttleInfo.kind, key: throttleInfo.key, limit: throttleInfo.limit };
  const now = deps.clock().getTime();
  const holders = await capacityOf(deps).holders(run.projectId, scope.id);
  const expired = expiredHolders(holders, now);
  if (Object.keys(expired).length) await capacityOf(deps).reclaim(run.projectId, scope.id, expired);
  const handed = await fillFreeSlots(deps, run.projectId, scope);
  if (!handed.includes(`${run.id}/${step.stepId}`)) {
    const live = Object.fromEntries(Object.entries(holders).filter(([holder]) => !(holder in expired)));
    await capacityOf(deps).recheckAt(run.id, step.stepId, step.attempt, new Date(firstLeaseEnd(live, now + recheckGraceMs) + recheckGraceMs).toISOString());
  }
  return 'throttled';
}

/** A throttled step of a run that ended: cancelled and out of its waiting list (it holds no slot; a turn under a rate just goes unused). */
export async function cancelThrottled(deps: EngineDeps, run: RunRecord, step: StepRecord, actor: string): Promise<Written> {
  if (!step.throttle) return { won: false };
  const at = deps.clock();
  const event = runEvent(run, 'step.cancelled', actor, { from: 'throttled', reason: `run ${run.status}` }, at, step.stepId);
  const written = await capacityOf(deps).cancelThrottled({ runId: run.id, stepId: step.stepId, projectId: run.projectId, attempt: step.attempt, throttle: step.throttle }, at.toISOString(), event);
  if (written.won) await deps.outbox.publish(written.events);
  return written;
}

/**
 * A queued step that will not run now (its run paused or ended) gives back any slot handed to it
 * while it waited: queued, it cannot hold one otherwise. Nothing for a step without limits.
 */
export async function giveBackHandedSlots(deps: EngineDeps, run: RunRecord, step: StepRecord): Promise<void> {
  if (step.status !== 'queued') return;
  const scopes = await scopesOf(deps, run, step);
  for (const scope of scopes) {
    if (await capacityOf(deps).release(run.projectId, scope.id, holderOf(run.id, step.stepId))) await fillFreeSlots(deps, run.projectId, scope);
  }
}
