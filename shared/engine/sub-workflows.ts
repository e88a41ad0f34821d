import { ConflictError } from '#shared/domain/errors';
import type { LifecycleEvent } from '#shared/domain/events';
import { NonRetryableStepError } from '#shared/domain/step-errors';
import type { Executor, StepContext, StepOutcome } from '#shared/executors/types';
import { workflowStepInput, type WorkflowStepInput } from '#shared/executors/workflow-input';
import { generationOf, type RunRecord, type StepRecord } from '#shared/store/runs';
import type { WorkflowStore } from '#shared/store/workflows';
import type { EngineDeps } from './context';
import { createRun } from './create-run';
import { applyEffects } from './dispatch';
import { runAction } from './run-actions';
import { completeStep, failStep } from './step-outcomes';

/**
 * Sub-workflows (issue 13 §4): a `workflow` step starts a child run of another workflow of the
 * project and waits for it the way a callback agent is waited for: the step stays `running`,
 * `waitingFor: callback`, holding no Lambda, with its callback deadline as the bound. The child
 * carries `parent: {runId, stepId}`; when it completes, blocks or is cancelled, the bus brings
 * its `run.*` event to the child-finished function (functions/steps/child-finished.ts), which
 * completes the parent step with the child's sink outputs or fails it with the child's reason.
 * The child's idempotency key is the parent step execution's (`runId:stepId:generation`), so a
 * redelivered step message, a takeover or a retry of the parent step finds the same child.
 */

export interface SubWorkflowDeps extends EngineDeps {
  workflows: Pick<WorkflowStore, 'get'>;
}

/** What a child that ended makes of its parent step; undefined while it has not ended. */
async function childOutcome(deps: SubWorkflowDeps, child: RunRecord): Promise<StepOutcome | NonRetryableStepError | undefined> {
  if (child.status === 'completed') return { status: 'completed', output: { runId: child.id, outputs: await sinkOutputs(deps, child) } };
  if (child.status === 'blocked' || child.status === 'cancelled' || child.status === 'failed') {
    const reason = child.reason ?? `the child run ${child.status === 'cancelled' ? 'was cancelled' : child.status}`;
    return new NonRetryableStepError(`child run ${child.id} ${child.status}: ${reason}`, { code: 'CHILD_RUN_FAILED' });
  }
  return undefined;
}

/**
 * The child's sink outputs by step id: the steps of its workflow version no other step depends
 * on (read by id: work proportional to the sinks, never a listing of the run).
 */
async function sinkOutputs(deps: SubWorkflowDeps, child: RunRecord): Promise<Record<string, unknown>> {
  const workflow = await deps.workflows.get(child.projectId, child.workflowId, child.workflowVersion);
  const dependedOn = new Set((workflow?.steps ?? []).flatMap((step) => step.dependsOn ?? []));
  const sinks = (workflow?.steps ?? []).map((step) => step.id).filter((id) => !dependedOn.has(id));
  const steps = await deps.store.getSteps(child.id, sinks);
  const outputs: Record<string, unknown> = {};
  for (const step of steps) outputs[step.stepId] = step.outputRef ? await deps.artifacts.loadOutput(step.outputRef) : (step.output ?? null);
  return outputs;
}

/** The worker's `workflow` executor; `depsOf` is read at the first run (the engine is built after its executors). */
export const createWorkflowExecutor = (depsOf: () => SubWorkflowDeps): Executor<WorkflowStepInput> => ({
  kind: 'workflow',
  input: workflowStepInput,
  ignoresDependencyOutputs: true,
  async run(input: WorkflowStepInput, context: StepContext): Promise<StepOutcome> {
    const deps = depsOf();
    const workflow = await deps.workflows.get(context.projectId, input.workflowId, input.version);
    if (!workflow) throw new NonRetryableStepError(`workflow ${input.workflowId}${input.version ? ` version ${input.version}` : ''} does not exist in this project`, { code: 'WORKFLOW_NOT_FOUND' });
    const { run: child, created } = await createRun(deps, {
      projectId: context.projectId,
      workflow,
      ...(input.input !== undefined ? { input: input.input } : {}),
      // One child per execution of the step, whatever redelivers its message.
      idempotencyKey: context.idempotencyKey,
      actor: `run:${context.runId}`,
      start: true,
      parent: { runId: context.runId, stepId: context.stepId },
    });
    deps.logger.info('sub-workflow', { runId: context.runId, stepId: context.stepId, childRunId: child.id, created });
    // Found again (a retry, a takeover): it may have ended already, and no event will come again.
    const outcome = await childOutcome(deps, child);
    if (outcome instanceof NonRetryableStepError) throw outcome;
    return outcome ?? { status: 'pending' };
  },
});

/** The key a parent step's execution gave its child (the step's idempotency key). */
const childKey = (runId: string, step: StepRecord) => `${runId}:${step.stepId}:${generationOf(step)}`;

/** The child run a `workflow` step's current execution started (the parent's link to it), if it started one. */
export async function childRunOf(deps: Pick<EngineDeps, 'store'>, run: RunRecord, step: StepRecord): Promise<string | undefined> {
  if (step.kind !== 'workflow' || step.attempt === 0) return undefined;
  return (await deps.store.findIdempotencyRecord(run.projectId, childKey(run.id, step)))?.runId;
}

/**
 * A child run's `run.completed`, `run.blocked` or `run.cancelled` reached the bus: its parent
 * step, if it still waits for this child, completes with the child's sink outputs or fails with
 * its reason. Idempotent: a step that moved on (completed, failed, retried into a new execution)
 * is left alone, so a repeated event changes nothing.
 */
export async function notifyParent(deps: SubWorkflowDeps, event: Pick<LifecycleEvent, 'runId'>): Promise<'completed' | 'failed' | 'ignored'> {
  const child = event.runId ? await deps.store.getRun(event.runId) : undefined;
  if (!child?.parent) return 'ignored';
  const outcome = await childOutcome(deps, child);
  if (!outcome) return 'ignored';
  const { run, step } = await deps.store.getRunAndStep(child.parent.runId, child.parent.stepId);
  if (!run || step?.status !== 'running' || step.kind !== 'workflow' || childKey(run.id, step) !== child.idempotencyKey) return 'ignored';
  const actor = `run:${child.id}`;
  const effects =
    outcome instanceof NonRetryableStepError
      ? await failStep(deps, run, step, outcome, { actor, transition: 'fail' })
      : outcome.status === 'completed'
        ? await completeStep(deps, run, step, outcome, { actor, transition: 'complete' })
        : undefined;
  if (!effects) return 'ignored';
  await applyEffects(deps, effects);
  return outcome instanceof NonRetryableStepError ? 'failed' : 'completed';
}

/**
 * Cancelling, pausing or resuming a run does the same to the children its `workflow` steps wait
 * for (found by their idempotency keys). A child already there (or ended) is left as it is.
 */
export async function actOnChildren(deps: EngineDeps, run: RunRecord, action: 'cancel' | 'pause' | 'resume', actor: string): Promise<string[]> {
  const waiting = (await deps.store.listSteps(run.id)).filter((step) => step.kind === 'workflow' && step.status === 'running');
  const moved: string[] = [];
  for (const step of waiting) {
    const record = await deps.store.findIdempotencyRecord(run.projectId, childKey(run.id, step));
    const child = record ? await deps.store.getRun(record.runId) : undefined;
    if (!child) continue;
    try {
      await runAction(deps, child, action, actor);
      moved.push(child.id);
    } catch (error) {
      // Already cancelled, paused, running or ended: nothing to do for this child.
      if (!(error instanceof ConflictError)) throw error;
    }
  }
  return moved;
}
