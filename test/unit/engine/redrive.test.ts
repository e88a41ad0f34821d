import { describe, expect, it } from 'vitest';
import { parksDeadLetter, resumeRedriven } from '#shared/engine/redrive';
import { runAction } from '#shared/engine/run-actions';
import { createEngineHarness } from '#test/helpers/engine-harness';

/** A run whose only step's message was dead-lettered and recorded (step failed DEAD_LETTERED, run blocked). */
async function deadLettered() {
  const h = createEngineHarness();
  const runId = await h.startRun([{ id: 'a' }]);
  const [entry] = h.queue.splice(0, 1);
  expect(await h.deadLetter(entry!.message)).toBe('failed');
  return { h, runId, message: entry!.message };
}

describe('a redriven dead letter (steps-parked back to the step queue)', () => {
  it('resumes its blocked run as a retry (actor redrive) and the step runs; a second copy changes nothing', async () => {
    const { h, runId, message } = await deadLettered();

    expect(await resumeRedriven(h.deps, message)).toBe('resumed');
    expect(h.run(runId).status).toBe('running');
    expect(h.eventsOf(runId).filter((event) => event.type === 'run.retried')).toEqual([expect.objectContaining({ actor: 'redrive' })]);
    // A redrive is at least once: another copy of the same dead letter is ignored.
    expect(await resumeRedriven(h.deps, message)).toBe('ignored');
    await h.drain();
    expect(h.run(runId).status).toBe('completed');
    expect(h.step(runId, 'a').status).toBe('completed');
    expect(await resumeRedriven(h.deps, message)).toBe('ignored');
  });

  it("never undoes a later decision: a run a person retried or cancelled meanwhile is left as it is", async () => {
    const retried = await deadLettered();
    await runAction(retried.h.deps, retried.h.run(retried.runId), 'retry', 'person');
    expect(await resumeRedriven(retried.h.deps, retried.message)).toBe('ignored');
    expect(retried.h.eventsOf(retried.runId).filter((event) => event.type === 'run.retried')).toHaveLength(1);

    const cancelled = await deadLettered();
    await runAction(cancelled.h.deps, cancelled.h.run(cancelled.runId), 'cancel', 'person');
    expect(await resumeRedriven(cancelled.h.deps, cancelled.message)).toBe('ignored');
    expect(cancelled.h.run(cancelled.runId).status).toBe('cancelled');
  });

  it('parks a dead letter the DLQ handler recorded, again when a failed park brought it back, and not once its run was acted on', async () => {
    const { h, runId, message } = await deadLettered();
    expect(await parksDeadLetter(h.deps, message, 'failed')).toBe(true);
    // The park failed, SQS delivers the dead letter again: recording it is a no-op, parking is not.
    expect(await h.deadLetter(message)).toBe('ignored');
    expect(await parksDeadLetter(h.deps, message, 'ignored')).toBe(true);
    await runAction(h.deps, h.run(runId), 'retry', 'person');
    expect(await parksDeadLetter(h.deps, message, 'ignored')).toBe(false);
    // A gate handed to a person is not parked.
    expect(await parksDeadLetter(h.deps, message, 'paused')).toBe(false);
  });
});
