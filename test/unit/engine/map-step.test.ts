import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { mapChildId } from '#shared/domain/map-step';
import { runAction } from '#shared/engine/run-actions';
import { processStepMessage } from '#shared/engine/step-lifecycle';
import { Crash, crashing, receive } from '#test/helpers/crashing';
import { createEngineHarness, type EngineHarness } from '#test/helpers/engine-harness';

/** Children of the map that are queued or running now (started, not finished). */
const inFlight = (harness: EngineHarness, runId: string) =>
  harness.memory.store.maps
    .children(runId, 'm', { limit: 100_000 })
    .then(({ items }) => items.filter((child) => child.status === 'queued' || child.status === 'running').length);

/** Delivers until the queue is empty (in the order `pick` chooses, duplicating when it says), checking the window after every delivery. */
async function drainChecked(harness: EngineHarness, runId: string, maxConcurrency: number, pick: () => { index: number; duplicate: boolean } = () => ({ index: 0, duplicate: false })) {
  let peak = 0;
  for (let deliveries = 0; harness.queue.length > 0; deliveries += 1) {
    if (deliveries > 20_000) throw new Error('not drained');
    if (harness.visible().length === 0) harness.advance((Math.min(...harness.queue.map((entry) => entry.visibleAt)) - harness.now()) / 1000);
    const choice = pick();
    const index = choice.index % harness.visible().length;
    if (choice.duplicate) harness.queue.push({ ...harness.visible()[index]!, message: { ...harness.visible()[index]!.message } });
    await harness.deliver(index);
    peak = Math.max(peak, await inFlight(harness, runId));
    expect(peak).toBeLessThanOrEqual(maxConcurrency);
  }
  return peak;
}

const results = (harness: EngineHarness, runId: string) => {
  const key = [...harness.objects.keys()].find((name) => name.includes(runId) && name.endsWith('/map/results.jsonl'))!;
  return harness.objects
    .get(key)!
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { index: number; status: string; output?: { by: string } });
};

const mapStep = (input: Record<string, unknown>) => ({ id: 'm', kind: 'map', input: { step: { kind: 'work', retry: { maxAttempts: 1, backoffBaseSeconds: 0, backoffCapSeconds: 0, jitter: 'none' as const } }, ...input } });

describe('map steps (issue 13 §1) on the in-memory store', () => {
  it('runs every item once, never more than maxConcurrency at a time, and writes the results in item order', async () => {
    const harness = createEngineHarness();
    const items = Array.from({ length: 250 }, (_, index) => ({ n: index }));
    const runId = await harness.startRun([mapStep({ items, maxConcurrency: 7, step: { kind: 'noop', input: { value: '{{item.n}}', at: 'item {{index}}' } } }), { id: 'after', dependsOn: ['m'] }]);
    const peak = await drainChecked(harness, runId, 7);
    expect(peak).toBe(7);
    expect(harness.run(runId).status).toBe('completed');
    const output = harness.step(runId, 'm').output as { count: number; succeeded: number; failed: number; resultsUrl: string };
    expect(output).toMatchObject({ count: 250, succeeded: 250, failed: 0 });
    expect(output.resultsUrl).toMatch(/^s3:\/\/test-bucket\/projects\/.*\/map\/results\.jsonl$/);
    const lines = results(harness, runId);
    expect(lines.map((line) => line.index)).toEqual(items.map((_, index) => index));
    expect(lines[42]).toEqual({ index: 42, status: 'succeeded', output: { value: 42, at: 'item 42' } });
    // The dependent ran after the map.
    expect(harness.step(runId, 'after').status).toBe('completed');
  });

  it('takes its items from a dependency output with a JSONPath', async () => {
    const harness = createEngineHarness();
    const runId = await harness.startRun([
      { id: 'list', kind: 'noop', input: { page: { items: ['a', 'b', 'c'] } } },
      { id: 'm', kind: 'map', dependsOn: ['list'], input: { items: { from: 'list', path: '$.page.items' }, step: { kind: 'noop', input: '{{item}}!' } } },
    ]);
    await drainChecked(harness, runId, 40);
    expect(harness.step(runId, 'm').output).toMatchObject({ count: 3, succeeded: 3, failed: 0 });
    expect(results(harness, runId).map((line) => line.output)).toEqual(['a!', 'b!', 'c!']);
  });

  it('completes within its tolerance, blocks the run over it, and a retry re-runs the failed items only', async () => {
    const failing = new Set([3, 17, 40, 41, 99]);
    const harness = createEngineHarness({ failWhen: ({ stepId, attempt }) => (attempt === 1 && [...failing].some((index) => stepId === mapChildId('m', index)) ? 'fatal' : undefined) });
    const tolerated = await harness.startRun([mapStep({ items: Array.from({ length: 100 }, (_, index) => index), maxConcurrency: 10, toleratedFailurePercentage: 5 })]);
    await drainChecked(harness, tolerated, 10);
    expect(harness.run(tolerated).status).toBe('completed');
    expect(harness.step(tolerated, 'm').output).toMatchObject({ count: 100, succeeded: 95, failed: 5 });
    expect(results(harness, tolerated).filter((line) => line.status === 'failed').map((line) => line.index)).toEqual([...failing]);

    const blocked = await harness.startRun([mapStep({ items: Array.from({ length: 100 }, (_, index) => index), maxConcurrency: 2, toleratedFailurePercentage: 4.9 })]);
    await drainChecked(harness, blocked, 2);
    expect(harness.run(blocked).status).toBe('blocked');
    expect(harness.step(blocked, 'm').error).toMatchObject({ code: 'MAP_TOLERANCE_EXCEEDED' });
    // The run's failed steps are the map alone, not its children.
    expect(harness.run(blocked).failedSteps).toEqual(['m']);
    const before = harness.executions.filter((execution) => execution.runId === blocked).length;
    expect(before).toBe(100);

    await runAction(harness.deps, harness.run(blocked), 'retry', 'editor');
    await drainChecked(harness, blocked, 2);
    const again = harness.executions.filter((execution) => execution.runId === blocked).slice(before);
    expect(again.map((execution) => execution.stepId).sort()).toEqual([...failing].map((index) => mapChildId('m', index)).sort());
    expect(again.every((execution) => execution.attempt === 2)).toBe(true);
    expect(harness.run(blocked).status).toBe('completed');
    expect(harness.step(blocked, 'm').output).toMatchObject({ count: 100, succeeded: 100, failed: 0 });
    expect(results(harness, blocked).every((line) => line.status === 'succeeded')).toBe(true);
  });

  it('pause holds the children and resume goes on; cancel cancels the children and the map', async () => {
    const harness = createEngineHarness();
    const paused = await harness.startRun([mapStep({ items: Array.from({ length: 30 }, (_, index) => index), maxConcurrency: 4 })]);
    // The map's claim, then one child (which runs the ones after it in its slot inline, a chain).
    for (let delivered = 0; delivered < 2; delivered += 1) await harness.deliver();
    await runAction(harness.deps, harness.run(paused), 'pause', 'editor');
    await harness.drain();
    expect(harness.run(paused).status).toBe('paused');
    expect(harness.run(paused).heldSteps?.every((id) => id.startsWith('m['))).toBe(true);
    const ranWhilePaused = harness.executions.filter((execution) => execution.runId === paused).length;
    await runAction(harness.deps, harness.run(paused), 'resume', 'editor');
    await drainChecked(harness, paused, 4);
    expect(harness.run(paused).status).toBe('completed');
    expect(harness.executions.filter((execution) => execution.runId === paused).length).toBe(30);
    expect(ranWhilePaused).toBeLessThan(30);

    const cancelled = await harness.startRun([mapStep({ items: Array.from({ length: 30 }, (_, index) => index), maxConcurrency: 4 })]);
    for (let delivered = 0; delivered < 2; delivered += 1) await harness.deliver();
    await runAction(harness.deps, harness.run(cancelled), 'cancel', 'editor');
    await harness.drain();
    expect(harness.run(cancelled).status).toBe('cancelled');
    expect(harness.step(cancelled, 'm').status).toBe('cancelled');
    const { items } = await harness.memory.store.maps.children(cancelled, 'm', { limit: 100 });
    expect(items.filter((child) => child.status === 'queued' || child.status === 'running')).toEqual([]);
    expect(items.some((child) => child.status === 'cancelled')).toBe(true);
  });

  it('a worker dying anywhere in a chain of children it ran inline leaves none behind: the redelivery walks the chain', async () => {
    // One slot: the first child's message runs every child after it inline (and the dependent); its worker dies at each of its calls in turn
    // (the children retry: a death mid-attempt costs that attempt, WORKER_LOST).
    // Its message then comes back, or (every delivery having died) goes to the DLQ handler.
    for (let crashAt = 1; crashAt <= 70; crashAt += 1) {
      for (const [afterEffect, deadLettered] of [[false, false], [true, false], [false, true], [true, true]] as const) {
        const harness = createEngineHarness();
        const runId = await harness.startRun([mapStep({ items: Array.from({ length: 6 }, (_, index) => index), maxConcurrency: 1, step: { kind: 'work' } }), { id: 'after', dependsOn: ['m'] }]);
        await harness.deliver(); // the map's claim: its first child's message
        const entry = harness.visible()[0]!;
        entry.receives += 1;
        entry.visibleAt = harness.now() + 20_000;
        const outcome = await processStepMessage(crashing(harness.deps, { crashAt, afterEffect }, [0]), entry.message, harness.now() + 20_000).catch((error: unknown) => error);
        if (!(outcome instanceof Crash) || deadLettered) harness.queue.splice(harness.queue.indexOf(entry), 1);
        if (outcome instanceof Crash && deadLettered) await harness.deadLetter(entry.message);
        await harness.drain();
        const fate = `crash at ${crashAt} ${afterEffect}${deadLettered ? ', dead-lettered' : ''}`;
        const { items: children } = await harness.memory.store.maps.children(runId, 'm', { limit: 100 });
        // Nothing left behind: every child finished, the map with them, the run with the map.
        expect(children.map((child) => child.status).filter((status) => status !== 'completed' && status !== 'failed'), fate).toEqual([]);
        expect(children, fate).toHaveLength(6);
        if (deadLettered && harness.run(runId).status === 'blocked') {
          // The DLQ handler failed the child its message was for when that one had not finished: the map over its 0% tolerance.
          expect(children.filter((child) => child.status === 'failed').map((child) => child.error?.code), fate).toEqual(['DEAD_LETTERED']);
          expect(harness.step(runId, 'm').error?.code, fate).toBe('MAP_TOLERANCE_EXCEEDED');
          continue;
        }
        expect(harness.run(runId).status, `${fate}: ${harness.run(runId).reason}`).toBe('completed');
        expect(harness.step(runId, 'm').output, fate).toMatchObject({ count: 6, succeeded: 6, failed: 0 });
        expect(results(harness, runId).map((line) => line.status)).toEqual(Array.from({ length: 6 }, () => 'succeeded'));
        expect(harness.step(runId, 'after').status).toBe('completed');
      }
    }
  });

  it("a worker dying in a retry round's chain never retries a child twice in that round: the redo finishes one that failed in it", async () => {
    // Round 1: every child fails (a 0% tolerance blocks the run); the retry's round 2 runs the six again in one slot, a chain,
    // where items 1 and 3 fail again. The worker running that chain dies at each of its calls; the redelivery walks the chain.
    for (let crashAt = 1; crashAt <= 60; crashAt += 1) {
      for (const afterEffect of [false, true]) {
        const again = new Set([mapChildId('m', 1), mapChildId('m', 3)]);
        const harness = createEngineHarness({ failWhen: ({ stepId, attempt }) => (attempt === 1 || again.has(stepId) ? 'fatal' : undefined) });
        // Retries for what the crash wrapper throws inside an attempt; a fatal failure is never retried.
        const step = { kind: 'work', retry: { maxAttempts: 3, backoffBaseSeconds: 0, backoffCapSeconds: 0, jitter: 'none' as const } };
        const runId = await harness.startRun([mapStep({ items: Array.from({ length: 6 }, (_, index) => index), maxConcurrency: 1, step })]);
        await harness.drain();
        expect(harness.run(runId).status).toBe('blocked');
        await runAction(harness.deps, harness.run(runId), 'retry', 'editor');
        await harness.deliver(); // the map's claim: round 2's first child's message
        // Its first receive: deleted if the worker lives, visible again after the timeout if it dies.
        await receive(harness, harness.deps, harness.visible()[0]!, { crashAt, afterEffect }, [0]);
        await harness.drain();
        const fate = `crash at ${crashAt} ${afterEffect}`;
        const { items: children } = await harness.memory.store.maps.children(runId, 'm', { limit: 100 });
        expect(children.map((child) => child.status).filter((status) => status !== 'completed' && status !== 'failed'), fate).toEqual([]);
        // Each child is requeued once by round 2, however often the chain is walked.
        for (const child of children) {
          const requeues = harness.eventsOf(runId, child.stepId).filter((event) => event.type === 'step.retry_requested' && (event.detail as { round?: number }).round === 2);
          expect(requeues, `${fate}: ${child.stepId}`).toHaveLength(1);
        }
        expect(harness.run(runId).status, fate).toBe('blocked');
        // Items 1 and 3 failed again; another fails only when the worker died in its attempt (the retry round gives one).
        const failed = children.filter((child) => child.status === 'failed');
        expect(failed.filter((child) => again.has(child.stepId)).map((child) => child.mapItem?.index), fate).toEqual([1, 3]);
        expect(failed.filter((child) => !again.has(child.stepId) && child.error?.code !== 'WORKER_LOST').map((child) => `${child.stepId}: ${child.error?.code ?? child.error?.message}`), fate).toEqual([]);
      }
    }
  });

  it('completes at once over no items', async () => {
    const harness = createEngineHarness();
    const runId = await harness.startRun([mapStep({ items: [] })]);
    await harness.drain();
    expect(harness.run(runId).status).toBe('completed');
    expect(harness.step(runId, 'm').output).toMatchObject({ count: 0, succeeded: 0, failed: 0 });
  });

  it('property: any delivery order and duplicates keep the window, count each item once and keep item order', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 230 }),
        fc.integer({ min: 1, max: 12 }),
        fc.uniqueArray(fc.integer({ min: 0, max: 229 }), { maxLength: 20 }),
        fc.infiniteStream(fc.record({ index: fc.nat(), duplicate: fc.boolean() })),
        async (count, maxConcurrency, failing, picks) => {
          const failed = new Set(failing.filter((index) => index < count));
          const harness = createEngineHarness({ failWhen: ({ stepId }) => ([...failed].some((index) => stepId === mapChildId('m', index)) ? 'fatal' : undefined) });
          const runId = await harness.startRun([mapStep({ items: Array.from({ length: count }, (_, index) => index), maxConcurrency, toleratedFailurePercentage: 100 })]);
          const iterator = picks[Symbol.iterator]();
          await drainChecked(harness, runId, maxConcurrency, () => {
            const next = iterator.next().value as { index: number; duplicate: boolean };
            return { index: next.index, duplicate: next.duplicate && next.index % 5 === 0 };
          });
          expect(harness.run(runId).status).toBe('completed');
          expect(harness.step(runId, 'm').output).toMatchObject({ count, succeeded: count - failed.size, failed: failed.size });
          const lines = results(harness, runId);
          expect(lines.map((line) => line.index)).toEqual(Array.from({ length: count }, (_, index) => index));
          const executed = harness.executions.filter((execution) => execution.runId === runId).map((execution) => execution.stepId);
          expect(new Set(executed).size).toBe(executed.length);
          expect(executed.length).toBe(count);
        },
      ),
      { numRuns: 40 },
    );
  }, 120_000);
});
