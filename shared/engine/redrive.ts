import { ConflictError } from '#shared/domain/errors';
import type { StepMessage } from '#shared/schemas/messages';
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
  if (!run || !step || run.status !== 'blocked' || step.status !== 'failed' || step.error?.code !== 'DEAD_LETTERED') return 'ignored';
  try {
    await runAction(deps, run, 'retry', redriveActor);
    return 'resumed';
  } catch (error) {
    // Moved on meanwhile (another redrive, a person's retry): theirs stands.
    if (error instanceof ConflictError) return 'ignored';
    throw error;
  }
}
