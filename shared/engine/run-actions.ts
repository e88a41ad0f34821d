import { addUsage, usageFromItem, usageSinceCheckpoint } from '#shared/clients/usage-meter';
import { analyzeDag } from '#shared/domain/dag';
import { ConflictError, IdempotencyKeyReusedError, NotFoundError, ValidationError } from '#shared/domain/errors';
import { newId } from '#shared/domain/ids';
import { finalRunStatuses, illegalRunAction, runActionRules, runStatuses, type RunAction, type RunStatus } from '#shared/domain/states';
import { NonRetryableStepError } from '#shared/domain/step-errors';
import { defaultRetryPolicy } from '#shared/domain/workflow';
import { keys, projectRunsIndex, waitingStepIndexAttributes } from '#shared/store/keys';
import type { CommittedEvent } from '#shared/store/event-outbox';
import { jsonField } from '#shared/store/json-attribute';
import { generationOf, type RunRecord, type StepRecord } from '#shared/store/runs';
import { ConditionFailedError, updateExpression } from '#shared/store/transaction';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Workflow } from '#shared/store/workflows';
import type { GitRef } from '#shared/schemas/runs';
import { runEvent, transaction, type EngineDeps } from './context';
import { dispatchMarker } from './dispatch-markers';
import { applyEffects, completeRunIfDone, completeStep, failStep, mergeEffects, queueSteps, type Effects } from './step-transitions';

const idempotencyTtlSeconds = 24 * 3600;
/** How long a run stays reachable by CI deliveries for its branch (a finished run's mapping is dropped sooner). */
const branchMappingTtlSeconds = 90 * 24 * 3600;
const now = (deps: EngineDeps) => (deps.now ?? (() => new Date()))();

/**
 * Creates a run of a workflow version. Its steps are written first (in batches) and the run
 * item last, in one transaction with the idempotency record and the event: until that commit
 * nothing refers to the steps, so a failure half-way leaves no visible run. The same
 * Idempotency-Key with the same request (`requestHash`, see shared/domain/canonical-json.ts)
 * returns the run it created the first time; with another request it is refused (422).
 */
export async function createRun(
  deps: EngineDeps,
  input: { projectId: string; workflow: Workflow; input?: unknown; git?: GitRef; tags?: Record<string, string>; idempotencyKey?: string; requestHash?: string; actor: string; start: boolean },
): Promise<{ run: RunRecord; created: boolean }> {
  const { projectId, workflow, idempotencyKey, requestHash, actor } = input;
  if (idempotencyKey) {
    const existing = await replayOf(deps, projectId, idempotencyKey, requestHash);
    if (existing) return existing;
  }
  const dag = analyzeDag(workflow.steps);
  const done = new Set(workflow.steps.filter((spec) => spec.done).map((spec) => spec.id));
  const at = now(deps);
  // Its id starts with its creation time: a search by time range is a key range on run ids.
  const runId = newId('run', at.getTime());
  const stepItems = workflow.steps.map((spec) => {
    const remaining = spec.dependsOn.filter((dependency) => !done.has(dependency)).length;
    const isDone = done.has(spec.id);
    return {
      ...keys.step(runId, spec.id),
      type: 'step',
      runId,
      projectId,
      stepId: spec.id,
      kind: spec.kind,
      ...jsonField('input', spec.input),
      dependsOn: spec.dependsOn,
      dependents: (dag.dependents[spec.id] ?? []).filter((child) => !done.has(child)),
      retry: spec.retry ?? defaultRetryPolicy,
      ...(spec.timeoutSeconds ? { timeoutSeconds: spec.timeoutSeconds } : {}),
      ...(spec.onFailure === 'continue' ? { onFailure: 'continue' } : {}),
      ...(spec.callbackTimeoutSeconds ? { callbackTimeoutSeconds: spec.callbackTimeoutSeconds } : {}),
      ...(spec.heartbeatSeconds ? { heartbeatSeconds: spec.heartbeatSeconds } : {}),
      ...(spec.notBefore ? { notBefore: spec.notBefore } : {}),
      ...(spec.labels ? { labels: spec.labels } : {}),
      status: isDone ? 'completed' : 'pending',
      attempt: 0,
      generation: 1,
      allowedAttempts: (spec.retry ?? defaultRetryPolicy).maxAttempts,
      remaining,
      ...(isDone ? { finishedAt: at.toISOString(), ...jsonField('output', null), doneAtImport: true } : {}),
    };
  });
  const roots = workflow.steps.filter((spec) => !done.has(spec.id) && stepItems.find((item) => item.stepId === spec.id)!.remaining === 0).map((spec) => spec.id);
  const remainingSinks = dag.sinks.filter((id) => !done.has(id)).length;
  await deps.runs.putAll(stepItems);
  // Taken once per run: its step events go to the bus only if the project subscribes to them.
  const { publishStepEvents } = await deps.projectSettings(projectId);

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
    remainingSinks,
    roots,
    ...(idempotencyKey ? { idempotencyKey } : {}),
    ...(publishStepEvents ? { publishStepEvents: true } : {}),
    createdAt: at.toISOString(),
  };
  // What creating the run cost (its step batches, the reads before) rides on the run item.
  const creationUsage = usageSinceCheckpoint();
  const tx = transaction(deps);
  const { input: runInput, ...runAttributes } = run;
  tx.put(
    { ...keys.run(runId), type: 'run', ...runAttributes, ...jsonField('input', runInput), ...(creationUsage ? { usage: creationUsage } : {}), gsi1pk: projectRunsIndex.value(projectId), gsi1sk: runId },
    'attribute_not_exists(pk)',
  );
  if (idempotencyKey) {
    tx.put(
      { ...keys.idempotency(projectId, idempotencyKey), type: 'idempotency', runId, ...(requestHash ? { requestHash } : {}), expiresAt: Math.floor(at.getTime() / 1000) + idempotencyTtlSeconds },
      'attribute_not_exists(pk)',
    );
  }
  if (input.git) {
    const { repository, branch } = input.git;
    tx.put({ ...keys.branchRun(projectId, repository, branch, runId), type: 'branchRun', runId, expiresAt: Math.floor(at.getTime() / 1000) + branchMappingTtlSeconds });
  }
  const created = runEvent(run, 'run.created', actor, { workflowId: workflow.id, version: workflow.version, steps: workflow.steps.length, done: done.size }, at);
  tx.event(created.key, created.event, created.publish);
  let events;
  try {
    events = await tx.commit();
  } catch (error) {
    if (error instanceof ConditionFailedError && idempotencyKey) {
      // Another request with the same key won the race: answer with its run (if it was the same request).
      const winner = await replayOf(deps, projectId, idempotencyKey, requestHash);
      if (winner) return winner;
    }
    throw error;
  }
  await applyEffects(deps, { dispatches: [], events });
  if (input.start) return { run: await startRun(deps, run, actor), created: true };
  return { run, created: true };
}

/**
 * The run an Idempotency-Key already created, when the request is the same one again; a
 * different request under the same key is refused. Records written before requests were hashed
 * (and callers that give no hash) match any request, as before.
 */
async function replayOf(deps: EngineDeps, projectId: string, key: string, requestHash: string | undefined): Promise<{ run: RunRecord; created: false } | undefined> {
  const record = await deps.runs.findIdempotencyRecord(projectId, key);
  if (!record) return undefined;
  if (requestHash && record.requestHash && record.requestHash !== requestHash) throw new IdempotencyKeyReusedError(key, `run ${record.runId}`);
  return { run: (await deps.runs.getRun(record.runId, true))!, created: false };
}

/** Moves the run's status for an action, conditional on the statuses the action allows. */
async function transitionRun(deps: EngineDeps, run: RunRecord, action: RunAction, actor: string, extra: { set?: Record<string, unknown>; remove?: string[]; delete?: Record<string, unknown> } = {}) {
  const rule = runActionRules[action];
  if (!rule.from.includes(run.status)) throw new ConflictError(illegalRunAction(action, run.status));
  const at = now(deps);
  const tx = transaction(deps);
  tx.update(keys.run(run.id), {
    set: { status: rule.to, ...(action === 'start' ? { startedAt: at.toISOString() } : {}), ...(rule.to === 'cancelled' ? { finishedAt: at.toISOString() } : {}), ...extra.set },
    ...(extra.remove ? { remove: extra.remove } : {}),
    ...(extra.delete ? { delete: extra.delete } : {}),
    condition: `#status IN (${rule.from.map((_, index) => `:from${index}`).join(', ')})`,
    values: Object.fromEntries(rule.from.map((status, index) => [`:from${index}`, status])),
  });
  const type = { start: 'run.started', pause: 'run.paused', resume: 'run.resumed', cancel: 'run.cancelled', retry: 'run.retried' }[action];
  const { key, event, publish } = runEvent(run, type, actor, { from: run.status }, at);
  tx.event(key, event, publish);
  try {
    return await tx.commit();
  } catch (error) {
    if (error instanceof ConditionFailedError) {
      const current = await deps.runs.getRun(run.id, true);
      throw new ConflictError(illegalRunAction(action, current?.status ?? run.status));
    }
    throw error;
  }
}

export async function startRun(deps: EngineDeps, run: RunRecord, actor: string): Promise<RunRecord> {
  const effects: Effects = { dispatches: [], events: await transitionRun(deps, run, 'start', actor) };
  const started = { ...run, status: 'running' as const };
  const roots = await deps.runs.getSteps(run.id, run.roots, true);
  mergeEffects(effects, await queueSteps(deps, started, roots, actor));
  if (run.remainingSinks === 0) mergeEffects(effects, await completeRunIfDone(deps, run.id, actor));
  await applyEffects(deps, effects);
  return (await deps.runs.getRun(run.id, true))!;
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
      const events = await transitionRun(deps, run, action, actor);
      await applyEffects(deps, { dispatches: [], events: [...events, ...(await cancelWaitingSteps(deps, run, actor))] });
      break;
    }
    case 'resume':
      await resume(deps, run, actor);
      break;
    case 'retry':
      await retry(deps, run, actor, body.steps ?? {});
      break;
  }
  return (await deps.runs.getRun(run.id, true))!;
}

/**
 * A cancelled run's steps waiting in needs_qa are cancelled too: nobody is to approve them any
 * more, and they leave the project's inbox (and their deadlines) with the same write. Reads the
 * run's steps once; a step that moved meanwhile (approved a moment earlier) is left as it is.
 */
async function cancelWaitingSteps(deps: EngineDeps, run: RunRecord, actor: string): Promise<CommittedEvent[]> {
  const waiting = (await deps.runs.listSteps(run.id)).filter((step) => step.status === 'needs_qa');
  const at = now(deps);
  const events: CommittedEvent[] = [];
  for (const step of waiting) {
    const tx = transaction(deps);
    tx.update(keys.step(run.id, step.stepId), {
      set: { status: 'cancelled', finishedAt: at.toISOString() },
      remove: [...waitingStepIndexAttributes],
      condition: '#status = :waiting',
      values: { ':waiting': 'needs_qa' },
    });
    const { key, event, publish } = runEvent(run, 'step.cancelled', actor, { from: 'needs_qa', reason: 'run cancelled' }, at, step.stepId);
    tx.event(key, event, publish);
    try {
      events.push(...(await tx.commit()));
    } catch (error) {
      if (!(error instanceof ConditionFailedError)) throw error;
    }
  }
  return events;
}

/** Back to running, and the steps released while paused go to the queue. */
async function resume(deps: EngineDeps, run: RunRecord, actor: string): Promise<void> {
  const held = run.heldSteps ?? [];
  // Marked before the run moves, so a send lost after it is re-sent by the sweeper (one marked
  // while the run is still paused is only held again).
  await markForDispatch(deps, run.id, held);
  const events = await transitionRun(deps, run, 'resume', actor, held.length ? { delete: { heldSteps: new Set(held) } } : {});
  // Steps held between our read and the commit stay in the set: pick them up too.
  const after = await deps.runs.getRun(run.id, true);
  const late = (after?.heldSteps ?? []).filter((id) => !held.includes(id));
  await markForDispatch(deps, run.id, late);
  const steps = await deps.runs.getSteps(run.id, [...held, ...late], true);
  await applyEffects(deps, {
    events,
    dispatches: steps.filter((step) => step.status === 'queued').map((step) => ({ message: { runId: run.id, stepId: step.stepId, attempt: step.attempt } })),
  });
}

/** Files queued steps (held while their run was paused) under a DISPATCH timer; others are left alone. */
async function markForDispatch(deps: EngineDeps, runId: string, stepIds: string[]): Promise<void> {
  const marker = dispatchMarker(now(deps));
  for (const stepId of stepIds) {
    try {
      await deps.documents.send(
        new UpdateCommand({
          TableName: deps.tableName,
          Key: keys.step(runId, stepId),
          ...updateExpression({ set: marker, condition: '#status = :queued', values: { ':queued': 'queued' } }),
        }),
      );
    } catch (error) {
      if ((error as Error).name !== 'ConditionalCheckFailedException') throw error;
    }
  }
}

/**
 * blocked → running: each failed step is queued again with a fresh set of attempts (and a new
 * input when the body gives one), and the run goes on from there.
 */
async function retry(deps: EngineDeps, run: RunRecord, actor: string, inputs: Record<string, { input?: unknown }>): Promise<void> {
  const failed = run.failedSteps ?? [];
  for (const stepId of Object.keys(inputs)) {
    if (!failed.includes(stepId)) {
      throw new ValidationError(`body.steps.${stepId}: only failed steps can be retried (failed: ${failed.join(', ') || 'none'})`, `body.steps.${stepId}`);
    }
  }
  const steps = await deps.runs.getSteps(run.id, failed, true);
  for (const step of steps) {
    const replacement = inputs[step.stepId];
    if (replacement && 'input' in replacement) {
      const executor = deps.executors.get(step.kind);
      const parsed = executor?.input.safeParse(replacement.input);
      // What the schema cannot say is checked too (e.g. an llm template naming a non-dependency).
      const issue = parsed && (parsed.success ? executor?.checkStep?.(parsed.data, { dependsOn: step.dependsOn }) : parsed.error.issues[0]);
      if (parsed && (issue || !parsed.success)) {
        const field = ['body', 'steps', step.stepId, 'input', ...(issue?.path ?? []).map(String)].join('.');
        throw new ValidationError(`${field}: ${issue?.message ?? 'invalid'}`, field);
      }
    }
  }
  const effects: Effects = { dispatches: [], events: await transitionRun(deps, run, 'retry', actor, failed.length ? { delete: { failedSteps: new Set(failed) }, remove: ['reason'] } : { remove: ['reason'] }) };
  const at = now(deps);
  for (const step of steps.filter((candidate) => candidate.status === 'failed')) {
    const replacement = inputs[step.stepId];
    const newInput = Boolean(replacement && 'input' in replacement);
    // New input, new execution: agents must not take it for a retry of the work they already did.
    const generation = generationOf(step) + (newInput ? 1 : 0);
    const tx = transaction(deps);
    tx.update(keys.step(run.id, step.stepId), {
      set: {
        status: 'queued',
        queuedAt: at.toISOString(),
        allowedAttempts: step.attempt + step.retry.maxAttempts,
        generation,
        ...(replacement && 'input' in replacement ? jsonField('input', replacement.input) : {}),
        ...dispatchMarker(at),
      },
      // The rejection's comment belongs to the execution that ended; the events keep it.
      remove: ['finishedAt', 'comment'],
      condition: '#status = :failed',
      values: { ':failed': 'failed' },
    });
    const { key, event, publish } = runEvent(run, 'step.retry_requested', actor, { attempt: step.attempt + 1, generation, newInput }, at, step.stepId);
    tx.event(key, event, publish);
    try {
      effects.events.push(...(await tx.commit()));
      effects.dispatches.push({ message: { runId: run.id, stepId: step.stepId, attempt: step.attempt } });
    } catch (error) {
      if (!(error instanceof ConditionFailedError)) throw error;
    }
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
  let effects: Effects;
  try {
    effects =
      action === 'approve'
        ? await completeStep(deps, run, step, { status: 'completed', output: body.output ?? { approvedBy: actor, ...(comment ? { comment } : {}) } }, { actor, from: 'needs_qa', usage: addStoredUsage(step.usage), comment })
        : await failStep(deps, run, step, new NonRetryableStepError(`rejected${reason ? `: ${reason}` : ''}`, { code: 'REJECTED' }), { actor, from: ['needs_qa'], comment });
  } catch (error) {
    if (error instanceof ConditionFailedError) throw new ConflictError(`Step ${step.stepId} changed meanwhile; read it again`);
    throw error;
  }
  await applyEffects(deps, effects);
  const updated = await deps.runs.getStep(run.id, step.stepId, true);
  if (!updated) throw new NotFoundError('Step');
  return updated;
}

/** The usage a step already recorded plus what this request spent: a step's item holds its total. */
function addStoredUsage(stored: unknown) {
  const since = usageSinceCheckpoint();
  if (!since) return stored;
  return stored ? addUsage(usageFromItem(stored), since) : since;
}

/** Steps a run completed early skips: everything not yet running or finished. */
const skippableStatuses = ['pending', 'queued', 'needs_qa', 'blocked'] as const;
const stepsPerSkipTransaction = 45;
const openRunStatuses: RunStatus[] = runStatuses.filter((status) => !finalRunStatuses.includes(status));

/**
 * Completes a run before its steps are done (its branch was merged): every step not yet
 * running or finished is skipped, each with its event, and then the run completes. A step
 * already running finishes on its own; what it would release is skipped, so nothing new starts.
 * Steps go first, so an interruption leaves a run that is still open and a retry finishes the
 * job. Returns false when the run was already final (nothing to do).
 */
export async function completeRunEarly(deps: EngineDeps, run: RunRecord, actor: string, { reason, detail }: { reason: string; detail: Record<string, unknown> }): Promise<boolean> {
  const at = now(deps);
  const open = (await deps.runs.listSteps(run.id)).filter((step) => (skippableStatuses as readonly string[]).includes(step.status));
  const events: CommittedEvent[] = [];
  try {
    for (let start = 0; start < open.length; start += stepsPerSkipTransaction) {
      const tx = transaction(deps);
      for (const step of open.slice(start, start + stepsPerSkipTransaction)) {
        tx.update(keys.step(run.id, step.stepId), {
          set: { status: 'skipped', finishedAt: at.toISOString() },
          // Off the timers index too: a skipped step has no deadline and no time to wait for.
          remove: [...waitingStepIndexAttributes],
          condition: '#status = :was',
          values: { ':was': step.status },
        });
        const { key, event, publish } = runEvent(run, 'step.skipped', actor, { from: step.status, reason }, at, step.stepId);
        tx.event(key, event, publish);
      }
      // A step that moved meanwhile (started, approved) fails the whole chunk: the caller's
      // retry lists the steps again and goes on from where they are.
      events.push(...(await tx.commit()));
    }
    const tx = transaction(deps);
    tx.update(keys.run(run.id), {
      set: { status: 'completed', finishedAt: at.toISOString(), reason },
      condition: `#status IN (${openRunStatuses.map((_, index) => `:open${index}`).join(', ')})`,
      values: Object.fromEntries(openRunStatuses.map((status, index) => [`:open${index}`, status])),
    });
    const completed = runEvent(run, 'run.completed', actor, { totalSteps: run.totalSteps, skipped: open.length, ...detail }, at);
    tx.event(completed.key, completed.event, completed.publish);
    try {
      events.push(...(await tx.commit()));
    } catch (error) {
      if (error instanceof ConditionFailedError) return false;
      throw error;
    }
    return true;
  } finally {
    await applyEffects(deps, { dispatches: [], events });
  }
}
