import { checkPlan, PlanError, type CheckedPlan } from '#shared/domain/planner';
import { ValidationError } from '#shared/domain/errors';
import { assertCallbackSettings, assertStepTimeouts } from '#shared/domain/workflow';
import { stepRecordsOf } from '#shared/store/step-definitions';
import type { RunRecord, StepRecord } from '#shared/store/runs';
import { runEvent, type EngineDeps } from './context';
import { messageFor, type Dispatch } from './dispatch';
import { releaseOf, type FinishPlan } from './release-dependents';
import type { PlanWrite } from './store';

/**
 * Planner steps (issue 13 §2; README "Planner steps"; docs/ARCHITECTURE.md "Planner steps"): a
 * step that completes with `{plan: {steps}}` adds those steps to its run, downstream of itself,
 * in the very write that completes it. The plan's entries (steps that wait for no other added
 * step) are queued by that write and sent after it; the planner's former dependents wait for the
 * plan's exits instead of the planner, so the plan is inserted between the planner and what
 * followed it. A plan the checks refuse (domain/planner.ts) fails the planner (INVALID_PLAN) and
 * adds nothing.
 */

/** A plan ready to write: the planner's finish (no children of its own to release), and the messages of the entries. */
export interface PlannedFinish {
  plan: FinishPlan;
  dispatches: Dispatch[];
}

/** Checks a planner's plan against its run and prepares its write; a PlanError (or ValidationError) when refused. */
export async function preparePlan(deps: EngineDeps, run: RunRecord, planner: StepRecord, raw: unknown[], at: Date, actor: string): Promise<PlannedFinish | PlanError> {
  const steps = await deps.store.listSteps(run.id);
  let checked: CheckedPlan;
  try {
    checked = checkPlan(raw, {
      plannerId: planner.stepId,
      plannerDependents: planner.dependents,
      steps: new Map(steps.map((step) => [step.stepId, { status: step.status }])),
      totalSteps: run.totalSteps,
      ...(run.budget ? { budget: run.budget } : {}),
      ...(run.limits?.maxExecutedSteps !== undefined ? { maxExecutedSteps: run.limits.maxExecutedSteps } : {}),
    });
    // Each kind's input, as a workflow's are checked at creation (the worker has the kinds that run).
    (deps.executors ?? deps.stepKinds)?.validateInputs(checked.specs, 'output.plan.steps');
    assertStepTimeouts(checked.specs, deps.maxStepTimeoutSeconds, 'output.plan.steps');
    assertCallbackSettings(checked.specs, 'output.plan.steps');
  } catch (error) {
    if (error instanceof PlanError) return error;
    if (error instanceof ValidationError) return new PlanError(error.message, error.field ?? 'output.plan.steps');
    throw error;
  }
  const wasSink = planner.dependents.length === 0;
  if (wasSink && (run.sinkBuckets === undefined || planner.sinkBucket === undefined)) {
    return new PlanError('output.plan: this run was created before sink buckets; its steps cannot take a plan', 'output.plan');
  }
  const byId = new Map(steps.map((step) => [step.stepId, step]));
  const added = recordsOf(run, planner, checked, wasSink);
  const entries = new Set(checked.entries);
  const releases = added.map((step) => (entries.has(step.stepId) ? { step, release: releaseOf(deps, run, step, at, actor, planner.stepId) } : { step }));
  // Still pending: a dependent cancelled or skipped meanwhile waits for nothing.
  const rewired = planner.dependents.flatMap((id) => {
    const dependent = byId.get(id);
    if (dependent?.status !== 'pending') return [];
    return [{ stepId: id, dependsOn: [...dependent.dependsOn.filter((parent) => parent !== planner.stepId), ...checked.exits], definedRemaining: dependent.remaining, delta: checked.exits.length - 1 }];
  });
  const write: PlanWrite = {
    plannerDependents: checked.entries,
    added: releases,
    rewired,
    ...(wasSink ? { sinks: { bucket: planner.sinkBucket!, stepIds: checked.exits } } : {}),
    event: runEvent(run, 'run.planned', actor, { stepId: planner.stepId, added: added.map((step) => step.stepId), entries: checked.entries, exits: checked.exits, rewired: rewired.map((step) => step.stepId) }, at),
  };
  const dispatches = releases.flatMap(({ step, release }) => {
    if (!release || release.parked) return [];
    const seconds = release.notBefore ? (Date.parse(release.notBefore) - at.getTime()) / 1000 : 0;
    return [messageFor(step, seconds > 0 ? seconds : undefined)];
  });
  return {
    plan: {
      finish: { plan: write },
      // A sink planner leaves its bucket after this write (its exits are in it by then); it releases no child itself.
      sink: wasSink,
      children: { sent: [], gated: [], shared: [] },
      ...(!deps.releasesRecoveredByRedelivery ? { marker: { dueAt: at.toISOString(), status: 'completed' as const } } : {}),
    },
    dispatches,
  };
}

/**
 * The added steps' whole records: as a workflow's steps are defined (step-definitions.ts), with
 * their dependencies outside the plan (the planner, finished steps) already counted as released,
 * the planner's former dependents after the exits, and a sink planner's bucket on the exits.
 */
function recordsOf(run: RunRecord, planner: StepRecord, checked: CheckedPlan, wasSink: boolean): StepRecord[] {
  const inside = checked.specs.map((spec) => ({ ...spec, dependsOn: spec.dependsOn.filter((id) => !checked.outside[spec.id]!.includes(id)) }));
  const exits = new Set(checked.exits);
  return stepRecordsOf(run, inside).map((record, index) => {
    const { sinkBucket: _bucket, ...rest } = record;
    const outside = checked.outside[record.stepId]!;
    const exit = exits.has(record.stepId);
    return {
      ...rest,
      dependsOn: checked.specs[index]!.dependsOn,
      dependents: exit ? [...record.dependents, ...planner.dependents] : record.dependents,
      ...(outside.length ? { releasedBy: outside } : {}),
      ...(exit && wasSink ? { sinkBucket: planner.sinkBucket! } : {}),
      plannedBy: planner.stepId,
    };
  });
}
