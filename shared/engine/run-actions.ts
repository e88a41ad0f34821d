import { addUsage, usageFromItem } from '#shared/clients/usage-meter';
import type { Budget } from '#shared/domain/budgets';
import { limitsOf, type RunLimits } from '#shared/domain/limits';
import type { Priority } from '#shared/domain/capacity';
import { ConflictError, IdempotencyKeyReusedError, NotFoundError, ValidationError } from '#shared/domain/errors';
import { newId } from '#shared/domain/ids';
import { illegalRunAction, runActionAllowed, type RunAction } from '#shared/domain/states';
import { NonRetryableStepError } from '#shared/domain/step-errors';
import type { CommittedEvent } from '#shared/store/event-outbox';
import { generationOf, type ReusedStep, type RunRecord, type StepRecord } from '#shared/store/runs';
import { runSinkBuckets, stepRecordsOf } from '#shared/store/step-definitions';
import type { Workflow } from '#shared/store/workflows';
import type { GitRef } from '#shared/schemas/runs';
import { cancelStranded, sendCancelChecks } from './cancel-run';
import { runEvent, type EngineDeps } from './context';
import type { EventToWrite } from './store';
import { applyEffects, mergeEffects, messageFor, type Effects } from './dispatch';
import { moveAndSendHeld } from './held-steps';
import { assertWithinDuration, fileRunDeadline } from './limits';
import { keptOutput } from './quality-gates';
import { startOnce, startWithRoots } from './start-run';
import { completeStep, failStep } from './step-lifecycle';

const idempotencyTtlSeconds = 24 * 3600;
/** How long a run stays reachable by CI deliveries for its branch (a finished run's mapping is dropped sooner). */
const branchMappingTtlSeconds = 90 * 24 * 3600;
const now = (deps: EngineDeps) => deps.clock();

/**
 * Creates a run of a workflow version. Its steps are written first (in batches; only roots and
 * steps already done: the others are born at their first write, read from the version until
 * then) and the run item last, in one transaction with the idempotency record and the event: until that commit
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
    fork?: { from: { runId: string; stepId: string }; reused: Map<string, ReusedStep> };
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
  // putSteps writes only what the run starts from and what is done, the others are born later.
  const stepItems = stepRecordsOf({ id: runId, projectId, createdAt: at.toISOString(), reusedSteps }, workflow.steps).map((step) => {
    const reuse = reused.get(step.stepId);
    return reuse ? { ...step, ...reuse } : step;
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
    roots,
    ...(idempotencyKey ? { idempotencyKey } : {}),
    ...(publishStepEvents ? { publishStepEvents: true } : {}),
    ...(budget ? { budget } : {}),
    ...(limits ? { limits } : {}),
    ...(input.priority ? { priority: input.priority } : {}),
    ...(input.fork ? { forkedFrom: input.fork.from } : {}),
    ...(reusedSteps.length ? { reusedSteps } : {}),
    createdAt: at.toISOString(),
  };
  // What creating the run cost (its step batches, the reads before) rides on the run item.
  const creationUsage = deps.usage.sinceCheckpoint();
  const created = runEvent(run, 'run.created', actor, { workflowId: workflow.id, version: workflow.version, steps: workflow.steps.length, done: done.size, ...(input.fork ? { forkedFrom: input.fork.from, reused: [...reused.keys()] } : {}) }, at);
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

/** Moves the run's status for an action (runActionRules); 409 when its status forbids it, also when it changed meanwhile. */
async function transitionRun(deps: EngineDeps, run: RunRecord, action: RunAction, actor: string, change: { held?: string[]; failed?: string[]; blocked?: string } = {}, made?: EventToWrite): Promise<CommittedEvent[]> {
  if (!runActionAllowed(action, run)) throw new ConflictError(illegalRunAction(action, run.status, run.failedSteps));
  const at = now(deps);
  const type = change.blocked ? 'run.blocked' : { start: 'run.started', pause: 'run.paused', resume: 'run.resumed', cancel: 'run.cancelled', retry: 'run.retried' }[action];
  const detail = { from: run.status, ...(change.blocked ? { reason: change.blocked } : {}) };
  const written = await deps.store.moveRun(run.id, action, at.toISOString(), change, made ?? runEvent(run, type, actor, detail, at));
  if (written.won) return written.events;
  const current = await deps.store.getRun(run.id);
  // Still allowed: what it read changed (a step failed or was held meanwhile).
  if (current && runActionAllowed(action, current)) throw new ConflictError(`Cannot ${action} run ${run.id} yet: it changed meanwhile; read it again`);
  throw new ConflictError(illegalRunAction(action, current?.status ?? run.status, current?.failedSteps));
}

/** pending → running, the roots queued first (start-run.ts); the run's duration limit filed after. */
export async function startRun(deps: EngineDeps, run: RunRecord, actor: string): Promise<RunRecord> {
  if (!runActionAllowed('start', run)) throw new ConflictError(illegalRunAction('start', run.status, run.failedSteps));
  const after = await startWithRoots(deps, run, actor, (change, event) => transitionRun(deps, run, 'start', actor, change, event));
  await fileRunDeadline(deps, after);
  return after;
}

/** Applies a run action (start, pause, resume, cancel, retry); 409 when the run's status forbids it. */
export async function runAction(
  deps: EngineDeps,
  run: RunRecord,
  action: RunAction,
  actor: string,
  body: { steps?: Record<string, { input?: unknown }> } = {},
): Promise<RunRecord> {
  if (action !== 'retry' && body.steps) throw new ValidationError('body.steps: only retry takes step inputs', 'body.steps');
  switch (action) {
    case 'start':
      return startRun(deps, run, actor);
    case 'pause':
      await applyEffects(deps, { dispatches: [], events: await transitionRun(deps, run, action, actor) });
      break;
    case 'cancel': {
      await sendCancelChecks(deps, run);
      const events = await transitionRun(deps, run, action, actor);
      await applyEffects(deps, { dispatches: [], events: [...events, ...(await cancelStranded(deps, run, actor))] });
      break;
    }
    case 'resume':
      assertWithinDuration(run, now(deps));
      await applyEffects(deps, await resume(deps, run, actor));
      break;
    case 'retry':
      assertWithinDuration(run, now(deps));
      await retry(deps, run, actor, body.steps ?? {});
      break;
  }
  const after = (await deps.store.getRun(run.id))!;
  // Running again: an idle run stops at its deadline too (a block took its timer off).
  if (action === 'resume' || action === 'retry') await fileRunDeadline(deps, after);
  return after;
}

/** paused or blocked → running, with the held steps; lost to a step held after the read (heldStepsUnchanged): again with it. */
async function resume(deps: EngineDeps, run: RunRecord, actor: string, round = 0): Promise<Effects> {
  try {
    return await moveAndSendHeld(deps, run, 'resume', actor, (change) => transitionRun(deps, run, 'resume', actor, change));
  } catch (error) {
    const current = await deps.store.getRun(run.id);
    if (!(error instanceof ConflictError) || !current || !runActionAllowed('resume', current) || round >= 3) throw error;
    return resume(deps, current, actor, round + 1);
  }
}

/**
 * blocked → running: each failed step is queued again with a fresh set of attempts (and a new
 * input when the body gives one), and the run goes on from there.
 */
async function retry(deps: EngineDeps, run: RunRecord, actor: string, inputs: Record<string, { input?: unknown }>, round = 0): Promise<void> {
  const failed = run.failedSteps ?? [];
  for (const stepId of Object.keys(inputs)) {
    if (!failed.includes(stepId)) {
      throw new ValidationError(`body.steps.${stepId}: only failed steps can be retried (failed: ${failed.join(', ') || 'none'})`, `body.steps.${stepId}`);
    }
  }
  const steps = await deps.store.getSteps(run.id, failed);
  for (const step of steps) {
    const replacement = inputs[step.stepId];
    if (replacement && 'input' in replacement) {
      if (!deps.stepKinds) throw new Error('No step kinds in this function: a retry with new inputs needs them to validate');
      const kind = deps.stepKinds.get(step.kind);
      const parsed = kind?.input.safeParse(replacement.input);
      // What the schema cannot say is checked too (e.g. an llm template naming a non-dependency).
      const issue = parsed && (parsed.success ? kind?.checkStep?.(parsed.data, { dependsOn: step.dependsOn }) : parsed.error.issues[0]);
      if (parsed && (issue || !parsed.success)) {
        const field = ['body', 'steps', step.stepId, 'input', ...(issue?.path ?? []).map(String)].join('.');
        throw new ValidationError(`${field}: ${issue?.message ?? 'invalid'}`, field);
      }
    }
  }
  if (!runActionAllowed('retry', run)) throw new ConflictError(illegalRunAction('retry', run.status, run.failedSteps));
  // The steps first (each marked for dispatch), then the run: if we die in between, the run is
  // still blocked with them listed, and a person's retry goes on from there.
  const effects: Effects = { dispatches: [], events: [] };
  const at = now(deps);
  for (const step of steps.filter((candidate) => candidate.status === 'failed')) {
    const replacement = inputs[step.stepId];
    const newInput = Boolean(replacement && 'input' in replacement);
    // New input, new execution: agents must not take it for a retry of the work they already did.
    const generation = generationOf(step) + (newInput ? 1 : 0);
    const event = runEvent(run, 'step.retry_requested', actor, { attempt: step.attempt + 1, generation, newInput }, at, step.stepId);
    const change = { at: at.toISOString(), allowedAttempts: step.attempt + step.retry.maxAttempts, generation, ...(replacement && 'input' in replacement ? { input: { value: replacement.input } } : {}) };
    const written = await deps.store.requeue(run.id, step.stepId, change, event);
    if (!written.won) continue;
    effects.events.push(...written.events);
    effects.dispatches.push(messageFor(step));
  }
  try {
    mergeEffects(effects, await moveAndSendHeld(deps, run, 'retry', actor, (change) => transitionRun(deps, run, 'retry', actor, { ...change, failed })));
  } catch (error) {
    // Another step failed (recorded alone: the run was blocked) or was held meanwhile: again, with it too.
    const current = await deps.store.getRun(run.id);
    if (!(error instanceof ConflictError) || current?.status !== 'blocked' || round >= 3) throw error;
    await applyEffects(deps, effects);
    return retry(deps, current, actor, {}, round + 1);
  }
  await applyEffects(deps, effects);
}

/**
 * approve: a step waiting in needs_qa completes (with the approver's output); reject: it fails and
 * the run blocks. A person's comment is kept on the step and in the event; without an output an
 * approval's output carries it to the dependents, and without a reason it is the rejection's.
 */
export async function stepAction(
  deps: EngineDeps,
  run: RunRecord,
  step: StepRecord,
  action: 'approve' | 'reject',
  actor: string,
  body: { output?: unknown; reason?: string; comment?: string },
): Promise<StepRecord> {
  if (step.status !== 'needs_qa') {
    throw new ConflictError(`Cannot ${action} step ${step.stepId}: it is ${step.status}, and only a step waiting in needs_qa can be ${action}d`);
  }
  const comment = body.comment || undefined;
  const reason = body.reason || comment;
  const effects =
    action === 'approve'
      ? await completeStep(deps, run, step, { status: 'completed', output: body.output ?? { approvedBy: actor, ...(comment ? { comment } : {}) } }, {
          actor,
          transition: 'approve',
          usage: addStoredUsage(deps, step.usage),
          comment,
          // A step held at its quality gate completes with what its execution produced, unless the approver gives an output.
          ...(step.gate && body.output === undefined ? { kept: keptOutput(step) } : {}),
        })
      : await failStep(deps, run, step, new NonRetryableStepError(`rejected${reason ? `: ${reason}` : ''}`, { code: 'REJECTED' }), { actor, transition: 'reject', comment });
  if (!effects) throw new ConflictError(`Step ${step.stepId} changed meanwhile; read it again`);
  await applyEffects(deps, effects);
  const updated = await deps.store.getStep(run.id, step.stepId);
  if (!updated) throw new NotFoundError('Step');
  return updated;
}

/** The usage a step already recorded plus what this request spent: a step's item holds its total. */
function addStoredUsage(deps: EngineDeps, stored: unknown) {
  const since = deps.usage.sinceCheckpoint();
  if (!since) return stored;
  return stored ? addUsage(usageFromItem(stored), since) : since;
}
