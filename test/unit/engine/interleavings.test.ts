import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { runAction } from '#shared/engine/run-actions';
import { sweep } from '#shared/engine/sweeper';
import { calm, duplicateOf, fateArbitrary, receive } from '#test/helpers/crashing';
import { createEngineHarness, type EngineHarness } from '#test/helpers/engine-harness';
import { expectEachAttemptOnce, expectStepRecorded, propertySeed } from '#test/helpers/engine-properties';

/**
 * Property: whatever SQS and Lambda do (deliver twice, deliver in any order, run deliveries at the
 * same moment, kill a worker at any point of its work, dead-letter a message that keeps dying)
 * and however attempts fail (optional steps for good) and people retry, every run of a random DAG
 * ends completed exactly once, after its last sink, with each step released once, no attempt
 * executed twice, dependencies done before a step runs, every status change carried by its
 * event, and every event published.
 */

const dagArbitrary = fc.integer({ min: 1, max: 7 }).chain((size) =>
  fc.tuple(
    fc.array(fc.array(fc.boolean(), { minLength: size, maxLength: size }), { minLength: size, maxLength: size }),
    fc.array(fc.tuple(fc.nat(size - 1), fc.integer({ min: 1, max: 2 })), { maxLength: 4 }),
    // Some steps optional (`onFailure: continue`): one failing for good releases its dependents (or, a sink, counts as done).
    fc.array(fc.boolean(), { minLength: size, maxLength: size }),
  ).map(([edges, failures, optional]) => ({
    steps: Array.from({ length: size }, (_, index) => ({
      id: `s${index}`,
      dependsOn: Array.from({ length: index }, (_, parent) => parent).filter((parent) => edges[index]![parent]).map((parent) => `s${parent}`),
      retry: { maxAttempts: 2, backoffBaseSeconds: 1, backoffCapSeconds: 2, jitter: 'full' as const },
      ...(optional[index] ? { onFailure: 'continue' as const } : {}),
    })),
    // Retryable failures on some (step, attempt): with two attempts a step may fail for good, and a person retries the run.
    failures: new Set(failures.map(([step, attempt]) => `s${step}#${attempt}`)),
  })),
);

const roundArbitrary = fc.record({
  /** Which visible message first, and how many at once (parents finishing at the same moment). */
  pick: fc.nat(),
  together: fc.integer({ min: 1, max: 3 }),
  /** SQS delivers one of them a second time. */
  duplicate: fc.boolean(),
  fate: fateArbitrary(14),
  advanceSeconds: fc.integer({ min: 0, max: 9 }),
});

type Round = typeof roundArbitrary extends fc.Arbitrary<infer T> ? T : never;

/** Delivery rounds played (each an interleaving of 1-3 concurrent deliveries with their fates), for the report. */
let roundsPlayed = 0;

async function simulate(h: EngineHarness, rounds: Round[], yields: number[], runId: string): Promise<void> {
  // As the step worker: its releases are recovered by its message's redelivery.
  const worker = { ...h.deps, releasesRecoveredByRedelivery: true };
  for (const round of rounds) {
    if (h.visible().length === 0 && h.queue.length > 0) h.advance(Math.max(0, (Math.min(...h.queue.map((entry) => entry.visibleAt)) - h.now()) / 1000));
    const visible = h.visible();
    if (visible.length > 0) {
      roundsPlayed += 1;
      const chosen = Array.from({ length: Math.min(round.together, visible.length) }, (_, index) => visible[(round.pick + index) % visible.length]!);
      const batch = [...new Set(chosen)];
      if (round.duplicate) batch.push(duplicateOf(h, batch[0]!));
      // The first of the batch meets its fate; the others run to completion beside it.
      await Promise.all(batch.map((entry, index) => receive(h, worker, entry, index === 0 ? round.fate : calm, yields)));
    }
    h.advance(round.advanceSeconds);
    if (h.run(runId).status === 'blocked') await runAction(h.deps, h.run(runId), 'retry', 'person');
  }
  // Then the world calms down: no more crashes; the sweeper runs; people retry what stays blocked.
  for (let pass = 0; pass < 10 && h.run(runId).status !== 'completed'; pass += 1) {
    await h.drain(2000);
    if (h.run(runId).status === 'blocked') await runAction(h.deps, h.run(runId), 'retry', 'person');
    h.advance(120);
    await sweep(h.deps, { eventGraceSeconds: 30, limit: 1000, leaseGraceSeconds: 20, dispatchGraceSeconds: 60 });
  }
  h.advance(120);
  await sweep(h.deps, { eventGraceSeconds: 30, limit: 1000, leaseGraceSeconds: 20, dispatchGraceSeconds: 60 });
}

describe('the engine under duplicate deliveries, crashes at every point, concurrent parents and retries', () => {
  it('completes every run with each step released once, no attempt run twice, every change recorded and published', async () => {
    const numRuns = Number(process.env.ENGINE_PROPERTY_RUNS ?? 2000);
    const { seed, replaying, ...replay } = propertySeed('ENGINE_PROPERTY_SEED');
    let interleavings = 0;
    await fc.assert(
      fc.asyncProperty(dagArbitrary, fc.array(roundArbitrary, { minLength: 1, maxLength: 24 }), fc.array(fc.nat(3), { minLength: 1, maxLength: 16 }), async ({ steps, failures }, rounds, yields) => {
        interleavings += 1;
        const h = createEngineHarness({ failWhen: ({ stepId, attempt }) => (failures.has(`${stepId}#${attempt}`) ? 'retryable' : undefined) });
        const runId = await h.startRun(steps);
        await simulate(h, rounds, yields, runId);

        // Nothing lost: the run ended, once its last sink was done (no sink left in its buckets).
        expect(h.run(runId).status).toBe('completed');
        expect(h.memory.pendingSinks(runId)).toEqual([]);
        for (const { id, onFailure } of steps) {
          const step = h.step(runId, id);
          const types = h.typesOf(runId, id);
          // An optional step may have failed for good; the run went on without it.
          expect(step.status, id).toBe(onFailure === 'continue' && step.status === 'failed' ? 'failed' : 'completed');
          // Released once: one step.queued per step, ever.
          expect(types.filter((type) => type === 'step.queued'), id).toHaveLength(1);
          // Every change has its event: the history replays to the status; one start per attempt.
          expectStepRecorded(h, runId, id);
        }
        // No attempt executed twice; every execution was a claimed attempt; dependencies done first.
        expectEachAttemptOnce(h, runId);
        expect(h.typesOf(runId).filter((type) => type === 'run.completed')).toHaveLength(1);
        expect([...(h.run(runId).failedOptionalSteps ?? [])].sort()).toEqual(steps.filter(({ id }) => h.step(runId, id).status === 'failed').map(({ id }) => id));
        // Every event reached the bus (at least once) and was marked.
        expect(h.memory.events().filter((event) => !event.published)).toEqual([]);
      }),
      // A fresh seed each time (printed); ENGINE_PROPERTY_SEED and ENGINE_PROPERTY_PATH replay a failure.
      { numRuns, seed, ...replay },
    );
    console.log(`engine property: ${interleavings} generated runs, ${roundsPlayed} delivery rounds (interleavings) checked`);
    if (!replaying) expect(interleavings).toBe(numRuns);
  }, 120_000);
});
