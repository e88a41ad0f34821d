import { describe, expect, it } from 'vitest';
import { fillFreeSlots } from '#shared/engine/capacity';
import { defaultProjectSettings } from '#shared/schemas/projects';
import { createEngineHarness, projectId } from '../../helpers/engine-harness';

/**
 * Priority order against steps that never waited (issue 12 §6, "a high-priority run started later
 * overtakes a low one"): a slot freed while steps wait belongs to the list's head, even in the
 * moment between its release and its hand-over, when a step arriving from outside the list (a new
 * run's step, a retry, a released child) would otherwise find it free and take it.
 */

const project = { id: 'project', kind: 'project' as const, key: 'project', limit: 1 };

describe('a slot freed while steps wait', () => {
  it('goes to the waiting high step, not to a low step arriving before the hand-over', async () => {
    // Prepare: limit 1 held by a running step; a high run's step waits for it
    const harness = createEngineHarness({ settings: () => ({ ...defaultProjectSettings, concurrency: { limit: 1 } }) });
    await harness.deps.store.capacity.acquire(projectId, project, 'run_busy/s', harness.now() + 60_000);
    const high = await harness.startRun([{ id: 'h' }], { priority: 'high' });
    await harness.drain();
    expect(harness.step(high, 'h').status).toBe('throttled');

    // Act: the holder gives its slot back (its hand-over not yet done), and a low run's step arrives then
    expect(await harness.deps.store.capacity.release(projectId, 'project', 'run_busy/s')).toBe(true);
    const low = await harness.startRun([{ id: 'l' }], { priority: 'low' });
    await harness.deliver();

    // Assess: the low step queued behind the high one and handed it the free slot; the high one runs first
    expect(harness.step(low, 'l').status).toBe('throttled');
    expect(harness.step(high, 'h').status).toBe('queued');
    expect(Object.keys(harness.memory.slots(projectId, 'project'))).toEqual([`${high}/h`]);
    await harness.drain();
    expect(harness.executions.map((execution) => execution.runId)).toEqual([high, low]);
    expect([harness.run(high).status, harness.run(low).status]).toEqual(['completed', 'completed']);
    expect(harness.memory.waitingList(projectId, 'project')).toEqual([]);
    expect(harness.memory.slots(projectId, 'project')).toEqual({});
  });

  it('is taken at once by a step arriving when nobody waits', async () => {
    const harness = createEngineHarness({ settings: () => ({ ...defaultProjectSettings, concurrency: { limit: 1 } }) });
    const runId = await harness.startRun([{ id: 'a' }], { priority: 'low' });
    await harness.drain();
    expect(harness.typesOf(runId, 'a')).toEqual(['step.queued', 'step.started', 'step.completed']);
  });
});

describe('a hand-over from a list read before a higher priority came to wait', () => {
  it('is refused as outranked, and the filler reads the list again and hands the slot to the high step', async () => {
    // Prepare: limit 1 held; a low step waits, then a high one
    const harness = createEngineHarness({ settings: () => ({ ...defaultProjectSettings, concurrency: { limit: 1 } }) });
    await harness.deps.store.capacity.acquire(projectId, project, 'run_busy/s', harness.now() + 60_000);
    const low = await harness.startRun([{ id: 'l' }], { priority: 'low' });
    await harness.drain();
    const [lowHead] = await harness.deps.store.capacity.waiting(projectId, 'project', 1);
    const high = await harness.startRun([{ id: 'h' }], { priority: 'high' });
    await harness.drain();
    await harness.deps.store.capacity.release(projectId, 'project', 'run_busy/s');

    // Act: the hand-over to the low head read before the high step waited
    const at = new Date(harness.now());
    const event = { event: { id: 'evt_x', runId: low, projectId, type: 'step.unthrottled', actor: 'worker', at: at.toISOString(), stepId: 'l', detail: {} } } as never;
    const handed = await harness.deps.store.capacity.handOff(projectId, project, lowHead!, { at: at.toISOString(), leaseUntil: harness.now() + 1000 }, event);

    // Assess
    expect(handed).toEqual({ won: false, why: 'outranked' });
    expect(harness.step(low, 'l').status).toBe('throttled');
    expect(await fillFreeSlots(harness.deps, projectId, project)).toEqual([`${high}/h`]);
    await harness.drain();
    expect(harness.executions.map((execution) => execution.runId)).toEqual([high, low]);
  });
});
