import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConflictError } from '#shared/domain/errors';
import { forkRun } from '#shared/engine/fork-run';
import { setRunLimits } from '#shared/engine/limits';
import { rerunStep } from '#shared/engine/rerun-step';
import { runAction } from '#shared/engine/run-actions';
import { sweep } from '#shared/engine/sweeper';
import type { Executor } from '#shared/executors/types';
import { defaultProjectSettings, type ProjectSettings } from '#shared/schemas/projects';
import type { Workflow } from '#shared/store/workflows';
import { createEngineHarness, projectId, statusFromEvents, type EngineHarness } from '../../helpers/engine-harness';

/**
 * Guards against runaway agents on the in-memory store (issue 12 §5): maxExecutedSteps (a
 * conditional counter before the claim), maxDurationSeconds (checked at the claim, and a timer
 * for idle runs), NO_PROGRESS (the same output too many times in a row), and a fork that keeps
 * its source's budget and limits.
 */

/** A step kind whose output is its input: the same input, the same output (`noProgress` fodder). */
const echo: Executor = { kind: 'echo', input: z.unknown(), run: async (input) => ({ status: 'completed', output: input ?? null }) };
const chain = (length: number) => Array.from({ length }, (_, index) => ({ id: `s${index + 1}`, dependsOn: index ? [`s${index}`] : [] }));
const runEventsOf = (harness: EngineHarness, runId: string, type: string) => harness.eventsOf(runId).filter((event) => event.type === type);
const started = (harness: EngineHarness, runId: string, stepId: string) => harness.typesOf(runId, stepId).filter((type) => type === 'step.started').length;
const sweepOptions = { eventGraceSeconds: 30, limit: 10, leaseGraceSeconds: 20, dispatchGraceSeconds: 60 };

describe('maxExecutedSteps', () => {
  it('blocks the run before the execution past the limit, which never starts; raising it and resuming completes the run', async () => {
    // Prepare: a chain of 5 under a limit of 3 executions
    const harness = createEngineHarness();
    const runId = await harness.startRun(chain(5), { limits: { maxExecutedSteps: 3 } });

    // Act
    await harness.drain();

    // Assess: three ran, the fourth is held, not started
    expect(harness.run(runId)).toMatchObject({ status: 'blocked', heldSteps: ['s4'] });
    expect(harness.run(runId).reason).toMatch(/^MAX_EXECUTED_STEPS: step s4 would be execution 4, and the run's limits.maxExecutedSteps is 3/);
    expect(harness.executions.map((execution) => execution.stepId)).toEqual(['s1', 's2', 's3']);
    expect(started(harness, runId, 's4')).toBe(0);
    expect(runEventsOf(harness, runId, 'limit.exceeded')[0]?.detail).toMatchObject({ code: 'MAX_EXECUTED_STEPS', limit: 'maxExecutedSteps', value: 3, executed: 3, stepId: 's4' });
    expect(runEventsOf(harness, runId, 'run.blocked')[0]?.detail).toMatchObject({ code: 'MAX_EXECUTED_STEPS', stepId: 's4' });
    expect(harness.metrics.of('RunsBlocked')).toEqual([{ name: 'RunsBlocked', dimensions: { reason: 'MAX_EXECUTED_STEPS' }, value: 1 }]);
    expect(harness.memory.executed(runId)).toBe(3);

    // Act: resume without a raise blocks again at once; a raise and resume completes
    await runAction(harness.deps, harness.run(runId), 'resume', 'editor');
    await harness.drain();
    expect(harness.run(runId)).toMatchObject({ status: 'blocked', heldSteps: ['s4'] });
    await setRunLimits(harness.deps, harness.run(runId), { maxExecutedSteps: 10 }, 'editor');
    await runAction(harness.deps, harness.run(runId), 'resume', 'editor');
    await harness.drain();

    // Assess
    expect(harness.run(runId).status).toBe('completed');
    expect(harness.executions.map((execution) => execution.stepId)).toEqual(['s1', 's2', 's3', 's4', 's5']);
    expect(harness.memory.executed(runId)).toBe(5);
    expect(harness.typesOf(runId)).toContain('limits.changed');
    for (const id of ['s1', 's2', 's3', 's4', 's5']) expect(statusFromEvents(harness.typesOf(runId, id))).toBe('completed');
  });

  it('counts retries: every attempt that ran an executor is an execution', async () => {
    const harness = createEngineHarness({ failWhen: ({ stepId, attempt }) => (stepId === 's1' && attempt < 3 ? 'retryable' : undefined) });
    const runId = await harness.startRun(chain(2), { limits: { maxExecutedSteps: 3 } });
    await harness.drain();
    expect(harness.run(runId)).toMatchObject({ status: 'blocked', heldSteps: ['s2'] });
    expect(harness.executions.map((execution) => `${execution.stepId}#${execution.attempt}`)).toEqual(['s1#1', 's1#2', 's1#3']);
  });

  it('lets concurrent steps reserve only what fits: ten parallel steps under a limit of four, exactly four run', async () => {
    // Prepare: ten roots, all delivered before any finishes
    const harness = createEngineHarness();
    const runId = await harness.startRun(Array.from({ length: 10 }, (_, index) => ({ id: `p${index}` })), { limits: { maxExecutedSteps: 4 } });

    // Act: every message processed at once
    await Promise.all(harness.visible().map(() => harness.deliver(0)));
    await harness.drain();

    // Assess
    expect(harness.executions).toHaveLength(4);
    expect(harness.run(runId).status).toBe('blocked');
    expect(harness.run(runId).heldSteps).toHaveLength(6);
    expect(harness.memory.executed(runId)).toBe(4);
  });

  it('a limit set on a running run counts what already ran', async () => {
    // Prepare: s1, s2 and s3's first attempt run (one delivery runs the chain inline); s3 waits for its retry
    const harness = createEngineHarness({ failWhen: ({ stepId, attempt }) => (stepId === 's3' && attempt === 1 ? 'retryable' : undefined) });
    const runId = await harness.startRun(chain(4));
    await harness.deliver();

    // Act
    await setRunLimits(harness.deps, harness.run(runId), { maxExecutedSteps: 4 }, 'editor');
    await harness.drain();

    // Assess: 3 had run, s3's retry is the 4th, s4 would be the 5th
    expect(harness.memory.executed(runId)).toBe(4);
    expect(harness.run(runId)).toMatchObject({ status: 'blocked', heldSteps: ['s4'] });
  });

  it('a run with no limit touches no counter', async () => {
    const harness = createEngineHarness();
    let calls = 0;
    const limits = harness.deps.store.limits;
    harness.deps.store = { ...harness.deps.store, limits: new Proxy(limits, { get: (target, name): unknown => (calls++, Reflect.get(target, name) as unknown) }) };
    const runId = await harness.startRun(chain(3));
    await harness.drain();
    expect(harness.run(runId).status).toBe('completed');
    expect(calls).toBe(0);
  });
});

describe('maxDurationSeconds', () => {
  it('a step due after the deadline does not start: the run blocks with MAX_DURATION; resume is refused until a raise', async () => {
    // Prepare: s1 runs, then its child waits 100 s behind a retry backoff past a 60 s limit
    const harness = createEngineHarness({ failWhen: ({ stepId, attempt }) => (stepId === 's2' && attempt === 1 ? 'retryable' : undefined) });
    const runId = await harness.startRun(chain(3), { limits: { maxDurationSeconds: 60 } });
    await harness.deliver();
    harness.advance(61);

    // Act
    await harness.drain();

    // Assess
    expect(harness.run(runId)).toMatchObject({ status: 'blocked', heldSteps: ['s2'] });
    expect(harness.run(runId).reason).toMatch(/^MAX_DURATION: the run started at 2026-11-30T12:00:00.000Z and has run 6\ds, past its limits.maxDurationSeconds of 60s/);
    expect(runEventsOf(harness, runId, 'limit.exceeded')[0]?.detail).toMatchObject({ code: 'MAX_DURATION', limit: 'maxDurationSeconds', value: 60, stepId: 's2' });
    await expect(runAction(harness.deps, harness.run(runId), 'resume', 'editor')).rejects.toThrow(/past its limits.maxDurationSeconds \(60s/);

    // Act: raise, resume
    await setRunLimits(harness.deps, harness.run(runId), { maxDurationSeconds: 3600 }, 'editor');
    await runAction(harness.deps, harness.run(runId), 'resume', 'editor');
    await harness.drain();
    expect(harness.run(runId).status).toBe('completed');
  });

  it('an idle run (a step waiting for a person) is blocked by the sweeper at its deadline, not before', async () => {
    const harness = createEngineHarness();
    const runId = await harness.startRun([{ id: 'gate', kind: 'approval' }], { limits: { maxDurationSeconds: 120 } });
    await harness.drain();
    expect(harness.step(runId, 'gate').status).toBe('needs_qa');
    expect(harness.memory.deadlineTimer(runId)).toBe('2026-11-30T12:02:00.000Z');

    harness.advance(100);
    expect((await sweep(harness.deps, sweepOptions)).runsPastDuration).toBe(0);
    harness.advance(30);
    expect((await sweep(harness.deps, sweepOptions)).runsPastDuration).toBe(1);

    expect(harness.run(runId).status).toBe('blocked');
    expect(harness.run(runId).reason).toMatch(/^MAX_DURATION: .* has run 130s/);
    expect(runEventsOf(harness, runId, 'run.blocked')[0]?.detail).toMatchObject({ code: 'MAX_DURATION' });
    expect(harness.memory.deadlineTimer(runId)).toBeUndefined();
    // A raise files the timer at the new deadline; resume continues.
    await setRunLimits(harness.deps, harness.run(runId), { maxDurationSeconds: 600 }, 'editor');
    expect(harness.memory.deadlineTimer(runId)).toBe('2026-11-30T12:10:00.000Z');
    await runAction(harness.deps, harness.run(runId), 'resume', 'editor');
    expect(harness.run(runId).status).toBe('running');
  });

  it('the sweeper drops the timer of a run that ended; a re-run files it again, and the re-run step past the deadline does not start', async () => {
    const harness = createEngineHarness();
    const runId = await harness.startRun(chain(1), { limits: { maxDurationSeconds: 60 } });
    await harness.drain();
    expect(harness.run(runId).status).toBe('completed');
    harness.advance(120);
    expect((await sweep(harness.deps, sweepOptions)).runsPastDuration).toBe(0);
    expect(harness.memory.deadlineTimer(runId)).toBeUndefined();

    await rerunStep(harness.deps, harness.run(runId), 's1', {}, 'editor');
    expect(harness.memory.deadlineTimer(runId)).toBe('2026-11-30T12:01:00.000Z');
    await harness.drain();
    expect(harness.run(runId)).toMatchObject({ status: 'blocked', heldSteps: ['s1'] });
    expect(harness.run(runId).reason).toMatch(/^MAX_DURATION: /);
  });
});

describe('NO_PROGRESS', () => {
  it('a step re-run with the same output stops at the third identical output; a re-run with a new input goes on', async () => {
    // Prepare: a → b, a echoes its input
    const harness = createEngineHarness({ executors: [echo] });
    const runId = await harness.startRun([{ id: 'a', kind: 'echo', input: { draft: 1 } }, { id: 'b', dependsOn: ['a'] }]);
    await harness.drain();

    // Act: two re-runs with the same input
    await rerunStep(harness.deps, harness.run(runId), 'a', {}, 'editor');
    await harness.drain();
    expect(harness.run(runId).status).toBe('completed');
    await rerunStep(harness.deps, harness.run(runId), 'a', {}, 'editor');
    await harness.drain();

    // Assess: the third identical output stops it; b did not run again after it
    expect(harness.run(runId)).toMatchObject({ status: 'blocked', failedSteps: ['a'] });
    expect(harness.run(runId).reason).toMatch(/^NO_PROGRESS: step a produced the same output \(sha256 [\w-]{22}\) 3 times in a row \(limits.noProgressAfter 3\)/);
    expect(harness.step(runId, 'a')).toMatchObject({ status: 'failed', error: { code: 'NO_PROGRESS', retryable: false }, progress: { repeats: 3 } });
    expect(harness.step(runId, 'b').status).toBe('pending');
    expect(runEventsOf(harness, runId, 'limit.exceeded')[0]?.detail).toMatchObject({ code: 'NO_PROGRESS', limit: 'noProgressAfter', value: 3, stepId: 'a', repeats: 3 });
    expect(runEventsOf(harness, runId, 'run.blocked').at(-1)?.detail).toMatchObject({ code: 'NO_PROGRESS', stepId: 'a' });
    expect(statusFromEvents(harness.typesOf(runId, 'a'))).toBe('failed');

    // Act: a retry with the same input stops again; a re-run with a new input completes the run
    await runAction(harness.deps, harness.run(runId), 'retry', 'editor');
    await harness.drain();
    expect(harness.run(runId).status).toBe('blocked');
    expect(harness.step(runId, 'a').progress?.repeats).toBe(4);
    await rerunStep(harness.deps, harness.run(runId), 'a', { input: { draft: 2 } }, 'editor');
    await harness.drain();

    // Assess
    expect(harness.run(runId).status).toBe('completed');
    expect(harness.step(runId, 'a').output).toEqual({ draft: 2 });
  });

  it("the run's noProgressAfter decides; a changing output never stops; a step reset by an upstream re-run starts a new streak", async () => {
    const harness = createEngineHarness({ executors: [echo] });
    // `work` outputs its attempt number: a different output every time.
    const runId = await harness.startRun([{ id: 'a' }, { id: 'b', kind: 'echo', dependsOn: ['a'], input: { same: true } }], { limits: { noProgressAfter: 2 } });
    await harness.drain();
    for (let round = 0; round < 3; round += 1) {
      await rerunStep(harness.deps, harness.run(runId), 'a', {}, 'editor');
      await harness.drain();
      expect(harness.run(runId).status).toBe('completed');
    }
    expect(harness.step(runId, 'b').progress).toBeUndefined();
    // b itself re-run: its second identical output is one too many under noProgressAfter 2.
    await rerunStep(harness.deps, harness.run(runId), 'b', {}, 'editor');
    await harness.drain();
    expect(harness.run(runId).reason).toMatch(/^NO_PROGRESS: step b .* 2 times in a row \(limits.noProgressAfter 2\)/);
  });

  it('a first execution computes and writes nothing for NO_PROGRESS', async () => {
    const harness = createEngineHarness({ executors: [echo] });
    const runId = await harness.startRun([{ id: 'a', kind: 'echo', input: 1 }]);
    await harness.drain();
    expect(harness.step(runId, 'a').progress).toBeUndefined();
  });
});

describe('defaults and forks', () => {
  it("a run takes the project's limits field by field, its own first", async () => {
    const settings: ProjectSettings = { ...defaultProjectSettings, limits: { maxExecutedSteps: 100, maxDurationSeconds: 3600 } };
    const harness = createEngineHarness({ settings: () => settings });
    const runId = await harness.startRun(chain(1), { limits: { maxExecutedSteps: 5 } });
    expect(harness.run(runId).limits).toEqual({ maxExecutedSteps: 5, maxDurationSeconds: 3600 });
  });

  it("a fork carries its source's budget and limits, not the project's defaults, unless the request gives its own", async () => {
    // Prepare: a source run with its own budget and limits, in a project whose defaults differ
    const settings: ProjectSettings = { ...defaultProjectSettings, budgets: { perRun: { tokens: 1, mode: 'strict' } }, limits: { maxExecutedSteps: 1 } };
    const harness = createEngineHarness({ settings: () => settings });
    const steps = chain(2);
    const runId = await harness.startRun(steps, { budget: { tokens: 5000, mode: 'warn' }, limits: { maxExecutedSteps: 50, noProgressAfter: 4 } });
    await harness.drain();
    const workflow: Workflow = { id: 'wf_test', projectId, name: 'test', version: 1, createdAt: new Date().toISOString(), steps: steps.map((step) => ({ kind: 'work', ...step })) };

    // Act
    const carried = await forkRun(harness.deps, harness.run(runId), workflow, { fromStep: 's2' }, 'editor');
    const own = await forkRun(harness.deps, harness.run(runId), workflow, { fromStep: 's2', budget: { usd: 1, mode: 'strict' }, limits: { maxDurationSeconds: 60 } }, 'editor');
    await harness.drain();

    // Assess
    expect(harness.run(carried.run.id)).toMatchObject({ budget: { tokens: 5000, mode: 'warn' }, limits: { maxExecutedSteps: 50, noProgressAfter: 4 }, status: 'completed' });
    expect(harness.run(own.run.id)).toMatchObject({ budget: { usd: 1, mode: 'strict' }, limits: { maxDurationSeconds: 60 } });
    expect(harness.run(own.run.id).limits?.maxExecutedSteps).toBeUndefined();
  });

  it('limits of an ended run cannot change', async () => {
    const harness = createEngineHarness();
    const runId = await harness.startRun(chain(1));
    await harness.drain();
    await expect(setRunLimits(harness.deps, harness.run(runId), { maxExecutedSteps: 1 }, 'editor')).rejects.toBeInstanceOf(ConflictError);
  });
});
