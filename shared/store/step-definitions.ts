import { analyzeDag } from '#shared/domain/dag';
import { sinkBuckets } from '#shared/domain/sink-buckets';
import { defaultRetryPolicy, type StepSpec } from '#shared/domain/workflow';
import type { StepRecord } from './runs';

/**
 * A run's steps as its workflow version defines them, before anything happened to them: the
 * record a step reads as until its item exists. Only what a run starts from is written at its
 * creation (roots, and plan rows already done); every other step item is born at its first write
 * (its claim, its queuing or a parent's decrement) and holds its state only: reads fill in the
 * rest from here (docs/ARCHITECTURE.md, "Write budget per step").
 */
/** Done before the run starts: plan rows marked done, and a fork's reused steps. */
const doneAtStart = (specs: StepSpec[], reusedSteps: readonly string[] = []): Set<string> => new Set([...specs.filter((spec) => spec.done).map((spec) => spec.id), ...reusedSteps]);

/** The run's unfinished sinks in buckets (shared/domain/sink-buckets.ts), the same at creation and on every read. */
export const runSinkBuckets = (specs: StepSpec[], reusedSteps: readonly string[] = []): string[][] => {
  const done = doneAtStart(specs, reusedSteps);
  return sinkBuckets(analyzeDag(specs).sinks.filter((id) => !done.has(id)));
};

export function stepRecordsOf(run: { id: string; projectId: string; createdAt: string; reusedSteps?: readonly string[] }, specs: StepSpec[]): StepRecord[] {
  const dag = analyzeDag(specs);
  const done = doneAtStart(specs, run.reusedSteps);
  const reused = new Set(run.reusedSteps ?? []);
  const bucketOf = new Map(runSinkBuckets(specs, run.reusedSteps).flatMap((ids, bucket) => ids.map((id) => [id, bucket] as const)));
  return specs.map((spec) => {
    const isDone = done.has(spec.id);
    const sinkBucket = bucketOf.get(spec.id);
    return {
      runId: run.id,
      projectId: run.projectId,
      stepId: spec.id,
      kind: spec.kind,
      input: spec.input,
      dependsOn: spec.dependsOn,
      dependents: (dag.dependents[spec.id] ?? []).filter((child) => !done.has(child)),
      retry: spec.retry ?? defaultRetryPolicy,
      ...(spec.timeoutSeconds ? { timeoutSeconds: spec.timeoutSeconds } : {}),
      ...(spec.onFailure === 'continue' ? { onFailure: 'continue' as const } : {}),
      ...(spec.callbackTimeoutSeconds ? { callbackTimeoutSeconds: spec.callbackTimeoutSeconds } : {}),
      ...(spec.heartbeatSeconds ? { heartbeatSeconds: spec.heartbeatSeconds } : {}),
      ...(spec.notBefore ? { notBefore: spec.notBefore } : {}),
      ...(spec.labels ? { labels: spec.labels } : {}),
      ...(spec.budget ? { budget: spec.budget } : {}),
      ...(spec.estimate ? { estimate: spec.estimate } : {}),
      ...(spec.qa ? { qa: spec.qa } : {}),
      ...(spec.concurrency ? { concurrency: spec.concurrency } : {}),
      ...(spec.rate ? { rate: spec.rate } : {}),
      ...(spec.priority ? { priority: spec.priority } : {}),
      ...(spec.loop ? { loop: spec.loop } : {}),
      status: isDone ? 'completed' : 'pending',
      attempt: 0,
      generation: 1,
      allowedAttempts: (spec.retry ?? defaultRetryPolicy).maxAttempts,
      remaining: spec.dependsOn.filter((dependency) => !done.has(dependency)).length,
      ...(sinkBucket !== undefined ? { sinkBucket } : {}),
      ...(isDone ? { finishedAt: run.createdAt, ...(reused.has(spec.id) ? {} : { output: null, doneAtImport: true }) } : {}),
    } satisfies StepRecord;
  });
}

/**
 * Written when the run is created: what is already done (plan rows marked done, a fork's reused
 * steps with their outputs) and a fork's steps whose input it gives (`stepInputs`: the workflow
 * version, which step records are read from, says another). Every other pending step, the roots too, is born at its first write
 * (a root's: its queuing by `start`), so creating a run of 10,000 roots writes no step item
 * (docs/ARCHITECTURE.md, "Bigger runs").
 */
export const writtenAtCreation = (step: StepRecord): boolean => step.status !== 'pending' || step.inputGiven === true;

/** Runs with more roots than this keep none on the run item (read on every claim): `start` takes them from the definitions. */
export const maxRootsOnRun = 100;

/** A step item holds its whole record when written at creation (before step items were born late, always); a born one only its state. */
export const isWholeItem = (item: Record<string, unknown>): boolean => typeof item.kind === 'string';

/** A step's record: its definition with what its item says on top (the item wins: a retry's new input, the state). */
export const withDefinition = (definition: StepRecord, state: Partial<StepRecord>): StepRecord => ({ ...definition, ...state });
