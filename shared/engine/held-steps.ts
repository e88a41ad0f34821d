import { sinksOpen } from '#shared/domain/sink-buckets';
import type { CommittedEvent } from '#shared/store/event-outbox';
import type { RunRecord, StepRecord } from '#shared/store/runs';
import type { EngineDeps } from './context';
import { mergeEffects, messageFor, type Dispatch, type Effects } from './dispatch';
import { completeRunIfDone } from './release-dependents';

/**
 * Steps a run holds (`heldSteps`) while it cannot run them: released while it was paused (or not
 * yet started), held at the takeover of a dead worker's attempt (still `running`, with no lease
 * timer: nothing else would ever find it), or held back by a strict budget. `resume` and `retry`
 * send them, crash-safe on both sides of the run's write:
 * - before it, every held step is filed under a DISPATCH timer, so the sweeper sends it if the
 *   action dies after the write (one marked while the run stays paused is only held again);
 * - the write forgets exactly the held steps that were read, and holds only while the run holds
 *   exactly those (`heldStepsUnchanged`): a step held after the read makes it lose, and the
 *   action reads again, so no step is forgotten that nobody marked.
 */

/** The run's move, given the held steps it forgets and, for a resume, the reason it stays blocked. */
export type HeldMove = (change: { held: string[]; blocked?: string }) => Promise<CommittedEvent[]>;

/**
 * A held step's message: a queued one's own, or a step whose reviewer a budget held (needs_qa,
 * its gate reviewing: quality-gates.ts); a running one's for the attempt before (it looks at the
 * lease, then takes over).
 */
export const heldStepMessage = (step: StepRecord): Dispatch[] =>
  step.status === 'queued' || (step.status === 'needs_qa' && step.gate?.state === 'reviewing') ? [messageFor(step)] : step.status === 'running' ? [messageFor({ ...step, attempt: step.attempt - 1 })] : [];

/** Back to running (resume, retry) with the steps held meanwhile sent; a run whose last sink finished while paused completes. */
export async function moveAndSendHeld(deps: EngineDeps, run: RunRecord, action: 'resume' | 'retry', actor: string, move: HeldMove): Promise<Effects> {
  const held = run.heldSteps ?? [];
  await deps.store.markForDispatch(run.id, held, deps.clock().toISOString());
  // A step failed for good while the run was paused (a paused run cannot block): it resumes blocked, with that reason.
  const [broken] = action === 'resume' && run.status === 'paused' && run.failedSteps?.length ? await deps.store.getSteps(run.id, run.failedSteps.slice(0, 1)) : [];
  const events = await move({ held, ...(broken ? { blocked: `step ${broken.stepId} failed: ${broken.error?.message ?? 'unknown error'}` } : {}) });
  const effects: Effects = { events, dispatches: (await deps.store.getSteps(run.id, held)).flatMap(heldStepMessage) };
  // Its last sink finished while it was paused (approved, called back, or already running): a
  // paused run does not complete, so nobody did then. Resuming does.
  const after = await deps.store.getRun(run.id);
  if (after && !sinksOpen(after)) mergeEffects(effects, await completeRunIfDone(deps, run.id, actor));
  return effects;
}
