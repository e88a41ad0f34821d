import { describe, expect, it } from 'vitest';
import { isPublishedOnBus, type LifecycleEvent } from '#shared/domain/events';
import { newEventId, newId } from '#shared/domain/ids';
import { mapChildId } from '#shared/domain/map-step';
import { defaultRetryPolicy, type StepSpec } from '#shared/domain/workflow';
import type { GateState } from '#shared/domain/quality-gates';
import type { Completion, EngineStore, EventToWrite, Failure, GateWrite, IterationPlan, PlanWrite, Release, TimerKind, Written } from '#shared/engine/store';
import type { CommittedEvent } from '#shared/store/event-outbox';
import type { RunRecord, StepRecord } from '#shared/store/runs';

/**
 * The engine store's contract (shared/engine/store.ts): one set of scenarios that every adapter
 * must pass, so the in-memory twin the engine's unit and property tests run on cannot drift from
 * DynamoDB. Each named operation with its won and lost outcomes, the conditions it checks, what a
 * repeat does, and what it leaves behind: the records the engine reads back, the run's event
 * history (as the API lists it), the outbox (events waiting for the bus), the timers index the
 * sweeper reads, the project's inbox, callback tokens, webhook waits and branch mappings.
 * Run by test/unit/store/memory-engine-store.test.ts and test/e2e/engine-store-contract.test.ts.
 */
export interface StoreUnderTest {
  store: EngineStore;
  /** The run's event history as the API lists it, oldest first. */
  history(runId: string): Promise<LifecycleEvent[]>;
  /** The project's inbox as its index holds it: `runId/stepId`. */
  inbox(projectId: string): Promise<string[]>;
  /** The outbox's marking after the bus accepted events. */
  markPublished(events: CommittedEvent[]): Promise<void>;
  /** Stores a workflow version as the API does (DynamoDB: steps with no item yet are read from it). */
  saveWorkflow?(projectId: string, workflowId: string, version: number, steps: StepSpec[]): Promise<void>;
}

const base = Date.parse('2026-11-30T12:00:00.000Z');
/** A time `seconds` after the scenario's start. */
const at = (seconds: number) => new Date(base + seconds * 1000).toISOString();
const timerKinds: TimerKind[] = ['lease', 'notBefore', 'deadline', 'callback', 'dispatch'];
const lease = at(30);
/**
 * What a claim (or takeover) files in the timers index for a running step: nothing. The lease is
 * on the step item only; a dead worker's step is recovered by its message's redelivery, a
 * duplicate's or the DLQ handler's copy due when the lease ends (docs/ARCHITECTURE.md, "Write
 * budget per step"), and the claim takes the step's DISPATCH marker off.
 */
const claimTimers = (_leaseUntil: string): string[] => [];

interface StepShape {
  id: string;
  dependsOn?: string[];
  kind?: string;
  onFailure?: 'continue';
}

/** One scenario's project and run, built and inspected through the port only. */
function scenario(s: StoreUnderTest, { publishStepEvents = false, projectId = newId('prj') } = {}) {
  const runId = newId('run');
  const event = (type: string, stepId?: string, detail: Record<string, unknown> = {}): EventToWrite => ({
    event: { id: newEventId(), type, projectId, runId, ...(stepId ? { stepId } : {}), at: at(0), actor: 'contract', detail },
    publish: isPublishedOnBus(type, publishStepEvents),
  });
  const runRecord = (steps: StepShape[], extra: Partial<RunRecord> = {}): RunRecord => ({
    id: runId,
    projectId,
    workflowId: 'wf_contract',
    workflowName: 'contract',
    workflowVersion: 1,
    status: 'pending',
    totalSteps: steps.length,
    remainingSinks: steps.filter((step) => !steps.some((other) => other.dependsOn?.includes(step.id))).length,
    roots: steps.filter((step) => !step.dependsOn?.length).map((step) => step.id),
    ...(publishStepEvents ? { publishStepEvents } : {}),
    createdAt: at(0),
    ...extra,
  });
  const stepRecord = (step: StepShape, steps: StepShape[]): StepRecord => ({
    runId,
    projectId,
    stepId: step.id,
    kind: step.kind ?? 'noop',
    input: { step: step.id },
    dependsOn: step.dependsOn ?? [],
    dependents: steps.filter((other) => other.dependsOn?.includes(step.id)).map((other) => other.id),
    retry: defaultRetryPolicy,
    ...(step.onFailure ? { onFailure: step.onFailure } : {}),
    status: 'pending',
    attempt: 0,
    generation: 1,
    allowedAttempts: 2,
    remaining: step.dependsOn?.length ?? 0,
  });

  const w = {
    projectId,
    runId,
    event,
    runRecord,
    store: s.store,
    /** Puts the steps and creates the run (started unless `start: false`). */
    async create(steps: StepShape[], { start = true, extra = {} }: { start?: boolean; extra?: Partial<RunRecord> } = {}) {
      await s.saveWorkflow?.(projectId, 'wf_contract', 1, steps.map((step) => ({ id: step.id, kind: step.kind ?? 'noop', input: { step: step.id }, dependsOn: step.dependsOn ?? [], retry: { ...defaultRetryPolicy, maxAttempts: 2 }, ...(step.onFailure ? { onFailure: step.onFailure } : {}) })));
      await s.store.putSteps(steps.map((step) => stepRecord(step, steps)));
      expect((await s.store.createRun(runRecord(steps, extra), { event: event('run.created') })).won).toBe(true);
      if (start) expect((await s.store.moveRun(runId, 'start', at(1), {}, event('run.started'))).won).toBe(true);
    },
    release: (stepId: string, extra: Partial<Release> = {}): Release => ({ stepId, queuedAt: at(1), parked: false, dispatchDueAt: at(1), event: event('step.queued', stepId), ...extra }),
    claim: (stepId: string, readAttempt = 0, extra: { transition?: 'claim' | 'takeover'; at?: string; leaseUntil?: string } = {}) =>
      s.store.claim(runId, stepId, { transition: extra.transition ?? 'claim', readAttempt, at: extra.at ?? at(2), leaseUntil: extra.leaseUntil ?? lease }, event('step.started', stepId, { attempt: readAttempt + 1 })),
    /** The step queued and claimed: running at attempt 1. */
    async running(stepId: string) {
      expect((await s.store.queue(runId, [w.release(stepId)])).won).toBe(true);
      expect((await w.claim(stepId)).won).toBe(true);
    },
    async needsQa(stepId: string, change: { reason?: string; deadline?: string; correlationKey?: string } = {}) {
      await w.running(stepId);
      const written = await s.store.wait((await w.step(stepId))!, at(3), { reason: change.reason ?? 'approval', ...change }, event('step.needs_qa', stepId));
      expect(written.won).toBe(true);
    },
    completion: (stepId: string, attempt = 1, extra: Partial<Completion> = {}): Completion => ({ runId, stepId, transition: 'complete', attempt, finishedAt: at(5), output: { by: stepId }, llmUsage: [], ...extra }),
    failure: (stepId: string, readStatus: StepRecord['status'] = 'running', extra: Partial<Failure> = {}): Failure => ({
      runId,
      stepId,
      transition: 'fail',
      readStatus,
      attempt: 1,
      finishedAt: at(5),
      error: { message: `${stepId} broke`, retryable: false, attempt: 1, at: at(5), code: 'BROKEN' },
      llmUsage: [],
      ...extra,
    }),
    step: (stepId: string) => s.store.getStep(runId, stepId),
    run: () => s.store.getRun(runId),
    /** The event types of one step's history (of the run itself without `stepId`), oldest first. */
    async types(stepId?: string) {
      return (await s.history(runId)).filter((entry) => entry.stepId === stepId).map((entry) => entry.type);
    },
    /** Where the step is filed in the timers index: `kind@dueAt`. */
    async timers(stepId: string) {
      const found: string[] = [];
      for (const kind of timerKinds) {
        for (const timer of await s.store.dueTimers(kind, '9999-12-31T00:00:00.000Z', 1000)) if (timer.runId === runId && timer.stepId === stepId) found.push(`${kind}@${timer.dueAt}`);
      }
      return found;
    },
    /** The run's events waiting in the outbox for the bus. */
    async unpublished() {
      return (await s.store.unpublishedEvents(1000)).filter((entry) => entry.event.runId === runId);
    },
    inbox: () => s.inbox(projectId),
    /** Every event a won write returned is in the history, and only the bus's are in the outbox. */
    async expectRecorded(written: Written) {
      expect(written.won).toBe(true);
      if (!written.won) return;
      const history = (await s.history(runId)).map((entry) => entry.id);
      const pending = (await s.store.unpublishedEvents(1000)).map((entry) => entry.event.id);
      for (const committed of written.events.filter((entry) => entry.event.runId === runId)) {
        expect(history).toContain(committed.event.id);
        expect(pending.includes(committed.event.id), committed.event.type).toBe(committed.publish !== false);
      }
    },
  };
  return w;
}

/** The contract, for one adapter: `open` gives a store (fresh, or shared: every scenario has its own project and run). */
export function describeEngineStoreContract(adapter: string, open: () => StoreUnderTest) {
  describe(`engine store contract: ${adapter}`, () => {
    describe('runs', () => {
      it('definedRoots: a run that names no roots (over maxRootsOnRun) finds them in its definitions; roots are born at their queuing', async () => {
        const s = open();
        const w = scenario(s);
        await w.create([{ id: 'r1' }, { id: 'r2' }, { id: 'c', dependsOn: ['r1', 'r2'] }], { start: false, extra: { roots: undefined } });
        const run = (await w.run())!;

        const roots = await s.store.definedRoots(run);
        const before = await s.store.getSteps(w.runId, ['r1', 'r2']);
        const queued = await s.store.queue(w.runId, [w.release('r1'), w.release('r2')]);

        expect(run.roots).toBeUndefined();
        expect([...roots].sort()).toEqual(['r1', 'r2']);
        // No item yet: each reads as its definition, pending; the queue write creates it.
        expect(before.map((step) => [step.stepId, step.status, step.kind]).sort()).toEqual([['r1', 'pending', 'noop'], ['r2', 'pending', 'noop']]);
        expect(queued.won).toBe(true);
        expect((await s.store.getSteps(w.runId, ['r1', 'r2'])).map((step) => [step.stepId, step.status, step.kind]).sort()).toEqual([['r1', 'queued', 'noop'], ['r2', 'queued', 'noop']]);
      });

      it('createRun: the run, its event, its idempotency record and its branch mapping, once', async () => {
        const s = open();
        const w = scenario(s);
        await w.create([{ id: 'a' }], { start: false });
        expect(await w.run()).toMatchObject({ id: w.runId, status: 'pending', remainingSinks: 1, roots: ['a'] });
        expect(await w.types()).toEqual(['run.created']);
        expect((await w.unpublished()).map((entry) => entry.event.type)).toEqual(['run.created']);

        const other = scenario(s, { projectId: w.projectId });
        const run = other.runRecord([]);
        const idempotency = { key: `key-${other.runId}`, requestHash: 'h1', expiresAt: 2_000_000_000 };
        const created = await s.store.createRun(run, { idempotency, event: other.event('run.created') });
        await other.expectRecorded(created);
        expect(await s.store.findIdempotencyRecord(w.projectId, idempotency.key)).toEqual({ runId: other.runId, requestHash: 'h1' });
        // The same run again, or another run under a taken key: lost, nothing of it written.
        expect((await s.store.createRun(run, { event: other.event('run.created') })).won).toBe(false);
        const third = scenario(s, { projectId: w.projectId });
        expect((await s.store.createRun({ ...run, id: third.runId }, { idempotency, event: third.event('run.created') })).won).toBe(false);
        expect(await third.run()).toBeUndefined();
        expect(await third.types()).toEqual([]);
        expect(await s.store.findIdempotencyRecord(w.projectId, idempotency.key)).toEqual({ runId: other.runId, requestHash: 'h1' });
        expect(await other.types()).toEqual(['run.created']);
        expect(await s.store.findIdempotencyRecord(w.projectId, 'never-used')).toBeUndefined();
      });

      it('branch mappings: found without regard to the repository name\'s case, forgotten once', async () => {
        const s = open();
        const w = scenario(s);
        const run: RunRecord = { id: w.runId, projectId: w.projectId, workflowId: 'wf', workflowName: 'wf', workflowVersion: 1, status: 'pending', git: { repository: 'Acme/App', branch: 'Feature/X' }, totalSteps: 0, remainingSinks: 0, roots: [], createdAt: at(0) };
        expect((await s.store.createRun(run, { branchExpiresAt: 2_000_000_000, event: w.event('run.created') })).won).toBe(true);
        expect(await s.store.branchRuns(w.projectId, 'acme/app', 'Feature/X')).toEqual([w.runId]);
        expect(await s.store.branchRuns(w.projectId, 'acme/app', 'feature/x')).toEqual([]);
        await s.store.forgetBranchRun(w.projectId, 'ACME/APP', 'Feature/X', w.runId);
        await s.store.forgetBranchRun(w.projectId, 'acme/app', 'Feature/X', w.runId);
        expect(await s.store.branchRuns(w.projectId, 'acme/app', 'Feature/X')).toEqual([]);
      });

      it('moveRun: each action only from the statuses runActionRules allow; resume forgets the held steps (exactly those it read), retry the failed ones and the reason', async () => {
        const s = open();
        const w = scenario(s);
        await w.create([{ id: 'a' }, { id: 'b' }], { start: false });
        // Held while not started, and again while paused; a repeat adds nothing.
        expect((await s.store.hold(w.runId, 'a')).won).toBe(true);
        expect((await s.store.moveRun(w.runId, 'pause', at(1), {}, w.event('run.paused'))).won).toBe(false);
        expect((await s.store.moveRun(w.runId, 'start', at(1), {}, w.event('run.started'))).won).toBe(true);
        expect(await w.run()).toMatchObject({ status: 'running', startedAt: at(1) });
        expect((await s.store.moveRun(w.runId, 'start', at(1), {}, w.event('run.started'))).won).toBe(false);
        expect((await s.store.hold(w.runId, 'b')).won).toBe(false);
        await w.expectRecorded(await s.store.moveRun(w.runId, 'pause', at(2), {}, w.event('run.paused')));
        expect((await s.store.hold(w.runId, 'b')).won).toBe(true);
        expect((await s.store.hold(w.runId, 'b')).won).toBe(true);
        expect((await w.run())!.heldSteps?.sort()).toEqual(['a', 'b']);
        expect((await s.store.moveRun(w.runId, 'pause', at(2), {}, w.event('run.paused'))).won).toBe(false);
        expect((await s.store.moveRun(w.runId, 'retry', at(2), {}, w.event('run.retried'))).won).toBe(false);
        // Only with every held step as read: one held since would be forgotten with no message.
        expect((await s.store.moveRun(w.runId, 'resume', at(3), { held: ['a'] }, w.event('run.resumed'))).won).toBe(false);
        expect((await s.store.moveRun(w.runId, 'resume', at(3), {}, w.event('run.resumed'))).won).toBe(false);
        await w.expectRecorded(await s.store.moveRun(w.runId, 'resume', at(3), { held: ['b', 'a'] }, w.event('run.resumed')));
        expect(await w.run()).toMatchObject({ status: 'running' });
        expect((await w.run())!.heldSteps).toBeUndefined();
        expect((await s.store.moveRun(w.runId, 'resume', at(3), {}, w.event('run.resumed'))).won).toBe(false);
        await w.expectRecorded(await s.store.moveRun(w.runId, 'pause', at(3), {}, w.event('run.paused')));
        expect((await w.run())!.status).toBe('paused');

        // retry: from blocked only; the failed steps it names and the reason go.
        const blocked = scenario(s);
        await blocked.create([{ id: 'a' }, { id: 'b' }]);
        await blocked.running('a');
        await blocked.running('b');
        expect((await s.store.fail(blocked.failure('a'), { block: { reason: 'a broke', event: blocked.event('run.blocked') } }, blocked.event('step.failed', 'a'))).won).toBe(true);
        expect((await s.store.fail(blocked.failure('b'), {}, blocked.event('step.failed', 'b'))).won).toBe(true);
        expect(await blocked.run()).toMatchObject({ status: 'blocked', reason: 'a broke' });
        expect((await blocked.run())!.failedSteps?.sort()).toEqual(['a', 'b']);
        // Only with every failed step: one that failed since the person read the run would be forgotten unblocked.
        expect((await s.store.moveRun(blocked.runId, 'retry', at(6), { failed: ['a'] }, blocked.event('run.retried'))).won).toBe(false);
        await blocked.expectRecorded(await s.store.moveRun(blocked.runId, 'retry', at(6), { failed: ['a', 'b'] }, blocked.event('run.retried')));
        const retried = (await blocked.run())!;
        expect(retried).toMatchObject({ status: 'running' });
        expect(retried.failedSteps).toBeUndefined();
        expect(retried.reason).toBeUndefined();

        // cancel: from any open status; nothing moves a cancelled run.
        await w.expectRecorded(await s.store.moveRun(w.runId, 'cancel', at(4), {}, w.event('run.cancelled')));
        expect(await w.run()).toMatchObject({ status: 'cancelled', finishedAt: at(4) });
        for (const action of ['start', 'pause', 'resume', 'cancel', 'retry'] as const) expect((await s.store.moveRun(w.runId, action, at(5), {}, w.event('run.x'))).won, action).toBe(false);
        expect((await s.store.hold(w.runId, 'a')).won).toBe(false);
        expect((await w.types()).filter((type) => type !== 'run.created')).toEqual(['run.started', 'run.paused', 'run.resumed', 'run.paused', 'run.cancelled']);
      });

      it('moveRun resume with `blocked`: from paused only, the run blocked with the reason and the held steps forgotten', async () => {
        const s = open();
        const w = scenario(s);
        await w.create([{ id: 'a' }, { id: 'b' }]);
        await w.running('a');
        expect((await s.store.moveRun(w.runId, 'pause', at(2), {}, w.event('run.paused'))).won).toBe(true);
        expect((await s.store.hold(w.runId, 'b')).won).toBe(true);
        expect((await s.store.fail(w.failure('a'), { block: { reason: 'no', event: w.event('run.blocked') } }, w.event('step.failed', 'a'))).won).toBe(false);
        expect((await s.store.fail(w.failure('a'), {}, w.event('step.failed', 'a'))).won).toBe(true);
        await w.expectRecorded(await s.store.moveRun(w.runId, 'resume', at(3), { held: ['b'], blocked: 'step a failed: a broke' }, w.event('run.blocked')));
        const run = (await w.run())!;
        expect(run).toMatchObject({ status: 'blocked', reason: 'step a failed: a broke', failedSteps: ['a'] });
        expect(run.heldSteps).toBeUndefined();
        expect((await s.store.moveRun(w.runId, 'resume', at(4), { blocked: 'again' }, w.event('run.blocked'))).won).toBe(false);
        await w.expectRecorded(await s.store.moveRun(w.runId, 'retry', at(5), { failed: ['a'] }, w.event('run.retried')));
        expect((await w.run())!.reason).toBeUndefined();
      });

      it('completeRun: only once no sink is left, from running or blocked, once; degraded kept, the reason dropped', async () => {
        const s = open();
        const w = scenario(s);
        await w.create([{ id: 'a' }]);
        expect((await s.store.completeRun(w.runId, at(9), false, w.event('run.completed'))).won).toBe(false);
        await w.running('a');
        expect((await s.store.complete(w.completion('a'), { sink: {} }, w.event('step.completed', 'a'))).won).toBe(true);
        expect((await w.run())!.remainingSinks).toBe(0);
        await w.expectRecorded(await s.store.completeRun(w.runId, at(9), true, w.event('run.completed')));
        expect(await w.run()).toMatchObject({ status: 'completed', finishedAt: at(9), degraded: true });
        expect((await s.store.completeRun(w.runId, at(10), false, w.event('run.completed'))).won).toBe(false);
        expect((await w.types()).filter((type) => type === 'run.completed')).toHaveLength(1);

        const blocked = scenario(s);
        await blocked.create([{ id: 'a' }, { id: 'b' }]);
        await blocked.running('a');
        await blocked.running('b');
        expect((await s.store.fail(blocked.failure('a'), { block: { reason: 'a broke', event: blocked.event('run.blocked') } }, blocked.event('step.failed', 'a'))).won).toBe(true);
        expect((await s.store.completeRun(blocked.runId, at(9), false, blocked.event('run.completed'))).won).toBe(false);
        expect((await s.store.complete(blocked.completion('b'), { sink: {} }, blocked.event('step.completed', 'b'))).won).toBe(true);
        // a's failure did not count as a sink: one left.
        expect((await s.store.completeRun(blocked.runId, at(9), false, blocked.event('run.completed'))).won).toBe(false);
        const early = await s.store.completeRunEarly(blocked.runId, at(10), 'merged', blocked.event('run.completed'));
        await blocked.expectRecorded(early);
        expect(await blocked.run()).toMatchObject({ status: 'completed', reason: 'merged', finishedAt: at(10) });
        expect((await s.store.completeRunEarly(blocked.runId, at(11), 'again', blocked.event('run.completed'))).won).toBe(false);
      });

      it('sink buckets: a sink leaves its bucket in its finishing write or by finishSinks (a repeat changes nothing); the run completes only once no bucket is open', async () => {
        const s = open();
        const w = scenario(s);
        await s.store.putSinkBuckets(w.runId, [['a', 'b'], ['c']]);
        await w.create([{ id: 'a' }, { id: 'b' }, { id: 'c' }], { extra: { remainingSinks: 0, sinkBuckets: 2, openSinkBuckets: ['0', '1'] } });
        for (const id of ['a', 'b', 'c']) await w.running(id);
        // a: counted in its completion's own write (a function no redelivery stands behind).
        expect((await s.store.complete(w.completion('a'), { sink: { bucket: 0 } }, w.event('step.completed', 'a'))).won).toBe(true);
        expect(await s.store.finishSinks(w.runId, 0, ['a'])).toBe(false);
        // c: by its own write after its completion (the step worker's); its bucket empties, the other is open.
        expect((await s.store.complete(w.completion('c'), {}, w.event('step.completed', 'c'))).won).toBe(true);
        expect(await s.store.finishSinks(w.runId, 1, ['c'])).toBe(false);
        expect((await w.run())!.openSinkBuckets).toEqual(['0']);
        expect((await s.store.completeRun(w.runId, at(9), false, w.event('run.completed'))).won).toBe(false);
        expect((await s.store.complete(w.completion('b'), {}, w.event('step.completed', 'b'))).won).toBe(true);
        expect(await s.store.finishSinks(w.runId, 0, ['b'])).toBe(true);
        expect((await w.run())!.openSinkBuckets ?? []).toEqual([]);
        // A redelivered sink's recount removes nothing more and finds the run done again.
        expect(await s.store.finishSinks(w.runId, 0, ['b'])).toBe(true);
        expect(await s.store.finishSinks(w.runId, 1, ['c'])).toBe(true);
        await w.expectRecorded(await s.store.completeRun(w.runId, at(9), false, w.event('run.completed')));
        expect((await s.store.completeRun(w.runId, at(10), false, w.event('run.completed'))).won).toBe(false);
        // No such bucket (a run gone): nothing is written, nothing is done.
        expect(await s.store.finishSinks(newId('run'), 0, ['x'])).toBe(false);
      });
    });

    describe('releasing steps', () => {
      it('queue: pending → queued with its event, all or none; a repeat is lost and writes nothing', async () => {
        const s = open();
        const w = scenario(s);
        await w.create([{ id: 'a' }, { id: 'b' }, { id: 'c' }]);
        const written = await s.store.queue(w.runId, [w.release('a')]);
        await w.expectRecorded(written);
        expect(await w.step('a')).toMatchObject({ status: 'queued', queuedAt: at(1), remaining: 0 });
        expect(await w.timers('a')).toEqual([`dispatch@${at(1)}`]);
        expect((await s.store.queue(w.runId, [w.release('a')])).won).toBe(false);
        // b could go, a cannot: neither goes.
        expect((await s.store.queue(w.runId, [w.release('b'), w.release('a')])).won).toBe(false);
        expect((await w.step('b'))!.status).toBe('pending');
        expect(await w.types('a')).toEqual(['step.queued']);
        expect(await w.types('b')).toEqual([]);
        // Several at once: each with its event.
        await w.expectRecorded(await s.store.queue(w.runId, [w.release('b'), w.release('c')]));
        expect(await w.types('c')).toEqual(['step.queued']);
      });

      it('queue: a time gate is kept on the step; near it is marked for dispatch at its time, far it is parked; the worker\'s own releases carry no timer', async () => {
        const s = open();
        const w = scenario(s);
        await w.create([{ id: 'near' }, { id: 'far' }, { id: 'worker' }]);
        await w.expectRecorded(await s.store.queue(w.runId, [w.release('near', { notBefore: at(300), dispatchDueAt: at(300) }), w.release('far', { notBefore: at(7200), parked: true, dispatchDueAt: undefined })]));
        const { dispatchDueAt: _none, ...workers } = w.release('worker');
        await w.expectRecorded(await s.store.queue(w.runId, [workers]));
        expect(await w.step('near')).toMatchObject({ status: 'queued', notBefore: at(300) });
        expect(await w.step('far')).toMatchObject({ status: 'queued', notBefore: at(7200) });
        expect(await w.timers('near')).toEqual([`dispatch@${at(300)}`]);
        expect(await w.timers('far')).toEqual([`notBefore@${at(7200)}`]);
        expect(await w.timers('worker')).toEqual([]);
      });

      it('release: one decrement per parent, a repeat by the same parent is lost; only a pending step', async () => {
        const s = open();
        const w = scenario(s);
        await w.create([{ id: 'p1' }, { id: 'p2' }, { id: 'c', dependsOn: ['p1', 'p2'] }]);
        // The first decrement may be the write that creates the step's item: counted down from the count read (its definition's).
        expect(await s.store.release(w.runId, 'c', 'p1', 2)).toEqual({ won: true, remaining: 1 });
        expect(await s.store.release(w.runId, 'c', 'p1', 1)).toEqual({ won: false });
        expect(await w.step('c')).toMatchObject({ status: 'pending', remaining: 1, releasedBy: ['p1'] });
        expect(await s.store.release(w.runId, 'c', 'p2', 1)).toEqual({ won: true, remaining: 0 });
        expect((await w.step('c'))!.releasedBy?.sort()).toEqual(['p1', 'p2']);
        // Releases leave no event: the queue that follows the last one has it.
        expect(await w.types('c')).toEqual([]);
        await w.expectRecorded(await s.store.queue(w.runId, [w.release('c')]));
        expect(await s.store.release(w.runId, 'c', 'p3', 0)).toEqual({ won: false });
      });

      it('park and unpark: a queued step at its attempt into the NOT_BEFORE timers, and off them once', async () => {
        const s = open();
        const w = scenario(s);
        await w.create([{ id: 'a' }]);
        await s.store.queue(w.runId, [w.release('a', { notBefore: at(3600), dispatchDueAt: undefined })]);
        expect((await s.store.park(w.runId, 'a', 1, at(3600))).won).toBe(false);
        expect((await s.store.park(w.runId, 'a', 0, at(3600))).won).toBe(true);
        expect(await w.timers('a')).toEqual([`notBefore@${at(3600)}`]);
        expect((await w.step('a'))!.status).toBe('queued');
        await s.store.unpark(w.runId, 'a');
        await s.store.unpark(w.runId, 'a');
        expect(await w.timers('a')).toEqual([]);
        // unpark takes off a NOT_BEFORE timer only.
        await s.store.markForDispatch(w.runId, ['a'], at(4));
        await s.store.unpark(w.runId, 'a');
        expect(await w.timers('a')).toEqual([`dispatch@${at(4)}`]);
        expect((await s.store.park(w.runId, 'nope', 0, at(3600))).won).toBe(false);
      });
    });

    describe('running a step', () => {
      it('claim: queued at the attempt read → running at the next, with its event, lease and callback token; a duplicate or stale claim is lost', async () => {
        const s = open();
        const w = scenario(s);
        await w.create([{ id: 'a' }, { id: 'b' }]);
        await s.store.queue(w.runId, [w.release('a'), w.release('b')]);
        expect((await w.claim('a', 1)).won).toBe(false);
        const claimed = await s.store.claim(
          w.runId,
          'a',
          { transition: 'claim', readAttempt: 0, at: at(2), leaseUntil: lease, callback: { tokenHash: `hash-${w.runId}`, projectId: w.projectId, runId: w.runId, stepId: 'a', attempt: 1, expiresAt: 2_000_000_000 } },
          w.event('step.started', 'a', { attempt: 1 }),
        );
        await w.expectRecorded(claimed);
        expect(await w.step('a')).toMatchObject({ status: 'running', attempt: 1, leaseUntil: lease, startedAt: at(2) });
        expect(await w.timers('a')).toEqual(claimTimers(lease));
        expect(await s.store.findCallback(`hash-${w.runId}`)).toEqual({ projectId: w.projectId, runId: w.runId, stepId: 'a', attempt: 1 });
        expect(await s.store.findCallback('never-issued')).toBeUndefined();
        // A duplicate delivery of the same message loses, and so does a claim of a step never queued.
        expect((await w.claim('a', 0)).won).toBe(false);
        expect((await w.claim('nope', 0)).won).toBe(false);
        expect(await w.types('a')).toEqual(['step.queued', 'step.started']);
        // A claim is for queued steps only; a takeover for running ones.
        expect((await w.claim('b', 0, { transition: 'takeover', at: at(100) })).won).toBe(false);
      });

      it('takeover: only once the lease has run out, at the attempt read; raises the attempt and forgets the callback wait', async () => {
        const s = open();
        const w = scenario(s);
        await w.create([{ id: 'a' }]);
        await w.running('a');
        expect((await w.claim('a', 1, { transition: 'takeover', at: at(29), leaseUntil: at(60) })).won).toBe(false);
        expect((await w.claim('a', 0, { transition: 'takeover', at: at(31), leaseUntil: at(60) })).won).toBe(false);
        expect((await s.store.pend(w.runId, 'a', 1, { at: at(3), deadline: at(50), dueAt: at(40) }, w.event('step.pending', 'a'))).won).toBe(true);
        const taken = await w.claim('a', 1, { transition: 'takeover', at: at(41), leaseUntil: at(80) });
        await w.expectRecorded(taken);
        const step = (await w.step('a'))!;
        expect(step).toMatchObject({ status: 'running', attempt: 2, leaseUntil: at(80), startedAt: at(41) });
        expect(step.waitingFor).toBeUndefined();
        expect(await w.timers('a')).toEqual(claimTimers(at(80)));
        expect((await w.claim('a', 1, { transition: 'takeover', at: at(90), leaseUntil: at(120) })).won).toBe(false);
        expect(await w.types('a')).toEqual(['step.queued', 'step.started', 'step.pending', 'step.started']);
      });

      it('complete: running at its attempt → completed with its output, off every timer, the run\'s sinks counted, in one write; its children untouched (their claim releases them)', async () => {
        const s = open();
        const w = scenario(s);
        await w.create([{ id: 'a' }, { id: 'b', dependsOn: ['a'] }, { id: 'c', dependsOn: ['a'] }, { id: 'd' }]);
        await w.running('a');
        expect((await s.store.complete(w.completion('a', 2), {}, w.event('step.completed', 'a'))).won).toBe(false);
        expect((await w.step('a'))!.status).toBe('running');
        expect((await w.step('b'))!.status).toBe('pending');
        const llm = { provider: 'bedrock', model: 'm', inputTokens: 3, outputTokens: 4, latencyMs: 5, costUsd: 0.01, at: at(4) };
        const written = await s.store.complete(
          w.completion('a', 1, { output: { answer: 42, nested: { list: [1, 'two'] } }, usage: { calls: 1 }, agentUsage: { costUsd: 0.5 }, llmUsage: [llm as never] }),
          {},
          w.event('step.completed', 'a'),
        );
        await w.expectRecorded(written);
        const a = (await w.step('a'))!;
        expect(a).toMatchObject({ status: 'completed', finishedAt: at(5), output: { answer: 42, nested: { list: [1, 'two'] } }, usage: { calls: 1 }, agentUsage: { costUsd: 0.5 }, llmUsage: [llm] });
        expect(a.leaseUntil).toBeUndefined();
        expect(await w.timers('a')).toEqual([]);
        expect(await w.step('b')).toMatchObject({ status: 'pending', remaining: 1 });
        expect((await w.step('b'))!.releasedBy).toBeUndefined();
        expect(await w.timers('c')).toEqual([]);
        expect(await w.types('b')).toEqual([]);
        expect((await w.run())!.remainingSinks).toBe(3);
        // A repeat is lost and changes nothing.
        expect((await s.store.complete(w.completion('a'), {}, w.event('step.completed', 'a'))).won).toBe(false);
        expect(await w.types('a')).toEqual(['step.queued', 'step.started', 'step.completed']);

        await w.running('d');
        // A sink: the run's count goes down in the same write; an output held elsewhere is a reference.
        await w.expectRecorded(await s.store.complete(w.completion('d', 1, { output: undefined, outputRef: 'projects/p/outputs/d.json' }), { sink: {} }, w.event('step.completed', 'd')));
        expect(await w.step('d')).toMatchObject({ status: 'completed', outputRef: 'projects/p/outputs/d.json' });
        expect((await w.run())!.remainingSinks).toBe(2);
      });

      it('claimReleased: a single-parent child goes pending → running once, recording its release (step.queued) before its start in the same write; never a shared or claimed one', async () => {
        const s = open();
        const w = scenario(s);
        await w.create([{ id: 'a' }, { id: 'b', dependsOn: ['a'] }, { id: 'p2' }, { id: 'shared', dependsOn: ['a', 'p2'] }]);
        const claimReleased = (stepId: string, readAttempt = 0) =>
          s.store.claim(w.runId, stepId, { transition: 'claimReleased', readAttempt, at: at(6), leaseUntil: at(60), queued: w.event('step.queued', stepId, { attempt: 1, releasedBy: 'a' }) }, w.event('step.started', stepId, { attempt: 1 }));
        await w.expectRecorded(await claimReleased('b'));
        expect(await w.step('b')).toMatchObject({ status: 'running', attempt: 1, leaseUntil: at(60), queuedAt: at(6), startedAt: at(6) });
        expect(await w.types('b')).toEqual(['step.queued', 'step.started']);
        // Once: a duplicate message's claim loses (the step is running now), as does one at another attempt.
        expect((await claimReleased('b')).won).toBe(false);
        expect((await claimReleased('b', 1)).won).toBe(false);
        expect(await w.types('b')).toEqual(['step.queued', 'step.started']);
        // A child waiting for two parents is released by their decrements, never by a claim. (Before
        // its first write it has no item, and a step with no item is taken as its definition: the
        // engine claims a pending step only when its read says one dependency is left, which the
        // DynamoDB condition cannot see; once decremented, the item says so.)
        expect(await s.store.release(w.runId, 'shared', 'a', 2)).toEqual({ won: true, remaining: 1 });
        expect((await claimReleased('shared')).won).toBe(false);
        expect((await w.step('shared'))!.status).toBe('pending');
      });

      it('complete and fail with dispatchDueAt: the finished step filed under DISPATCH instead of leaving every index (its follow-up is redone if the writer dies)', async () => {
        const s = open();
        const w = scenario(s);
        await w.create([{ id: 'gate' }, { id: 'o', onFailure: 'continue' }, { id: 'c', dependsOn: ['gate', 'o'] }]);
        await w.needsQa('gate', { deadline: at(600) });
        await w.running('o');
        await w.expectRecorded(await s.store.complete(w.completion('gate', 1, { transition: 'approve', dispatchDueAt: at(6) }), {}, w.event('step.completed', 'gate')));
        expect(await w.timers('gate')).toEqual([`dispatch@${at(6)}`]);
        expect(await w.inbox()).toEqual([]);
        expect((await w.step('gate'))!.status).toBe('completed');
        await w.expectRecorded(await s.store.fail(w.failure('o', 'running', { dispatchDueAt: at(7) }), { finish: {} }, w.event('step.failed', 'o')));
        expect(await w.timers('o')).toEqual([`dispatch@${at(7)}`]);
        expect((await s.store.dueTimers('dispatch', at(7), 1000)).filter((timer) => timer.runId === w.runId)).toEqual([
          { runId: w.runId, stepId: 'gate', status: 'completed', attempt: 1, dueAt: at(6), waitingFor: 'approval' },
          { runId: w.runId, stepId: 'o', status: 'failed', attempt: 1, dueAt: at(7) },
        ]);
        // Taken off once the follow-up is done, only in the status it was filed in.
        await s.store.clearDispatchMarker(w.runId, 'gate', 'failed');
        expect(await w.timers('gate')).toEqual([`dispatch@${at(6)}`]);
        await s.store.clearDispatchMarker(w.runId, 'gate', 'completed');
        await s.store.clearDispatchMarker(w.runId, 'o', 'failed');
        expect(await w.timers('gate')).toEqual([]);
        expect(await w.timers('o')).toEqual([]);
      });

      it('retry: running at its attempt → queued with the error, marked for dispatch after the backoff; the next claim takes the next attempt', async () => {
        const s = open();
        const w = scenario(s);
        await w.create([{ id: 'a' }]);
        await w.running('a');
        const error = { message: 'flaky', retryable: true, attempt: 1, at: at(5), code: 'FLAKY' };
        const change = { attempt: 1, at: at(5), dispatchDueAt: at(9), error, llmUsage: [] };
        expect((await s.store.retry(w.runId, 'a', { ...change, attempt: 2 }, w.event('step.retrying', 'a'))).won).toBe(false);
        await w.expectRecorded(await s.store.retry(w.runId, 'a', change, w.event('step.retrying', 'a')));
        const step = (await w.step('a'))!;
        expect(step).toMatchObject({ status: 'queued', attempt: 1, queuedAt: at(5), error });
        expect(step.leaseUntil).toBeUndefined();
        expect(await w.timers('a')).toEqual([`dispatch@${at(9)}`]);
        expect((await s.store.retry(w.runId, 'a', change, w.event('step.retrying', 'a'))).won).toBe(false);
        expect((await w.claim('a', 0)).won).toBe(false);
        await w.expectRecorded(await w.claim('a', 1, { at: at(10), leaseUntil: at(40) }));
        expect(await w.step('a')).toMatchObject({ status: 'running', attempt: 2 });
        expect(await w.timers('a')).toEqual(claimTimers(at(40)));
      });

      it('fail: → failed and the run blocked with the reason in one write; lost as a whole when the run is not running; alone without `block`; optional steps release like a completion', async () => {
        const s = open();
        const w = scenario(s);
        await w.create([{ id: 'a' }, { id: 'b' }, { id: 'o', onFailure: 'continue' }, { id: 'after', dependsOn: ['o'] }]);
        await w.running('a');
        await w.running('b');
        await w.running('o');
        expect((await s.store.fail(w.failure('a', 'running', { attempt: 2 }), {}, w.event('step.failed', 'a'))).won).toBe(false);
        const blocked = await s.store.fail(w.failure('a'), { block: { reason: 'step a failed: broke', event: w.event('run.blocked') } }, w.event('step.failed', 'a'));
        await w.expectRecorded(blocked);
        expect(await w.step('a')).toMatchObject({ status: 'failed', finishedAt: at(5), error: { message: 'a broke', code: 'BROKEN' } });
        expect(await w.timers('a')).toEqual([]);
        expect(await w.run()).toMatchObject({ status: 'blocked', reason: 'step a failed: broke', failedSteps: ['a'] });
        expect(await w.types()).toContain('run.blocked');
        // The run is blocked already: blocking again loses, and the step stays running.
        expect((await s.store.fail(w.failure('b'), { block: { reason: 'b', event: w.event('run.blocked') } }, w.event('step.failed', 'b'))).won).toBe(false);
        expect((await w.step('b'))!.status).toBe('running');
        await w.expectRecorded(await s.store.fail(w.failure('b'), {}, w.event('step.failed', 'b')));
        expect(await w.run()).toMatchObject({ status: 'blocked', reason: 'step a failed: broke' });
        expect((await w.run())!.failedSteps?.sort()).toEqual(['a', 'b']);
        // Optional: listed apart, the run not blocked further; its dependents untouched (their claim releases them).
        await w.expectRecorded(await s.store.fail(w.failure('o'), { finish: {} }, w.event('step.failed', 'o')));
        expect(await w.step('after')).toMatchObject({ status: 'pending', remaining: 1 });
        const run = (await w.run())!;
        expect(run.failedOptionalSteps).toEqual(['o']);
        expect(run.failedSteps?.sort()).toEqual(['a', 'b']);
        expect((await s.store.fail(w.failure('a'), {}, w.event('step.failed', 'a'))).won).toBe(false);
      });

      it('deadLetter: fails the step only in the very status and attempt its message was read in', async () => {
        const s = open();
        const w = scenario(s);
        await w.create([{ id: 'q' }, { id: 'r' }]);
        await s.store.queue(w.runId, [w.release('q')]);
        await w.running('r');
        const dead = (stepId: string, readStatus: StepRecord['status'], attempt: number) => s.store.fail(w.failure(stepId, readStatus, { transition: 'deadLetter', attempt }), {}, w.event('step.failed', stepId));
        expect((await dead('q', 'running', 0)).won).toBe(false);
        expect((await dead('q', 'queued', 1)).won).toBe(false);
        expect((await dead('r', 'queued', 1)).won).toBe(false);
        expect((await dead('r', 'running', 0)).won).toBe(false);
        await w.expectRecorded(await dead('q', 'queued', 0));
        await w.expectRecorded(await dead('r', 'running', 1));
        expect((await w.step('q'))!.status).toBe('failed');
        expect(await w.timers('q')).toEqual([]);
        expect(await w.timers('r')).toEqual([]);
        expect((await dead('q', 'queued', 0)).won).toBe(false);
      });
    });

    describe('waiting steps', () => {
      it('wait: running at its attempt → needs_qa, in the inbox, with its deadline timer and its webhook wait', async () => {
        const s = open();
        const w = scenario(s);
        await w.create([{ id: 'gate' }, { id: 'hook', kind: 'webhook' }, { id: 'late' }]);
        await w.running('gate');
        await w.running('hook');
        const gate = (await w.step('gate'))!;
        expect((await s.store.wait({ ...gate, attempt: 2 }, at(3), { reason: 'approval' }, w.event('step.needs_qa', 'gate'))).won).toBe(false);
        await w.expectRecorded(await s.store.wait(gate, at(3), { reason: 'approval', deadline: at(600) }, w.event('step.needs_qa', 'gate')));
        const waiting = (await w.step('gate'))!;
        expect(waiting).toMatchObject({ status: 'needs_qa', waitingFor: 'approval', waitingSince: at(3) });
        expect(waiting.leaseUntil).toBeUndefined();
        expect(await w.timers('gate')).toEqual([`deadline@${at(600)}`]);
        const correlationKey = `github:acme/app:${w.runId}`;
        await w.expectRecorded(await s.store.wait((await w.step('hook'))!, at(4), { reason: 'webhook', correlationKey }, w.event('step.needs_qa', 'hook')));
        expect(await w.timers('hook')).toEqual([]);
        expect((await w.inbox()).sort()).toEqual([`${w.runId}/gate`, `${w.runId}/hook`]);
        expect(await s.store.webhookWaits(w.projectId, correlationKey)).toEqual([{ runId: w.runId, stepId: 'hook' }]);
        await s.store.forgetWebhookWait(w.projectId, correlationKey, w.runId, 'hook');
        await s.store.forgetWebhookWait(w.projectId, correlationKey, w.runId, 'hook');
        expect(await s.store.webhookWaits(w.projectId, correlationKey)).toEqual([]);
        expect((await s.store.wait(gate, at(5), { reason: 'approval' }, w.event('step.needs_qa', 'gate'))).won).toBe(false);
      });

      it('approve and reject: needs_qa → completed or failed with the comment, out of the inbox and off the deadline timer', async () => {
        const s = open();
        const w = scenario(s);
        await w.create([{ id: 'yes' }, { id: 'no' }, { id: 'next', dependsOn: ['yes'] }]);
        await w.needsQa('yes', { deadline: at(600) });
        await w.needsQa('no', { deadline: at(600) });
        const approved = await s.store.complete(w.completion('yes', 1, { transition: 'approve', comment: 'looks good', output: { approvedBy: 'tok_1' } }), {}, w.event('step.completed', 'yes'));
        await w.expectRecorded(approved);
        expect(await w.step('yes')).toMatchObject({ status: 'completed', comment: 'looks good', output: { approvedBy: 'tok_1' } });
        expect((await w.step('next'))!.status).toBe('pending');
        expect((await s.store.complete(w.completion('yes', 1, { transition: 'approve' }), {}, w.event('step.completed', 'yes'))).won).toBe(false);
        expect((await s.store.fail(w.failure('no', 'needs_qa', { transition: 'reject', attempt: 2 }), {}, w.event('step.failed', 'no'))).won).toBe(false);
        await w.expectRecorded(await s.store.fail(w.failure('no', 'needs_qa', { transition: 'reject', comment: 'wrong' }), { block: { reason: 'rejected', event: w.event('run.blocked') } }, w.event('step.failed', 'no')));
        expect(await w.step('no')).toMatchObject({ status: 'failed', comment: 'wrong' });
        expect(await w.inbox()).toEqual([]);
        expect(await w.timers('yes')).toEqual([]);
        expect(await w.timers('no')).toEqual([]);
        expect(await w.run()).toMatchObject({ status: 'blocked', reason: 'rejected' });
      });

      it('pend and heartbeat: the lease becomes the callback timer; a heartbeat moves it while the wait is live at that attempt, never after', async () => {
        const s = open();
        const w = scenario(s);
        await w.create([{ id: 'a', kind: 'http' }, { id: 'b', kind: 'http' }]);
        await w.running('a');
        await w.running('b');
        expect((await s.store.heartbeat(w.runId, 'a', 1, at(3), at(50))).won).toBe(false);
        expect((await s.store.pend(w.runId, 'a', 2, { at: at(3), deadline: at(100), dueAt: at(20) }, w.event('step.pending', 'a'))).won).toBe(false);
        await w.expectRecorded(await s.store.pend(w.runId, 'a', 1, { at: at(3), deadline: at(100), dueAt: at(20), usage: { calls: 2 } }, w.event('step.pending', 'a')));
        expect(await w.step('a')).toMatchObject({ status: 'running', attempt: 1, waitingFor: 'callback', callbackDeadline: at(100), leaseUntil: at(20), usage: { calls: 2 } });
        expect(await w.timers('a')).toEqual([`callback@${at(20)}`]);
        expect((await s.store.heartbeat(w.runId, 'a', 2, at(10), at(30))).won).toBe(false);
        expect((await s.store.heartbeat(w.runId, 'a', 1, at(10), at(30))).won).toBe(true);
        expect((await s.store.heartbeat(w.runId, 'a', 1, at(12), at(32))).won).toBe(true);
        expect((await w.step('a'))!.leaseUntil).toBe(at(32));
        expect(await w.timers('a')).toEqual([`callback@${at(32)}`]);
        // The wait ran out: too late for a heartbeat.
        expect((await s.store.heartbeat(w.runId, 'a', 1, at(33), at(53))).won).toBe(false);
        expect(await w.timers('a')).toEqual([`callback@${at(32)}`]);
        // A callback's completion takes the step off the timer.
        await w.expectRecorded(await s.store.complete(w.completion('a'), { sink: {} }, w.event('step.completed', 'a')));
        expect(await w.timers('a')).toEqual([]);
        expect(await w.types('a')).toEqual(['step.queued', 'step.started', 'step.pending', 'step.completed']);
      });
    });

    describe('rate limits', () => {
      const key = () => `agent-${newId('evt')}`;
      it('take: an idle key starts at once; then each taker gets its own turn, one interval apart, concurrent takers included', async () => {
        const s = open();
        const w = scenario(s);
        const agent = key();
        const now = base;
        expect(await s.store.rate.take(w.projectId, agent, 500, now)).toEqual({ started: true });
        expect(await s.store.rate.take(w.projectId, agent, 500, now)).toEqual({ started: false, turn: now + 500 });
        const turns = await Promise.all(Array.from({ length: 6 }, () => s.store.rate.take(w.projectId, agent, 500, now + 100)));
        expect(turns.map((taken) => (taken.started ? 0 : taken.turn)).sort((a, b) => a - b)).toEqual([1000, 1500, 2000, 2500, 3000, 3500].map((offset) => now + offset));
        // The same key in another project is another key.
        expect(await s.store.rate.take(newId('prj'), agent, 500, now)).toEqual({ started: true });
        // A turn is still ahead until the last one ends; then the key is idle again.
        expect(await s.store.rate.take(w.projectId, agent, 500, now + 3999)).toEqual({ started: false, turn: now + 4000 });
        expect(await s.store.rate.take(w.projectId, agent, 500, now + 4500)).toEqual({ started: true });
      });

      it('start: only an interval after the last start (concurrent starters: one wins), and a late start pushes the next turn', async () => {
        const s = open();
        const w = scenario(s);
        const agent = key();
        const now = base;
        const starts = await Promise.all(Array.from({ length: 4 }, () => s.store.rate.start(w.projectId, agent, 1000, now)));
        expect(starts.filter((started) => started.won)).toHaveLength(1);
        expect(starts.filter((started) => !started.won)).toEqual(Array.from({ length: 3 }, () => ({ won: false, notBefore: now + 1000 })));
        expect(await s.store.rate.start(w.projectId, agent, 1000, now + 999)).toEqual({ won: false, notBefore: now + 1000 });
        expect(await s.store.rate.start(w.projectId, agent, 1000, now + 1000)).toEqual({ won: true });
        // No turn ahead, but the last start is within the interval: the next turn is right after it.
        expect(await s.store.rate.take(w.projectId, agent, 1000, now + 1500)).toEqual({ started: false, turn: now + 2000 });
        expect(await s.store.rate.take(w.projectId, agent, 1000, now + 1500)).toEqual({ started: false, turn: now + 3000 });
      });

      it('throttle and wake: queued → throttled until its turn (THROTTLED timer) → queued (DISPATCH timer); each at its attempt only; a cancel takes it out', async () => {
        const s = open();
        const w = scenario(s);
        await w.create([{ id: 'a' }, { id: 'b' }]);
        for (const stepId of ['a', 'b']) expect((await s.store.queue(w.runId, [w.release(stepId)])).won).toBe(true);
        const throttle = { kind: 'rate' as const, key: 'agent-x', perSecond: 2, since: at(2), until: at(5) };
        const request = (stepId: string, readAttempt = 0) => ({ runId: w.runId, stepId, transition: 'throttle' as const, readAttempt, throttle, recheckAt: at(35), event: w.event('step.throttled', stepId, { kind: 'rate' }) });
        expect((await s.store.rate.throttle(request('a', 1))).won).toBe(false);
        await w.expectRecorded(await s.store.rate.throttle(request('a')));
        expect((await s.store.rate.throttle(request('a'))).won).toBe(false);
        expect(await w.step('a')).toMatchObject({ status: 'throttled', throttle });
        expect((await s.store.dueTimers('throttled', at(40), 1000)).filter((timer) => timer.runId === w.runId)).toEqual([expect.objectContaining({ stepId: 'a', dueAt: at(35), status: 'throttled' })]);
        expect((await s.store.rate.wake(w.runId, 'a', 1, at(5), w.event('step.unthrottled', 'a'))).won).toBe(false);
        await w.expectRecorded(await s.store.rate.wake(w.runId, 'a', 0, at(5), w.event('step.unthrottled', 'a')));
        expect((await s.store.rate.wake(w.runId, 'a', 0, at(5), w.event('step.unthrottled', 'a'))).won).toBe(false);
        const woken = (await w.step('a'))!;
        expect(woken).toMatchObject({ status: 'queued', queuedAt: at(5) });
        expect(woken.throttle).toBeUndefined();
        expect(await w.timers('a')).toEqual([`dispatch@${at(5)}`]);
        expect(await w.types('a')).toEqual(['step.queued', 'step.throttled', 'step.unthrottled']);
        // Its run cancelled while it waits: cancelled, with nothing else to take out.
        await w.expectRecorded(await s.store.rate.throttle(request('b')));
        await w.expectRecorded(await s.store.capacity.cancelThrottled({ runId: w.runId, stepId: 'b', projectId: w.projectId, attempt: 0, throttle }, at(3), w.event('step.cancelled', 'b')));
        expect(await w.step('b')).toMatchObject({ status: 'cancelled' });
        expect((await s.store.dueTimers('throttled', at(40), 1000)).filter((timer) => timer.runId === w.runId)).toEqual([]);
      });
    });

    describe('ending and re-queuing steps', () => {
      it('cancel: a queued or running step only in the status and attempt read; a waiting one leaves the inbox and its deadline', async () => {
        const s = open();
        const w = scenario(s);
        await w.create([{ id: 'q' }, { id: 'r' }, { id: 'gate' }]);
        await s.store.queue(w.runId, [w.release('q')]);
        await w.running('r');
        await w.needsQa('gate', { deadline: at(600) });
        const cancel = (stepId: string, transition: 'cancel' | 'cancelWaiting', readStatus: StepRecord['status'], attempt: number) =>
          s.store.cancel(w.runId, stepId, { transition, readStatus, attempt, at: at(7) }, w.event('step.cancelled', stepId));
        expect((await cancel('q', 'cancel', 'running', 0)).won).toBe(false);
        expect((await cancel('q', 'cancel', 'queued', 1)).won).toBe(false);
        expect((await cancel('gate', 'cancel', 'needs_qa', 1)).won).toBe(false);
        expect((await cancel('r', 'cancelWaiting', 'running', 1)).won).toBe(false);
        await w.expectRecorded(await cancel('q', 'cancel', 'queued', 0));
        await w.expectRecorded(await cancel('r', 'cancel', 'running', 1));
        await w.expectRecorded(await cancel('gate', 'cancelWaiting', 'needs_qa', 1));
        for (const stepId of ['q', 'r', 'gate']) {
          expect(await w.step(stepId), stepId).toMatchObject({ status: 'cancelled', finishedAt: at(7) });
          expect(await w.timers(stepId), stepId).toEqual([]);
        }
        expect(await w.inbox()).toEqual([]);
        expect((await cancel('q', 'cancel', 'queued', 0)).won).toBe(false);
      });

      it('requeue: a failed step → queued with fresh attempts, maybe a new input and generation; the comment goes; marked for dispatch; once', async () => {
        const s = open();
        const w = scenario(s);
        await w.create([{ id: 'a' }, { id: 'b' }]);
        await w.needsQa('a');
        await w.running('b');
        expect((await s.store.fail(w.failure('a', 'needs_qa', { transition: 'reject', comment: 'redo it' }), {}, w.event('step.failed', 'a'))).won).toBe(true);
        expect((await s.store.requeue(w.runId, 'b', { at: at(8), allowedAttempts: 3, generation: 1 }, w.event('step.retry_requested', 'b'))).won).toBe(false);
        await w.expectRecorded(await s.store.requeue(w.runId, 'a', { at: at(8), allowedAttempts: 3, generation: 2, input: { value: { fixed: true } }, mapRound: 2 }, w.event('step.retry_requested', 'a')));
        const step = (await w.step('a'))!;
        expect(step).toMatchObject({ status: 'queued', attempt: 1, allowedAttempts: 3, generation: 2, input: { fixed: true }, queuedAt: at(8), mapRound: 2 });
        expect(step.comment).toBeUndefined();
        expect(step.finishedAt).toBeUndefined();
        expect(await w.timers('a')).toEqual([`dispatch@${at(8)}`]);
        expect((await s.store.requeue(w.runId, 'a', { at: at(9), allowedAttempts: 3, generation: 2 }, w.event('step.retry_requested', 'a'))).won).toBe(false);
        expect((await w.claim('a', 1, { at: at(9) })).won).toBe(true);
        expect(await w.types('a')).toEqual(['step.queued', 'step.started', 'step.needs_qa', 'step.failed', 'step.retry_requested', 'step.started']);
      });

      it('skip: all or none, each only from the status it was read in; off the inbox and every timer', async () => {
        const s = open();
        const w = scenario(s);
        await w.create([{ id: 'p' }, { id: 'q' }, { id: 'gate' }, { id: 'r' }]);
        await s.store.queue(w.runId, [w.release('q', { notBefore: at(7200), parked: true, dispatchDueAt: undefined })]);
        await w.needsQa('gate', { deadline: at(600) });
        await w.running('r');
        const entry = (stepId: string, readStatus: StepRecord['status']) => ({ stepId, readStatus, event: w.event('step.skipped', stepId) });
        expect((await s.store.skip(w.runId, [entry('p', 'pending'), entry('r', 'running')], at(9))).won).toBe(false);
        expect((await s.store.skip(w.runId, [entry('p', 'pending'), entry('q', 'pending')], at(9))).won).toBe(false);
        expect((await w.step('p'))!.status).toBe('pending');
        await w.expectRecorded(await s.store.skip(w.runId, [entry('p', 'pending'), entry('q', 'queued'), entry('gate', 'needs_qa')], at(9)));
        for (const stepId of ['p', 'q', 'gate']) {
          expect(await w.step(stepId), stepId).toMatchObject({ status: 'skipped', finishedAt: at(9) });
          expect(await w.timers(stepId), stepId).toEqual([]);
          expect(await w.types(stepId), stepId).toContain('step.skipped');
        }
        expect(await w.inbox()).toEqual([]);
        expect((await s.store.skip(w.runId, [entry('p', 'pending')], at(10))).won).toBe(false);
      });

      it('markForDispatch, moveDispatchMarker, clearDispatchMarker: DISPATCH timers of held steps only (queued, or running: held at a takeover), each move conditional on what the sweeper read', async () => {
        const s = open();
        const w = scenario(s);
        await w.create([{ id: 'held' }, { id: 'pending' }, { id: 'gone' }, { id: 'taken' }]);
        // A running step (a dead worker's, held at its takeover) is marked and moved like a queued one; its claim takes the marker off.
        await w.running('taken');
        await s.store.markForDispatch(w.runId, ['taken'], at(4));
        expect(await w.timers('taken')).toEqual([`dispatch@${at(4)}`]);
        await s.store.moveDispatchMarker(w.runId, 'taken', 0, at(70));
        expect(await w.timers('taken')).toEqual([`dispatch@${at(4)}`]);
        await s.store.moveDispatchMarker(w.runId, 'taken', 1, at(70));
        expect(await w.timers('taken')).toEqual([`dispatch@${at(70)}`]);
        expect((await w.claim('taken', 1, { transition: 'takeover', at: at(100) })).won).toBe(true);
        expect(await w.timers('taken')).toEqual([]);
        const { dispatchDueAt: _none, ...workers } = w.release('held');
        await s.store.queue(w.runId, [workers]);
        await s.store.markForDispatch(w.runId, ['held', 'pending'], at(4));
        await s.store.markForDispatch(w.runId, ['held'], at(4));
        expect(await w.timers('held')).toEqual([`dispatch@${at(4)}`]);
        expect(await w.timers('pending')).toEqual([]);
        // Moved only while still queued at the attempt read.
        await s.store.moveDispatchMarker(w.runId, 'held', 1, at(70));
        expect(await w.timers('held')).toEqual([`dispatch@${at(4)}`]);
        await s.store.moveDispatchMarker(w.runId, 'held', 0, at(70));
        expect(await w.timers('held')).toEqual([`dispatch@${at(70)}`]);
        // Cleared only in the status read (a step that moved on meanwhile keeps what its write decided).
        await s.store.clearDispatchMarker(w.runId, 'held', 'cancelled');
        expect(await w.timers('held')).toEqual([`dispatch@${at(70)}`]);
        await s.store.queue(w.runId, [w.release('gone')]);
        expect((await s.store.cancel(w.runId, 'gone', { transition: 'cancel', readStatus: 'queued', attempt: 0, at: at(5) }, w.event('step.cancelled', 'gone'))).won).toBe(true);
        await s.store.markForDispatch(w.runId, ['gone'], at(6));
        expect(await w.timers('gone')).toEqual([]);
        await s.store.clearDispatchMarker(w.runId, 'held', 'queued');
        await s.store.clearDispatchMarker(w.runId, 'held', 'queued');
        expect(await w.timers('held')).toEqual([]);
      });
    });

    describe('map steps', () => {
      const mapRecord = (runId: string, count: number) => ({ runId, mapId: 'm', count, maxConcurrency: 3, toleratedFailurePercentage: 10, template: { kind: 'noop', input: { deep: [1, { x: '{{item}}' }] } }, round: 1, state: 'running' as const });
      const child = (w: ReturnType<typeof scenario>, index: number): StepRecord => ({
        runId: w.runId,
        projectId: w.projectId,
        stepId: mapChildId('m', index),
        kind: 'noop',
        input: { index },
        dependsOn: [],
        dependents: [],
        retry: defaultRetryPolicy,
        status: 'queued',
        attempt: 0,
        generation: 1,
        allowedAttempts: 1,
        remaining: 0,
        queuedAt: at(1),
        mapItem: { mapId: 'm', index },
      });

      it('createMap: the record with every chunk open and every index pending, once; chunks count finishes idempotently', async () => {
        const s = open();
        const w = scenario(s);
        await w.create([{ id: 'm', kind: 'map' }]);
        expect(await s.store.maps.createMap(mapRecord(w.runId, 250))).toBe(true);
        expect(await s.store.maps.createMap(mapRecord(w.runId, 250))).toBe(false);
        expect(await s.store.maps.getMap(w.runId, 'm')).toEqual({ ...mapRecord(w.runId, 250), openChunks: [0, 1, 2] });
        const chunks = await s.store.maps.chunks(w.runId, 'm');
        expect(chunks.map((chunk) => [chunk.chunk, chunk.pending.length, chunk.failed.length])).toEqual([[0, 100, 0], [1, 100, 0], [2, 50, 0]]);
        // The last chunk: 49 finish (one failed, twice counted), then the 50th empties it.
        for (let index = 200; index < 249; index += 1) expect(await s.store.maps.finishChild(w.runId, 'm', 2, index, index === 207)).toBe(false);
        expect(await s.store.maps.finishChild(w.runId, 'm', 2, 207, true)).toBe(false);
        expect(await s.store.maps.finishChild(w.runId, 'm', 2, 249, false)).toBe(true);
        expect(await s.store.maps.finishChild(w.runId, 'm', 2, 249, false)).toBe(true);
        expect((await s.store.maps.chunks(w.runId, 'm'))[2]).toEqual({ chunk: 2, pending: [], failed: [207] });
        expect(await s.store.maps.closeChunk(w.runId, 'm', 2)).toBe(false);
        expect(await s.store.maps.closeChunk(w.runId, 'm', 2)).toBe(false);
        expect(await s.store.maps.closeChunk(w.runId, 'm', 0)).toBe(false);
        expect(await s.store.maps.closeChunk(w.runId, 'm', 1)).toBe(true);
        expect(await s.store.maps.closeChunk(w.runId, 'm', 1)).toBe(true);
        expect((await s.store.maps.getMap(w.runId, 'm'))?.openChunks).toBeUndefined();
        // The next round: only the chunk with a failure reopens, pending its failed items; then done.
        expect(await s.store.maps.openRound(w.runId, 'm', 3, [{ chunk: 2, pending: [], failed: [207] }])).toBe(false);
        expect(await s.store.maps.openRound(w.runId, 'm', 2, [{ chunk: 2, pending: [], failed: [207] }])).toBe(true);
        expect(await s.store.maps.getMap(w.runId, 'm')).toMatchObject({ round: 2, state: 'running', openChunks: [2] });
        expect((await s.store.maps.chunks(w.runId, 'm'))[2]).toEqual({ chunk: 2, pending: [207], failed: [207] });
        expect(await s.store.maps.finishChild(w.runId, 'm', 2, 207, false)).toBe(true);
        expect((await s.store.maps.chunks(w.runId, 'm'))[2]).toEqual({ chunk: 2, pending: [], failed: [] });
        expect(await s.store.maps.closeMap(w.runId, 'm', 1)).toBe(false);
        expect(await s.store.maps.closeMap(w.runId, 'm', 2)).toBe(true);
        expect((await s.store.maps.getMap(w.runId, 'm'))?.state).toBe('done');
      });

      it('putChild: a whole child item with its step.queued, once; children page in item order; a child finishing touches not the run', async () => {
        const s = open();
        const w = scenario(s);
        await w.create([{ id: 'm', kind: 'map' }]);
        for (const index of [12, 3, 0, 7]) expect((await s.store.maps.putChild(child(w, index), w.event('step.queued', mapChildId('m', index)))).won).toBe(true);
        expect((await s.store.maps.putChild(child(w, 3), w.event('step.queued', mapChildId('m', 3)))).won).toBe(false);
        expect(await w.step(mapChildId('m', 3))).toMatchObject({ status: 'queued', attempt: 0, mapItem: { mapId: 'm', index: 3 }, input: { index: 3 } });
        expect(await w.types(mapChildId('m', 3))).toEqual(['step.queued']);
        const first = await s.store.maps.children(w.runId, 'm', { limit: 3 });
        expect(first.items.map((one) => one.mapItem?.index)).toEqual([0, 3, 7]);
        expect(first.next).toBe(12);
        const second = await s.store.maps.children(w.runId, 'm', { limit: 3, from: first.next! });
        expect(second.items.map((one) => one.stepId)).toEqual([mapChildId('m', 12)]);
        expect(second.next).toBeUndefined();
        // Claimed and failed, then another completed: the run's failed and sink counts stay as they were.
        for (const index of [3, 7]) expect((await w.claim(mapChildId('m', index))).won).toBe(true);
        expect((await s.store.fail(w.failure(mapChildId('m', 3)), { finish: { mapChild: true } }, w.event('step.failed', mapChildId('m', 3)))).won).toBe(true);
        expect((await s.store.complete(w.completion(mapChildId('m', 7)), { mapChild: true }, w.event('step.completed', mapChildId('m', 7)))).won).toBe(true);
        const run = await w.run();
        expect(run?.failedSteps ?? []).toEqual([]);
        expect(run?.failedOptionalSteps ?? []).toEqual([]);
        expect(run).toMatchObject({ status: 'running', remainingSinks: 1 });
      });

      it('awaitChildren: the running map at its attempt, lease off; lost otherwise', async () => {
        const s = open();
        const w = scenario(s);
        await w.create([{ id: 'm', kind: 'map' }]);
        expect(await s.store.maps.awaitChildren(w.runId, 'm', 1)).toBe(false);
        await w.running('m');
        expect(await s.store.maps.awaitChildren(w.runId, 'm', 2)).toBe(false);
        expect(await s.store.maps.awaitChildren(w.runId, 'm', 1)).toBe(true);
        const step = await w.step('m');
        expect(step).toMatchObject({ status: 'running', attempt: 1, waitingFor: 'children' });
        expect(step?.leaseUntil).toBeUndefined();
      });
    });

    describe('indexes and reads', () => {
      it('dueTimers: one kind, due at or before the time given, earliest first, at most the limit', async () => {
        const s = open();
        const w = scenario(s);
        await w.create([{ id: 'a' }, { id: 'b' }, { id: 'c' }]);
        // Long before any other scenario's timers, so the limit counts only these.
        const old = (second: number) => `2001-01-01T00:00:${String(second).padStart(2, '0')}.000Z`;
        await s.store.queue(w.runId, [w.release('a', { dispatchDueAt: old(30) }), w.release('b', { dispatchDueAt: old(10) }), w.release('c', { dispatchDueAt: old(20) })]);
        const due = await s.store.dueTimers('dispatch', old(20), 10);
        expect(due.map((timer) => timer.stepId)).toEqual(['b', 'c']);
        expect(due[0]).toEqual({ runId: w.runId, stepId: 'b', status: 'queued', attempt: 0, dueAt: old(10) });
        expect((await s.store.dueTimers('dispatch', old(40), 1)).map((timer) => timer.stepId)).toEqual(['b']);
        expect((await s.store.dueTimers('notBefore', old(40), 10)).filter((timer) => timer.runId === w.runId)).toEqual([]);
      });

      it('the outbox: events for the bus wait until marked, events kept off it never enter it; the history keeps both', async () => {
        const s = open();
        const w = scenario(s);
        await w.create([{ id: 'a' }]);
        const queued = await s.store.queue(w.runId, [w.release('a')]);
        expect(queued.won && queued.events.map((entry) => entry.publish)).toEqual([false]);
        const pending = await w.unpublished();
        expect(pending.map((entry) => entry.event.type)).toEqual(['run.created', 'run.started']);
        expect(pending[0]!.event).toMatchObject({ projectId: w.projectId, runId: w.runId, actor: 'contract', detail: {} });
        await s.markPublished(pending);
        expect(await w.unpublished()).toEqual([]);
        expect(await w.types()).toEqual(['run.created', 'run.started']);
        expect(await w.types('a')).toEqual(['step.queued']);

        // A run whose project subscribes to step events: those wait for the bus too.
        const loud = scenario(s, { publishStepEvents: true });
        await loud.create([{ id: 'a' }]);
        await loud.expectRecorded(await s.store.queue(loud.runId, [loud.release('a')]));
        expect((await loud.unpublished()).map((entry) => entry.event.type)).toEqual(['run.created', 'run.started', 'step.queued']);
      });

      it('recordDelivery: once per delivery id, with its project-level event in the outbox', async () => {
        const s = open();
        const w = scenario(s);
        const delivery = { projectId: w.projectId, provider: 'github', deliveryId: `d-${w.runId}`, receivedAt: at(0), expiresAt: 2_000_000_000 };
        const received = (): EventToWrite => ({ event: { id: newEventId(), type: 'webhook.received', projectId: w.projectId, at: at(0), actor: 'webhook', detail: { deliveryId: delivery.deliveryId } }, publish: true });
        const first = received();
        const written = await s.store.recordDelivery(delivery, first);
        expect(written.won).toBe(true);
        expect((await s.store.recordDelivery(delivery, received())).won).toBe(false);
        const pending = (await s.store.unpublishedEvents(1000)).filter((entry) => entry.event.projectId === w.projectId);
        expect(pending.map((entry) => entry.event.id)).toEqual([first.event.id]);
        await s.store.markDeliveryHandled(w.projectId, 'github', delivery.deliveryId, at(1), { approved: 1 });
        await s.store.markDeliveryHandled(w.projectId, 'github', 'never-received', at(1), {});
        // Another provider's delivery of the same id is another delivery.
        expect((await s.store.recordDelivery({ ...delivery, provider: 'gitlab' }, received())).won).toBe(true);
      });

      it('quality gates: review keeps the output in needs_qa, reviewStart claims once per round and lease, verdicts hold only at the round read', async () => {
        const s = open();
        const w = scenario(s);
        await w.create([{ id: 'a' }, { id: 'h' }, { id: 'c', dependsOn: ['a'] }]);
        const policy = { reviewer: { kind: 'lambda' as const, input: { function: 'baton-agent-r', payload: { big: 1e300 } } }, threshold: 60, onBelow: 'pause' as const, maxRetries: 1 };
        const gate = (extra: Partial<GateState> = {}): GateState => ({ policy, from: 'step', state: 'reviewing', round: 1, retries: 0, ...extra });
        const base = (stepId: string, extra: Partial<GateWrite>): GateWrite => ({ transition: 'review', runId: w.runId, stepId, projectId: w.projectId, attempt: 1, at: at(4), ...extra });
        await w.running('a');
        // review: running → needs_qa at its attempt, the execution's output kept; an automatic reviewer's step is not in the inbox.
        expect((await s.store.gate(base('a', { attempt: 2, gate: gate(), outcome: { output: { draft: 1 } } }), [w.event('step.needs_qa', 'a')])).won).toBe(false);
        await w.expectRecorded(await s.store.gate(base('a', { gate: gate(), outcome: { output: { draft: 1 } }, llmUsage: [], dispatchDueAt: at(4) }), [w.event('step.needs_qa', 'a')]));
        expect(await w.step('a')).toMatchObject({ status: 'needs_qa', output: { draft: 1 }, gate: { state: 'reviewing', round: 1, policy } });
        expect(await w.inbox()).toEqual([]);
        // Written by a callback: filed under DISPATCH until its reviewer starts; the sweeper's re-send moves it at that attempt only.
        expect(await w.timers('a')).toEqual([`dispatch@${at(4)}`]);
        await s.store.moveDispatchMarker(w.runId, 'a', 2, at(5));
        await s.store.moveDispatchMarker(w.runId, 'a', 1, at(6));
        expect(await w.timers('a')).toEqual([`dispatch@${at(6)}`]);
        // reviewStart: once per round, and only without a live lease.
        const start = (round: number, now: number) => s.store.gate(base('a', { transition: 'reviewStart', round, at: at(now), leaseUntil: at(now + 10), gate: gate({ round: round + 1 }) }), []);
        expect((await start(1, 5)).won).toBe(true);
        expect(await w.timers('a')).toEqual([]);
        expect((await start(1, 5)).won).toBe(false);
        expect((await start(2, 6)).won).toBe(false);
        expect(await w.step('a')).toMatchObject({ leaseUntil: at(15), gate: { round: 2 } });
        expect((await start(2, 16)).won).toBe(true);
        // qaPause: at the round read only; into the inbox with its events; the lease gone.
        const pause = (round: number) => s.store.gate(base('a', { transition: 'qaPause', round, gate: gate({ round: round + 1, state: 'paused', score: 30 }), inbox: { waitingFor: 'qa: scored 30' } }), [w.event('step.needs_qa', 'a'), w.event('feedback.critical', 'a', { score: 30 })]);
        expect((await pause(2)).won).toBe(false);
        await w.expectRecorded(await pause(3));
        expect(await w.step('a')).toMatchObject({ status: 'needs_qa', waitingFor: 'qa: scored 30', gate: { state: 'paused', score: 30, round: 4 } });
        expect((await w.step('a'))!.leaseUntil).toBeUndefined();
        expect(await w.inbox()).toEqual([`${w.runId}/a`]);
        // qaRerun: → queued as a new execution, gate cleared, out of the inbox, filed for dispatch.
        await w.expectRecorded(await s.store.gate(base('a', { transition: 'qaRerun', requeue: { generation: 2, allowedAttempts: 3, input: { value: { step: 'a', guidance: 'more' } }, guidance: 'more' } }), [w.event('step.rerun_requested', 'a')]));
        const requeued = (await w.step('a'))!;
        expect(requeued).toMatchObject({ status: 'queued', generation: 2, allowedAttempts: 3, input: { step: 'a', guidance: 'more' }, guidance: 'more' });
        expect(requeued.gate).toBeUndefined();
        expect(requeued.output).toBeUndefined();
        expect(await w.inbox()).toEqual([]);
        expect(await w.timers('a')).toEqual([`dispatch@${at(4)}`]);
        expect(await w.types('a')).toEqual(['step.queued', 'step.started', 'step.needs_qa', 'step.needs_qa', 'feedback.critical', 'step.rerun_requested']);

        // A human reviewer's step goes into the inbox at its review; pass completes it at the round read, with the gate's end.
        await w.running('h');
        await w.expectRecorded(await s.store.gate(base('h', { gate: gate({ state: 'waiting', policy: { ...policy, reviewer: 'human' as never } }), inbox: { waitingFor: 'qa: a person' }, outcome: { output: { draft: 'h' } } }), [w.event('step.needs_qa', 'h')]));
        expect(await w.inbox()).toEqual([`${w.runId}/h`]);
        const pass = (round: number) => s.store.complete(w.completion('h', 1, { transition: 'pass', gateRound: round, output: { draft: 'h' }, gate: gate({ state: 'waiting', round: round + 1, score: 80 }) }), {}, w.event('step.completed', 'h'));
        expect((await pass(2)).won).toBe(false);
        await w.expectRecorded(await pass(1));
        expect(await w.step('h')).toMatchObject({ status: 'completed', output: { draft: 'h' }, gate: { score: 80, round: 2 } });
        expect(await w.inbox()).toEqual([]);
      });

      it('a planner\'s plan: added with its completion, all or none (ids new to the run, rewired dependents still pending); entries queued, dependents rewired, exits in a sink planner\'s bucket', async () => {
        const s = open();
        const w = scenario(s);
        await s.store.putSinkBuckets(w.runId, [['d', 'q']]);
        await w.create([{ id: 'p' }, { id: 'd', dependsOn: ['p'] }, { id: 'q' }], { extra: { remainingSinks: 0, sinkBuckets: 1, openSinkBuckets: ['0'] } });
        await w.running('p');
        // Queued, so born: the write's own guard sees items only (roots are born at their queuing;
        // an id the version defines but no item holds yet is refused by the planner's checks before).
        expect((await s.store.queue(w.runId, [w.release('q')])).won).toBe(true);
        const added = (id: string, dependsOn: string[], extra: Partial<StepRecord> = {}): StepRecord => ({
          runId: w.runId, projectId: w.projectId, stepId: id, kind: 'noop', input: { step: id }, dependsOn, dependents: [], retry: defaultRetryPolicy,
          status: 'pending', attempt: 0, generation: 1, allowedAttempts: 2, remaining: 0, plannedBy: 'p', ...extra,
        });
        const plan = (extra: Partial<PlanWrite> = {}): PlanWrite => ({
          plannerDependents: ['e1'],
          added: [{ step: added('e1', ['p'], { dependents: ['e2'], releasedBy: ['p'] }), release: w.release('e1') }, { step: added('e2', ['e1'], { dependents: ['d'], remaining: 1 }) }],
          rewired: [{ stepId: 'd', dependsOn: ['e2'], definedRemaining: 1, delta: 0 }],
          event: w.event('run.planned', undefined, { stepId: 'p' }),
          ...extra,
        });
        // An added id the run has already: lost, nothing written.
        expect((await s.store.complete(w.completion('p'), { plan: plan({ added: [{ step: added('q', ['p']) }] }) }, w.event('step.completed', 'p'))).won).toBe(false);
        expect((await w.step('p'))!.status).toBe('running');
        expect((await s.store.listSteps(w.runId)).map((step) => step.stepId).sort()).toEqual(['d', 'p', 'q']);
        await w.expectRecorded(await s.store.complete(w.completion('p'), { plan: plan() }, w.event('step.completed', 'p')));
        expect(await w.step('p')).toMatchObject({ status: 'completed', dependents: ['e1'] });
        expect(await w.step('e1')).toMatchObject({ status: 'queued', remaining: 0, plannedBy: 'p', dependsOn: ['p'], releasedBy: ['p'], input: { step: 'e1' } });
        expect(await w.timers('e1')).toEqual([`dispatch@${at(1)}`]);
        expect(await w.step('e2')).toMatchObject({ status: 'pending', remaining: 1, dependents: ['d'] });
        expect(await w.step('d')).toMatchObject({ status: 'pending', remaining: 1, dependsOn: ['e2'] });
        expect((await w.run())!.totalSteps).toBe(5);
        expect((await s.store.listSteps(w.runId)).map((step) => step.stepId).sort()).toEqual(['d', 'e1', 'e2', 'p', 'q']);
        expect(await w.types('e1')).toEqual(['step.queued']);
        expect(await w.types()).toContain('run.planned');
        // A second plan of the same ids is lost as a whole (q, queued above, is claimed).
        expect((await w.claim('q')).won).toBe(true);
        expect((await s.store.complete(w.completion('q'), { plan: plan({ plannerDependents: [] , rewired: [] }) }, w.event('step.completed', 'q'))).won).toBe(false);
        // A sink planner: its bucket takes the exits, so its own count leaves the bucket open until they finish.
        const exit = added('x1', ['q']);
        await w.expectRecorded(await s.store.complete(w.completion('q'), { plan: plan({ plannerDependents: ['x1'], added: [{ step: { ...exit, sinkBucket: 0 }, release: w.release('x1') }], rewired: [], sinks: { bucket: 0, stepIds: ['x1'] } }) }, w.event('step.completed', 'q')));
        expect(await s.store.finishSinks(w.runId, 0, ['q', 'd'])).toBe(false);
        expect(await s.store.finishSinks(w.runId, 0, ['x1'])).toBe(true);
      });

      it('iterate: a loop step (running at its attempt) back to pending for its body, the body\'s first steps queued again and the rest reset, as new generations, all or none; alone in its body it is queued', async () => {
        const s = open();
        const w = scenario(s);
        await w.create([{ id: 'x' }, { id: 'b', dependsOn: ['x'] }, { id: 'm', dependsOn: ['b'] }, { id: 'c', dependsOn: ['m'] }, { id: 'solo' }]);
        for (const id of ['x', 'b', 'm', 'c', 'solo']) {
          await w.running(id);
          if (id !== 'c' && id !== 'solo') expect((await s.store.complete(w.completion(id), {}, w.event('step.completed', id))).won).toBe(true);
        }
        const plan = (attempt: number, readStatus: StepRecord['status'] = 'completed'): IterationPlan => ({
          runId: w.runId,
          at: at(6),
          step: { stepId: 'c', attempt, queued: false, remaining: 1, releasedBy: [], generation: 2, allowedAttempts: 3, iteration: 2, progress: { hash: 'h', repeats: 1 }, events: [w.event('step.iterated', 'c', { iteration: 1, output: { n: 1 } })] },
          heads: [{ stepId: 'b', readStatus, generation: 2, allowedAttempts: 3, event: w.event('step.queued', 'b') }],
          resets: [{ stepId: 'm', readStatus: 'completed', remaining: 1, releasedBy: [], dependents: ['c'], generation: 2, allowedAttempts: 3, at: at(6), event: w.event('step.reset', 'm') }],
        });
        // A stale attempt, or a head not in the status read: lost, nothing written.
        expect((await s.store.iterate(plan(2))).won).toBe(false);
        expect((await s.store.iterate(plan(1, 'failed'))).won).toBe(false);
        expect((await w.step('c'))!.status).toBe('running');
        expect((await w.step('b'))!.status).toBe('completed');
        await w.expectRecorded(await s.store.iterate(plan(1)));
        expect(await w.step('c')).toMatchObject({ status: 'pending', remaining: 1, generation: 2, allowedAttempts: 3, iteration: 2, progress: { hash: 'h', repeats: 1 }, attempt: 1 });
        expect((await w.step('c'))!.leaseUntil).toBeUndefined();
        expect(await w.step('b')).toMatchObject({ status: 'queued', generation: 2, allowedAttempts: 3 });
        expect((await w.step('b'))!.output).toBeUndefined();
        expect(await w.timers('b')).toEqual([`dispatch@${at(6)}`]);
        expect(await w.step('m')).toMatchObject({ status: 'pending', remaining: 1, generation: 2 });
        expect(await w.types('c')).toEqual(['step.queued', 'step.started', 'step.iterated']);
        // A repeat is lost (the loop step is no longer running).
        expect((await s.store.iterate(plan(1))).won).toBe(false);
        // Alone in its body: queued again at once, marked for dispatch.
        await w.expectRecorded(await s.store.iterate({ runId: w.runId, at: at(7), step: { stepId: 'solo', attempt: 1, queued: true, remaining: 0, releasedBy: [], generation: 2, allowedAttempts: 3, iteration: 2, events: [w.event('step.iterated', 'solo'), w.event('step.queued', 'solo')] }, heads: [], resets: [] }));
        expect(await w.step('solo')).toMatchObject({ status: 'queued', generation: 2, iteration: 2, attempt: 1 });
        expect(await w.timers('solo')).toEqual([`dispatch@${at(7)}`]);
        expect((await w.claim('solo', 1)).won).toBe(true);
      });

      it('reads: a run and its steps, missing ones undefined or left out', async () => {
        const s = open();
        const w = scenario(s);
        await w.create([{ id: 'a' }, { id: 'b', dependsOn: ['a'] }]);
        const { run, step } = await s.store.getRunAndStep(w.runId, 'b');
        expect(run).toMatchObject({ id: w.runId, status: 'running' });
        expect(step).toMatchObject({ stepId: 'b', status: 'pending', remaining: 1, dependsOn: ['a'], input: { step: 'b' } });
        expect(await s.store.getRunAndStep(w.runId, 'nope')).toEqual({ run: expect.objectContaining({ id: w.runId }) });
        expect((await s.store.getSteps(w.runId, ['b', 'nope', 'a'])).map((found) => found.stepId).sort()).toEqual(['a', 'b']);
        expect((await s.store.getSteps(w.runId, ['a'], { eventually: true })).map((found) => found.stepId)).toEqual(['a']);
        expect((await s.store.listSteps(w.runId)).map((found) => found.stepId).sort()).toEqual(['a', 'b']);
        expect(await s.store.getRun(scenario(s).runId)).toBeUndefined();
        expect(await s.store.listSteps(scenario(s).runId)).toEqual([]);
      });
    });
  });
}
