import type { Budget } from '#shared/domain/budgets';
import { ValidationError } from '#shared/domain/errors';
import type { RunLimits } from '#shared/domain/limits';
import { downstreamOf } from '#shared/domain/downstream';
import { generationOf, type ReusedStep, type RunRecord } from '#shared/store/runs';
import type { Workflow } from '#shared/store/workflows';
import type { EngineDeps } from './context';
import { checkStepInput } from './rerun-step';
import { createRun } from './create-run';

/**
 * Forks a run at a step (issue 12 §4): a new run of the same workflow version in which every step
 * not downstream of `fromStep` that completed in the source run is written completed with that
 * run's output (`reusedFrom`; never queued, never started: its history in the fork has no step
 * event at all), and the rest (`fromStep`, its downstream, and anything the source had not
 * finished) runs. `input` replaces the run's input (default: the source's), `stepInputs` the
 * inputs of steps that run; a reused step's input cannot change (400 naming it).
 */
export async function forkRun(
  deps: EngineDeps,
  source: RunRecord,
  workflow: Workflow,
  body: { fromStep: string; input?: unknown; stepInputs?: Record<string, unknown>; budget?: Budget; limits?: RunLimits },
  actor: string,
): Promise<{ run: RunRecord; reused: string[] }> {
  if (!workflow.steps.some((spec) => spec.id === body.fromStep)) {
    throw new ValidationError(`body.fromStep: run ${source.id} has no step "${body.fromStep}" (its steps: ${workflow.steps.map((spec) => spec.id).join(', ')})`, 'body.fromStep');
  }
  const runsAgain = new Set([body.fromStep, ...downstreamOf(body.fromStep, workflow.steps)]);
  const sourceSteps = new Map((await deps.store.listSteps(source.id)).map((step) => [step.stepId, step]));
  const reused = new Map<string, ReusedStep>();
  for (const spec of workflow.steps) {
    const step = sourceSteps.get(spec.id);
    if (runsAgain.has(spec.id) || step?.status !== 'completed') continue;
    reused.set(spec.id, {
      ...(step.outputRef ? { outputRef: step.outputRef } : { output: step.output ?? null }),
      ...(step.artifacts?.length ? { artifacts: step.artifacts } : {}),
      // An imported plan's done row was never run anywhere: it stays so.
      reusedFrom: { runId: step.reusedFrom?.runId ?? source.id, generation: generationOf(step) },
    });
  }
  for (const [stepId, input] of Object.entries(body.stepInputs ?? {})) {
    const spec = workflow.steps.find((candidate) => candidate.id === stepId);
    const field = `body.stepInputs.${stepId}`;
    if (!spec) throw new ValidationError(`${field}: the workflow has no step "${stepId}"`, field);
    if (reused.has(stepId)) throw new ValidationError(`${field}: step ${stepId} is not downstream of ${body.fromStep}: the fork reuses its output, so its input cannot change`, field);
    checkStepInput(deps, { kind: spec.kind, dependsOn: spec.dependsOn }, input, field);
  }
  const forked: Workflow = { ...workflow, steps: workflow.steps.map((spec) => (body.stepInputs && spec.id in body.stepInputs ? { ...spec, input: body.stepInputs[spec.id] } : spec)) };
  const input = body.input !== undefined ? body.input : source.input;
  const { run } = await createRun(deps, {
    projectId: source.projectId,
    workflow: forked,
    ...(input !== undefined ? { input } : {}),
    ...(source.tags ? { tags: source.tags } : {}),
    // The source's budget and limits (not the project's defaults of today), unless the request gives its own.
    ...(body.budget ?? source.budget ? { budget: body.budget ?? source.budget } : {}),
    ...(body.limits ?? source.limits ? { limits: body.limits ?? source.limits } : {}),
    actor,
    start: true,
    fork: { from: { runId: source.id, stepId: body.fromStep }, reused, givenInputs: new Set(Object.keys(body.stepInputs ?? {})) },
  });
  return { run, reused: [...reused.keys()] };
}
