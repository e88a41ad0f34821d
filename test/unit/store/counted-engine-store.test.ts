import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { emptyUsage } from '#shared/clients/usage-meter';
import { estimateCostUsd } from '#shared/domain/cost';
import type { LlmUsageRecord } from '#shared/domain/llm-usage';
import type { Executor } from '#shared/executors/types';
import { countedEngineStore, inTally, openTally, projectDeltas } from '#shared/store/counted-engine-store';
import { createEngineHarness, projectId } from '#test/helpers/engine-harness';

const call = (inputTokens: number, outputTokens: number, costUsd: number): LlmUsageRecord => ({
  provider: 'bedrock',
  model: 'test-model',
  inputTokens,
  outputTokens,
  totalTokens: inputTokens + outputTokens,
  latencyMs: 5,
  costUsd,
  startedAt: '2026-11-30T12:00:00.000Z',
  endedAt: '2026-11-30T12:00:00.005Z',
});

/** A step kind that calls a model once per attempt: its records come back with its outcome. */
const model: Executor = {
  kind: 'model',
  input: z.unknown(),
  run: async () => ({ status: 'completed', output: { text: 'ok' }, usage: { llm: [call(100, 20, 0.003)] } }),
};

/** The harness's engine on the counted store, every delivery inside one tally (as one invocation would count). */
function countedHarness(failWhen?: NonNullable<Parameters<typeof createEngineHarness>[0]>['failWhen']) {
  const harness = createEngineHarness({ executors: [model], ...(failWhen ? { failWhen } : {}) });
  harness.deps.store = countedEngineStore(harness.memory.store);
  const tally = openTally();
  return { harness, tally, counted: <T>(work: () => Promise<T>) => inTally(tally, work) };
}

describe('counting as the engine writes (countedEngineStore)', () => {
  it('counts runs and steps by the status they entered, from the writes that won', async () => {
    const { harness, tally, counted } = countedHarness(({ stepId }) => (stepId === 'bad' ? 'fatal' : undefined));

    await counted(async () => {
      for (let index = 0; index < 3; index += 1) await harness.startRun([{ id: 'a' }, { id: 'b', dependsOn: ['a'] }]);
      await harness.startRun([{ id: 'bad' }]);
      await harness.drain();
    });

    const counters = tally.byProject.get(projectId)!;
    expect(counters.runs).toEqual({ pending: 4, running: 4, completed: 3, blocked: 1 });
    // 7 steps started, 6 completed, 1 failed; each queued once (a child's claim folds its queuing in).
    expect(counters.steps).toEqual({ queued: 7, running: 7, completed: 6, failed: 1 });
  });

  it('counts nothing for a write that lost: a duplicate delivery adds no entry', async () => {
    const { harness, tally, counted } = countedHarness();
    await counted(async () => {
      await harness.startRun([{ id: 'a' }]);
      // SQS delivers the root's message twice: the second claim loses.
      harness.queue.push({ ...harness.queue[0]!, message: { ...harness.queue[0]!.message } });
      await harness.drain();
    });

    expect(tally.byProject.get(projectId)!.steps).toEqual({ queued: 1, running: 1, completed: 1 });
  });

  it('adds the model calls an outcome write appends: tokens by direction and USD', async () => {
    const { harness, tally, counted } = countedHarness();
    await counted(async () => {
      await harness.startRun([{ id: 'ask', kind: 'model' }, { id: 'again', kind: 'model', dependsOn: ['ask'] }]);
      await harness.drain();
    });

    const counters = tally.byProject.get(projectId)!;
    expect([counters.inputTokens, counters.outputTokens]).toEqual([200, 40]);
    expect(counters.usageUsd).toBeCloseTo(0.006, 12);
  });

  it('counts nothing outside a tally', async () => {
    const { harness, tally } = countedHarness();
    await harness.startRun([{ id: 'a' }]);
    await harness.drain();
    expect(tally.byProject.size).toBe(0);
  });

  it("charges an invocation's AWS spend to the projects of the runs it charged, in equal shares", async () => {
    const { harness, tally, counted } = countedHarness();
    const runId = await counted(() => harness.startRun([{ id: 'a' }], { start: false }));
    const spent = { ...emptyUsage(), calls: { 'DynamoDB.TransactWriteItems': 2 }, dynamodb: { readUnits: 0, writeUnits: 8 }, lambdaGbSeconds: 0.5 };

    const deltas = projectDeltas(tally, [runId, 'run_unknown'], spent);

    const counters = deltas.get(projectId)!;
    expect(counters.awsCostUsd).toBeCloseTo(estimateCostUsd(spent).totalUsd / 2, 15);
    expect(counters.lambdaComputeUsd).toBeCloseTo((0.5 * 0.0000133334) / 2, 15);
    expect(counters.runs).toEqual({ pending: 1 });
  });
});
