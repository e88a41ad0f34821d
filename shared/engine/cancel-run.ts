import type { CommittedEvent } from '#shared/store/event-outbox';
import type { RunRecord, StepRecord } from '#shared/store/runs';
import { runEvent, type EngineDeps } from './context';
import { cancelThrottled } from './capacity';
import { messageFor } from './dispatch';

/**
 * What cancelling a run does to the steps it would otherwise leave half-way: those waiting in
 * needs_qa (nobody is to approve them any more), those held while it was paused (no message
 * will come for them): queued, or running when held at the takeover of a dead worker's attempt,
 * and those queued with their time ahead (a far one is parked: no message until the sweeper sends
 * it near its time, maybe weeks later). The run's own write cannot hold them (one item per step), so
 * they are cancelled after it, and made safe against the request dying in between. A step
 * released after the cancel looked is parked in a cancelled run: its releaser sends it at once
 * (release-dependents.ts, `queueSteps`).
 */

/** After the request's own writes (an API request ends within 30 s): when a check message may look. */
const cancelCheckDelaySeconds = 35;

/** Queued with its time ahead: parked in the timers index (no message until the sweeper's, maybe weeks away), or its message delayed. */
const gatedAhead = (step: StepRecord, now: number): boolean => step.status === 'queued' && step.notBefore !== undefined && Date.parse(step.notBefore) > now;

const strandedSteps = (run: RunRecord | undefined, steps: StepRecord[], now: number): StepRecord[] =>
  steps.filter((step) => step.status === 'needs_qa' || step.status === 'throttled' || gatedAhead(step, now) || (['queued', 'running'].includes(step.status) && (run?.heldSteps ?? []).includes(step.stepId)));

/**
 * Sent before the run moves: each stranded step's own message, due after this request, cancels
 * it (step-lifecycle: a waiting or queued step of a cancelled run) if the request dies before
 * cancelStranded does; a person's second cancel would be refused, the run being cancelled. A
 * message that finds its run not cancelled (the cancel lost) changes nothing.
 */
export async function sendCancelChecks(deps: EngineDeps, run: RunRecord): Promise<void> {
  const stranded = strandedSteps(run, await deps.store.listSteps(run.id), deps.clock().getTime());
  // A running one's message is for the attempt before (it looks at the lease, then takes over or cancels).
  if (stranded.length > 0) await deps.dispatcher.send(stranded.map((step) => messageFor(step.status === 'running' ? { ...step, attempt: step.attempt - 1 } : step, cancelCheckDelaySeconds)));
}

/**
 * After the run moved to cancelled: its waiting steps are cancelled (out of the inbox and off
 * their deadlines in the same write) and its held ones too. Reads the run and its steps again; a
 * step that moved meanwhile (approved a moment earlier) is left as it is.
 */
export async function cancelStranded(deps: EngineDeps, run: RunRecord, actor: string): Promise<CommittedEvent[]> {
  const at = deps.clock();
  const events: CommittedEvent[] = [];
  for (const step of strandedSteps(await deps.store.getRun(run.id), await deps.store.listSteps(run.id), at.getTime())) {
    if (step.status === 'throttled') {
      // Out of its waiting list in the same write; it holds no slot (a slot handed meanwhile is given back by its message).
      await cancelThrottled(deps, { ...run, status: 'cancelled' }, step, actor);
      continue;
    }
    const event = runEvent(run, 'step.cancelled', actor, { from: step.status, reason: 'run cancelled' }, at, step.stepId);
    const transition = step.status === 'needs_qa' ? 'cancelWaiting' : 'cancel';
    const written = await deps.store.cancel(run.id, step.stepId, { transition, readStatus: step.status, attempt: step.attempt, at: at.toISOString() }, event);
    if (written.won) events.push(...written.events);
  }
  return events;
}
