import type { StepError } from '#shared/domain/step-errors';
import type { StepOutcome } from '#shared/executors/types';
import { waitNotBefore } from '#shared/executors/wait';
import { webhookCorrelationKey, webhookInput } from '#shared/executors/webhook';
import type { CommittedEvent } from '#shared/store/event-outbox';
import { jsonField } from '#shared/store/json-attribute';
import { keys, listingsIndex, timersIndex, waitingStepIndexAttributes } from '#shared/store/keys';
import type { RunRecord, StepErrorRecord, StepRecord } from '#shared/store/runs';
import { ConditionFailedError, updateExpression } from '#shared/store/transaction';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { runEvent, transaction, type EngineDeps } from './context';
import { dispatchDueAt, dispatchMarker } from './dispatch-markers';
import { maxQueueDelaySeconds, type Dispatch } from './dispatcher';

/** Single-parent children released inside the completion transaction (2 items each, 100 max). */
const childrenPerCompletion = 45;

/** What a transition leaves to do after its commit: messages to send and events to publish. */
export interface Effects {
  dispatches: Dispatch[];
  events: CommittedEvent[];
}
export const noEffects = (): Effects => ({ dispatches: [], events: [] });
export const mergeEffects = (into: Effects, more: Effects): Effects => {
  into.dispatches.push(...more.dispatches);
  into.events.push(...more.events);
  return into;
};

/**
 * Sends the messages, then publishes the events: both only after their state committed.
 * `alsoMark`: events published earlier unmarked, marked now in the same write.
 */
export async function applyEffects(deps: EngineDeps, effects: Effects, alsoMark: CommittedEvent[] = []): Promise<void> {
  if (effects.dispatches.length) await deps.dispatcher.send(effects.dispatches);
  if (effects.events.length || alsoMark.length) await deps.outbox.publish(effects.events, { alsoMark });
}

const now = (deps: EngineDeps) => (deps.now ?? (() => new Date()))();

const delayUntil = (deps: EngineDeps, notBefore: string | undefined): number | undefined => {
  if (!notBefore) return undefined;
  const seconds = (Date.parse(notBefore) - now(deps).getTime()) / 1000;
  return seconds > 0 ? seconds : undefined;
};

/** The not-before time a step gets when released: a `wait` step's is computed from now. */
const gateOf = (step: StepRecord, releasedAt: Date): string | undefined =>
  step.kind === 'wait' ? (waitNotBefore(step.input, releasedAt) ?? step.notBefore) : step.notBefore;

/** Further ahead than an SQS delay reaches: parked in the timers index for the sweeper instead of sent. */
const isParked = (notBefore: string | undefined, at: Date): boolean =>
  notBefore !== undefined && Date.parse(notBefore) - at.getTime() > maxQueueDelaySeconds * 1000;

/**
 * A released step's update: queued, gated when it has a not-before time, parked when that is far
 * (the sweeper sends it), else marked for dispatch unless this function's releases are recovered
 * by its own message's redelivery (the step worker: see rerelease).
 */
const releaseSet = (deps: EngineDeps, step: StepRecord, at: Date) => {
  const notBefore = gateOf(step, at);
  const marked = !deps.releasesRecoveredByRedelivery;
  return {
    status: 'queued',
    remaining: 0,
    queuedAt: at.toISOString(),
    ...(notBefore ? { notBefore } : {}),
    ...(isParked(notBefore, at)
      ? { timerPk: timersIndex.notBefore, dueAt: notBefore }
      : marked ? dispatchMarker(notBefore && Date.parse(notBefore) > at.getTime() ? new Date(notBefore) : at) : {}),
  };
};

/** Messages for released steps, except those parked until a time beyond SQS's reach. */
const dispatchesOf = (deps: EngineDeps, steps: StepRecord[], at: Date): Dispatch[] =>
  steps
    .map((step) => ({ ...step, notBefore: gateOf(step, at) }))
    .filter((step) => !isParked(step.notBefore, at))
    .map((step) => dispatchOf(deps, step));

const dispatchOf = (deps: EngineDeps, step: Pick<StepRecord, 'runId' | 'stepId' | 'attempt' | 'notBefore'>): Dispatch => ({
  message: { runId: step.runId, stepId: step.stepId, attempt: step.attempt },
  delaySeconds: delayUntil(deps, step.notBefore),
});

/**
 * Moves released steps from pending to queued (conditional on pending with no dependency left),
 * each with its event, 45 to a transaction; returns their messages. A step that is no longer
 * pending was queued by someone else and is left alone.
 */
export async function queueSteps(deps: EngineDeps, run: RunRecord, steps: StepRecord[], actor: string): Promise<Effects> {
  const effects = noEffects();
  for (let start = 0; start < steps.length; start += childrenPerCompletion) {
    const chunk = steps.slice(start, start + childrenPerCompletion);
    try {
      effects.events.push(...(await queueTransaction(deps, run, chunk, actor).commit()));
      effects.dispatches.push(...dispatchesOf(deps, chunk, now(deps)));
    } catch (error) {
      if (!(error instanceof ConditionFailedError) || chunk.length === 1) {
        if (error instanceof ConditionFailedError) continue;
        throw error;
      }
      // One of them was queued meanwhile: do them one by one so the others still go.
      for (const step of chunk) mergeEffects(effects, await queueSteps(deps, run, [step], actor));
    }
  }
  return effects;
}

function queueTransaction(deps: EngineDeps, run: RunRecord, steps: StepRecord[], actor: string) {
  const at = now(deps);
  const tx = transaction(deps);
  for (const step of steps) {
    tx.update(keys.step(run.id, step.stepId), {
      set: releaseSet(deps, step, at),
      condition: '#status = :pending',
      values: { ':pending': 'pending' },
    });
    const notBefore = gateOf(step, at);
    tx.event(...eventArgs(runEvent(run, 'step.queued', actor, { attempt: step.attempt + 1, ...(notBefore ? { notBefore } : {}) }, at, step.stepId)));
  }
  return tx;
}

const eventArgs = ({ key, event, publish }: CommittedEvent) => [key, event, publish] as const;

/**
 * Records a finished attempt (or an approval) and releases the dependents whose last
 * dependency this step was. `from` is the status the step must still be in: `running` for the
 * worker (with the attempt it claimed), `needs_qa` for an approval.
 */
export async function completeStep(
  deps: EngineDeps,
  run: RunRecord,
  step: StepRecord,
  outcome: Extract<StepOutcome, { status: 'completed' }>,
  { actor, from, usage, comment }: { actor: string; from: 'running' | 'needs_qa'; usage?: unknown; comment?: string },
): Promise<Effects> {
  const at = now(deps);
  const address = { projectId: run.projectId, runId: run.id, stepId: step.stepId, attempt: step.attempt };
  const stored = await deps.artifacts.storeOutput(address, outcome.output);
  const artifacts = outcome.artifacts?.length ? await deps.artifacts.storeArtifacts(address, outcome.artifacts) : undefined;

  return finishStep(deps, run, step, { actor, at }, (tx) => {
    tx.update(keys.step(run.id, step.stepId), {
      set: {
        status: 'completed',
        finishedAt: at.toISOString(),
        ...(stored.outputRef ? { outputRef: stored.outputRef } : jsonField('output', stored.output)),
        ...(artifacts ? { artifacts } : {}),
        ...(outcome.usage ? { agentUsage: outcome.usage } : {}),
        ...(usage ? { usage } : {}),
        ...(comment ? { comment } : {}),
      },
      append: { llmUsage: outcome.usage?.llm ?? [] },
      remove: [...waitingStepIndexAttributes],
      condition: from === 'running' ? '#status = :from AND #attempt = :attempt' : '#status = :from',
      values: { ':from': from, ...(from === 'running' ? { ':attempt': step.attempt } : {}) },
    });
    tx.event(
      ...eventArgs(
        runEvent(
          run,
          'step.completed',
          actor,
          { attempt: step.attempt, ...(stored.outputRef ? { outputRef: stored.outputRef } : {}), artifacts: artifacts?.length ?? 0, ...(comment ? { comment } : {}) },
          at,
          step.stepId,
        ),
      ),
    );
  });
}

/**
 * The bookkeeping of a step that is done with, whether it completed or failed with
 * `onFailure: "continue"`: `record` writes the step's own outcome, and in the same transaction
 * the dependents whose last dependency this step was are queued and a sink decrements the run's
 * `remainingSinks` (`runAdd` adds more to the run's item in that one update). Dependents with
 * other dependencies left are released one decrement each afterwards; the run completes when its
 * last sink is done.
 */
async function finishStep(
  deps: EngineDeps,
  run: RunRecord,
  step: StepRecord,
  { actor, at, runAdd = {} }: { actor: string; at: Date; runAdd?: Record<string, unknown> },
  record: (tx: ReturnType<typeof transaction>) => void,
): Promise<Effects> {
  const children = step.dependents.length ? await deps.runs.getSteps(run.id, step.dependents, true) : [];
  const waiting = children.filter((child) => child.status === 'pending');
  // This step is the only dependency such a child still waits for: nobody else touches it.
  const single = waiting.filter((child) => child.remaining === 1 && !child.releasedBy?.length);
  const shared = waiting.filter((child) => !single.includes(child));
  const inline = single.slice(0, childrenPerCompletion);
  const isSink = step.dependents.length === 0;

  const tx = transaction(deps);
  record(tx);
  for (const child of inline) {
    tx.update(keys.step(run.id, child.stepId), {
      set: releaseSet(deps, child, at),
      add: { releasedBy: new Set([step.stepId]) },
      condition: '#status = :pending',
      values: { ':pending': 'pending' },
    });
    tx.event(...eventArgs(runEvent(run, 'step.queued', actor, { attempt: child.attempt + 1, releasedBy: step.stepId }, at, child.stepId)));
  }
  const add = { ...runAdd, ...(isSink ? { remainingSinks: -1 } : {}) };
  if (Object.keys(add).length) tx.update(keys.run(run.id), { add });

  const effects = noEffects();
  effects.events.push(...(await tx.commit()));
  effects.dispatches.push(...dispatchesOf(deps, inline, at));
  mergeEffects(effects, await queueSteps(deps, run, single.slice(childrenPerCompletion), actor));
  mergeEffects(effects, await releaseShared(deps, run, step.stepId, shared, actor));
  if (isSink) mergeEffects(effects, await completeRunIfDone(deps, run.id, actor));
  return effects;
}

/**
 * Releases children with several dependencies: an atomic decrement per parent (recorded in
 * `releasedBy`, so a repeat decrements nothing), and exactly the decrement that reaches zero
 * queues the child.
 */
export async function releaseShared(deps: EngineDeps, run: RunRecord, parentId: string, children: StepRecord[], actor: string): Promise<Effects> {
  const effects = noEffects();
  const ready: StepRecord[] = [];
  for (const child of children) {
    try {
      const response = await deps.documents.send(
        new UpdateCommand({
          TableName: deps.tableName,
          Key: keys.step(run.id, child.stepId),
          ...updateExpression({
            add: { remaining: -1, releasedBy: new Set([parentId]) },
            condition: '#status = :pending AND NOT contains(#releasedBy, :parent)',
            values: { ':pending': 'pending', ':parent': parentId },
          }),
          ReturnValues: 'ALL_NEW',
        }),
      );
      if ((response.Attributes?.remaining as number | undefined) === 0) ready.push(child);
    } catch (error) {
      if ((error as Error).name !== 'ConditionalCheckFailedException') throw error;
      // Released by this parent before (a redelivery): queue it if that release was the last.
      const current = (await deps.runs.getSteps(run.id, [child.stepId], true))[0];
      if (current?.status === 'pending' && current.remaining === 0) ready.push(current);
    }
  }
  return mergeEffects(effects, await queueSteps(deps, run, ready, actor));
}

/**
 * Completes the run when its last sink is done (conditional: exactly one caller wins). A run
 * some of whose optional steps (`onFailure: "continue"`) failed completes `degraded`, naming them.
 * Those failures were all recorded before: a step's failure commits before any of its
 * descendants can run, and a sink's failure decrements `remainingSinks` in the same write.
 */
export async function completeRunIfDone(deps: EngineDeps, runId: string, actor: string): Promise<Effects> {
  const run = await deps.runs.getRun(runId, true);
  if (!run || run.remainingSinks > 0 || !['running', 'blocked'].includes(run.status)) return noEffects();
  const at = now(deps);
  const failedOptionalSteps = run.failedOptionalSteps ?? [];
  const degraded = failedOptionalSteps.length > 0;
  const tx = transaction(deps);
  tx.update(keys.run(runId), {
    set: { status: 'completed', finishedAt: at.toISOString(), ...(degraded ? { degraded: true } : {}) },
    remove: ['reason'],
    condition: '#status IN (:running, :blocked) AND #remainingSinks <= :zero',
    values: { ':running': 'running', ':blocked': 'blocked', ':zero': 0 },
  });
  tx.event(...eventArgs(runEvent(run, 'run.completed', actor, { totalSteps: run.totalSteps, ...(degraded ? { degraded, failedOptionalSteps } : {}) }, at)));
  try {
    return { dispatches: [], events: await tx.commit() };
  } catch (error) {
    if (error instanceof ConditionFailedError) return noEffects();
    throw error;
  }
}

const errorRecord = (error: StepError, attempt: number, at: Date): StepErrorRecord => ({
  message: error.message,
  retryable: error.retryable,
  attempt,
  at: at.toISOString(),
  ...(error.details.code ? { code: error.details.code } : {}),
  ...(error.details.status ? { status: error.details.status } : {}),
  ...(error.details.url ? { url: error.details.url } : {}),
});

/** Puts a failed attempt back in the queue after its backoff. */
export async function retryStep(deps: EngineDeps, run: RunRecord, step: StepRecord, error: StepError, delaySeconds: number, actor: string): Promise<Effects> {
  const at = now(deps);
  const tx = transaction(deps);
  tx.update(keys.step(run.id, step.stepId), {
    // Marked for dispatch even in the worker: the redelivery of the failed attempt's message
    // finds the next attempt queued and takes itself for a duplicate.
    set: { status: 'queued', queuedAt: at.toISOString(), error: errorRecord(error, step.attempt, at), ...dispatchMarker(dispatchDueAt(at, delaySeconds)) },
    // The failed attempt's model calls were paid for: they count.
    append: { llmUsage: error.llmUsage },
    remove: waitingStepIndexAttributes.filter((name) => name !== timersIndex.partitionKey && name !== timersIndex.sortKey),
    condition: '#status = :running AND #attempt = :attempt',
    values: { ':running': 'running', ':attempt': step.attempt },
  });
  tx.event(...eventArgs(runEvent(run, 'step.retrying', actor, { attempt: step.attempt, delaySeconds, error: error.message, ...(error.details.code ? { code: error.details.code } : {}) }, at, step.stepId)));
  const events = await tx.commit();
  return { events, dispatches: [{ message: { runId: run.id, stepId: step.stepId, attempt: step.attempt }, delaySeconds }] };
}

/**
 * Parks a step that waits for someone or something (approval, webhook): `needs_qa` until it is
 * approved, rejected or its delivery arrives, or its deadline passes (the sweeper fails it).
 */
export async function waitStep(deps: EngineDeps, run: RunRecord, step: StepRecord, reason: string, actor: string): Promise<Effects> {
  const at = now(deps);
  const tx = transaction(deps);
  // Only an explicit timeoutSeconds bounds a wait: by default a gate waits as long as it takes.
  const deadline = step.timeoutSeconds ? new Date(at.getTime() + step.timeoutSeconds * 1000).toISOString() : undefined;
  tx.update(keys.step(run.id, step.stepId), {
    set: {
      status: 'needs_qa',
      waitingFor: reason,
      waitingSince: at.toISOString(),
      // Into the project's inbox, oldest first; every write that moves the step on takes it out.
      [listingsIndex.partitionKey]: listingsIndex.inbox(run.projectId),
      [listingsIndex.sortKey]: `${at.toISOString()}#${run.id}#${step.stepId}`,
      ...(deadline ? { timerPk: timersIndex.deadline, dueAt: deadline } : {}),
    },
    remove: deadline ? ['leaseUntil'] : ['leaseUntil', timersIndex.partitionKey, timersIndex.sortKey],
    condition: '#status = :running AND #attempt = :attempt',
    values: { ':running': 'running', ':attempt': step.attempt },
  });
  tx.event(...eventArgs(runEvent(run, 'step.needs_qa', actor, { attempt: step.attempt, reason, ...(deadline ? { deadline } : {}) }, at, step.stepId)));
  const correlation = step.kind === 'webhook' ? webhookInput.safeParse(step.input) : undefined;
  if (correlation?.success) {
    tx.put({ ...keys.webhookWait(run.projectId, webhookCorrelationKey(correlation.data), run.id, step.stepId), type: 'webhookWait', runId: run.id, stepId: step.stepId, since: at.toISOString() });
  }
  return { events: await tx.commit(), dispatches: [] };
}

/**
 * Fails a step for good and blocks its run with the error as the reason. `from` lists the
 * statuses the step may still be in (the worker's claim, an approval, a dead letter). An
 * optional step (`onFailure: "continue"`) blocks nothing: it is recorded in the run's
 * `failedOptionalSteps` (not `failedSteps`, which `retry` runs again) and releases its dependents.
 */
export async function failStep(
  deps: EngineDeps,
  run: RunRecord,
  step: StepRecord,
  error: StepError,
  { actor, from, usage, comment }: { actor: string; from: ('running' | 'queued' | 'needs_qa')[]; usage?: unknown; comment?: string },
): Promise<Effects> {
  const at = now(deps);
  const record = errorRecord(error, step.attempt, at);
  const failStepItem = (tx: ReturnType<typeof transaction>, detail: Record<string, unknown> = {}) => {
    tx.update(keys.step(run.id, step.stepId), {
      set: { status: 'failed', finishedAt: at.toISOString(), error: record, ...(usage ? { usage } : {}), ...(comment ? { comment } : {}) },
      append: { llmUsage: error.llmUsage },
      remove: [...waitingStepIndexAttributes],
      condition: `#status IN (${from.map((_, index) => `:from${index}`).join(', ')}) AND #attempt = :attempt`,
      values: { ...Object.fromEntries(from.map((status, index) => [`:from${index}`, status])), ':attempt': step.attempt },
    });
    tx.event(...eventArgs(runEvent(run, 'step.failed', actor, { attempt: step.attempt, error: record, ...(comment ? { comment } : {}), ...detail }, at, step.stepId)));
  };
  if (step.onFailure === 'continue') {
    // Optional: its dependents go on (they see it failed) and the run is not blocked.
    try {
      return await finishStep(deps, run, step, { actor, at, runAdd: { failedOptionalSteps: new Set([step.stepId]) } }, (tx) => failStepItem(tx, { onFailure: 'continue' }));
    } catch (error) {
      if (error instanceof ConditionFailedError) return noEffects();
      throw error;
    }
  }
  const build = (blockRun: boolean) => {
    const tx = transaction(deps);
    failStepItem(tx);
    const reason = `step ${step.stepId} failed: ${error.message}`;
    tx.update(keys.run(run.id), {
      add: { failedSteps: new Set([step.stepId]) },
      ...(blockRun
        ? { set: { status: 'blocked', reason }, condition: '#status = :running', values: { ':running': 'running' } }
        : {}),
    });
    if (blockRun) tx.event(...eventArgs(runEvent(run, 'run.blocked', actor, { stepId: step.stepId, reason }, at)));
    return tx;
  };
  try {
    return { dispatches: [], events: await build(true).commit() };
  } catch (error) {
    if (!(error instanceof ConditionFailedError)) throw error;
  }
  // The run was not running (paused, already blocked, cancelled): record the failure alone.
  try {
    return { dispatches: [], events: await build(false).commit() };
  } catch (error) {
    if (error instanceof ConditionFailedError) return noEffects();
    throw error;
  }
}
