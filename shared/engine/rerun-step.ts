import { ConflictError, NotFoundError, ValidationError } from '#shared/domain/errors';
import { dependentsOf, downstreamOf } from '#shared/domain/downstream';
import { applyGuidance } from '#shared/domain/guidance';
import { illegalRunAction, runActionRules, type StepStatus } from '#shared/domain/states';
import { generationOf, type RunRecord, type StepRecord } from '#shared/store/runs';
import { runEvent, type EngineDeps } from './context';
import { applyEffects, messageFor } from './dispatch';
import { fileRunDeadline, progressBeforeRerun } from './limits';
import { rerunAtGate } from './quality-gates';
import { stepsPerWrite, type StepReset } from './store';

/** Steps that are doing or awaiting something: a re-run waits until none of the run's is. */
const moving: readonly StepStatus[] = ['queued', 'throttled', 'running', 'needs_qa', 'blocked'];
/** Done with as far as dependents go (completed, or failed but optional): a sink of these was counted off the run. */
const finished = (step: StepRecord) => step.status === 'completed' || (step.status === 'failed' && step.onFailure === 'continue');

/**
 * A new input for a step, checked as at workflow creation: its kind's schema, then what a schema
 * cannot say (an llm template naming a non-dependency). 400 naming the field otherwise.
 */
export function checkStepInput(deps: Pick<EngineDeps, 'stepKinds'>, step: Pick<StepRecord, 'kind' | 'dependsOn'>, input: unknown, field: string): void {
  if (!deps.stepKinds) throw new Error('No step kinds in this function: a new step input needs them to validate');
  const kind = deps.stepKinds.get(step.kind);
  const parsed = kind?.input.safeParse(input);
  if (!parsed) return;
  const issue = parsed.success ? kind?.checkStep?.(parsed.data, { dependsOn: step.dependsOn }) : parsed.error.issues[0];
  if (!issue && parsed.success) return;
  const path = [field, ...(issue?.path ?? []).map(String)].join('.');
  throw new ValidationError(`${path}: ${issue?.message ?? 'invalid'}`, path);
}

/**
 * Re-runs a completed or failed step (issue 12 §4): the step runs again as a new generation (a new
 * idempotency key for its agent), and everything downstream of it, and only that, goes back to
 * pending to run again after it (each downstream step that had run gets a new generation too).
 * The run must be still (completed or blocked, nothing queued or running) and, when blocked, only
 * by failures the re-run covers. The resets that do not fit the last write go first, each chunk
 * all or none; the last write moves the run, queues the step and resets the rest together, so
 * nothing runs before every downstream step waits again. Its events say so: `run.rerun`,
 * `step.rerun_requested` (generation, guidance, downstream) and `step.reset` (rerunOf).
 */
export async function rerunStep(
  deps: EngineDeps,
  run: RunRecord,
  stepId: string,
  body: { input?: unknown; guidance?: string },
  actor: string,
): Promise<{ run: RunRecord; step: StepRecord; downstream: string[] }> {
  // A step held at its quality gate (needs_qa, its downstream never ran): a guided re-run of it alone.
  const held = await deps.store.getStep(run.id, stepId);
  if (held?.status === 'needs_qa' && held.gate && run.status !== 'cancelled') {
    const step = await rerunAtGate(deps, run, held, body, actor);
    return { run: (await deps.store.getRun(run.id))!, step, downstream: [] };
  }
  if (!runActionRules.rerun.from.includes(run.status)) throw new ConflictError(illegalRunAction('rerun', run.status));
  const steps = await deps.store.listSteps(run.id);
  const step = steps.find((candidate) => candidate.stepId === stepId);
  if (!step) throw new NotFoundError('Step');
  if (step.status !== 'completed' && step.status !== 'failed') {
    throw new ConflictError(`Cannot re-run step ${stepId}: it is ${step.status}; only a completed or failed step runs again`, 'path.stepId');
  }
  const busy = steps.find((candidate) => moving.includes(candidate.status));
  if (busy) throw new ConflictError(`Cannot re-run step ${stepId} while step ${busy.stepId} is ${busy.status}: wait until the run stops moving`, 'path.stepId');
  const ended = steps.find((candidate) => candidate.status === 'skipped' || candidate.status === 'cancelled');
  if (ended) throw new ConflictError(`Cannot re-run step ${stepId}: step ${ended.stepId} was ${ended.status} when the run ended early; fork the run instead`, 'path.stepId');

  const graph = steps.map((candidate) => ({ id: candidate.stepId, dependsOn: candidate.dependsOn }));
  const downstream = downstreamOf(stepId, graph);
  const again = new Set([stepId, ...downstream]);
  const outside = (run.failedSteps ?? []).filter((failed) => !again.has(failed));
  if (outside.length) {
    throw new ConflictError(`Cannot re-run step ${stepId}: the run is blocked by ${outside.join(', ')}, which ${outside.length > 1 ? 'are' : 'is'} not downstream of it; retry the run first`, 'path.stepId');
  }

  let input: { value: unknown } | undefined = 'input' in body && body.input !== undefined ? { value: body.input } : undefined;
  if (body.guidance) {
    const guided = applyGuidance(step.kind, input ? input.value : step.input, body.guidance);
    if (guided === undefined) throw new ValidationError(`body.guidance: a ${step.kind} step with this input has no place for guidance; give a new input instead`, 'body.guidance');
    input = { value: guided };
  }
  if (input) checkStepInput(deps, step, input.value, body.guidance && !('input' in body && body.input !== undefined) ? 'body.guidance' : 'body.input');

  const byId = new Map(steps.map((candidate) => [candidate.stepId, candidate]));
  const dependents = dependentsOf(graph);
  const at = deps.clock();
  const generation = generationOf(step) + 1;
  const resets: StepReset[] = downstream.map((id) => {
    const child = byId.get(id)!;
    const waitsFor = child.dependsOn.filter((parent) => again.has(parent) || !finished(byId.get(parent)!));
    const childGeneration = generationOf(child) + (child.attempt > 0 ? 1 : 0);
    return {
      stepId: id,
      readStatus: child.status,
      remaining: waitsFor.length,
      releasedBy: child.dependsOn.filter((parent) => !waitsFor.includes(parent)),
      dependents: dependents.get(id) ?? [],
      generation: childGeneration,
      allowedAttempts: child.attempt + child.retry.maxAttempts,
      at: at.toISOString(),
      event: runEvent(run, 'step.reset', actor, { rerunOf: stepId, from: child.status, generation: childGeneration }, at, id),
    };
  });
  // Sinks of the re-run that had finished were counted off the run: they count again, back in
  // their sink buckets (shared/domain/sink-buckets.ts), or on the run item for runs from before them.
  const finishedSinks = [...again].filter((id) => (dependents.get(id) ?? []).length === 0 && finished(byId.get(id)!)).map((id) => byId.get(id)!);
  const bucketed = run.sinkBuckets === undefined ? [] : finishedSinks.filter((sink) => sink.sinkBucket !== undefined);
  const addSinks = finishedSinks.length - bucketed.length;
  const reopenSinks = [...new Set(bucketed.map((sink) => sink.sinkBucket!))].map((bucket) => ({ bucket, sinks: bucketed.filter((sink) => sink.sinkBucket === bucket).map((sink) => sink.stepId) }));
  const forget = [...again].filter((id) => byId.get(id)!.status === 'failed');

  const lastChunk = resets.length % stepsPerWrite || Math.min(resets.length, stepsPerWrite);
  for (let start = 0; start < resets.length - lastChunk; start += stepsPerWrite) {
    const written = await deps.store.resetSteps(run.id, resets.slice(start, start + stepsPerWrite));
    if (!written.won) throw new ConflictError(`Step ${stepId}'s downstream changed meanwhile; read the run again`, 'path.stepId');
    await applyEffects(deps, { dispatches: [], events: written.events });
  }
  // Its output so far, remembered: the same output once too often stops it (NO_PROGRESS).
  const progress = await progressBeforeRerun(deps, step);
  const detail = { generation, downstream, newInput: Boolean(body.input !== undefined), ...(body.guidance ? { guidance: body.guidance } : {}) };
  const written = await deps.store.rerun({
    runId: run.id,
    at: at.toISOString(),
    step: {
      stepId,
      readStatus: step.status,
      generation,
      allowedAttempts: step.attempt + step.retry.maxAttempts,
      dependents: dependents.get(stepId) ?? [],
      ...(input ? { input } : {}),
      ...(body.guidance ? { guidance: body.guidance } : {}),
      ...(progress ? { progress } : {}),
      event: runEvent(run, 'step.rerun_requested', actor, { from: step.status, ...detail }, at, stepId),
    },
    resets: resets.slice(resets.length - lastChunk),
    run: { addSinks, reopenSinks, forget, event: runEvent(run, 'run.rerun', actor, { from: run.status, stepId, ...detail }, at) },
  });
  if (!written.won) {
    const current = await deps.store.getRun(run.id);
    throw new ConflictError(current && current.status !== run.status ? illegalRunAction('rerun', current.status) : `Step ${stepId} or its downstream changed meanwhile; read the run again`, 'path.stepId');
  }
  await applyEffects(deps, { dispatches: [messageFor(step)], events: written.events });
  const [after, queued] = await Promise.all([deps.store.getRun(run.id), deps.store.getStep(run.id, stepId)]);
  // Running again: an idle run stops at its deadline too (its timer went when it ended or blocked).
  await fileRunDeadline(deps, after!);
  return { run: after!, step: queued!, downstream };
}
