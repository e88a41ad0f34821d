import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { batonMetrics } from '#shared/domain/metrics';
import { sweep } from '#shared/engine/sweeper';
import type { Executor } from '#shared/executors/types';
import { createEngineHarness, projectId, type EngineHarness } from '../../helpers/engine-harness';

/**
 * The engine reports Baton's metrics (shared/domain/metrics.ts) where it decides, through its
 * MetricsRecorder port: here a recording fake. Each metric carries its one declared dimension
 * (kind, reason) and never a run, step or project id.
 */

const chain = (length: number) => Array.from({ length }, (_, index) => ({ id: `s${index + 1}`, dependsOn: index ? [`s${index}`] : [] }));
const once = { maxAttempts: 1, backoffBaseSeconds: 1, backoffCapSeconds: 1, jitter: 'full' as const };
const sweepOptions = { eventGraceSeconds: 30, limit: 10, leaseGraceSeconds: 20, dispatchGraceSeconds: 60 };

/** Every data point has only its metric's declared dimension, and no value names the run, its steps or its project. */
function expectLowCardinality(harness: EngineHarness, runIds: string[]) {
  const ids = new Set([...runIds, projectId, ...harness.memory.events().flatMap((event) => (event.stepId ? [event.stepId] : []))]);
  expect(harness.metrics.points.length).toBeGreaterThan(0);
  for (const point of harness.metrics.points) {
    const declared = (batonMetrics[point.name] as { dimension?: string }).dimension;
    expect(Object.keys(point.dimensions ?? {})).toEqual(declared ? [declared] : []);
    for (const value of Object.values(point.dimensions ?? {})) expect(ids.has(value), `${point.name} dimension ${value}`).toBe(false);
  }
}

describe('engine metrics', () => {
  it('a run that completes: steps started and completed by kind, their durations, the queue lag of queued first attempts, one run completed', async () => {
    const harness = createEngineHarness();
    const runId = await harness.startRun([...chain(3), { id: 'side' }]);
    harness.advance(2);

    await harness.drain();

    expect(harness.run(runId).status).toBe('completed');
    expect(harness.metrics.count('StepsStarted', { kind: 'work' })).toBe(4);
    expect(harness.metrics.count('StepsCompleted', { kind: 'work' })).toBe(4);
    expect(harness.metrics.of('StepDuration')).toHaveLength(4);
    expect(harness.metrics.of('StepDuration').every((point) => point.value >= 0 && point.dimensions?.kind === 'work')).toBe(true);
    // The two roots came through the queue (sent 2 s before delivery); s2 and s3 ran inline after their parent: no queue, no lag.
    expect(harness.metrics.of('QueueLag').map((point) => point.value)).toEqual([2000, 2000]);
    expect(harness.metrics.of('RunsCompleted')).toEqual([{ name: 'RunsCompleted', dimensions: undefined, value: 1 }]);
    expect(harness.metrics.count('StepsFailed') + harness.metrics.count('RunsBlocked')).toBe(0);
    expectLowCardinality(harness, [runId]);
  });

  it('a step that fails after a retry: retried, failed, and its run blocked by reason (an agent\'s own code counts as STEP_FAILED)', async () => {
    const harness = createEngineHarness({ failWhen: ({ stepId }) => (stepId === 's2' ? 'retryable' : undefined) });
    const runId = await harness.startRun(chain(3).map((step) => ({ ...step, retry: { ...once, maxAttempts: 2 } })));

    await harness.drain();

    expect(harness.run(runId).status).toBe('blocked');
    expect(harness.metrics.of('StepsRetried')).toEqual([{ name: 'StepsRetried', dimensions: { kind: 'work' }, value: 1 }]);
    expect(harness.metrics.of('StepsFailed')).toEqual([{ name: 'StepsFailed', dimensions: { kind: 'work' }, value: 1 }]);
    // FLAKY is the test agent's code, not Baton's: unbounded codes never become dimension values.
    expect(harness.metrics.of('RunsBlocked')).toEqual([{ name: 'RunsBlocked', dimensions: { reason: 'STEP_FAILED' }, value: 1 }]);
    expect(harness.metrics.count('StepsStarted', { kind: 'work' })).toBe(3);
    expect(harness.metrics.count('RunsCompleted')).toBe(0);
    expectLowCardinality(harness, [runId]);
  });

  it('a dead-lettered step message: StepsDeadLettered by kind, the step failed and its run blocked DEAD_LETTERED', async () => {
    const harness = createEngineHarness();
    const runId = await harness.startRun([{ id: 'poison' }]);
    const [entry] = harness.queue.splice(0);

    await harness.deadLetter(entry!.message);

    expect(harness.step(runId, 'poison')).toMatchObject({ status: 'failed', error: { code: 'DEAD_LETTERED' } });
    expect(harness.metrics.of('StepsDeadLettered')).toEqual([{ name: 'StepsDeadLettered', dimensions: { kind: 'work' }, value: 1 }]);
    expect(harness.metrics.of('StepsFailed')).toEqual([{ name: 'StepsFailed', dimensions: { kind: 'work' }, value: 1 }]);
    expect(harness.metrics.of('RunsBlocked')).toEqual([{ name: 'RunsBlocked', dimensions: { reason: 'DEAD_LETTERED' }, value: 1 }]);
    expectLowCardinality(harness, [runId]);
  });

  it('a dead letter whose step is gone still counts, as kind unknown', async () => {
    const harness = createEngineHarness();

    expect(await harness.deadLetter({ runId: 'run_gone', stepId: 'x', attempt: 0 })).toBe('ignored');

    expect(harness.metrics.of('StepsDeadLettered')).toEqual([{ name: 'StepsDeadLettered', dimensions: { kind: 'unknown' }, value: 1 }]);
  });

  it('an agent that never calls back: CallbacksTimedOut (callback), the step failed by kind, the run blocked CALLBACK_TIMEOUT', async () => {
    const agent: Executor = { kind: 'http', input: z.unknown(), run: async () => ({ status: 'pending' }) };
    const harness = createEngineHarness({ executors: [agent], callbackBaseUrl: 'https://api.example.test' });
    const runId = await harness.startRun([{ id: 'agent', kind: 'http', input: {}, callbackTimeoutSeconds: 60, retry: once }]);
    await harness.deliver();
    expect(harness.step(runId, 'agent')).toMatchObject({ status: 'running', waitingFor: 'callback' });
    expect(harness.metrics.count('CallbacksTimedOut')).toBe(0);

    // Its deadline passes; the sweeper finds it (the worker's own check message would too).
    harness.advance(600);
    await sweep(harness.deps, sweepOptions);

    expect(harness.step(runId, 'agent')).toMatchObject({ status: 'failed', error: { code: 'CALLBACK_TIMEOUT' } });
    expect(harness.metrics.of('CallbacksTimedOut')).toEqual([{ name: 'CallbacksTimedOut', dimensions: { reason: 'callback' }, value: 1 }]);
    expect(harness.metrics.of('StepsFailed')).toEqual([{ name: 'StepsFailed', dimensions: { kind: 'http' }, value: 1 }]);
    expect(harness.metrics.of('RunsBlocked')).toEqual([{ name: 'RunsBlocked', dimensions: { reason: 'CALLBACK_TIMEOUT' }, value: 1 }]);
    expectLowCardinality(harness, [runId]);
  });

  it('an agent that stops its heartbeat: CallbacksTimedOut (heartbeat), and the step is retried by kind', async () => {
    const agent: Executor = { kind: 'http', input: z.unknown(), run: async () => ({ status: 'pending' }) };
    const harness = createEngineHarness({ executors: [agent], callbackBaseUrl: 'https://api.example.test' });
    const runId = await harness.startRun([{ id: 'agent', kind: 'http', input: {}, callbackTimeoutSeconds: 3600, heartbeatSeconds: 30, retry: { ...once, maxAttempts: 2 } }]);
    await harness.deliver();
    expect(harness.step(runId, 'agent')).toMatchObject({ status: 'running', waitingFor: 'callback' });

    // No heartbeat for longer than 30 s, the deadline an hour away: the sweeper finds the missed heartbeat.
    harness.advance(120);
    await sweep(harness.deps, sweepOptions);

    expect(harness.step(runId, 'agent')).toMatchObject({ status: 'queued', error: { code: 'HEARTBEAT_TIMEOUT' } });
    expect(harness.metrics.of('CallbacksTimedOut')).toEqual([{ name: 'CallbacksTimedOut', dimensions: { reason: 'heartbeat' }, value: 1 }]);
    expect(harness.metrics.count('StepsRetried', { kind: 'http' })).toBe(1);
    expectLowCardinality(harness, [runId]);
  });
});
