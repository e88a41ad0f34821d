import { ConflictError } from '#shared/domain/errors';
import type { StepMessage } from '#shared/schemas/messages';
import type { RunRecord, StepRecord } from '#shared/store/runs';
import type { EngineDeps } from './context';
import { runAction } from './run-actions';

/**
 * The message attribute the DLQ handler puts on a dead letter it recorded and parked
 * (steps-parked). SQS's message move task keeps attributes, so a redriven copy still carries it
 * when it reaches the step worker.
 */
export const deadLetterAttribute = 'baton-dead-lettered';

/** Who resumed a run from a redriven dead letter, in its events. */
export const redriveActor = 'redrive';

/**
 * A recorded dead letter came back to the step queue (an operator's redrive): its step was failed
 * with DEAD_LETTERED and its run blocked, so the message alone would be ignored. The run is
 * retried as a person's `retry` would (its failed steps get a new attempt, dispatched afresh).
 * Anything else (the run retried, cancelled or resumed meanwhile, the step no longer dead-lettered)
 * leaves it as it is: a redrive never undoes a later decision.
 */
export async function resumeRedriven(deps: EngineDeps, message: StepMessage): Promise<'resumed' | 'ignored'> {
  const { run, step } = await deps.store.getRunAndStep(message.runId, message.stepId);
  if (!run || !step || !deadLetterStands(run, step)) return 'ignored';
  try {
    await runAction(deps, run, 'retry', redriveActor);
    return 'resumed';
  } catch (error) {
    // Moved on meanwhile (another redrive, a person's retry): theirs stands.
    if (error instanceof ConflictError) return 'ignored';
    throw error;
  }
}

/** The step was failed by a dead letter and nobody has acted on its run since. */
const deadLetterStands = (run: RunRecord, step: StepRecord): boolean => run.status === 'blocked' && step.status === 'failed' && step.error?.code === 'DEAD_LETTERED';

/**
 * Whether the DLQ handler parks a dead letter in steps-parked: one it has just recorded
 * ('failed'), or one whose record stands from an earlier handling of the same message (that
 * handling failed to park it and SQS delivered it again; recording again is a no-op, 'ignored').
 * A gate handed to a person, a stale copy, or a run acted on since are not parked.
 */
export async function parksDeadLetter(deps: EngineDeps, message: StepMessage, result: 'failed' | 'paused' | 'ignored'): Promise<boolean> {
  if (result !== 'ignored') return result === 'failed';
  if (message.start) return false;
  const { run, step } = await deps.store.getRunAndStep(message.runId, message.stepId);
  return Boolean(run && step && deadLetterStands(run, step));
}
