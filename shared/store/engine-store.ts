import { DeleteCommand, GetCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { emptyUsage } from '#shared/clients/usage-meter';
import type { LifecycleEvent } from '#shared/domain/events';
import { runActionRules } from '#shared/domain/states';
import type { GateState } from '#shared/domain/quality-gates';
import type { EngineStore, EventToWrite, Finish, Release, StepReset, Written } from '#shared/engine/store';
import { createDynamoBudgetLedger } from './budget-ledger';
import { createDynamoLimitLedger } from './limit-ledger';
import { createDynamoCapacityStore } from './capacity-store';
import { createDynamoRateStore } from './rate-store';
import { createDynamoMapStore } from './map-children';
import type { CommittedEvent } from './event-outbox';
import { jsonAttribute, jsonField } from './json-attribute';
import { planInto } from './plan-writes';
import { createSinkBucketWriter } from './sink-buckets';
import { historyEntry } from './step-history';
import { branchRunsPrefix, keys, listingsIndex, outboxIndex, projectRunsIndex, timersIndex, waitingStepIndexAttributes, webhookWaitPrefix } from './keys';
import { queryAll, queryPrefix } from './query';
import { createRunStore, type StepRecord } from './runs';
import { failedStepsUnchanged, heldStepsUnchanged, runCondition, stepCondition, type GuardValues } from './step-conditions';
import { writtenAtCreation } from './step-definitions';
import { updateExpression, writeTransaction, type Transaction, type UpdateSpec } from './transaction';

/** An event's place: its run's partition, or its project's for events of no run (webhook deliveries). */
export const committed = (event: LifecycleEvent): CommittedEvent => ({
  key: event.runId ? keys.runEvent(event.runId, event.id) : keys.projectEvent(event.projectId, event.id),
  event,
});

const timerKinds = { lease: timersIndex.lease, notBefore: timersIndex.notBefore, deadline: timersIndex.deadline, callback: timersIndex.callback, dispatch: timersIndex.dispatch, throttled: timersIndex.throttled } as const;

/** A queued step filed under DISPATCH, due when its message should be visible (see shared/engine/dispatch-markers.ts). */
export const dispatchMarker = (dueAt: Date | string) => ({ [timersIndex.partitionKey]: timersIndex.dispatch, [timersIndex.sortKey]: typeof dueAt === 'string' ? dueAt : dueAt.toISOString() });

/** A released step's attributes: queued, gated when it has a time, in the timers index when that is far, else marked for dispatch (unless the worker's). */
const releaseSet = (release: Release) => ({
  status: 'queued',
  remaining: 0,
  queuedAt: release.queuedAt,
  ...(release.notBefore ? { notBefore: release.notBefore } : {}),
  ...(release.parked ? { timerPk: timersIndex.notBefore, dueAt: release.notBefore } : release.dispatchDueAt ? dispatchMarker(release.dispatchDueAt) : {}),
});

const andCondition = (a: { condition: string; values: Record<string, unknown> }, b: { condition: string; values: Record<string, unknown> }) => ({ condition: `${a.condition} AND ${b.condition}`, values: { ...a.values, ...b.values } });

/** A finishing write leaves every index, or files the step under DISPATCH when it asks to (Completion.dispatchDueAt). */
const finishedIndexes = (dispatchDueAt: string | undefined) =>
  dispatchDueAt
    ? { set: dispatchMarker(dispatchDueAt), remove: waitingStepIndexAttributes.filter((name) => name !== timersIndex.partitionKey && name !== timersIndex.sortKey) }
    : { set: {}, remove: [...waitingStepIndexAttributes] };

/** What a step's previous execution left: a re-run and a reset start it afresh (llmUsage and usage stay: they were spent). */
const previousOutcome = ['outputJson', 'outputRef', 'artifacts', 'error', 'comment', 'finishedAt', 'guidance', 'agentUsage'] as const;

/** A quality gate on the step item: its state as a map (conditions read its round), its policy as JSON (a reviewer's input is free-form). */
const gateAttributes = (gate: GateState | undefined): Record<string, unknown> => {
  if (!gate) return {};
  const { policy, ...state } = gate;
  return { gate: state, gatePolicyJson: jsonAttribute.encode(policy) };
};

/** The step as an item: JSON fields as strings (shared/store/json-attribute.ts). */
const stepItem = ({ input, output, qa, ...step }: StepRecord) => ({ ...keys.step(step.runId, step.stepId), type: 'step', ...step, ...jsonField('input', input), ...jsonField('output', output), ...(qa ? { qaJson: jsonAttribute.encode(qa) } : {}) });

/**
 * The engine's store on DynamoDB: one table, today's item layout (docs/ARCHITECTURE.md, "Data
 * model"). Each operation is one conditional write (a transaction when it touches several
 * items); a lost condition answers `{won: false}`, any other error is thrown.
 */
export function createDynamoEngineStore({ documents, tableName, recordsInFlight }: { documents: DynamoDBDocumentClient; tableName: string; recordsInFlight?: () => number }): EngineStore {
  const runs = createRunStore({ documents, tableName });
  // The step worker's sinks: one bucket write per invocation, waiting at most 100 ms for the records still running.
  const finishSinks = createSinkBucketWriter({ documents, tableName, ...(recordsInFlight ? { inFlight: recordsInFlight, gatherMs: 100 } : {}) });

  /** Commits a transaction built by `build`; its events are what the caller publishes. */
  const write = (build: (tx: Transaction) => void): Promise<Written> => writeTransaction(documents, tableName, build);
  const event = (tx: Transaction, { event: lifecycle, publish }: EventToWrite) => {
    const { key } = committed(lifecycle);
    tx.event(key, lifecycle, publish);
  };
  /**
   * A step's change and the event that records it, in the same write. An event neither for the
   * bus nor for the project feed (isInProjectFeed: most step events of a run without
   * publishStepEvents) is appended to the step's own `history` rather than written as an item:
   * no event item, no feed entry, and a change of the step alone stays one conditional write
   * instead of a transaction ("Write budget per step").
   */
  const stepChange = (tx: Transaction, key: { pk: string; sk: string }, spec: UpdateSpec, ...written: EventToWrite[]) => {
    const itemOf = (entry: EventToWrite) => entry.publish || entry.inFeed;
    const kept = written.filter((entry) => !itemOf(entry));
    tx.update(key, kept.length ? { ...spec, append: { ...spec.append, history: kept.map((entry) => historyEntry(entry.event)) } } : spec);
    for (const entry of written) {
      if (itemOf(entry)) event(tx, entry);
      else tx.recorded(committed(entry.event).key, entry.event);
    }
  };
  /** One UpdateItem, lost on its condition. */
  const update = async (key: { pk: string; sk: string }, spec: Parameters<typeof updateExpression>[0], returnValues = false) => {
    try {
      const response = await documents.send(new UpdateCommand({ TableName: tableName, Key: key, ...updateExpression(spec), ...(returnValues ? { ReturnValues: 'ALL_NEW' } : {}) }));
      return { won: true as const, item: response.Attributes };
    } catch (error) {
      if ((error as Error).name === 'ConditionalCheckFailedException') return { won: false as const };
      throw error;
    }
  };
  const guarded = (name: Parameters<typeof stepCondition>[0], given: GuardValues) => stepCondition(name, given);

  /** A downstream step of a re-run back to pending, waiting for the re-run steps it depends on. */
  const resetInto = (tx: Transaction, runId: string, reset: StepReset, condition: NonNullable<ReturnType<typeof stepCondition>>) =>
    stepChange(
      tx,
      keys.step(runId, reset.stepId),
      {
        set: { status: 'pending', remaining: reset.remaining, dependents: reset.dependents, generation: reset.generation, allowedAttempts: reset.allowedAttempts, ...(reset.releasedBy.length ? { releasedBy: new Set(reset.releasedBy) } : {}) },
        // Run again because an upstream step re-ran: a new streak (its inputs may have changed).
        remove: [...previousOutcome, ...waitingStepIndexAttributes, 'queuedAt', 'startedAt', 'progress', ...(reset.releasedBy.length ? [] : ['releasedBy'])],
        // A pending step with no item yet is born by its reset: at attempt 0, as it reads.
        setIfMissing: { attempt: 0 },
        ...condition,
      },
      reset.event,
    );

  /** A finished step queued again as a new generation (a re-run's step, a loop's first steps). */
  const rerunInto = (
    tx: Transaction,
    runId: string,
    at: string,
    step: { stepId: string; generation: number; allowedAttempts: number; dependents?: string[]; input?: { value: unknown }; guidance?: string; progress?: unknown; event: EventToWrite },
    condition: NonNullable<ReturnType<typeof stepCondition>>,
  ) =>
    stepChange(
      tx,
      keys.step(runId, step.stepId),
      {
        set: { status: 'queued', queuedAt: at, generation: step.generation, allowedAttempts: step.allowedAttempts, ...(step.dependents ? { dependents: step.dependents } : {}), ...(step.input ? jsonField('input', step.input.value) : {}), ...(step.guidance ? { guidance: step.guidance } : {}), ...(step.progress ? { progress: step.progress } : {}), ...dispatchMarker(at) },
        remove: [...previousOutcome.filter((name) => !(step.guidance && name === 'guidance')), ...waitingStepIndexAttributes.filter((name) => name !== timersIndex.partitionKey && name !== timersIndex.sortKey)],
        ...condition,
      },
      step.event,
    );

  /** A finished step's sink count and the run's counters (in the same write). */
  const finishInto = (tx: Transaction, runId: string, stepId: string, finish: Finish, runAdd: Record<string, unknown>) => {
    // A map's child: its chunk counts it after the write (shared/engine/map-children.ts), the run is not touched.
    if (finish.mapChild) return;
    const bucket = finish.sink?.bucket;
    if (bucket !== undefined) tx.update(keys.sinkBucket(runId, bucket), { delete: { pending: new Set([stepId]) }, condition: 'attribute_exists(pk)' });
    const add = { ...runAdd, ...(finish.sink && bucket === undefined ? { remainingSinks: -1 } : {}) };
    if (Object.keys(add).length) tx.update(keys.run(runId), { add });
  };

  /** What a plan's write borrows (plan-writes.ts). */
  const planHelpers = {
    stepItem,
    releaseSet,
    eventItem: (tx: Transaction, entry: EventToWrite) => {
      if (!(entry.publish || entry.inFeed)) return false;
      event(tx, entry);
      return true;
    },
  };

  const deleteItem = (key: { pk: string; sk: string }) => documents.send(new DeleteCommand({ TableName: tableName, Key: key })).then(() => undefined);

  return {
    getRun: (runId) => runs.getRun(runId, true),
    getStep: (runId, stepId) => runs.getStep(runId, stepId, true),
    getRunAndStep: (runId, stepId) => runs.getRunAndStep(runId, stepId),
    getSteps: (runId, stepIds, options) => runs.getSteps(runId, stepIds, !options?.eventually),
    listSteps: (runId) => runs.listSteps(runId),
    definedSteps: (run, stepIds) => runs.definedSteps(run, stepIds),
    definedRoots: (run) => runs.definedRoots(run),
    findIdempotencyRecord: (projectId, key) => runs.findIdempotencyRecord(projectId, key),
    async findCallback(tokenHash) {
      const { Item } = await documents.send(new GetCommand({ TableName: tableName, Key: keys.callback(tokenHash), ConsistentRead: true }));
      if (!Item) return undefined;
      return { projectId: Item.projectId as string, runId: Item.runId as string, stepId: Item.stepId as string, attempt: Item.attempt as number };
    },

    putSteps: (steps) => runs.putAll(steps.filter(writtenAtCreation).map(stepItem)),
    putSinkBuckets: (runId, buckets) => runs.putAll(buckets.map((sinks, bucket) => ({ ...keys.sinkBucket(runId, bucket), type: 'sinkBucket', pending: new Set(sinks) }))),
    finishSinks,

    createRun: (run, { idempotency, branchExpiresAt, usage, event: created }) =>
      write((tx) => {
        const { input, openSinkBuckets, ...attributes } = run;
        tx.put(
          {
            ...keys.run(run.id),
            type: 'run',
            ...attributes,
            ...jsonField('input', input),
            // A string set, so that a bucket's removal is idempotent (DELETE); absent when empty.
            ...(openSinkBuckets?.length ? { openSinkBuckets: new Set(openSinkBuckets) } : {}),
            gsi1pk: projectRunsIndex.value(run.projectId),
            gsi1sk: run.id,
          },
          'attribute_not_exists(pk)',
        );
        // The meter's own item: what the run costs beyond its steps is added here, not to the run item (no index copy).
        tx.put({ ...keys.runUsage(run.id), type: 'runUsage', usage: usage ?? emptyUsage() });
        if (idempotency) {
          tx.put(
            { ...keys.idempotency(run.projectId, idempotency.key), type: 'idempotency', runId: run.id, ...(idempotency.requestHash ? { requestHash: idempotency.requestHash } : {}), expiresAt: idempotency.expiresAt },
            'attribute_not_exists(pk)',
          );
        }
        if (run.git && branchExpiresAt) {
          tx.put({ ...keys.branchRun(run.projectId, run.git.repository, run.git.branch, run.id), type: 'branchRun', runId: run.id, expiresAt: branchExpiresAt });
        }
        event(tx, created);
      }),

    moveRun: (runId, action, at, { held = [], failed = [], blocked }, moved) =>
      write((tx) => {
        const to = action === 'resume' && blocked ? 'blocked' : runActionRules[action].to;
        tx.update(keys.run(runId), {
          set: { status: to, ...(action === 'start' ? { startedAt: at } : {}), ...(to === 'cancelled' ? { finishedAt: at } : {}), ...(to === 'blocked' ? { reason: blocked } : {}) },
          ...((action === 'retry' || action === 'resume') && to !== 'blocked' ? { remove: ['reason'] } : {}),
          ...(held.length || failed.length ? { delete: { ...(held.length ? { heldSteps: new Set(held) } : {}), ...(failed.length ? { failedSteps: new Set(failed) } : {}) } } : {}),
          ...(action === 'retry' ? andCondition(andCondition(runCondition(action), failedStepsUnchanged(failed)), heldStepsUnchanged(held)) : action === 'resume' ? andCondition(runCondition(action), heldStepsUnchanged(held)) : runCondition(action)),
        });
        event(tx, moved);
      }),

    async hold(runId, stepId) {
      const result = await update(keys.run(runId), { add: { heldSteps: new Set([stepId]) }, ...runCondition('engine:hold') });
      return result.won ? { won: true, events: [] } : { won: false };
    },

    completeRun: (runId, at, degraded, completed) =>
      write((tx) => {
        tx.update(keys.run(runId), { set: { status: 'completed', finishedAt: at, ...(degraded ? { degraded: true } : {}) }, remove: ['reason'], ...runCondition('engine:complete') });
        event(tx, completed);
      }),

    completeRunEarly: (runId, at, reason, completed) =>
      write((tx) => {
        tx.update(keys.run(runId), { set: { status: 'completed', finishedAt: at, reason }, ...runCondition('engine:completeEarly') });
        event(tx, completed);
      }),

    queue: (runId, releases) =>
      write((tx) => {
        for (const release of releases) {
          // Maybe the write that creates the item (a step with none is pending at attempt 0).
          stepChange(tx, keys.step(runId, release.stepId), { set: releaseSet(release), setIfMissing: { attempt: 0 }, ...guarded('queue', {})! }, release.event);
        }
      }),

    async release(runId, stepId, parentId, readRemaining) {
      // The first parent's decrement may create the item: counted down from the definition's count.
      const spec = { countDown: { remaining: readRemaining }, setIfMissing: { status: 'pending', attempt: 0 }, add: { releasedBy: new Set([parentId]) }, ...guarded('release', { parentId })! };
      const result = await update(keys.step(runId, stepId), spec, true);
      return result.won ? { won: true, remaining: result.item?.remaining as number } : { won: false };
    },

    claim: (runId, stepId, { transition, readAttempt, at, leaseUntil, callback, queued, unborn }, started) =>
      write((tx) => {
        stepChange(
          tx,
          keys.step(runId, stepId),
          {
            // No LEASE timer: an entry in the timers index (ALL projection) is a write on the claim
            // and another on the outcome; a dead worker's step is found by its message's
            // redelivery instead ("Write budget per step"). A DISPATCH marker is taken off.
            // A released child's claim is its queuing too (claimReleased): queuedAt and step.queued with it.
            set: { status: 'running', attempt: readAttempt + 1, leaseUntil, startedAt: at, ...(transition === 'claimReleased' ? { queuedAt: at } : {}) },
            remove: ['waitingFor', timersIndex.partitionKey, timersIndex.sortKey],
            // Not read (unborn): only a step with no item is known to be its definition.
            ...(unborn ? { condition: 'attribute_not_exists(#pk)', values: {} } : guarded(transition, { attempt: readAttempt, now: at })!),
          },
          ...(queued ? [queued] : []),
          started,
        );
        if (callback) {
          const { tokenHash, expiresAt, ...bound } = callback;
          tx.put({ ...keys.callback(tokenHash), type: 'callback', ...bound, createdAt: at, expiresAt });
        }
      }),

    async park(runId, stepId, attempt, notBefore) {
      const result = await update(keys.step(runId, stepId), { set: { timerPk: timersIndex.notBefore, dueAt: notBefore }, ...guarded('park', { attempt })! });
      return result.won ? { won: true, events: [] } : { won: false };
    },

    async unpark(runId, stepId) {
      await update(keys.step(runId, stepId), { remove: [timersIndex.partitionKey, timersIndex.sortKey], condition: '#timerPk = :timer', values: { ':timer': timersIndex.notBefore } });
    },

    complete: (done, finish, completed) =>
      write((tx) => {
        stepChange(tx, keys.step(done.runId, done.stepId), {
          set: {
            status: 'completed',
            finishedAt: done.finishedAt,
            ...(done.outputRef ? { outputRef: done.outputRef } : jsonField('output', done.output)),
            ...(done.artifacts ? { artifacts: done.artifacts } : {}),
            ...(done.agentUsage ? { agentUsage: done.agentUsage } : {}),
            ...(done.usage ? { usage: done.usage } : {}),
            ...(done.comment ? { comment: done.comment } : {}),
            ...gateAttributes(done.gate),
            ...finishedIndexes(done.dispatchDueAt).set,
            // A planner's dependents are its plan's entries from now on.
            ...(finish.plan ? { dependents: finish.plan.plannerDependents } : {}),
          },
          append: { llmUsage: done.llmUsage },
          remove: finishedIndexes(done.dispatchDueAt).remove,
          ...guarded(done.transition, { attempt: done.attempt, round: done.gateRound })!,
        }, completed);
        finishInto(tx, done.runId, done.stepId, finish, {});
        if (finish.plan) planInto(tx, done.runId, finish.plan, planHelpers);
      }),

    async fail(failure, { block, finish }, failed) {
      const condition = guarded(failure.transition, { attempt: failure.attempt, readStatus: failure.readStatus, round: failure.gateRound });
      if (!condition) return { won: false };
      return write((tx) => {
        stepChange(tx, keys.step(failure.runId, failure.stepId), {
          set: { status: 'failed', finishedAt: failure.finishedAt, error: failure.error, ...(failure.usage ? { usage: failure.usage } : {}), ...(failure.comment ? { comment: failure.comment } : {}), ...(failure.progress ? { progress: failure.progress } : {}), ...gateAttributes(failure.gate), ...finishedIndexes(failure.dispatchDueAt).set },
          // A released child dead-lettered before its claim: its item may be born failed, at attempt 0.
          setIfMissing: { attempt: 0 },
          append: { llmUsage: failure.llmUsage },
          remove: finishedIndexes(failure.dispatchDueAt).remove,
          ...condition,
        }, failed);
        if (finish) return finishInto(tx, failure.runId, failure.stepId, finish, { failedOptionalSteps: new Set([failure.stepId]) });
        tx.update(keys.run(failure.runId), {
          add: { failedSteps: new Set([failure.stepId]) },
          ...(block ? { set: { status: 'blocked', reason: block.reason }, ...runCondition('engine:block') } : {}),
        });
        if (block) event(tx, block.event);
      });
    },

    retry: (runId, stepId, { attempt, at, dispatchDueAt, error, llmUsage }, retrying) =>
      write((tx) => {
        stepChange(tx, keys.step(runId, stepId), {
          // Marked for dispatch even in the worker: the redelivery of the failed attempt's message
          // finds the next attempt queued and takes itself for a duplicate.
          set: { status: 'queued', queuedAt: at, error, ...dispatchMarker(dispatchDueAt) },
          append: { llmUsage },
          remove: waitingStepIndexAttributes.filter((name) => name !== timersIndex.partitionKey && name !== timersIndex.sortKey),
          ...guarded('retry', { attempt })!,
        }, retrying);
      }),

    wait: (step, at, { reason, deadline, correlationKey }, waiting) =>
      write((tx) => {
        stepChange(tx, keys.step(step.runId, step.stepId), {
          set: {
            status: 'needs_qa',
            waitingFor: reason,
            waitingSince: at,
            // Into the project's inbox, oldest first; every write that moves the step on takes it out.
            [listingsIndex.partitionKey]: listingsIndex.inbox(step.projectId),
            [listingsIndex.sortKey]: `${at}#${step.runId}#${step.stepId}`,
            ...(deadline ? { timerPk: timersIndex.deadline, dueAt: deadline } : {}),
          },
          remove: deadline ? ['leaseUntil'] : ['leaseUntil', timersIndex.partitionKey, timersIndex.sortKey],
          ...guarded('wait', { attempt: step.attempt })!,
        }, waiting);
        if (correlationKey) {
          tx.put({ ...keys.webhookWait(step.projectId, correlationKey, step.runId, step.stepId), type: 'webhookWait', runId: step.runId, stepId: step.stepId, since: at });
        }
      }),

    pend: (runId, stepId, attempt, { at, deadline, dueAt, usage }, pending) =>
      write((tx) => {
        stepChange(tx, keys.step(runId, stepId), {
          set: { waitingFor: 'callback', pendingSince: at, callbackDeadline: deadline, leaseUntil: dueAt, timerPk: timersIndex.callback, dueAt, ...(usage ? { usage } : {}) },
          ...guarded('pend', { attempt })!,
        }, pending);
      }),

    async heartbeat(runId, stepId, attempt, at, dueAt) {
      const result = await update(keys.step(runId, stepId), { set: { leaseUntil: dueAt, dueAt, lastHeartbeatAt: at }, ...guarded('heartbeat', { attempt, now: at })! });
      return result.won ? { won: true, events: [] } : { won: false };
    },

    async cancel(runId, stepId, { transition, readStatus, attempt, at }, cancelled) {
      const condition = guarded(transition, { attempt, readStatus });
      if (!condition) return { won: false };
      return write((tx) => {
        stepChange(tx, keys.step(runId, stepId), { set: { status: 'cancelled', finishedAt: at }, setIfMissing: { attempt: 0 }, remove: [...waitingStepIndexAttributes], ...condition }, cancelled);
      });
    },

    requeue: (runId, stepId, { at, allowedAttempts, generation, input, mapRound }, requested) =>
      write((tx) => {
        stepChange(tx, keys.step(runId, stepId), {
          set: { status: 'queued', queuedAt: at, allowedAttempts, generation, ...(input ? jsonField('input', input.value) : {}), ...(mapRound ? { mapRound } : {}), ...dispatchMarker(at) },
          // The rejection's comment belongs to the execution that ended; the events keep it.
          remove: ['finishedAt', 'comment'],
          ...guarded('requeue', {})!,
        }, requested);
      }),

    gate: (change, written) =>
      write((tx) => {
        const { gate, requeue, inbox, outcome } = change;
        const queued = change.transition === 'qaRetry' || change.transition === 'qaRerun';
        const set: Record<string, unknown> = {
          ...gateAttributes(gate),
          ...(change.leaseUntil ? { leaseUntil: change.leaseUntil } : {}),
          ...(change.usage ? { usage: change.usage } : {}),
        };
        const remove: string[] = gate ? [] : ['gate', 'gatePolicyJson'];
        if (change.transition === 'review') {
          Object.assign(set, { status: 'needs_qa', waitingSince: change.at, waitingFor: inbox?.waitingFor ?? 'qa: reviewer' });
          if (outcome?.outputRef) set.outputRef = outcome.outputRef;
          else Object.assign(set, jsonField('output', outcome?.output));
          if (outcome?.artifacts) set.artifacts = outcome.artifacts;
          if (outcome?.agentUsage) set.agentUsage = outcome.agentUsage;
          if (outcome?.usage) set.usage = outcome.usage;
          remove.push('leaseUntil');
          if (change.dispatchDueAt) Object.assign(set, dispatchMarker(change.dispatchDueAt));
          else remove.push(timersIndex.partitionKey, timersIndex.sortKey);
        }
        // The reviewer started: its message arrived, so a DISPATCH timer of the review goes (as a claim's does).
        if (change.transition === 'reviewStart') remove.push(timersIndex.partitionKey, timersIndex.sortKey);
        // Waits for a person: into the project's inbox, as an approval gate does.
        if (inbox) Object.assign(set, { waitingFor: inbox.waitingFor, [listingsIndex.partitionKey]: listingsIndex.inbox(change.projectId), [listingsIndex.sortKey]: `${change.at}#${change.runId}#${change.stepId}` });
        if (change.transition === 'qaPause') remove.push('leaseUntil');
        if (queued && requeue) {
          Object.assign(set, { status: 'queued', queuedAt: change.at, generation: requeue.generation, allowedAttempts: requeue.allowedAttempts, ...(requeue.input ? jsonField('input', requeue.input.value) : {}), ...(requeue.guidance ? { guidance: requeue.guidance } : {}), ...(requeue.progress ? { progress: requeue.progress } : {}), ...dispatchMarker(change.at) });
          remove.push(...previousOutcome.filter((name) => !(requeue.guidance && name === 'guidance')), 'waitingFor', ...waitingStepIndexAttributes.filter((name) => name !== timersIndex.partitionKey && name !== timersIndex.sortKey));
        }
        stepChange(
          tx,
          keys.step(change.runId, change.stepId),
          { set, append: { llmUsage: change.llmUsage ?? [] }, ...(remove.length ? { remove: [...new Set(remove)] } : {}), ...guarded(change.transition, { attempt: change.attempt, round: change.round, now: change.at })! },
          ...written,
        );
      }),

    async skip(runId, steps, at) {
      const conditions = steps.map((step) => guarded('skip', { readStatus: step.readStatus }));
      if (conditions.some((condition) => !condition)) return { won: false };
      return write((tx) => {
        steps.forEach((step, index) => {
          // Off the timers index too: a skipped step has no deadline and no time to wait for.
          stepChange(tx, keys.step(runId, step.stepId), { set: { status: 'skipped', finishedAt: at }, setIfMissing: { attempt: 0 }, remove: [...waitingStepIndexAttributes], ...conditions[index]! }, step.event);
        });
      });
    },

    resetSteps: (runId, resets) => {
      const conditions = resets.map((reset) => guarded('reset', { readStatus: reset.readStatus }));
      if (conditions.some((condition) => !condition)) return Promise.resolve({ won: false } as Written);
      return write((tx) => resets.forEach((reset, index) => resetInto(tx, runId, reset, conditions[index]!)));
    },

    async rerun({ runId, at, step, resets, run }) {
      const conditions = resets.map((reset) => guarded('reset', { readStatus: reset.readStatus }));
      const own = guarded('rerun', { readStatus: step.readStatus });
      if (!own || conditions.some((condition) => !condition)) return { won: false };
      return write((tx) => {
        tx.update(keys.run(runId), {
          set: { status: 'running' },
          add: { remainingSinks: run.addSinks, ...(run.reopenSinks?.length ? { openSinkBuckets: new Set(run.reopenSinks.map(({ bucket }) => String(bucket))) } : {}) },
          remove: ['finishedAt', 'reason', 'degraded'],
          ...(run.forget.length ? { delete: { failedSteps: new Set(run.forget), failedOptionalSteps: new Set(run.forget) } } : {}),
          ...runCondition('rerun'),
        });
        event(tx, run.event);
        for (const { bucket, sinks } of run.reopenSinks ?? []) tx.update(keys.sinkBucket(runId, bucket), { add: { pending: new Set(sinks) } });
        rerunInto(tx, runId, at, step, own);
        resets.forEach((reset, index) => resetInto(tx, runId, reset, conditions[index]!));
      });
    },

    async iterate({ runId, at, step, heads, resets }) {
      const own = guarded('iterate', { attempt: step.attempt });
      const headConditions = heads.map((head) => guarded('rerun', { readStatus: head.readStatus }));
      const conditions = resets.map((reset) => guarded('reset', { readStatus: reset.readStatus }));
      if (!own || headConditions.some((condition) => !condition) || conditions.some((condition) => !condition)) return { won: false };
      return write((tx) => {
        stepChange(
          tx,
          keys.step(runId, step.stepId),
          {
            set: {
              status: step.queued ? 'queued' : 'pending',
              remaining: step.remaining,
              generation: step.generation,
              allowedAttempts: step.allowedAttempts,
              iteration: step.iteration,
              ...(step.progress ? { progress: step.progress } : {}),
              ...(step.releasedBy.length ? { releasedBy: new Set(step.releasedBy) } : {}),
              ...(step.queued ? { queuedAt: at, ...dispatchMarker(at) } : {}),
            },
            remove: [...previousOutcome, 'leaseUntil', 'startedAt', 'waitingFor', ...(step.queued ? [] : ['queuedAt', timersIndex.partitionKey, timersIndex.sortKey]), ...(step.releasedBy.length ? [] : ['releasedBy'])],
            ...own,
          },
          ...step.events,
        );
        heads.forEach((head, index) => rerunInto(tx, runId, at, { ...head }, headConditions[index]!));
        resets.forEach((reset, index) => resetInto(tx, runId, reset, conditions[index]!));
      });
    },

    async markForDispatch(runId, stepIds, dueAt) {
      // Running: held at the takeover of a dead worker's attempt (no lease timer finds it).
      // needs_qa: a step whose reviewer a budget held (its gate reviewing).
      for (const stepId of stepIds) await update(keys.step(runId, stepId), { set: dispatchMarker(dueAt), condition: '#status IN (:queued, :running) OR (#status = :needsQa AND #gate.#state = :reviewing)', values: { ':queued': 'queued', ':running': 'running', ':needsQa': 'needs_qa', ':reviewing': 'reviewing' } });
    },

    recordDelivery: ({ projectId, provider, deliveryId, receivedAt, expiresAt }, received) =>
      write((tx) => {
        tx.put({ ...keys.delivery(projectId, provider, deliveryId), type: 'delivery', eventId: received.event.id, receivedAt, expiresAt }, 'attribute_not_exists(pk)');
        event(tx, received);
      }),

    async markDeliveryHandled(projectId, provider, deliveryId, at, report) {
      // Past its dedupe TTL already (a very late redelivery of the event): nothing to mark.
      await update(keys.delivery(projectId, provider, deliveryId), { set: { handledAt: at, reactions: report }, condition: 'attribute_exists(#pk)' });
    },
    async branchRuns(projectId, repository, branch) {
      return (await queryPrefix(documents, tableName, `PROJECT#${projectId}`, branchRunsPrefix(repository, branch))).map((item) => item.runId as string);
    },
    forgetBranchRun: (projectId, repository, branch, runId) => deleteItem(keys.branchRun(projectId, repository, branch, runId)),
    async webhookWaits(projectId, correlationKey) {
      return (await queryPrefix(documents, tableName, `PROJECT#${projectId}`, webhookWaitPrefix(correlationKey))).map((item) => ({ runId: item.runId as string, stepId: item.stepId as string }));
    },
    forgetWebhookWait: (projectId, correlationKey, runId, stepId) => deleteItem(keys.webhookWait(projectId, correlationKey, runId, stepId)),

    async unpublishedEvents(limit) {
      const items = await queryIndex(outboxIndex.name, `${outboxIndex.partitionKey} = :pending`, { ':pending': outboxIndex.pending }, limit);
      return items.map((item) => {
        // The feed keys (gsi2) are storage, not the event: they are written again with it.
        const { pk, sk, outboxPk: _pending, eventId: _id, gsi2pk: _feed, gsi2sk: _feedKey, ...rest } = item;
        return { key: { pk: pk as string, sk: sk as string }, event: rest as unknown as LifecycleEvent };
      });
    },
    async dueTimers(kind, before, limit) {
      const items = await queryIndex(timersIndex.name, `${timersIndex.partitionKey} = :kind AND ${timersIndex.sortKey} <= :before`, { ':kind': timerKinds[kind], ':before': before }, limit);
      // A step item born at its first write holds no ids of its own: its keys say them.
      return items.map((item) => ({
        runId: (item.runId as string | undefined) ?? (item.pk as string).slice('RUN#'.length),
        stepId: (item.stepId as string | undefined) ?? (item.sk as string).slice('STEP#'.length),
        status: item.status as string,
        attempt: item.attempt as number,
        dueAt: item.dueAt as string,
        ...(typeof item.waitingFor === 'string' ? { waitingFor: item.waitingFor } : {}),
        ...(typeof item.notBefore === 'string' ? { notBefore: item.notBefore } : {}),
      }));
    },
    async moveDispatchMarker(runId, stepId, attempt, dueAt) {
      // Claimed (or otherwise moved) meanwhile: its write decided the timer.
      await update(keys.step(runId, stepId), { set: dispatchMarker(dueAt), condition: '#timerPk = :dispatch AND #status IN (:queued, :running, :needsQa) AND #attempt = :attempt', values: { ':dispatch': timersIndex.dispatch, ':queued': 'queued', ':running': 'running', ':needsQa': 'needs_qa', ':attempt': attempt } });
    },
    async clearDispatchMarker(runId, stepId, status) {
      await update(keys.step(runId, stepId), { remove: [timersIndex.partitionKey, timersIndex.sortKey], condition: '#timerPk = :dispatch AND #status = :status', values: { ':dispatch': timersIndex.dispatch, ':status': status } });
    },

    budgets: createDynamoBudgetLedger({ documents, tableName }),
    limits: createDynamoLimitLedger({ documents, tableName }),
    capacity: createDynamoCapacityStore({ documents, tableName }),
    rate: createDynamoRateStore({ documents, tableName }),
    maps: createDynamoMapStore({ documents, tableName, stepItem }),
  };

  function queryIndex(indexName: string, condition: string, values: Record<string, unknown>, limit: number) {
    return queryAll(documents, { TableName: tableName, IndexName: indexName, KeyConditionExpression: condition, ExpressionAttributeValues: values }, limit);
  }
}
