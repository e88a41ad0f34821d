import { rateIntervalMs, resolveCapacityKey } from '#shared/domain/capacity';
import type { CommittedEvent } from '#shared/store/event-outbox';
import type { RateThrottle, RunRecord, StepRecord } from '#shared/store/runs';
import { cancelThrottled } from './capacity';
import { runEvent, type EngineDeps } from './context';
import { messageFor } from './dispatch';
import type { EventToWrite, Written } from './store';

/**
 * Rate limits in the step lifecycle (issue 12 §6 `rate: {key, perSecond}`; README "Fair
 * capacity"). One item per (project, resolved key) holds two times: `reservedUntil`, the end of
 * the last turn handed out (GCRA's theoretical arrival time), and `nextStart`, the earliest the
 * next start may be (the last actual start + one interval). A step arriving at an idle key starts
 * at once (one conditional write sets both); otherwise it takes the next turn (one atomic
 * `reservedUntil + interval`: concurrent takers get distinct turns) and waits `throttled` until
 * it, its message sent back with an SQS delay (≤ 900 s, re-sent for longer waits): no polling and
 * no herd, each waiting step wakes once at its own turn. The start itself passes a second
 * conditional write on `nextStart` with the worker's clock, so starts are never closer than one
 * interval even when wake-ups come late or early; a step that finds it a little early waits the
 * rest in the worker (SQS delays count whole seconds).
 */

/** The rate part of the engine's store port (adapters: shared/store/rate-store.ts, memory-rate-store.ts). */
export interface RateStore {
  /** A start now when the key is idle (no turn ahead, the last start an interval ago); otherwise the next turn, reserved (epoch ms, at or after now). */
  take(projectId: string, key: string, intervalMs: number, now: number): Promise<{ started: true } | { started: false; turn: number }>;
  /** A start now, only while the last start under the key was at least an interval ago; lost: when the next start may be. */
  start(projectId: string, key: string, intervalMs: number, now: number): Promise<{ won: true } | { won: false; notBefore: number }>;
  /** queued (or released pending) → throttled until its turn, its THROTTLED timer at `recheckAt` (the sweeper sends its message should its own be lost). */
  throttle(request: RateThrottleRequest): Promise<{ won: true; events: CommittedEvent[] } | { won: false }>;
  /** throttled → queued, its turn come (DISPATCH timer): it starts right after, in the same worker. */
  wake(runId: string, stepId: string, attempt: number, at: string, event: EventToWrite): Promise<Written>;
}

export interface RateThrottleRequest {
  runId: string;
  stepId: string;
  transition: 'throttle' | 'throttleReleased';
  readAttempt: number;
  throttle: RateThrottle;
  recheckAt: string;
  /** throttleReleased: the release's `step.queued`, recorded before `step.throttled`. */
  queued?: EventToWrite;
  event: EventToWrite;
}

/** Waited in the worker rather than through the queue: SQS delays count whole seconds. */
const shortWaitMs = 1_000;
/** The THROTTLED timer's margin after a turn: only a lost message leaves a step waiting that long. */
const recheckGraceMs = 30_000;
/** SQS's longest delay: a longer wait is re-sent at each wake-up. */
const maxDelaySeconds = 900;

const sleepUntil = (deps: EngineDeps, time: number) => (deps.sleepUntil ? deps.sleepUntil(time) : new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, time - deps.clock().getTime()))));

/** Whole seconds until `until`, rounded down (the worker waits the rest), at most SQS's longest delay. */
const delayUntil = (until: number, now: number): number => Math.min(maxDelaySeconds, Math.max(0, Math.floor((until - now) / 1000)));

/**
 * The step's start under its rate, taken last before its claim (the start it spaces is this one).
 * Undefined: no rate; a Date: it may start now (its start time); `throttled`: it waits for its
 * turn; `moved`: it was not where it was read; `deferred` (a takeover, which cannot wait
 * throttled): its message comes back when the key lets it start. `turn`: one it was given before
 * (its wake-up), used instead of taking a new one.
 */
export async function takeTurn(deps: EngineDeps, run: RunRecord, step: StepRecord, transition: 'claim' | 'takeover' | 'claimReleased', turn?: number): Promise<Date | 'throttled' | 'moved' | 'deferred' | undefined> {
  if (!step.rate) return undefined;
  const key = resolveCapacityKey(step.rate.key, run.input);
  const interval = rateIntervalMs(step.rate.perSecond);
  const rates = deps.store.rate;
  let next = turn;
  // A takeover re-runs an attempt that started already: it passes the start check only, not the line.
  if (next === undefined && transition !== 'takeover') {
    const now = deps.clock().getTime();
    const taken = await rates.take(run.projectId, key, interval, now);
    if (taken.started) return new Date(now);
    next = taken.turn;
  }
  for (let round = 0; round < 5; round += 1) {
    const now = deps.clock().getTime();
    if (next !== undefined && next - now > shortWaitMs) break;
    if (next !== undefined && next > now) await sleepUntil(deps, next);
    const at = deps.clock().getTime();
    const started = await rates.start(run.projectId, key, interval, at);
    if (started.won) return new Date(at);
    next = started.notBefore;
  }
  const until = next ?? deps.clock().getTime() + interval;
  if (transition === 'takeover') {
    await deps.dispatcher.send([messageFor({ ...step, attempt: step.attempt - 1 }, Math.max(1, delayUntil(until, deps.clock().getTime())))]);
    return 'deferred';
  }
  return waitForTurn(deps, run, step, transition, { kind: 'rate', key, perSecond: step.rate.perSecond, since: deps.clock().toISOString(), until: new Date(until).toISOString() });
}

/** The step waits throttled until its turn; its message comes back then. */
async function waitForTurn(deps: EngineDeps, run: RunRecord, step: StepRecord, transition: 'claim' | 'claimReleased', throttle: RateThrottle): Promise<'throttled' | 'moved'> {
  const at = deps.clock();
  const until = Date.parse(throttle.until);
  const parentId = step.dependsOn.length === 1 ? step.dependsOn[0] : undefined;
  const released = transition === 'claimReleased';
  const written = await deps.store.rate.throttle({
    runId: run.id,
    stepId: step.stepId,
    transition: released ? 'throttleReleased' : 'throttle',
    readAttempt: step.attempt,
    throttle,
    recheckAt: new Date(until + recheckGraceMs).toISOString(),
    ...(released ? { queued: runEvent(run, 'step.queued', 'worker', { attempt: step.attempt, ...(parentId ? { releasedBy: parentId } : {}) }, at, step.stepId) } : {}),
    event: runEvent(run, 'step.throttled', 'worker', { attempt: step.attempt, kind: 'rate', key: throttle.key, perSecond: throttle.perSecond, until: throttle.until }, at, step.stepId),
  });
  if (!written.won) return 'moved';
  await deps.dispatcher.send([messageFor(step, delayUntil(until, at.getTime()))]);
  await deps.outbox.publish(written.events);
  return 'throttled';
}

/**
 * A rate-throttled step's message (its delayed wake-up, the sweeper's THROTTLED timer, a
 * cancel's check): a run that ended cancels it; a turn still far off sends the message on again;
 * a turn come moves it to queued, and the caller starts it with that turn.
 */
export async function wakeTurn(deps: EngineDeps, run: RunRecord, step: StepRecord & { throttle: RateThrottle }): Promise<{ turn: number; step: StepRecord } | 'throttled' | 'cancelled' | 'duplicate'> {
  if (['cancelled', 'completed', 'failed'].includes(run.status)) {
    await cancelThrottled(deps, run, step, 'worker');
    return 'cancelled';
  }
  const turn = Date.parse(step.throttle.until);
  const at = deps.clock();
  if (turn - at.getTime() > shortWaitMs) {
    await deps.dispatcher.send([messageFor(step, delayUntil(turn, at.getTime()))]);
    return 'throttled';
  }
  const event = runEvent(run, 'step.unthrottled', 'worker', { attempt: step.attempt, kind: 'rate', key: step.throttle.key }, at, step.stepId);
  const woken = await deps.store.rate.wake(run.id, step.stepId, step.attempt, at.toISOString(), event);
  if (!woken.won) return 'duplicate';
  await deps.outbox.publish(woken.events);
  const { throttle: _waited, ...rest } = step;
  return { turn, step: { ...rest, status: 'queued', queuedAt: at.toISOString() } };
}
