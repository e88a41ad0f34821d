import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { workflowBody } from '#shared/domain/workflow';
import { runAction } from '#shared/engine/run-actions';
import { sweep } from '#shared/engine/sweeper';
import { createEngineHarness, statusFromEvents, type EngineHarness } from '../../helpers/engine-harness';
import { drainConcurrently, gatedExecutor, leafIds, slowFan } from '../../helpers/gated-executor';

/**
 * Per-agent rate limits on the in-memory store (issue 12 §6 `rate: {key, perSecond}`): steps
 * sharing a key start at most `perSecond` times a second across runs, even with every delivery
 * concurrent; the others wait `throttled` (kind `rate`) for their own turn, woken once by their
 * delayed message; the limit holds beside a concurrency limit; cancel and pause behave.
 */

/** Delivers every message, concurrently, until none is left. */
async function drainAll(harness: EngineHarness) {
  await drainConcurrently(harness, 500);
  expect(harness.queue).toEqual([]);
}

/** Every step.started of these runs' steps, as epoch ms, in time order. */
const startTimes = (harness: EngineHarness, runIds: string[], stepIds: string[]) =>
  runIds
    .flatMap((runId) => stepIds.flatMap((stepId) => harness.eventsOf(runId, stepId).filter((event) => event.type === 'step.started')))
    .map((event) => Date.parse(event.at))
    .sort((a, b) => a - b);

/** The most starts any window of `windowMs` holds (a window from each start). */
const busiestWindow = (times: number[], windowMs: number) => Math.max(0, ...times.map((start, index) => times.slice(index).filter((time) => time < start + windowMs).length));

describe('a rate limit', () => {
  it('starts a 20-wide fan and a second run sharing the key at most twice a second, each step once, the waiting ones throttled with kind rate', async () => {
    // Prepare: two runs of a 20-wide fan under `rate {key: agent-x, perSecond: 2}`
    const { executor } = gatedExecutor();
    const harness = createEngineHarness({ executors: [executor] });
    const rate = { key: 'agent-{{runInput.agent}}', perSecond: 2 };
    const first = await harness.startRun(slowFan(20, { rate }), { input: { agent: 'x' } });
    const second = await harness.startRun(slowFan(20, { rate }), { input: { agent: 'x' } });
    // The roots: their finishes send the leaves, delivered all at once.
    await Promise.all(harness.visible().map(() => harness.deliver()));
    await Promise.all(harness.visible().map(() => harness.deliver()));

    // Assess: the waiting leaves show their turn under the resolved key
    const throttled = [first, second].flatMap((runId) => leafIds(20).map((id) => harness.step(runId, id))).filter((step) => step.status === 'throttled');
    expect(throttled.length).toBeGreaterThan(30);
    expect(throttled[0]!.throttle).toMatchObject({ kind: 'rate', key: 'agent-x', perSecond: 2 });
    const turns = throttled.map((step) => (step.throttle?.kind === 'rate' ? Date.parse(step.throttle.until) : 0)).sort((a, b) => a - b);
    expect(new Set(turns).size).toBe(turns.length);

    // Act: the rest, every delivery concurrent
    await drainAll(harness);

    // Assess: both runs complete, each leaf started once, never more than 2 starts in any second
    for (const runId of [first, second]) {
      expect(harness.run(runId).status).toBe('completed');
      for (const id of leafIds(20)) {
        expect(harness.typesOf(runId, id).filter((type) => type === 'step.started'), id).toHaveLength(1);
        expect(statusFromEvents(harness.typesOf(runId, id))).toBe('completed');
      }
    }
    const times = startTimes(harness, [first, second], leafIds(20));
    expect(times).toHaveLength(40);
    for (let index = 1; index < times.length; index += 1) expect(times[index]! - times[index - 1]!).toBeGreaterThanOrEqual(500);
    expect(busiestWindow(times, 1000)).toBe(2);
    // Paced, not serialised behind some other wait: 40 starts at 2/s take about 20 s.
    expect(times.at(-1)! - times[0]!).toBeLessThan(25_000);
  });

  it('holds for any rate, width and interleaving of concurrent deliveries (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(0.5, 1, 3, 10, 40), fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 12 }), async (perSecond, width, otherWidth) => {
        const { executor } = gatedExecutor();
        const harness = createEngineHarness({ executors: [executor] });
        const rate = { key: 'agent', perSecond };
        const runs = [await harness.startRun(slowFan(width, { rate })), await harness.startRun(slowFan(otherWidth, { rate, priority: 'high' }))];
        await drainAll(harness);
        for (const runId of runs) expect(harness.run(runId).status).toBe('completed');
        const times = startTimes(harness, runs, leafIds(Math.max(width, otherWidth)));
        expect(times).toHaveLength(width + otherWidth);
        for (let index = 1; index < times.length; index += 1) expect(times[index]! - times[index - 1]!).toBeGreaterThanOrEqual(1000 / perSecond);
      }),
      { numRuns: 20 },
    );
  }, 60_000);

  it('holds beside a concurrency limit on the same steps: at most 2 at once and 4 starts a second', async () => {
    let open!: () => void;
    const opened = new Promise<void>((resolve) => (open = resolve));
    const { executor, state } = gatedExecutor(() => opened);
    const harness = createEngineHarness({ executors: [executor] });
    const runId = await harness.startRun(slowFan(10, { rate: { key: 'agent', perSecond: 4 }, concurrency: { key: 'agent', limit: 2 } }));
    const inFlight = [harness.deliver()];
    await new Promise((resolve) => setTimeout(resolve, 10));
    inFlight.push(...harness.visible().map(() => harness.deliver()));
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(state.running).toBeLessThanOrEqual(2);
    open();
    await Promise.all(inFlight);
    await drainAll(harness);
    expect(harness.run(runId).status).toBe('completed');
    expect(state.most).toBeLessThanOrEqual(2);
    const times = startTimes(harness, [runId], leafIds(10));
    expect(times).toHaveLength(10);
    for (let index = 1; index < times.length; index += 1) expect(times[index]! - times[index - 1]!).toBeGreaterThanOrEqual(250);
  });

  it('starts an idle key\'s step at once, with one write and no throttle; a step without a rate never touches the rate store', async () => {
    const harness = createEngineHarness();
    let calls = 0;
    const rates = harness.deps.store.rate as unknown as Record<string, (...args: unknown[]) => unknown>;
    for (const name of Object.keys(rates)) {
      const original = rates[name]!;
      rates[name] = (...args: unknown[]) => {
        calls += 1;
        return original(...args);
      };
    }
    const plain = await harness.startRun([{ id: 'a' }, { id: 'b', dependsOn: ['a'] }]);
    await harness.drain();
    expect(harness.run(plain).status).toBe('completed');
    expect(calls).toBe(0);
    const limited = await harness.startRun([{ id: 'a', rate: { key: 'agent', perSecond: 1 } }]);
    await harness.drain();
    expect(harness.run(limited).status).toBe('completed');
    expect(calls).toBe(1);
    expect(harness.typesOf(limited, 'a')).not.toContain('step.throttled');
  });

  it('waits past SQS\'s longest delay: a turn 40 minutes away is woken in 900 s hops and starts then', async () => {
    const harness = createEngineHarness();
    const runId = await harness.startRun(Array.from({ length: 4 }, (_, index) => ({ id: `s${index}`, rate: { key: 'slow-agent', perSecond: 0.001 } })));
    await drainAll(harness);
    expect(harness.run(runId).status).toBe('completed');
    const times = startTimes(harness, [runId], ['s0', 's1', 's2', 's3']);
    for (let index = 1; index < times.length; index += 1) expect(times[index]! - times[index - 1]!).toBeGreaterThanOrEqual(1_000_000);
  });
});

describe('run actions and recovery', () => {
  it('a cancelled run\'s rate-throttled steps are cancelled, and their late wake-ups change nothing', async () => {
    const harness = createEngineHarness();
    const runId = await harness.startRun(Array.from({ length: 5 }, (_, index) => ({ id: `s${index}`, rate: { key: 'agent', perSecond: 0.1 } })));
    await Promise.all(harness.visible().map(() => harness.deliver()));
    const waiting = ['s0', 's1', 's2', 's3', 's4'].filter((id) => harness.step(runId, id).status === 'throttled');
    expect(waiting).toHaveLength(4);

    await runAction(harness.deps, harness.run(runId), 'cancel', 'editor');
    await drainAll(harness);

    expect(harness.run(runId).status).toBe('cancelled');
    for (const id of waiting) {
      expect(harness.step(runId, id).status).toBe('cancelled');
      expect(statusFromEvents(harness.typesOf(runId, id))).toBe('cancelled');
      expect(harness.typesOf(runId, id)).not.toContain('step.started');
    }
  });

  it('a paused run\'s step whose turn comes is held; resume runs it (under the rate again)', async () => {
    const harness = createEngineHarness();
    const runId = await harness.startRun(Array.from({ length: 3 }, (_, index) => ({ id: `s${index}`, rate: { key: 'agent', perSecond: 0.5 } })));
    await Promise.all(harness.visible().map(() => harness.deliver()));
    await runAction(harness.deps, harness.run(runId), 'pause', 'editor');
    await drainAll(harness);
    expect(harness.run(runId).status).toBe('paused');
    expect([...(harness.run(runId).heldSteps ?? [])].sort()).toEqual(['s1', 's2']);

    await runAction(harness.deps, harness.run(runId), 'resume', 'editor');
    await drainAll(harness);
    expect(harness.run(runId).status).toBe('completed');
    const times = startTimes(harness, [runId], ['s0', 's1', 's2']);
    for (let index = 1; index < times.length; index += 1) expect(times[index]! - times[index - 1]!).toBeGreaterThanOrEqual(2000);
  });

  it('a wake-up message that was lost is sent by the sweeper from the THROTTLED timer, and the step then starts', async () => {
    const harness = createEngineHarness();
    const runId = await harness.startRun([{ id: 'a', rate: { key: 'agent', perSecond: 0.2 } }, { id: 'b', rate: { key: 'agent', perSecond: 0.2 } }]);
    await Promise.all(harness.visible().map(() => harness.deliver()));
    const waiting = ['a', 'b'].find((id) => harness.step(runId, id).status === 'throttled')!;
    // Its delayed message is lost.
    harness.queue.splice(0);
    harness.advance(60);
    const swept = await sweep(harness.deps, { eventGraceSeconds: 30, limit: 10, leaseGraceSeconds: 20, dispatchGraceSeconds: 60 });
    expect(swept.throttledRechecked).toBe(1);
    await drainAll(harness);
    expect(harness.step(runId, waiting).status).toBe('completed');
    expect(harness.run(runId).status).toBe('completed');
  });
});

describe('the rate field', () => {
  const body = (rate: unknown) => ({ name: 'w', steps: [{ id: 'a', kind: 'noop', rate }] });
  const fieldOf = (rate: unknown) => workflowBody.safeParse(body(rate)).error?.issues[0]?.path.join('.');
  it('takes a key templated from the run input and a fractional rate', () => {
    expect(workflowBody.safeParse(body({ key: 'agent-{{runInput.agent}}', perSecond: 0.5 })).success).toBe(true);
    expect(workflowBody.safeParse(body({ key: 'agent', perSecond: 1000 })).success).toBe(true);
  });
  it('refuses a rate out of bounds, a missing key, a key not of the run input and unknown fields, naming the field', () => {
    expect(fieldOf({ key: 'agent', perSecond: 0 })).toBe('steps.0.rate.perSecond');
    expect(fieldOf({ key: 'agent', perSecond: -1 })).toBe('steps.0.rate.perSecond');
    expect(fieldOf({ key: 'agent', perSecond: 1001 })).toBe('steps.0.rate.perSecond');
    expect(fieldOf({ key: 'agent', perSecond: '2' })).toBe('steps.0.rate.perSecond');
    expect(fieldOf({ perSecond: 2 })).toBe('steps.0.rate.key');
    expect(fieldOf({ key: '{{dependencies.a.x}}', perSecond: 2 })).toBe('steps.0.rate.key');
    expect(fieldOf({ key: 'agent', perSecond: 2, burst: 3 })).toBe('steps.0.rate');
  });
});
