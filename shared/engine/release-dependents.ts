import { finalRunStatuses, runTransitions } from '#shared/domain/states';
import { sinksOpen } from '#shared/domain/sink-buckets';
import { waitNotBefore } from '#shared/executors/wait';
import { generationOf, type RunRecord, type StepRecord } from '#shared/store/runs';
import { runEvent, type EngineDeps } from './context';
import { maxQueueDelaySeconds, mergeEffects, messageFor, noEffects, type Dispatch, type Effects } from './dispatch';
import { childFinishPlan, childFinished } from './map-children';
import { stepsPerWrite, type Finish, type Release } from './store';

/**
 * Releasing dependents (DESIGN §3.3): a child whose last dependency just finished runs, exactly
 * once. A child with one dependency left is released by its parent's finishing write itself: its
 * message is sent after that write and its claim (`claimReleased`, conditional on never having
 * been claimed) records the release; a time-gated one is queued by its own write. A child with
 * several is released by one decrement per parent (`release`, counted once per parent), and only
 * the decrement that reaches zero queues it. No step ever looks at the run's other steps: the
 * work is proportional to the out-degree.
 */

/** How many single-step queue writes the worker has in flight at once. */
const parallelWrites = 25;

/** The not-before time a step gets when released: a `wait` step's is computed from now. */
const gateOf = (step: StepRecord, releasedAt: Date): string | undefined =>
  step.kind === 'wait' ? (waitNotBefore(step.input, releasedAt) ?? step.notBefore) : step.notBefore;

/** Further ahead than an SQS delay reaches: parked in the timers index for the sweeper instead of sent. */
const isParked = (notBefore: string | undefined, at: Date): boolean =>
  notBefore !== undefined && Date.parse(notBefore) - at.getTime() > maxQueueDelaySeconds * 1000;

/**
 * A pending step's release: queued, gated when it has a not-before time, parked when that is far
 * (the sweeper sends it), else marked for dispatch (due when its message is) unless this
 * function's releases are recovered by its own message's redelivery (the step worker: rerelease).
 */
export function releaseOf(deps: EngineDeps, run: RunRecord, step: StepRecord, at: Date, actor: string, parentId?: string): Release {
  const notBefore = gateOf(step, at);
  const parked = isParked(notBefore, at);
  const detail = { attempt: step.attempt + 1, ...(parentId ? { releasedBy: parentId } : notBefore ? { notBefore } : {}) };
  const dueAt = notBefore && Date.parse(notBefore) > at.getTime() ? notBefore : at.toISOString();
  return {
    stepId: step.stepId,
    queuedAt: at.toISOString(),
    ...(notBefore ? { notBefore } : {}),
    parked,
    ...(!parked && !deps.releasesRecoveredByRedelivery ? { dispatchDueAt: dueAt } : {}),
    event: runEvent(run, 'step.queued', actor, detail, at, step.stepId),
  };
}

/** Messages for released steps, except those parked until a time beyond SQS's reach. */
const dispatchesOf = (run: RunRecord, steps: StepRecord[], releases: Release[], at: Date): Dispatch[] =>
  releases
    .filter((release) => !release.parked)
    .map((release) => {
      const step = steps.find((candidate) => candidate.stepId === release.stepId)!;
      const seconds = release.notBefore ? (Date.parse(release.notBefore) - at.getTime()) / 1000 : 0;
      return messageFor({ runId: run.id, stepId: step.stepId, attempt: step.attempt }, seconds > 0 ? seconds : undefined);
    });

/**
 * pending → queued for steps with no dependency left, each with its event, `stepsPerWrite` to a
 * write; returns their messages. A step no longer pending was queued by someone else: left alone.
 */
export async function queueSteps(deps: EngineDeps, run: RunRecord, steps: StepRecord[], actor: string, parentId?: string): Promise<Effects> {
  // The worker's releases come back with its message's redelivery (rerelease): each step is
  // queued by its own single-item write (one write unit) rather than in transactions of 45
  // (two per step), several at a time.
  if (deps.releasesRecoveredByRedelivery && steps.length > 1) {
    const effects = noEffects();
    for (let start = 0; start < steps.length; start += parallelWrites) {
      const each = await Promise.all(steps.slice(start, start + parallelWrites).map((step) => queueSteps(deps, run, [step], actor, parentId)));
      each.forEach((one) => mergeEffects(effects, one));
    }
    return effects;
  }
  const effects = noEffects();
  for (let start = 0; start < steps.length; start += stepsPerWrite) {
    const chunk = steps.slice(start, start + stepsPerWrite);
    const at = deps.clock();
    const releases = chunk.map((step) => releaseOf(deps, run, step, at, actor, parentId));
    const written = await deps.store.queue(run.id, releases);
    if (written.won) {
      effects.events.push(...written.events);
      effects.dispatches.push(...dispatchesOf(run, chunk, releases, at), ...(await parkedInEndedRun(deps, run.id, chunk, releases)));
    } else if (chunk.length > 1) {
      // One of them was queued meanwhile: one by one, so the others still go.
      for (const step of chunk) mergeEffects(effects, await queueSteps(deps, run, [step], actor, parentId));
    }
  }
  return effects;
}

/**
 * Parked steps (no message) whose run ended before the release committed (a cancel that listed
 * its steps before this write could not see them): their messages now, which cancel them,
 * rather than months later from the sweeper. One read, only for releases that park.
 */
async function parkedInEndedRun(deps: EngineDeps, runId: string, steps: StepRecord[], releases: Release[]): Promise<Dispatch[]> {
  const parked = steps.filter((step) => releases.some((release) => release.parked && release.stepId === step.stepId));
  if (parked.length === 0) return [];
  const run = await deps.store.getRun(runId);
  return run && finalRunStatuses.includes(run.status) ? parked.map((step) => messageFor(step)) : [];
}

/** A pending step waiting for one dependency only, never decremented: released by that parent's finish alone (`singleParent`). */
export const isReleasedByParent = (step: StepRecord): boolean => step.status === 'pending' && step.remaining === 1 && !step.releasedBy?.length;

/** The not-before time of a released step is still ahead (or computed at release: `wait`): it is queued with its gate, not claimed at once. */
const isGated = (step: StepRecord, at: Date): boolean => step.kind === 'wait' || (step.notBefore !== undefined && Date.parse(step.notBefore) > at.getTime());

/** A finished parent's pending children, by how each is released. */
interface Children {
  /** Single-parent, ungated: the finish is their release; only their message is sent (claimReleased). */
  sent: StepRecord[];
  /** Single-parent with a time gate: queued by their own write, with the gate. */
  gated: StepRecord[];
  /** Several dependencies: one decrement per parent. */
  shared: StepRecord[];
}

const sortChildren = (children: StepRecord[], at: Date): Children => {
  const waiting = children.filter((child) => child.status === 'pending');
  const single = waiting.filter(isReleasedByParent);
  return { sent: single.filter((child) => !isGated(child, at)), gated: single.filter((child) => isGated(child, at)), shared: waiting.filter((child) => !single.includes(child)) };
};

/**
 * A finishing step's children, as they are before its finishing write. Read, except the ones a
 * first-generation step sends without reading: those its run's version defines as pending,
 * waiting for it alone and not time-gated. Such a child cannot hold anything its definition does
 * not say while its only parent is unfinished: nothing but that parent's finish releases it, and
 * only a reset brings a step back to pending with a raised attempt, which raises its parent's
 * generation too (rerun-step.ts: the re-run step and every downstream step that had run). So it
 * is pending at attempt 0, and its message (attempt 0) is right; if it did move on (a finish
 * repeated after an optional failure's retry, a reaction skipped it), the message finds it
 * claimed, finished or skipped, which is a duplicate. Every other child is read: a shared one,
 * a gated or `wait` one, one the definition says is done, and every child of a re-run parent.
 */
async function childrenOf(deps: EngineDeps, run: RunRecord, step: StepRecord, at: Date): Promise<StepRecord[]> {
  // A planner's added step (plannedBy): its dependents may have been rewired since their definition (planner.ts).
  if (generationOf(step) > 1 || step.plannedBy) return deps.store.getSteps(run.id, step.dependents);
  const defined = await deps.store.definedSteps(run, step.dependents);
  const unread = defined.filter((child) => isReleasedByParent(child) && child.attempt === 0 && !isGated(child, at));
  const sent = new Set(unread.map((child) => child.stepId));
  const toRead = step.dependents.filter((id) => !sent.has(id));
  return [...unread, ...(toRead.length ? await deps.store.getSteps(run.id, toRead) : [])];
}

/** Releases a finished parent's pending children (idempotent: a repeat sends duplicates that lose their claim, decrements nothing). */
async function releaseChildren(deps: EngineDeps, run: RunRecord, parentId: string, children: Children, actor: string): Promise<Effects> {
  const effects: Effects = { dispatches: children.sent.map((child) => messageFor(child)), events: [] };
  // Released by this step: their step.queued says so.
  mergeEffects(effects, await queueSteps(deps, run, children.gated, actor, parentId));
  mergeEffects(effects, await releaseShared(deps, run, parentId, children.shared.filter((child) => child.remaining > 0), actor));
  // A shared child whose last decrement was made but not followed by its queuing (a crash).
  return mergeEffects(effects, await queueSteps(deps, run, children.shared.filter((child) => child.remaining === 0), actor));
}

/** What finishing a step (completed, or failed but optional) does to its dependents, read before its write. */
export interface FinishPlan {
  finish: Finish;
  /** The step has no dependents: a sink, counted out of its bucket (in the finishing write, after it, or both). */
  sink: boolean;
  children: Children;
  /**
   * Work left after the write (children to send, queue or release, the run's completion) by a
   * function with no redelivery to redo it (a person's action, a callback, a reaction, the
   * sweeper): the write files the finished step under DISPATCH, taken off once the sends are
   * done (Effects.settled); if the function dies before, the sweeper sends the step's message
   * and the worker redoes it (rerelease). The worker's own finishes are redone by redelivery.
   */
  marker?: { dueAt: string; status: 'completed' | 'failed' };
  /** A map's child, finished so: counted by its map after the write (map-children.ts). */
  mapChild?: 'completed' | 'failed';
}

export async function planFinish(deps: EngineDeps, run: RunRecord, step: StepRecord, at: Date, finishedAs: 'completed' | 'failed' = 'completed'): Promise<FinishPlan> {
  if (step.mapItem) return childFinishPlan(deps, at, finishedAs);
  const children = sortChildren(step.dependents.length ? await childrenOf(deps, run, step, at) : [], at);
  const sink = step.dependents.length === 0;
  const followUp = !deps.releasesRecoveredByRedelivery && (sink || children.sent.length + children.gated.length + children.shared.length > 0);
  return { finish: sink ? sinkCount(deps, run, step) : {}, sink, children, ...(followUp ? { marker: { dueAt: at.toISOString(), status: finishedAs } } : {}) };
}

/** After a finishing write won: the children released (their messages, to send), the run completed after its last sink, the timer to take off after the sends. */
export async function afterFinish(deps: EngineDeps, run: RunRecord, step: StepRecord, plan: FinishPlan, effects: Effects, actor: string): Promise<Effects> {
  mergeEffects(effects, await releaseChildren(deps, run, step.stepId, plan.children, actor));
  if (plan.sink) mergeEffects(effects, await countSinks(deps, run, [step], actor));
  if (plan.mapChild) mergeEffects(effects, await childFinished(deps, run, { ...step, status: plan.mapChild }));
  if (plan.marker) (effects.settled ??= []).push({ runId: run.id, stepId: step.stepId, status: plan.marker.status });
  return effects;
}

/**
 * How a finishing write counts its sink: the step worker's sinks leave their bucket by a write of
 * their own after it (`countSinks`, shared by the sinks of one invocation; a crash in between is
 * recounted by the record's redelivery, rerelease), every other function's in the finishing write
 * itself (nothing would redeliver). A run from before sink buckets counts down `remainingSinks`.
 */
function sinkCount(deps: EngineDeps, run: RunRecord, step: StepRecord): Pick<Finish, 'sink'> {
  if (run.sinkBuckets === undefined || step.sinkBucket === undefined) return { sink: {} };
  return deps.releasesRecoveredByRedelivery ? {} : { sink: { bucket: step.sinkBucket } };
}

/**
 * Finished sinks out of their buckets (idempotent, so also a recount: a sink counted in its
 * finishing write is removed again to learn whether its bucket is empty), and the run completed
 * when no bucket is left open. A run from before sink buckets counted them in the finishing write.
 */
export async function countSinks(deps: EngineDeps, run: RunRecord, sinks: StepRecord[], actor: string): Promise<Effects> {
  const byBucket = new Map<number, string[]>();
  for (const { stepId, sinkBucket } of sinks) if (sinkBucket !== undefined) byBucket.set(sinkBucket, [...(byBucket.get(sinkBucket) ?? []), stepId]);
  if (run.sinkBuckets === undefined || byBucket.size === 0) return completeRunIfDone(deps, run.id, actor);
  const emptied = await Promise.all([...byBucket].map(([bucket, ids]) => deps.store.finishSinks(run.id, bucket, ids)));
  return emptied.some(Boolean) ? completeRunIfDone(deps, run.id, actor) : noEffects();
}

/**
 * Children with several dependencies: one decrement per parent (a repeat decrements nothing),
 * and exactly the decrement that reaches zero queues the child.
 */
export async function releaseShared(deps: EngineDeps, run: RunRecord, parentId: string, children: StepRecord[], actor: string): Promise<Effects> {
  const ready: StepRecord[] = [];
  for (const child of children) {
    const released = await deps.store.release(run.id, child.stepId, parentId, child.remaining);
    if (released.won) {
      if (released.remaining === 0) ready.push(child);
      continue;
    }
    // Released by this parent before (a redelivery): queue it if that release was the last.
    const current = await deps.store.getStep(run.id, child.stepId);
    if (current?.status === 'pending' && current.remaining === 0) ready.push(current);
  }
  return queueSteps(deps, run, ready, actor);
}

/**
 * Completes the run when its last sink is done (one caller wins). A run some of whose optional
 * steps failed completes `degraded`, naming them: those failures were recorded before, as a
 * step's failure commits before any of its descendants runs, and a failed sink is listed by its
 * failure's own write, before it is counted.
 */
export async function completeRunIfDone(deps: EngineDeps, runId: string, actor: string): Promise<Effects> {
  const run = await deps.store.getRun(runId);
  if (!run || sinksOpen(run) || !(runTransitions.complete.from as readonly string[]).includes(run.status)) return noEffects();
  const at = deps.clock();
  const failedOptionalSteps = run.failedOptionalSteps ?? [];
  const degraded = failedOptionalSteps.length > 0;
  const event = runEvent(run, 'run.completed', actor, { totalSteps: run.totalSteps, ...(degraded ? { degraded, failedOptionalSteps } : {}) }, at);
  const written = await deps.store.completeRun(runId, at.toISOString(), degraded, event);
  if (!written.won) return noEffects();
  deps.metrics.add('RunsCompleted', undefined);
  return { dispatches: [], events: written.events };
}

/** Done with as far as its dependents are concerned: completed, or failed but optional. */
export const isFinished = (step: StepRecord): boolean => step.status === 'completed' || (step.status === 'failed' && step.onFailure === 'continue');

/**
 * Releases what a finished step should have released, and follows finished dependents down to
 * the unfinished frontier (steps run inline after it may have been cut short by a crash); a
 * finished sink on the way is counted out of its bucket again, and completes the run if it was
 * the last (a worker that died between a sink's write, its count and the run's completion). Idempotent: used on redelivery;
 * a duplicate message it sends is harmless.
 */
export async function rerelease(deps: EngineDeps, run: RunRecord, step: StepRecord): Promise<Effects> {
  const effects = noEffects();
  const seen = new Set<string>([step.stepId]);
  let frontier: StepRecord[] = [step];
  const sinks: StepRecord[] = [];
  while (frontier.length > 0) {
    const parents = frontier;
    frontier = [];
    for (const parent of parents) {
      // A planner that was a sink keeps its bucket (its plan's exits joined it) and is counted out of it again.
      if (parent.dependents.length === 0 || parent.sinkBucket !== undefined) sinks.push(parent);
      const ids = parent.dependents.filter((id) => !seen.has(id));
      ids.forEach((id) => seen.add(id));
      if (ids.length === 0) continue;
      const children = await deps.store.getSteps(run.id, ids);
      mergeEffects(effects, await releaseChildren(deps, run, parent.stepId, sortChildren(children, deps.clock()), 'worker'));
      for (const child of children) {
        if (child.status === 'queued') effects.dispatches.push(messageFor(child));
        // A running child is checked against its lease (taken over if its worker died).
        if (child.status === 'running') effects.dispatches.push(messageFor({ ...child, attempt: child.attempt - 1 }));
        if (isFinished(child)) frontier.push(child);
      }
    }
  }
  return sinks.length ? mergeEffects(effects, await countSinks(deps, run, sinks, 'worker')) : effects;
}
