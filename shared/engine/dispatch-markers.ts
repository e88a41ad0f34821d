import type { Dispatch } from './dispatch';
import type { DueTimer } from './store';

/**
 * A step committed as `queued` must reach the queue even when its message is never sent (the
 * send failed, or the Lambda died between the commit and the send). The write that queues the
 * step also files it in the timers index as `DISPATCH`, due when its message should become
 * visible; the claim takes that timer off, so a marker older than the sweeper's
 * grace belongs to a message that never arrived (or is stuck behind a backlog: a duplicate then
 * loses its claim). See docs/ARCHITECTURE.md, "Lost sends". The marker itself is the store's
 * (`Release.dispatchDueAt`, `retry`, `requeue`, `markForDispatch`; `dispatchMarker` in the
 * DynamoDB adapter).
 */

/** When a queued step's message is due: its not-before time when it has one still ahead, else now. */
export const dispatchDueAt = (at: Date, delaySeconds?: number): Date => new Date(at.getTime() + Math.max(0, delaySeconds ?? 0) * 1000);

/** A queued step's DISPATCH timer as the store lists it (the fields the recovery reads). */
export type MarkedStep = DueTimer;

export interface DispatchRecovery {
  /**
   * Still queued: send its message again (a duplicate loses the conditional claim). Still running:
   * a step its run held at the takeover of a dead worker's attempt (marked by `resume`, which
   * died before its send): a message for the attempt before, which looks at the lease and takes over.
   * In needs_qa: a gate whose automatic reviewer never got its message (a callback's review, a
   * resume that died before its sends): the review message, whose reviewStart takes the marker off.
   */
  resend: { step: MarkedStep; dispatch: Dispatch }[];
  /**
   * Finished by a function that died before its follow-up (FinishPlan.marker): its message lets
   * the worker redo it (rerelease: shared children, the run's completion); then the marker goes.
   */
  redo: { step: MarkedStep; dispatch: Dispatch }[];
  /** Moved on without the claim replacing the marker (cancelled, held and then skipped…): just take the marker off. */
  clear: MarkedStep[];
}


/**
 * What the sweeper does with `DISPATCH` markers due before `now - graceSeconds`: re-send those
 * whose step is still queued (with whatever remains of its not-before delay) or held running, send the finished
 * ones to the worker to redo their follow-up, clear the rest.
 */
const finishedMarks = ['completed', 'failed'];
// needs_qa: a step whose automatic reviewer's message was never sent (its review written by a callback, or held by a budget).
const resentMarks = ['queued', 'running', 'needs_qa'];

export function planDispatchRecovery(items: MarkedStep[], now: Date, graceSeconds: number): DispatchRecovery {
  const before = now.getTime() - graceSeconds * 1000;
  const due = items.filter((item) => Date.parse(item.dueAt) < before);
  return {
    resend: due
      .filter((item) => resentMarks.includes(item.status))
      .map((step) => {
        const delay = step.status === 'queued' && step.notBefore ? (Date.parse(step.notBefore) - now.getTime()) / 1000 : 0;
        const attempt = step.status === 'running' ? step.attempt - 1 : step.attempt;
        return { step, dispatch: { message: { runId: step.runId, stepId: step.stepId, attempt }, ...(delay > 0 ? { delaySeconds: delay } : {}) } };
      }),
    redo: due.filter((item) => finishedMarks.includes(item.status)).map((step) => ({ step, dispatch: { message: { runId: step.runId, stepId: step.stepId, attempt: step.attempt } } })),
    clear: due.filter((item) => !resentMarks.includes(item.status) && !finishedMarks.includes(item.status)),
  };
}

/**
 * Injected lost sends, for the end-to-end test only: on a stage with the test executors (local),
 * a function built with `loseTestSends` drops, without sending and without an error (as if it
 * died right after its commit), every message of a step whose id starts with this prefix.
 */
export const lostSendPrefix = 'lost-send-';

export const withLostTestSends = <T extends { send(dispatches: Dispatch[]): Promise<void | { dropped: number }> }>(dispatcher: T): T => ({
  ...dispatcher,
  async send(dispatches: Dispatch[]) {
    const kept = dispatches.filter((dispatch) => !dispatch.message.stepId.startsWith(lostSendPrefix));
    await dispatcher.send(kept);
    // Reported so that what follows the sends (a DISPATCH timer taken off) does not happen either.
    return kept.length < dispatches.length ? { dropped: dispatches.length - kept.length } : undefined;
  },
});
