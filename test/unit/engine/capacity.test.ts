import { describe, expect, it } from 'vitest';
import { runAction } from '#shared/engine/run-actions';
import { sweep } from '#shared/engine/sweeper';
import { defaultProjectSettings, type ProjectSettings } from '#shared/schemas/projects';
import { createEngineHarness, projectId, statusFromEvents, type EngineHarness } from '../../helpers/engine-harness';
import { drainConcurrently, gatedExecutor, slowFan } from '../../helpers/gated-executor';

/**
 * Fair capacity on the in-memory store (issue 12 §6): project and per-key limits hold under
 * concurrent starts and completions, waiting steps are `throttled` with their key and start in
 * priority order as slots free, a dead holder's slot comes back, a cancelled run's waiting steps
 * leave the list, and steps without limits touch nothing.
 */

const withLimit = (limit: number): (() => ProjectSettings) => () => ({ ...defaultProjectSettings, concurrency: { limit } });
const parallel = (width: number, extra: Record<string, unknown> = {}) => Array.from({ length: width }, (_, index) => ({ id: `p${index}`, kind: 'slow', ...extra }));

const everyStepReplays = (harness: EngineHarness, runId: string, stepIds: string[]) => {
  for (const stepId of stepIds) expect(statusFromEvents(harness.typesOf(runId, stepId)), stepId).toBe(harness.step(runId, stepId).status);
};

describe('a project limit', () => {
  it('never runs more than the limit at once, shows the others throttled with the key, and completes the fan', async () => {
    // Prepare: a 20-wide fan under a project limit of 3; the leaves finish only when the gate opens.
    let open!: () => void;
    const opened = new Promise<void>((resolve) => (open = resolve));
    const { executor, state } = gatedExecutor(() => opened);
    const harness = createEngineHarness({ executors: [executor], settings: withLimit(3) });
    const runId = await harness.startRun(slowFan(20));
    // The root: its finish sends the 20 leaves (and runs one of them itself, inline).
    const deliveries = [harness.deliver()];
    await new Promise((resolve) => setTimeout(resolve, 10));

    // Act: the other 19 leaf messages at once
    deliveries.push(...harness.visible().map(() => harness.deliver()));
    await new Promise((resolve) => setTimeout(resolve, 20));

    // Assess: 3 run, 17 wait throttled with the key, in the list
    expect(state.running).toBe(3);
    const throttled = Array.from({ length: 20 }, (_, index) => harness.step(runId, `leaf${index}`)).filter((step) => step.status === 'throttled');
    expect(throttled).toHaveLength(17);
    expect(throttled[0]!.throttle).toMatchObject({ kind: 'project', key: 'project', limit: 3 });
    expect(harness.memory.waitingList(projectId, 'project')).toHaveLength(17);
    expect(Object.keys(harness.memory.slots(projectId, 'project'))).toHaveLength(3);

    // Act: let them all finish, handing slots over as they go
    open();
    await Promise.all(deliveries);
    await drainConcurrently(harness);

    // Assess
    expect(state.most).toBe(3);
    expect(harness.run(runId).status).toBe('completed');
    expect(harness.memory.waitingList(projectId, 'project')).toEqual([]);
    expect(harness.memory.slots(projectId, 'project')).toEqual({});
    everyStepReplays(harness, runId, Array.from({ length: 20 }, (_, index) => `leaf${index}`));
    // Each leaf started once and was queued once.
    for (let index = 0; index < 20; index += 1) expect(harness.typesOf(runId, `leaf${index}`).filter((type) => type === 'step.started')).toHaveLength(1);
  });

  it('holds under concurrent completions: slots freed together are handed over without ever passing the limit', async () => {
    // Prepare: 12 parallel steps under a limit of 2; each finishes only when released by the test.
    const gates: (() => void)[] = [];
    const { executor, state } = gatedExecutor(() => new Promise<void>((resolve) => gates.push(resolve)));
    const harness = createEngineHarness({ executors: [executor], settings: withLimit(2) });
    const runId = await harness.startRun(parallel(12));
    const inFlight = harness.visible().map(() => harness.deliver());
    await new Promise((resolve) => setTimeout(resolve, 10));

    // Act: finish the running ones at the same moment, again and again, with every new message delivered concurrently
    for (let round = 0; round < 12 && harness.run(runId).status !== 'completed'; round += 1) {
      gates.splice(0).forEach((finish) => finish());
      inFlight.push(...harness.visible().map(() => harness.deliver()));
      await new Promise((resolve) => setTimeout(resolve, 10));
      expect(state.running).toBeLessThanOrEqual(2);
    }
    gates.splice(0).forEach((finish) => finish());
    await Promise.all(inFlight);
    await drainConcurrently(harness);

    // Assess
    expect(state.most).toBe(2);
    expect(state.order).toHaveLength(12);
    expect(harness.run(runId).status).toBe('completed');
    expect(harness.memory.slots(projectId, 'project')).toEqual({});
  });
});

describe('priorities', () => {
  it('gives freed slots to a high-priority run started later before the low run waiting longer', async () => {
    // Prepare: a low run of 6 parallel steps under a limit of 1; the first runs, 5 wait
    const gates: (() => void)[] = [];
    const { executor, state } = gatedExecutor(() => new Promise<void>((resolve) => gates.push(resolve)));
    const harness = createEngineHarness({ executors: [executor], settings: withLimit(1) });
    const low = await harness.startRun(parallel(6), { priority: 'low' });
    const pending = harness.visible().map(() => harness.deliver());
    await new Promise((resolve) => setTimeout(resolve, 10));

    // Act: a high run of 3 starts later; then everything finishes one by one
    const high = await harness.startRun(parallel(3), { priority: 'high' });
    pending.push(...harness.visible().map(() => harness.deliver()));
    await new Promise((resolve) => setTimeout(resolve, 10));
    for (let round = 0; round < 20 && state.order.length < 9; round += 1) {
      gates.splice(0).forEach((finish) => finish());
      await new Promise((resolve) => setTimeout(resolve, 5));
      pending.push(...harness.visible().map(() => harness.deliver()));
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    gates.splice(0).forEach((finish) => finish());
    await Promise.all(pending);
    await drainConcurrently(harness);

    // Assess: after the low step already running, the 3 high steps, then the 5 low ones
    expect(state.order.slice(1, 4).every((entry) => entry.startsWith(high))).toBe(true);
    expect(state.order.slice(4).every((entry) => entry.startsWith(low))).toBe(true);
    expect([harness.run(low).status, harness.run(high).status]).toEqual(['completed', 'completed']);
  });
});

describe('a per-key limit', () => {
  it('holds across runs for the key resolved from each run input, and keys differ per customer', async () => {
    // Prepare: three runs of 4 parallel steps keyed by customer, limit 1 per key (acme twice, globex once)
    let open!: () => void;
    const opened = new Promise<void>((resolve) => (open = resolve));
    const { executor, state } = gatedExecutor(() => opened);
    const harness = createEngineHarness({ executors: [executor] });
    const steps = parallel(4, { concurrency: { key: 'customer-{{runInput.customer}}', limit: 1 } });
    const acme1 = await harness.startRun(steps, { input: { customer: 'acme' } });
    const acme2 = await harness.startRun(steps, { input: { customer: 'acme' } });
    const globex = await harness.startRun(steps, { input: { customer: 'globex' } });

    // Act
    const pending = harness.visible().map(() => harness.deliver());
    await new Promise((resolve) => setTimeout(resolve, 20));

    // Assess: one acme and one globex step run; the rest wait with their key
    expect(state.running).toBe(2);
    expect(Object.keys(harness.memory.slots(projectId, 'key#customer-acme'))).toHaveLength(1);
    expect(harness.memory.waitingList(projectId, 'key#customer-acme')).toHaveLength(7);
    const waiting = [acme1, acme2].flatMap((runId) => Array.from({ length: 4 }, (_, index) => harness.step(runId, `p${index}`))).find((step) => step.status === 'throttled');
    expect(waiting?.throttle).toMatchObject({ kind: 'concurrency', key: 'customer-acme', limit: 1 });

    open();
    await Promise.all(pending);
    await drainConcurrently(harness);
    expect(state.most).toBe(2);
    expect([acme1, acme2, globex].map((runId) => harness.run(runId).status)).toEqual(['completed', 'completed', 'completed']);
  });

  it('refuses a key that refers to anything but the run input', async () => {
    const { parseWorkflowDefinition } = await import('#shared/domain/workflow-definition');
    expect(() => parseWorkflowDefinition({ name: 'w', steps: [{ id: 'a', kind: 'noop', concurrency: { key: '{{dependencies.x}}', limit: 1 } }] }, 'application/json')).toThrow(/steps\[0\]\.concurrency\.key/);
    expect(() => parseWorkflowDefinition({ name: 'w', steps: [{ id: 'a', kind: 'noop', concurrency: { key: 'k', limit: 0 } }] }, 'application/json')).toThrow(/steps\[0\]\.concurrency\.limit/);
    expect(() => parseWorkflowDefinition({ name: 'w', steps: [{ id: 'a', kind: 'noop', priority: 'urgent' }] }, 'application/json')).toThrow(/steps\[0\]\.priority/);
  });
});

describe('crash safety', () => {
  it('takes back the slot of a holder that died, at its lease end, through the throttled step\'s timer', async () => {
    // Prepare: limit 1; a slot is held by a step whose worker died (its lease still in the slot item)
    const harness = createEngineHarness({ settings: withLimit(1) });
    const lease = harness.now() + 10_000;
    await harness.deps.store.capacity.acquire(projectId, { id: 'project', kind: 'project', key: 'project', limit: 1 }, 'run_dead/s', lease);
    const runId = await harness.startRun([{ id: 'a' }]);
    await harness.drain();
    expect(harness.step(runId, 'a').status).toBe('throttled');
    expect(harness.memory.timer(runId, 'a')).toMatchObject({ kind: 'throttled' });

    // Act: the lease ends; the sweeper sends the throttled step, whose worker takes the slot back and hands it over
    harness.advance(15);
    const report = await sweep(harness.deps, { eventGraceSeconds: 30, limit: 10, leaseGraceSeconds: 20, dispatchGraceSeconds: 60 });
    await harness.drain();

    // Assess
    expect(report.throttledRechecked).toBe(1);
    expect(harness.run(runId).status).toBe('completed');
    expect(harness.memory.slots(projectId, 'project')).toEqual({});
    expect(harness.typesOf(runId, 'a')).toEqual(['step.queued', 'step.throttled', 'step.unthrottled', 'step.started', 'step.completed']);
  });

  it('looks again later, and changes nothing, while the holder is alive', async () => {
    const harness = createEngineHarness({ settings: withLimit(1) });
    await harness.deps.store.capacity.acquire(projectId, { id: 'project', kind: 'project', key: 'project', limit: 1 }, 'run_busy/s', harness.now() + 10_000);
    const runId = await harness.startRun([{ id: 'a' }]);
    await harness.drain();
    // Its timer fires early (a clock skew): the holder is alive, so it waits on.
    await harness.deps.store.capacity.recheckAt(runId, 'a', 0, new Date(harness.now()).toISOString());
    await sweep(harness.deps, { eventGraceSeconds: 30, limit: 10, leaseGraceSeconds: 20, dispatchGraceSeconds: 60 });
    await harness.drain();
    expect(harness.step(runId, 'a').status).toBe('throttled');
    expect(Date.parse(harness.memory.timer(runId, 'a')!.dueAt)).toBeGreaterThan(harness.now() + 9_000);
  });
});

describe('run actions', () => {
  it('a cancelled run\'s throttled steps leave the waiting list and free nothing they do not hold', async () => {
    // Prepare: limit 1 held by another run's running step; this run's two steps wait
    const harness = createEngineHarness({ settings: withLimit(1) });
    const other = 'run_other/s';
    await harness.deps.store.capacity.acquire(projectId, { id: 'project', kind: 'project', key: 'project', limit: 1 }, other, harness.now() + 60_000);
    const runId = await harness.startRun(parallel(2, { kind: 'work' }));
    await harness.drain();
    expect(harness.memory.waitingList(projectId, 'project')).toHaveLength(2);

    // Act
    await runAction(harness.deps, harness.run(runId), 'cancel', 'editor');
    await harness.drain();

    // Assess
    expect(harness.run(runId).status).toBe('cancelled');
    expect(['p0', 'p1'].map((id) => harness.step(runId, id).status)).toEqual(['cancelled', 'cancelled']);
    expect(harness.memory.waitingList(projectId, 'project')).toEqual([]);
    expect(Object.keys(harness.memory.slots(projectId, 'project'))).toEqual([other]);
    everyStepReplays(harness, runId, ['p0', 'p1']);
  });

  it('a paused run\'s step handed a slot gives it back and is held; resume runs it', async () => {
    const harness = createEngineHarness({ settings: withLimit(1) });
    const first = await harness.startRun([{ id: 'a' }]);
    const second = await harness.startRun([{ id: 'b' }]);
    // a takes the slot and runs; b waits (delivered while a's slot is held: take it by hand)
    await harness.deps.store.capacity.acquire(projectId, { id: 'project', kind: 'project', key: 'project', limit: 1 }, `${first}/a`, harness.now() + 60_000);
    await harness.deliver(1);
    expect(harness.step(second, 'b').status).toBe('throttled');
    await runAction(harness.deps, harness.run(second), 'pause', 'editor');
    await harness.drain();

    // a finishes: its slot goes to b, whose run is paused: b is held and the slot comes back
    expect(harness.run(first).status).toBe('completed');
    expect(harness.run(second).heldSteps).toEqual(['b']);
    expect(harness.memory.slots(projectId, 'project')).toEqual({});

    await runAction(harness.deps, harness.run(second), 'resume', 'editor');
    await harness.drain();
    expect(harness.run(second).status).toBe('completed');
  });
});

describe('no limit', () => {
  it('costs nothing: a step without limits never calls the capacity store', async () => {
    const harness = createEngineHarness();
    let calls = 0;
    const capacity = harness.deps.store.capacity;
    const methods = capacity as unknown as Record<string, (...args: unknown[]) => unknown>;
    for (const name of Object.keys(methods)) {
      const original = methods[name]!;
      methods[name] = (...args: unknown[]) => {
        calls += 1;
        return original(...args);
      };
    }
    const runId = await harness.startRun([{ id: 'a' }, { id: 'b', dependsOn: ['a'] }, { id: 'c', dependsOn: ['a'] }]);
    await harness.drain();
    expect(harness.run(runId).status).toBe('completed');
    expect(calls).toBe(0);
  });
});
