import { runActionRules } from '#shared/domain/states';
import type { CallbackRecord, EngineStore, EventToWrite, Finish, Release, StepReset, TimerKind, Written } from '#shared/engine/store';
import type { CommittedEvent } from './event-outbox';
import { createMemoryBudgetLedger } from './memory-budget-ledger';
import { createMemoryLimitLedger } from './memory-limit-ledger';
import { createMemoryCapacityStore } from './memory-capacity-store';
import { createMemoryRateStore } from './memory-rate-store';
import { createMemoryMapStore } from './memory-map-children';
import { keys } from './keys';
import type { RunRecord, StepRecord } from './runs';
import { heldStepsAre, runGuardHolds, stepGuardHolds, type GuardValues } from './step-conditions';
import { writtenAtCreation } from './step-definitions';

/** A step as kept in memory: the record plus what DynamoDB keeps in its indexes. */
type StoredStep = StepRecord & { timer?: { kind: TimerKind; dueAt: string }; inInbox?: boolean; pendingSince?: string; lastHeartbeatAt?: string };

const clone = <T>(value: T): T => structuredClone(value);
const addTo = (list: string[] | undefined, ...items: string[]): string[] => [...new Set([...(list ?? []), ...items])];
const without = (list: string[] | undefined, items: string[]): string[] | undefined => {
  const rest = (list ?? []).filter((item) => !items.includes(item));
  return rest.length ? rest : undefined;
};

/** The attributes every write that takes a step out of a wait removes (keys.ts waitingStepIndexAttributes). */
const leaveIndexes = (step: StoredStep) => {
  delete step.leaseUntil;
  delete step.timer;
  delete step.inInbox;
};

/** What a step's previous execution left (a re-run and a reset start it afresh; llmUsage and usage stay: they were spent). */
const clearOutcome = (step: StoredStep) => {
  leaveIndexes(step);
  for (const name of ['output', 'outputRef', 'artifacts', 'error', 'comment', 'finishedAt', 'guidance', 'agentUsage'] as const) delete step[name];
};
const resetInto = (step: StoredStep, reset: StepReset) => {
  clearOutcome(step);
  Object.assign(step, { status: 'pending', remaining: reset.remaining, releasedBy: reset.releasedBy.length ? [...reset.releasedBy] : undefined, dependents: [...reset.dependents], generation: reset.generation, allowedAttempts: reset.allowedAttempts });
  if (!step.releasedBy) delete step.releasedBy;
  delete step.queuedAt;
  delete step.startedAt;
  // Run again because an upstream step re-ran: a new streak (its inputs may have changed).
  delete step.progress;
};

/**
 * The engine's store in memory, with the DynamoDB adapter's semantics: each operation checks its
 * conditions (read from the same transitions table) and applies all of its changes, or none, in
 * one synchronous turn, so it is atomic however callers interleave. For unit and property tests;
 * `events`, `steps`, `runs` are there to inspect.
 */
export function createMemoryEngineStore() {
  const runs = new Map<string, RunRecord>();
  const steps = new Map<string, StoredStep>();
  const events = new Map<string, { committed: CommittedEvent; published: boolean; inFeed: boolean }>();
  /** What a step with no item reads as (its definition): items are born at their first write. */
  const definitions = new Map<string, StepRecord>();
  const idempotency = new Map<string, { runId: string; requestHash?: string }>();
  const callbacks = new Map<string, CallbackRecord>();
  const deliveries = new Map<string, Record<string, unknown>>();
  const branchRuns = new Map<string, Set<string>>();
  const webhookWaits = new Map<string, Map<string, { runId: string; stepId: string }>>();
  /** Steps planners added, by run (whole items the version does not define: listed with the defined ones). */
  const plannedSteps = new Map<string, string[]>();
  /** Each run's sink buckets: the unfinished sinks of each, by bucket number. */
  const sinkBuckets = new Map<string, Map<number, Set<string>>>();

  const stepKey = (runId: string, stepId: string) => `${runId}\n${stepId}`;
  /** A step as read: its item, or its definition while it has none. */
  const readOf = (runId: string, stepId: string): StoredStep | undefined => steps.get(stepKey(runId, stepId)) ?? definitions.get(stepKey(runId, stepId));
  /**
   * A step to write: its item, born from its definition when it has none (as DynamoDB's write
   * creates it; here also when the write then loses, which no read can tell apart).
   */
  const stepOf = (runId: string, stepId: string): StoredStep | undefined => {
    const key = stepKey(runId, stepId);
    if (!steps.has(key) && definitions.has(key)) steps.set(key, clone(definitions.get(key)!));
    return steps.get(key);
  };
  const view = (step: StoredStep): StepRecord => {
    const { timer: _timer, inInbox: _inbox, pendingSince: _since, lastHeartbeatAt: _beat, ...record } = clone(step);
    return record;
  };
  /**
   * Writes the events of a change; one kept off the bus (`publish: false`) is never pending in the
   * outbox; `inFeed` stands for the DynamoDB adapter's event item with its feed entry (isInProjectFeed).
   */
  const commit = (written: EventToWrite[]): Written => {
    const committed: CommittedEvent[] = [];
    for (const { event, publish, inFeed } of written) {
      const entry: CommittedEvent = {
        key: event.runId ? keys.runEvent(event.runId, event.id) : keys.projectEvent(event.projectId, event.id),
        event: clone(event),
        ...(publish ? {} : { publish: false }),
      };
      committed.push(entry);
      events.set(event.id, { committed: entry, published: !publish, inFeed: publish || inFeed === true || !event.stepId });
    }
    return { won: true, events: committed };
  };
  const lostWrite: Written = { won: false };
  const budgetLedger = createMemoryBudgetLedger({ runOf: (runId) => runs.get(runId), commit });
  const limitLedger = createMemoryLimitLedger({ runOf: (runId) => runs.get(runId), commit });
  const capacity = createMemoryCapacityStore({ stepOf: (runId, stepId) => stepOf(runId, stepId), commit });
  const rates = createMemoryRateStore({ stepOf: (runId, stepId) => stepOf(runId, stepId), commit });
  const maps = createMemoryMapStore({ stepOf: (runId, stepId) => stepOf(runId, stepId), putStep: (step) => steps.set(stepKey(step.runId, step.stepId), step), commit, allSteps: () => [...steps.values()].map(view) });
  /** Checks every step guard of a write first; applies nothing unless all hold. */
  const allHold = (checks: [StoredStep | undefined, Parameters<typeof stepGuardHolds>[0], GuardValues][]) => checks.every(([step, name, given]) => step !== undefined && stepGuardHolds(name, step, given));

  const releaseInto = (step: StoredStep, release: Release) => {
    Object.assign(step, { status: 'queued', remaining: 0, queuedAt: release.queuedAt, ...(release.notBefore ? { notBefore: release.notBefore } : {}) });
    if (release.parked) step.timer = { kind: 'notBefore', dueAt: release.notBefore! };
    else if (release.dispatchDueAt) step.timer = { kind: 'dispatch', dueAt: release.dispatchDueAt };
  };
  /** A finishing write's sink count (its bucket, or the run's counter for a run from before buckets). */
  const applyFinish = (run: RunRecord, stepId: string, finish: Finish) => {
    if (finish.mapChild) return;
    if (finish.sink?.bucket !== undefined) sinkBuckets.get(run.id)?.get(finish.sink.bucket)?.delete(stepId);
    else if (finish.sink) run.remainingSinks -= 1;
  };

  const store: EngineStore = {
    getRun: async (runId) => (runs.has(runId) ? clone(runs.get(runId)) : undefined),
    getStep: async (runId, stepId) => {
      const step = readOf(runId, stepId);
      return step ? view(step) : undefined;
    },
    getRunAndStep: async (runId, stepId) => ({ run: await store.getRun(runId), step: await store.getStep(runId, stepId) }),
    getSteps: async (runId, stepIds) => stepIds.flatMap((stepId) => (readOf(runId, stepId) ? [view(readOf(runId, stepId)!)] : [])),
    listSteps: async (runId) =>
      [...[...definitions.values()].filter((step) => step.runId === runId).map((step) => step.stepId), ...(plannedSteps.get(runId) ?? [])].map((stepId) => view(readOf(runId, stepId)!)),
    definedSteps: async (run, stepIds) => stepIds.flatMap((id) => (definitions.has(stepKey(run.id, id)) ? [view(definitions.get(stepKey(run.id, id))!)] : [])),
    definedRoots: async (run) => [...definitions.values()].filter((step) => step.runId === run.id && step.status === 'pending' && step.remaining === 0).map((step) => step.stepId),
    findIdempotencyRecord: async (projectId, key) => clone(idempotency.get(`${projectId}\n${key}`)),
    findCallback: async (tokenHash) => clone(callbacks.get(tokenHash)),

    async putSteps(records) {
      for (const step of records) {
        definitions.set(stepKey(step.runId, step.stepId), clone(step));
        if (writtenAtCreation(step)) steps.set(stepKey(step.runId, step.stepId), clone(step));
      }
    },
    async putSinkBuckets(runId, buckets) {
      sinkBuckets.set(runId, new Map(buckets.map((sinks, bucket) => [bucket, new Set(sinks)])));
    },
    async finishSinks(runId, bucket, stepIds) {
      const pending = sinkBuckets.get(runId)?.get(bucket);
      const run = runs.get(runId);
      if (!pending || !run) return false;
      for (const stepId of stepIds) pending.delete(stepId);
      if (pending.size > 0) return false;
      run.openSinkBuckets = without(run.openSinkBuckets, [String(bucket)]);
      return run.openSinkBuckets === undefined;
    },
    async createRun(run, { idempotency: record, usage, event }) {
      const key = record ? `${run.projectId}\n${record.key}` : undefined;
      if (runs.has(run.id) || (key && idempotency.has(key))) return lostWrite;
      runs.set(run.id, { ...clone(run), ...(usage ? { usage } : {}) });
      if (key && record) idempotency.set(key, { runId: run.id, ...(record.requestHash ? { requestHash: record.requestHash } : {}) });
      if (run.git) branchRuns.set(`${run.projectId}\n${run.git.repository.toLowerCase()}\n${run.git.branch}`, new Set([...(branchRuns.get(`${run.projectId}\n${run.git.repository.toLowerCase()}\n${run.git.branch}`) ?? []), run.id]));
      return commit([event]);
    },
    async moveRun(runId, action, at, { held = [], failed = [], blocked }, event) {
      const run = runs.get(runId);
      if (!run || !runGuardHolds(action, run) || (action === 'retry' && (run.failedSteps ?? []).length !== failed.length)) return lostWrite;
      if ((action === 'resume' || action === 'retry') && !heldStepsAre(run, held)) return lostWrite;
      const to = action === 'resume' && blocked ? 'blocked' : runActionRules[action].to;
      Object.assign(run, { status: to, ...(action === 'start' ? { startedAt: at } : {}), ...(to === 'cancelled' ? { finishedAt: at } : {}), ...(to === 'blocked' ? { reason: blocked } : {}) });
      if ((action === 'retry' || action === 'resume') && to !== 'blocked') delete run.reason;
      run.heldSteps = without(run.heldSteps, held);
      run.failedSteps = without(run.failedSteps, failed);
      return commit([event]);
    },
    async hold(runId, stepId) {
      const run = runs.get(runId);
      if (!run || !runGuardHolds('engine:hold', run)) return lostWrite;
      run.heldSteps = addTo(run.heldSteps, stepId);
      return commit([]);
    },
    async completeRun(runId, at, degraded, event) {
      const run = runs.get(runId);
      if (!run || !runGuardHolds('engine:complete', run)) return lostWrite;
      Object.assign(run, { status: 'completed', finishedAt: at, ...(degraded ? { degraded: true } : {}) });
      delete run.reason;
      return commit([event]);
    },
    async completeRunEarly(runId, at, reason, event) {
      const run = runs.get(runId);
      if (!run || !runGuardHolds('engine:completeEarly', run)) return lostWrite;
      Object.assign(run, { status: 'completed', finishedAt: at, reason });
      return commit([event]);
    },

    async queue(runId, releases) {
      if (!allHold(releases.map((release) => [stepOf(runId, release.stepId), 'queue', {}]))) return lostWrite;
      for (const release of releases) releaseInto(stepOf(runId, release.stepId)!, release);
      return commit(releases.map((release) => release.event));
    },
    async release(runId, stepId, parentId, _readRemaining) {
      const step = stepOf(runId, stepId);
      if (!step || !stepGuardHolds('release', step, { parentId })) return { won: false };
      step.remaining -= 1;
      step.releasedBy = addTo(step.releasedBy, parentId);
      return { won: true, remaining: step.remaining };
    },
    async claim(runId, stepId, { transition, readAttempt, at, leaseUntil, callback, queued, unborn }, event) {
      if (unborn && steps.has(stepKey(runId, stepId))) return lostWrite;
      const step = stepOf(runId, stepId);
      if (!step || !stepGuardHolds(transition, step, { attempt: readAttempt, now: at })) return lostWrite;
      // Off the timers index (a DISPATCH marker goes): a dead worker's step is found by its message's redelivery.
      Object.assign(step, { status: 'running', attempt: readAttempt + 1, leaseUntil, startedAt: at, ...(transition === 'claimReleased' ? { queuedAt: at } : {}) });
      delete step.timer;
      delete step.waitingFor;
      if (callback) {
        const { tokenHash, expiresAt: _expires, ...bound } = callback;
        callbacks.set(tokenHash, bound);
      }
      return commit([...(queued ? [queued] : []), event]);
    },
    async park(runId, stepId, attempt, notBefore) {
      const step = stepOf(runId, stepId);
      if (!step || !stepGuardHolds('park', step, { attempt })) return lostWrite;
      step.timer = { kind: 'notBefore', dueAt: notBefore };
      return commit([]);
    },
    async unpark(runId, stepId) {
      const step = stepOf(runId, stepId);
      if (step?.timer?.kind === 'notBefore') delete step.timer;
    },
    async complete(done, finish, event) {
      const step = stepOf(done.runId, done.stepId);
      const run = runs.get(done.runId);
      if (!run || !allHold([[step, done.transition, { attempt: done.attempt, round: done.gateRound }]])) return lostWrite;
      // A planner's plan: every added id new to the run, every rewired dependent still pending (else nothing is written).
      const plan = finish.plan;
      if (plan && (plan.added.some(({ step: added }) => readOf(done.runId, added.stepId)) || plan.rewired.some(({ stepId }) => readOf(done.runId, stepId)?.status !== 'pending'))) return lostWrite;
      leaveIndexes(step!);
      Object.assign(step!, {
        status: 'completed',
        finishedAt: done.finishedAt,
        ...(done.outputRef ? { outputRef: done.outputRef } : { output: clone(done.output) }),
        ...(done.artifacts ? { artifacts: clone(done.artifacts) } : {}),
        ...(done.agentUsage ? { agentUsage: clone(done.agentUsage) } : {}),
        ...(done.usage ? { usage: clone(done.usage) } : {}),
        ...(done.comment ? { comment: done.comment } : {}),
        ...(done.gate ? { gate: clone(done.gate) } : {}),
      });
      if (done.llmUsage.length) step!.llmUsage = [...(step!.llmUsage ?? []), ...clone(done.llmUsage)];
      if (done.dispatchDueAt) step!.timer = { kind: 'dispatch', dueAt: done.dispatchDueAt };
      applyFinish(run, done.stepId, finish);
      if (!plan) return commit([event]);
      step!.dependents = [...plan.plannerDependents];
      for (const { step: added, release } of plan.added) {
        const item: StoredStep = clone(added);
        if (release) releaseInto(item, release);
        steps.set(stepKey(done.runId, added.stepId), item);
      }
      plannedSteps.set(done.runId, [...(plannedSteps.get(done.runId) ?? []), ...plan.added.map(({ step: added }) => added.stepId)]);
      for (const { stepId, dependsOn, delta } of plan.rewired) Object.assign(stepOf(done.runId, stepId)!, { dependsOn: [...dependsOn], remaining: stepOf(done.runId, stepId)!.remaining + delta });
      if (plan.sinks) for (const id of plan.sinks.stepIds) sinkBuckets.get(done.runId)?.get(plan.sinks.bucket)?.add(id);
      run.totalSteps += plan.added.length;
      return commit([event, ...plan.added.flatMap(({ release }) => (release ? [release.event] : [])), plan.event]);
    },
    async fail(failure, { block, finish }, event) {
      const step = stepOf(failure.runId, failure.stepId);
      const run = runs.get(failure.runId);
      const own: [StoredStep | undefined, typeof failure.transition, GuardValues] = [step, failure.transition, { attempt: failure.attempt, readStatus: failure.readStatus, round: failure.gateRound }];
      if (!run || !allHold([own]) || (block && !runGuardHolds('engine:block', run))) return lostWrite;
      leaveIndexes(step!);
      Object.assign(step!, { status: 'failed', finishedAt: failure.finishedAt, error: clone(failure.error), ...(failure.usage ? { usage: clone(failure.usage) } : {}), ...(failure.comment ? { comment: failure.comment } : {}), ...(failure.progress ? { progress: clone(failure.progress) } : {}), ...(failure.gate ? { gate: clone(failure.gate) } : {}) });
      if (failure.llmUsage.length) step!.llmUsage = [...(step!.llmUsage ?? []), ...clone(failure.llmUsage)];
      if (failure.dispatchDueAt) step!.timer = { kind: 'dispatch', dueAt: failure.dispatchDueAt };
      if (finish) {
        if (!finish.mapChild) run.failedOptionalSteps = addTo(run.failedOptionalSteps, failure.stepId);
        applyFinish(run, failure.stepId, finish);
        return commit([event]);
      }
      run.failedSteps = addTo(run.failedSteps, failure.stepId);
      if (!block) return commit([event]);
      Object.assign(run, { status: 'blocked', reason: block.reason });
      return commit([event, block.event]);
    },
    async retry(runId, stepId, { attempt, at, dispatchDueAt, error, llmUsage }, event) {
      const step = stepOf(runId, stepId);
      if (!step || !stepGuardHolds('retry', step, { attempt })) return lostWrite;
      leaveIndexes(step);
      Object.assign(step, { status: 'queued', queuedAt: at, error: clone(error), timer: { kind: 'dispatch', dueAt: dispatchDueAt } });
      if (llmUsage.length) step.llmUsage = [...(step.llmUsage ?? []), ...clone(llmUsage)];
      return commit([event]);
    },
    async wait(read, at, { reason, deadline, correlationKey }, event) {
      const step = stepOf(read.runId, read.stepId);
      if (!step || !stepGuardHolds('wait', step, { attempt: read.attempt })) return lostWrite;
      delete step.leaseUntil;
      delete step.timer;
      Object.assign(step, { status: 'needs_qa', waitingFor: reason, waitingSince: at, inInbox: true, ...(deadline ? { timer: { kind: 'deadline', dueAt: deadline } } : {}) });
      if (correlationKey) {
        const waits = webhookWaits.get(`${read.projectId}\n${correlationKey}`) ?? new Map<string, { runId: string; stepId: string }>();
        waits.set(stepKey(read.runId, read.stepId), { runId: read.runId, stepId: read.stepId });
        webhookWaits.set(`${read.projectId}\n${correlationKey}`, waits);
      }
      return commit([event]);
    },
    async pend(runId, stepId, attempt, { at, deadline, dueAt, usage }, event) {
      const step = stepOf(runId, stepId);
      if (!step || !stepGuardHolds('pend', step, { attempt })) return lostWrite;
      Object.assign(step, { waitingFor: 'callback', pendingSince: at, callbackDeadline: deadline, leaseUntil: dueAt, timer: { kind: 'callback', dueAt }, ...(usage ? { usage: clone(usage) } : {}) });
      return commit([event]);
    },
    async heartbeat(runId, stepId, attempt, at, dueAt) {
      const step = stepOf(runId, stepId);
      if (!step || !stepGuardHolds('heartbeat', step, { attempt, now: at })) return lostWrite;
      Object.assign(step, { leaseUntil: dueAt, lastHeartbeatAt: at, timer: { kind: step.timer?.kind ?? 'callback', dueAt } });
      return commit([]);
    },
    async cancel(runId, stepId, { transition, readStatus, attempt, at }, event) {
      const step = stepOf(runId, stepId);
      if (!step || !stepGuardHolds(transition, step, { attempt, readStatus })) return lostWrite;
      leaveIndexes(step);
      Object.assign(step, { status: 'cancelled', finishedAt: at });
      return commit([event]);
    },
    async requeue(runId, stepId, { at, allowedAttempts, generation, input, mapRound }, event) {
      const step = stepOf(runId, stepId);
      if (!step || !stepGuardHolds('requeue', step, {})) return lostWrite;
      Object.assign(step, { status: 'queued', queuedAt: at, allowedAttempts, generation, ...(input ? { input: clone(input.value) } : {}), ...(mapRound ? { mapRound } : {}), timer: { kind: 'dispatch', dueAt: at } });
      delete step.finishedAt;
      delete step.comment;
      return commit([event]);
    },
    async resetSteps(runId, resets) {
      if (!allHold(resets.map((reset) => [stepOf(runId, reset.stepId), 'reset', { readStatus: reset.readStatus }]))) return lostWrite;
      for (const reset of resets) resetInto(stepOf(runId, reset.stepId)!, reset);
      return commit(resets.map((reset) => reset.event));
    },
    async rerun({ runId, at, step: again, resets, run: change }) {
      const run = runs.get(runId);
      const step = stepOf(runId, again.stepId);
      const checks: [StoredStep | undefined, 'rerun' | 'reset', GuardValues][] = [[step, 'rerun', { readStatus: again.readStatus }], ...resets.map((reset): [StoredStep | undefined, 'reset', GuardValues] => [stepOf(runId, reset.stepId), 'reset', { readStatus: reset.readStatus }])];
      if (!run || !runGuardHolds('rerun', run) || !allHold(checks)) return lostWrite;
      for (const reset of resets) resetInto(stepOf(runId, reset.stepId)!, reset);
      clearOutcome(step!);
      Object.assign(step!, { status: 'queued', queuedAt: at, generation: again.generation, allowedAttempts: again.allowedAttempts, dependents: [...again.dependents], timer: { kind: 'dispatch', dueAt: at }, ...(again.input ? { input: clone(again.input.value) } : {}), ...(again.guidance ? { guidance: again.guidance } : {}), ...(again.progress ? { progress: clone(again.progress) } : {}) });
      Object.assign(run, { status: 'running', remainingSinks: run.remainingSinks + change.addSinks });
      for (const { bucket, sinks } of change.reopenSinks ?? []) {
        const buckets = sinkBuckets.get(runId) ?? new Map<number, Set<string>>();
        sinkBuckets.set(runId, buckets.set(bucket, new Set([...(buckets.get(bucket) ?? []), ...sinks])));
        run.openSinkBuckets = addTo(run.openSinkBuckets, String(bucket));
      }
      for (const name of ['finishedAt', 'reason', 'degraded'] as const) delete run[name];
      run.failedSteps = without(run.failedSteps, change.forget);
      run.failedOptionalSteps = without(run.failedOptionalSteps, change.forget);
      return commit([change.event, again.event, ...resets.map((reset) => reset.event)]);
    },
    async iterate({ runId, at, step: own, heads, resets }) {
      const step = stepOf(runId, own.stepId);
      const checks: [StoredStep | undefined, 'iterate' | 'rerun' | 'reset', GuardValues][] = [
        [step, 'iterate', { attempt: own.attempt }],
        ...heads.map((head): [StoredStep | undefined, 'rerun', GuardValues] => [stepOf(runId, head.stepId), 'rerun', { readStatus: head.readStatus }]),
        ...resets.map((reset): [StoredStep | undefined, 'reset', GuardValues] => [stepOf(runId, reset.stepId), 'reset', { readStatus: reset.readStatus }]),
      ];
      if (!allHold(checks)) return lostWrite;
      clearOutcome(step!);
      for (const name of ['startedAt', 'queuedAt', 'waitingFor', 'releasedBy'] as const) delete step![name];
      Object.assign(step!, { status: own.queued ? 'queued' : 'pending', remaining: own.remaining, generation: own.generation, allowedAttempts: own.allowedAttempts, iteration: own.iteration, ...(own.releasedBy.length ? { releasedBy: [...own.releasedBy] } : {}), ...(own.progress ? { progress: clone(own.progress) } : {}) });
      if (own.queued) Object.assign(step!, { queuedAt: at, timer: { kind: 'dispatch', dueAt: at } });
      for (const head of heads) {
        const again = stepOf(runId, head.stepId)!;
        clearOutcome(again);
        Object.assign(again, { status: 'queued', queuedAt: at, generation: head.generation, allowedAttempts: head.allowedAttempts, timer: { kind: 'dispatch', dueAt: at } });
      }
      for (const reset of resets) resetInto(stepOf(runId, reset.stepId)!, reset);
      return commit([...own.events, ...heads.map((head) => head.event), ...resets.map((reset) => reset.event)]);
    },
    async markForDispatch(runId, stepIds, dueAt) {
      for (const stepId of stepIds) {
        const step = stepOf(runId, stepId);
        if (step?.status === 'queued' || step?.status === 'running' || (step?.status === 'needs_qa' && step.gate?.state === 'reviewing')) step.timer = { kind: 'dispatch', dueAt };
      }
    },
    async gate(change, written) {
      const step = stepOf(change.runId, change.stepId);
      if (!step || !stepGuardHolds(change.transition, step, { attempt: change.attempt, round: change.round, now: change.at })) return lostWrite;
      const { gate, requeue, inbox, outcome } = change;
      if (gate) step.gate = clone(gate);
      else delete step.gate;
      if (change.leaseUntil) step.leaseUntil = change.leaseUntil;
      if (change.usage) step.usage = clone(change.usage);
      if (change.transition === 'review') {
        delete step.leaseUntil;
        delete step.timer;
        if (change.dispatchDueAt) step.timer = { kind: 'dispatch', dueAt: change.dispatchDueAt };
        Object.assign(step, { status: 'needs_qa', waitingSince: change.at, waitingFor: inbox?.waitingFor ?? 'qa: reviewer' });
        if (outcome?.outputRef) step.outputRef = outcome.outputRef;
        else step.output = clone(outcome?.output);
        if (outcome?.artifacts) step.artifacts = clone(outcome.artifacts);
        if (outcome?.agentUsage) step.agentUsage = clone(outcome.agentUsage);
        if (outcome?.usage) step.usage = clone(outcome.usage);
      }
      if (inbox) Object.assign(step, { waitingFor: inbox.waitingFor, inInbox: true });
      if (change.transition === 'qaPause') delete step.leaseUntil;
      if (change.transition === 'reviewStart') delete step.timer;
      if (change.llmUsage?.length) step.llmUsage = [...(step.llmUsage ?? []), ...clone(change.llmUsage)];
      if ((change.transition === 'qaRetry' || change.transition === 'qaRerun') && requeue) {
        clearOutcome(step);
        delete step.waitingFor;
        Object.assign(step, { status: 'queued', queuedAt: change.at, generation: requeue.generation, allowedAttempts: requeue.allowedAttempts, timer: { kind: 'dispatch', dueAt: change.at }, ...(requeue.input ? { input: clone(requeue.input.value) } : {}), ...(requeue.guidance ? { guidance: requeue.guidance } : {}), ...(requeue.progress ? { progress: clone(requeue.progress) } : {}) });
      }
      return commit(written);
    },
    async skip(runId, skipped, at) {
      if (!allHold(skipped.map((entry) => [stepOf(runId, entry.stepId), 'skip', { readStatus: entry.readStatus }]))) return lostWrite;
      for (const entry of skipped) {
        const step = stepOf(runId, entry.stepId)!;
        leaveIndexes(step);
        Object.assign(step, { status: 'skipped', finishedAt: at });
      }
      return commit(skipped.map((entry) => entry.event));
    },

    async recordDelivery(delivery, event) {
      const key = `${delivery.projectId}\n${delivery.provider}\n${delivery.deliveryId}`;
      if (deliveries.has(key)) return lostWrite;
      deliveries.set(key, { ...delivery, eventId: event.event.id });
      return commit([event]);
    },
    async markDeliveryHandled(projectId, provider, deliveryId, at, report) {
      const delivery = deliveries.get(`${projectId}\n${provider}\n${deliveryId}`);
      if (delivery) Object.assign(delivery, { handledAt: at, reactions: clone(report) });
    },
    branchRuns: async (projectId, repository, branch) => [...(branchRuns.get(`${projectId}\n${repository.toLowerCase()}\n${branch}`) ?? [])],
    async forgetBranchRun(projectId, repository, branch, runId) {
      branchRuns.get(`${projectId}\n${repository.toLowerCase()}\n${branch}`)?.delete(runId);
    },
    webhookWaits: async (projectId, correlationKey) => [...(webhookWaits.get(`${projectId}\n${correlationKey}`)?.values() ?? [])],
    async forgetWebhookWait(projectId, correlationKey, runId, stepId) {
      webhookWaits.get(`${projectId}\n${correlationKey}`)?.delete(stepKey(runId, stepId));
    },

    unpublishedEvents: async (limit) => [...events.values()].filter((entry) => !entry.published).slice(0, limit).map((entry) => clone(entry.committed)),
    dueTimers: async (kind, before, limit) =>
      [...steps.values()]
        .filter((step) => step.timer?.kind === kind && step.timer.dueAt <= before)
        .sort((a, b) => a.timer!.dueAt.localeCompare(b.timer!.dueAt))
        .slice(0, limit)
        .map((step) => ({
          runId: step.runId,
          stepId: step.stepId,
          status: step.status,
          attempt: step.attempt,
          dueAt: step.timer!.dueAt,
          ...(step.waitingFor ? { waitingFor: step.waitingFor } : {}),
          ...(step.notBefore ? { notBefore: step.notBefore } : {}),
        })),
    async moveDispatchMarker(runId, stepId, attempt, dueAt) {
      const step = stepOf(runId, stepId);
      if (step?.timer?.kind === 'dispatch' && ['queued', 'running', 'needs_qa'].includes(step.status) && step.attempt === attempt) step.timer = { kind: 'dispatch', dueAt };
    },
    async clearDispatchMarker(runId, stepId, status) {
      const step = stepOf(runId, stepId);
      if (step?.timer?.kind === 'dispatch' && step.status === status) delete step.timer;
    },
    budgets: budgetLedger.budgets,
    limits: limitLedger.limits,
    capacity: capacity.capacity,
    rate: rates.rate,
    maps,
  };

  return {
    store,
    /** The event outbox's marking, in memory: what the bus accepted is no longer pending. */
    markPublished(published: CommittedEvent[]) {
      for (const { event } of published) {
        const entry = events.get(event.id);
        if (entry) entry.published = true;
      }
    },
    /** Every committed event, in commit order. */
    events: () => [...events.values()].map((entry) => ({ ...entry.committed.event, published: entry.published, inFeed: entry.inFeed })),
    /** A budget ledger's counters (undefined before its first reservation or settlement). */
    ledger: budgetLedger.ledger,
    /** A run's execution counter (undefined before its first reservation) and its deadline timer. */
    executed: limitLedger.executed,
    deadlineTimer: limitLedger.deadline,
    /** A capacity scope's holders and waiting list. */
    slots: capacity.slots,
    waitingList: capacity.waitingList,
    /** A rate key's turns and starts. */
    rateOf: rates.rateOf,
    step: (runId: string, stepId: string) => readOf(runId, stepId) && view(readOf(runId, stepId)!),
    /** Whether the step has an item yet (born at its first write). */
    born: (runId: string, stepId: string) => steps.has(stepKey(runId, stepId)),
    run: (runId: string) => clone(runs.get(runId)),
    /** The sinks still in the run's buckets. */
    pendingSinks: (runId: string) => [...(sinkBuckets.get(runId)?.values() ?? [])].flatMap((bucket) => [...bucket]).sort(),
    /** Steps the inbox lists (waiting in needs_qa) and timers set, as the indexes would hold them. */
    inbox: () => [...steps.values()].filter((step) => step.inInbox).map((step) => `${step.runId}/${step.stepId}`),
    timer: (runId: string, stepId: string) => clone(steps.get(stepKey(runId, stepId))?.timer),
  };
}

export type MemoryEngineStore = ReturnType<typeof createMemoryEngineStore>;
