import { z } from 'zod';
import type { Executor } from '#shared/executors/types';
import type { EngineHarness } from './engine-harness';

/**
 * For the capacity and rate tests on the engine harness: a `slow` executor that counts its calls
 * in flight (the most at once, and the order they began in) and finishes each one only when
 * `gate` resolves; a fan of `slow` leaves; and a driver that delivers every visible message at
 * once, the way concurrent Lambda invocations would.
 */
export const gatedExecutor = (gate: () => Promise<void> = async () => undefined) => {
  const state = { running: 0, most: 0, order: [] as string[] };
  const executor: Executor = {
    kind: 'slow',
    input: z.unknown(),
    async run(_input, context) {
      state.running += 1;
      state.most = Math.max(state.most, state.running);
      state.order.push(`${context.runId}/${context.stepId}`);
      try {
        await gate();
      } finally {
        state.running -= 1;
      }
      return { status: 'completed', output: { by: context.stepId } };
    },
  };
  return { executor, state };
};

/** A root and `width` `slow` leaves depending on it (`leaf0`…), each with `extra` in its spec. */
export const slowFan = (width: number, extra: Record<string, unknown> = {}) => [{ id: 'root' }, ...Array.from({ length: width }, (_, index) => ({ id: `leaf${index}`, kind: 'slow', dependsOn: ['root'], ...extra }))];

/** The leaves' ids of `slowFan(width)`. */
export const leafIds = (width: number) => Array.from({ length: width }, (_, index) => `leaf${index}`);

/**
 * Delivers every visible message at once (each yielding at every store call), for at most
 * `rounds` rounds or until the queue is empty, moving the clock to the next delayed message when
 * none is visible. A delivery that throws is left to the queue (redelivered after its timeout).
 */
export async function drainConcurrently(harness: EngineHarness, rounds = 200) {
  for (let round = 0; round < rounds && harness.queue.length > 0; round += 1) {
    if (harness.visible().length === 0) harness.advance(Math.max(1, Math.ceil(Math.min(...harness.queue.map((entry) => entry.visibleAt)) - harness.now())) / 1000);
    const batch = harness.visible().slice();
    await Promise.all(batch.map(() => harness.deliver().catch(() => 'failed')));
  }
}
