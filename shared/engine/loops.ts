import { bodyOf, describeCondition, untilHolds } from '#shared/domain/loops';
import { nextProgress, outputHash } from '#shared/domain/limits';
import { NonRetryableStepError } from '#shared/domain/step-errors';
import { generationOf, type RunRecord, type StepRecord } from '#shared/store/runs';
import { runEvent, type EngineDeps } from './context';
import { messageFor, type Effects } from './dispatch';
import type { StepReset } from './store';

/**
 * Bounded loops (issue 13 §3; README "Loops"; docs/ARCHITECTURE.md "Loops"). A loop step's
 * execution that does not meet its `until` does not complete: its body (the loop's `over`, ending
 * at it) runs again as a new iteration, in one write (`iterate`): the loop step waits for its body
 * parents again (or is queued, alone in its body), the body's first steps are queued again and the
 * rest reset, each as a new generation with fresh attempts, exactly as a re-run's step and its
 * downstream are (rerun-step.ts; the store writes them with the same `rerun` and `reset`
 * transitions). The output of the iteration that ended is kept in its `step.iterated` event. At
 * `maxIterations` the step fails with LOOP_LIMIT. Each iteration's output also extends the
 * step's NO_PROGRESS streak (limits.ts), so identical outputs stop a loop before its limit.
 */

/**
 * Runs the loop's body again (`effects`: undefined when the write lost), or answers the LOOP_LIMIT
 * error its caller fails the step with; undefined when the step has no loop or its output meets
 * `until` (it completes).
 */
export async function continueLoop(deps: EngineDeps, run: RunRecord, step: StepRecord, output: unknown, actor: string): Promise<{ effects: Effects | undefined } | { limit: NonRetryableStepError } | undefined> {
  const loop = step.loop;
  if (!loop || untilHolds(loop.until, output)) return undefined;
  const iteration = step.iteration ?? 1;
  if (iteration >= loop.maxIterations) {
    const message = `LOOP_LIMIT: step ${step.stepId} ran ${iteration} iteration${iteration > 1 ? 's' : ''} (loop.maxIterations ${loop.maxIterations}) and its output never met loop.until (${describeCondition(loop.until)})`;
    return { limit: new NonRetryableStepError(message, { code: 'LOOP_LIMIT' }) };
  }
  const body = bodyOf(step.stepId, loop);
  const inBody = new Set(body);
  const others = await deps.store.getSteps(run.id, body.filter((id) => id !== step.stepId));
  const at = deps.clock();
  const next = iteration + 1;
  const bodyParents = (member: StepRecord) => member.dependsOn.filter((id) => inBody.has(id));
  const heads = others.filter((member) => bodyParents(member).length === 0);
  const rest = others.filter((member) => bodyParents(member).length > 0);
  const stored = await deps.artifacts.storeOutput({ projectId: run.projectId, runId: run.id, stepId: step.stepId, attempt: step.attempt }, output);
  const generation = generationOf(step) + 1;
  const queued = bodyParents(step).length === 0;
  const detail = { loopOf: step.stepId, iteration: next };
  const resets: StepReset[] = rest.map((member) => ({
    stepId: member.stepId,
    readStatus: member.status,
    remaining: bodyParents(member).length,
    releasedBy: member.dependsOn.filter((id) => !inBody.has(id)),
    dependents: member.dependents,
    generation: generationOf(member) + 1,
    allowedAttempts: member.attempt + member.retry.maxAttempts,
    at: at.toISOString(),
    event: runEvent(run, 'step.reset', actor, { ...detail, from: member.status, generation: generationOf(member) + 1 }, at, member.stepId),
  }));
  const iterated = runEvent(run, 'step.iterated', actor, { iteration, next, generation, ...(stored.outputRef ? { outputRef: stored.outputRef } : { output: stored.output }) }, at, step.stepId);
  const written = await deps.store.iterate({
    runId: run.id,
    at: at.toISOString(),
    step: {
      stepId: step.stepId,
      attempt: step.attempt,
      queued,
      remaining: bodyParents(step).length,
      releasedBy: step.dependsOn.filter((id) => !inBody.has(id)),
      generation,
      allowedAttempts: step.attempt + step.retry.maxAttempts,
      iteration: next,
      // The streak goes on over iterations: the same output again and again stops the loop (NO_PROGRESS).
      progress: nextProgress(step.progress, outputHash(output)),
      events: [iterated, ...(queued ? [runEvent(run, 'step.queued', actor, { ...detail, attempt: step.attempt + 1 }, at, step.stepId)] : [])],
    },
    heads: heads.map((member) => ({
      stepId: member.stepId,
      readStatus: member.status,
      generation: generationOf(member) + 1,
      allowedAttempts: member.attempt + member.retry.maxAttempts,
      event: runEvent(run, 'step.queued', actor, { ...detail, attempt: member.attempt + 1, generation: generationOf(member) + 1 }, at, member.stepId),
    })),
    resets,
  });
  if (!written.won) return { effects: undefined };
  const dispatches = [...heads, ...(queued ? [step] : [])].map((member) => messageFor(member));
  return { effects: { dispatches, events: written.events } };
}
