import type { StepMessage } from '#shared/schemas/messages';
import type { RunRecord, StepRecord } from '#shared/store/runs';
import type { EngineDeps } from './context';
import { applyEffects, messageFor } from './dispatch';
import { pauseWithoutScore } from './quality-gates';

/**
 * Quality gates that must not wait forever (issue 12 §2, robustness; the lifecycle is
 * quality-gates.ts). A reviewer's message that reached the step DLQ (the worker crashed or timed
 * out on it at every delivery) hands the gate to a person: the step pauses in the inbox with the
 * reason on `gate.error`, as a reviewer that gave no score does; a person approves, rejects or
 * re-runs it. Pausing, not failing: the step's own work is done, only its review could not run.
 */
export async function handleDeadLetteredReview(deps: EngineDeps, run: RunRecord, step: StepRecord, message: StepMessage, receiveCount: number): Promise<'paused' | 'ignored'> {
  // Only the review's own messages (the attempt that ran, or the one before: the worker's).
  if (step.status !== 'needs_qa' || step.gate?.state !== 'reviewing' || (message.attempt !== step.attempt && message.attempt !== step.attempt - 1)) return 'ignored';
  const now = deps.clock().getTime();
  const leaseEnds = Date.parse(step.leaseUntil ?? '');
  if (leaseEnds > now) {
    // A reviewer holds a live lease: it may still finish. A copy looks again just after the lease
    // ends (a takeover then, or this handler again if it keeps dying).
    await deps.dispatcher.send([messageFor(step, Math.max(1, (leaseEnds - now) / 1000 + 1))]);
    return 'ignored';
  }
  const error = `DEAD_LETTERED: the reviewer's message was dead-lettered after ${receiveCount} deliveries (the worker crashed or timed out each time)`;
  const effects = await pauseWithoutScore(deps, run, step, error, { llmUsage: [] });
  if (!effects) return 'ignored';
  await applyEffects(deps, effects);
  return 'paused';
}
