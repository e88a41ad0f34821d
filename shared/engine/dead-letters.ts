import { NonRetryableStepError } from '#shared/domain/step-errors';
import type { StepMessage } from '#shared/schemas/messages';
import type { EngineDeps } from './context';
import { applyEffects, messageFor } from './dispatch';
import { isFinished, isReleasedByParent, rerelease } from './release-dependents';
import { handleDeadLetteredReview } from './gate-recovery';
import { childFinished } from './map-children';
import { handOverUnsentRoots } from './start-job';
import { failStep } from './step-outcomes';

/** How much older than the step's last queuing a dead letter must be to count as a stale copy. */
const staleCopyMarginMs = 60_000;

/**
 * A step message that kept failing (the worker crashed on it every time) reached the DLQ: fail
 * the step with that reason and block the run, so `retry` can pick it up; but only while this
 * message's attempt is still the step's fate: queued for exactly this attempt, or running with
 * nobody alive behind the lease (a step waiting for its callback has no worker to lose).
 */
export async function handleDeadLetter(deps: EngineDeps, message: StepMessage, receiveCount: number, sentAt?: number): Promise<'failed' | 'paused' | 'ignored'> {
  // A big run's background start that kept failing. Queuing: the run stays pending, visibly, and
  // `start` again sends a new job. Sending: the roots it had not sent go to the sweeper.
  if (message.start) {
    const handed = await handOverUnsentRoots(deps, message.runId, message.start);
    if (handed > 0) deps.logger.warn('dead-lettered start job: its unsent roots are filed for the sweeper', { runId: message.runId, roots: handed });
    return 'ignored';
  }
  const { run, step } = await deps.store.getRunAndStep(message.runId, message.stepId);
  // Every step message that got here was dead-lettered, whatever its step became since (the StepsDeadLettered metric).
  deps.metrics.add('StepsDeadLettered', { kind: step?.kind ?? 'unknown' });
  if (!run || !step) return 'ignored';
  // A quality gate's reviewer that kept crashing the worker: the gate goes to a person (gate-recovery.ts).
  if (step.status === 'needs_qa') return handleDeadLetteredReview(deps, run, step, message, receiveCount);
  // A map's child that finished: its follow-up (its next child, its chunk, maybe the map) again, walking whatever chain of children ran inline after it.
  if (step.mapItem && (step.status === 'completed' || step.status === 'failed')) {
    await applyEffects(deps, await childFinished(deps, run, step));
    return 'ignored';
  }
  if (isFinished(step)) {
    // The step finished but its worker kept dying after (while releasing, sending or running a
    // child inline): the worker's releases counted on this message's redelivery, which ends
    // here, so release again from here (a crash here leaves the dead letter to its own redelivery).
    await applyEffects(deps, await rerelease(deps, run, step));
    return 'ignored';
  }
  // A person's retry of a step that never started queues it again under the same attempt number:
  // a copy sent before that queuing (SQS keeps a message's SentTimestamp in the DLQ) is the
  // execution that already ended. The margin absorbs clock skew between SQS and the functions.
  const sentBeforeQueued = sentAt !== undefined && step.queuedAt !== undefined && sentAt < Date.parse(step.queuedAt) - staleCopyMarginMs;
  // Pending: a child released by its parent's finish, whose message never got as far as its claim.
  const stillQueued = (step.status === 'queued' || isReleasedByParent(step)) && step.attempt === message.attempt && !sentBeforeQueued;
  const running = step.status === 'running' && step.waitingFor !== 'callback' && message.attempt < step.attempt;
  const leaseEnds = Date.parse(step.leaseUntil ?? '');
  const abandoned = running && leaseEnds < deps.clock().getTime();
  if (running && !abandoned) {
    // A live lease: its worker may still finish, or may have died too. Nothing else would look
    // again (no lease timer), so a copy comes back just after the lease ends: a takeover then.
    await deps.dispatcher.send([messageFor({ ...step, attempt: step.attempt - 1 }, Math.max(1, (leaseEnds - deps.clock().getTime()) / 1000 + 1))]);
    return 'ignored';
  }
  if (!stillQueued && !abandoned) return 'ignored';
  const error = new NonRetryableStepError(`The step's message was dead-lettered after ${receiveCount} deliveries: the worker crashed or timed out each time`, { code: 'DEAD_LETTERED' });
  const effects = await failStep(deps, run, step, error, { actor: 'dlq-handler', transition: 'deadLetter' });
  if (!effects) return 'ignored';
  await applyEffects(deps, effects);
  return 'failed';
}
