import type { Budget } from '#shared/domain/budgets';
import { limitsOf, type RunLimits } from '#shared/domain/limits';
import type { Priority } from '#shared/domain/capacity';
import { ConflictError, IdempotencyKeyReusedError } from '#shared/domain/errors';
import { newId } from '#shared/domain/ids';
import { type ReusedStep, type RunRecord } from '#shared/store/runs';
import { maxRootsOnRun, runSinkBuckets, stepRecordsOf } from '#shared/store/step-definitions';
import type { Workflow } from '#shared/store/workflows';
import type { GitRef } from '#shared/schemas/runs';
import { runEvent, type EngineDeps } from './context';
import { applyEffects } from './dispatch';
import { startOnce } from './start-run';
import { startRun } from './run-actions';

const idempotencyTtlSeconds = 24 * 3600;
/** How long a run stays reachable by CI deliveries for its branch (a finished run's mapping is dropped sooner). */
const branchMappingTtlSeconds = 90 * 24 * 3600;
const now = (deps: EngineDeps) => deps.clock();

/**
 * Creates a run of a workflow version. Its steps are written first (in batches; only steps
 * already done: the others, roots included, are born at their first write, read from the version
 * until then) and the run item last, in one transaction with the idempotency record and the event: until that commit
 * nothing refers to the steps, so a failure half-way leaves no visible run. The same
 * Idempotency-Key with the same request (`requestHash`, see shared/domain/canonical-json.ts)
 * returns the run it created the first time; with another request it is refused (422).
 */
export async function createRun(
  deps: EngineDeps,
  input: {
    projectId: string;
    workflow: Workflow;
    input?: unknown;
    git?: GitRef;
    tags?: Record<string, string>;
    budget?: Budget;
    /** Its limits; each one it leaves out comes from the project's `settings.limits`. */
    limits?: RunLimits;
    priority?: Priority;
    idempotencyKey?: string;
    requestHash?: string;
    actor: string;
    start: boolean;
    /**
     * A fork (fork-run.ts): the run it comes from, and the steps written completed with that run's
     * outputs, never run. A fork's `budget` and `limits` are taken as given (its source's, unless
     * the fork request brings its own), never the project's defaults.
     */
    fork?: { from: { runId: string; stepId: string }; reused: Map<string, ReusedStep>; givenInputs?: ReadonlySet<string> };
    /** A sub-workflow's run: the run and `workflow` step that started it. */
    parent?: { runId: string; stepId: string };
  },
): Promise<{ run: RunRecord; created: boolean }> {
  const { projectId, workflow, idempotencyKey, requestHash, actor } = input;
  if (idempotencyKey) {
    const existing = await replayOf(deps, projectId, idempotencyKey, requestHash);
    // Its first request may have died before starting it: this one does what was asked.
    if (existing) return input.start ? { ...existing, run: await startOnce(deps, existing.run, (pending) => startRun(deps, pending, actor)) } : existing;
  }
  const reused = input.fork?.reused ?? new Map<string, ReusedStep>();
  const reusedSteps = [...reused.keys()];
  const at = now(deps);
  // Its id starts with its creation time: a search by time range is a key range on run ids.
  const runId = newId('run', at.getTime());
  // Every step as its definition says (a fork's reused steps done, with the outputs they reuse);
  // putSteps writes only what is done, the others are born later.
  const stepItems = stepRecordsOf({ id: runId, projectId, createdAt: at.toISOString(), reusedSteps }, workflow.steps).map((step) => {
    const reuse = reused.get(step.stepId);
    if (reuse) return { ...step, ...reuse };
    return input.fork?.givenInputs?.has(step.stepId) ? { ...step, inputGiven: true } : step;
  });
  const done = new Set(stepItems.filter((step) => step.status === 'completed').map((step) => step.stepId));
  const roots = stepItems.filter((step) => step.status === 'pending' && step.remaining === 0).map((step) => step.stepId);
  // Its unfinished sinks go into buckets (shared/domain/sink-buckets.ts): the run completes when the last one empties.
  const buckets = runSinkBuckets(workflow.steps, reusedSteps);
  await deps.store.putSteps(stepItems);
  await deps.store.putSinkBuckets(runId, buckets);
  // Taken once per run: its step events go to the bus only if the project subscribes to them.
  const { publishStepEvents, budgets, limits: defaultLimits } = await deps.projectSettings(projectId);
  const budget = input.fork ? input.budget : (input.budget ?? budgets?.perRun);
  const limits = input.fork ? input.limits : limitsOf(input.limits, defaultLimits);

  const run: RunRecord = {
    id: runId,
    projectId,
    workflowId: workflow.id,
    workflowName: workflow.name,
    workflowVersion: workflow.version,
    status: 'pending',
    ...(input.input !== undefined ? { input: input.input } : {}),
    ...(input.git ? { git: input.git } : {}),
    ...(input.tags && Object.keys(input.tags).length ? { tags: input.tags } : {}),
    totalSteps: workflow.steps.length,
    remainingSinks: 0,
    sinkBuckets: buckets.length,
    ...(buckets.length ? { openSinkBuckets: buckets.map((_, bucket) => String(bucket)) } : {}),
    // A run of many roots (a wide plan) names none: start reads them from the definitions.
    ...(roots.length <= maxRootsOnRun ? { roots } : {}),
    ...(idempotencyKey ? { idempotencyKey } : {}),
    ...(publishStepEvents ? { publishStepEvents: true } : {}),
    ...(budget ? { budget } : {}),
    ...(limits ? { limits } : {}),
    ...(input.priority ? { priority: input.priority } : {}),
    ...(input.fork ? { forkedFrom: input.fork.from } : {}),
    ...(input.parent ? { parent: input.parent } : {}),
    ...(reusedSteps.length ? { reusedSteps } : {}),
    createdAt: at.toISOString(),
  };
  // What creating the run cost (its step batches, the reads before) rides on the run item.
  const creationUsage = deps.usage.sinceCheckpoint();
  const created = runEvent(run, 'run.created', actor, { workflowId: workflow.id, version: workflow.version, steps: workflow.steps.length, done: done.size, ...(input.fork ? { forkedFrom: input.fork.from, reused: [...reused.keys()] } : {}), ...(input.parent ? { parent: input.parent } : {}) }, at);
  const expiresAt = (seconds: number) => Math.floor(at.getTime() / 1000) + seconds;
  const written = await deps.store.createRun(run, {
    ...(idempotencyKey ? { idempotency: { key: idempotencyKey, ...(requestHash ? { requestHash } : {}), expiresAt: expiresAt(idempotencyTtlSeconds) } } : {}),
    ...(input.git ? { branchExpiresAt: expiresAt(branchMappingTtlSeconds) } : {}),
    ...(creationUsage ? { usage: creationUsage } : {}),
    event: created,
  });
  if (!written.won) {
    // Another request with the same key won the race: answer with its run (if it was the same request).
    const winner = idempotencyKey ? await replayOf(deps, projectId, idempotencyKey, requestHash) : undefined;
    if (winner) return input.start ? { ...winner, run: await startOnce(deps, winner.run, (pending) => startRun(deps, pending, actor)) } : winner;
    throw new ConflictError(`run ${runId} could not be created: a conflicting write won`);
  }
  const events = written.events;
  await applyEffects(deps, { dispatches: [], events });
  if (input.start) return { run: await startOnce(deps, run, (pending) => startRun(deps, pending, actor)), created: true };
  return { run, created: true };
}

/**
 * The run an Idempotency-Key already created, when the request is the same one again; a
 * different request under the same key is refused. Records written before requests were hashed
 * (and callers that give no hash) match any request, as before.
 */
async function replayOf(deps: EngineDeps, projectId: string, key: string, requestHash: string | undefined): Promise<{ run: RunRecord; created: false } | undefined> {
  const record = await deps.store.findIdempotencyRecord(projectId, key);
  if (!record) return undefined;
  if (requestHash && record.requestHash && record.requestHash !== requestHash) throw new IdempotencyKeyReusedError(key, `run ${record.runId}`);
  return { run: (await deps.store.getRun(record.runId))!, created: false };
}
