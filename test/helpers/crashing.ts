import fc from 'fast-check';
import type { EngineDeps } from '#shared/engine/context';
import { processStepMessage } from '#shared/engine/step-lifecycle';
import type { EngineStore } from '#shared/engine/store';
import type { EngineHarness, QueuedMessage } from './engine-harness';

/**
 * Dying functions for the engine's property tests (test/unit/engine/interleavings*.test.ts): one
 * crash wrapper for every function that writes to a run (the step worker, a person's action, an
 * agent's callback, a reaction, the sweeper), and SQS's side of a worker that dies.
 */

/** A function's death, thrown by the wrapper alone: any other error is the engine's bug. */
export class Crash extends Error {
  override name = 'Crash';
}

/** After how many calls (store, queue, bus, executor) a function dies, and whether that call took effect first. */
export interface Fate {
  crashAt?: number;
  afterEffect: boolean;
}

export const calm: Fate = { afterEffect: false };

/** Lives, or dies at one of its first `maxCalls` calls, before or after that call's effect. */
export const fateArbitrary = (maxCalls: number): fc.Arbitrary<Fate> =>
  fc.oneof(fc.constant<Fate>(calm), fc.record({ crashAt: fc.integer({ min: 1, max: maxCalls }), afterEffect: fc.boolean() }));

/**
 * `base` as one invocation sees it: every call into a port (store, dispatcher, outbox, executor)
 * first yields as many turns as `yields` says next (so concurrent invocations interleave between
 * any two calls) and counts toward the crash point of `fate`.
 */
export function crashing(base: EngineDeps, fate: Fate, yields: number[]): EngineDeps {
  let calls = 0;
  let tick = 0;
  const gate = async <T>(call: () => Promise<T>): Promise<T> => {
    for (let n = yields[tick++ % yields.length] ?? 0; n > 0; n -= 1) await Promise.resolve();
    calls += 1;
    if (fate.crashAt !== calls) return call();
    if (!fate.afterEffect) throw new Crash(`died before call ${calls}`);
    await call();
    throw new Crash(`died after call ${calls}`);
  };
  const store = Object.fromEntries(
    // Ports grouped under a name (budgets, limits) are passed as they are.
    Object.entries(base.store).map(([name, operation]) => [name, typeof operation === 'function' ? (...args: unknown[]) => gate(() => (operation as (...a: unknown[]) => Promise<unknown>)(...args)) : operation]),
  ) as unknown as EngineStore;
  const registry = base.executors;
  return {
    ...base,
    store,
    dispatcher: { send: (dispatches) => gate(() => base.dispatcher.send(dispatches)) },
    outbox: { publish: (events, options) => gate(() => base.outbox.publish(events, options)) },
    ...(registry
      ? { executors: { ...registry, get: (kind) => { const executor = registry.get(kind); return executor && { ...executor, run: (input, context) => gate(() => executor.run(input, context)) }; } } }
      : {}),
  };
}

/** The local stage's queue: a message a worker died on is visible again after this, and dead-lettered at its fifth receive. */
export const visibilityTimeoutMs = 20_000;
export const maxReceives = 5;

/**
 * SQS's side of one receive by the step worker (`worker`: its deps, whose releases its message's
 * redelivery recovers): invisible while in flight, deleted when processed, visible again after
 * the timeout when the worker dies, handed to the DLQ handler at the last receive.
 */
export async function receive(h: EngineHarness, worker: EngineDeps, entry: QueuedMessage, fate: Fate, yields: number[]): Promise<void> {
  entry.receives += 1;
  entry.visibleAt = h.now() + visibilityTimeoutMs;
  try {
    await processStepMessage(crashing(worker, fate, yields), entry.message, h.now() + 20_000);
    h.queue.splice(h.queue.indexOf(entry), 1);
  } catch (error) {
    if (!(error instanceof Crash)) throw error;
    if (entry.receives >= maxReceives) {
      h.queue.splice(h.queue.indexOf(entry), 1);
      await h.deadLetter(entry.message, entry.receives);
    }
  }
}

/** SQS delivering one of `batch` a second time: a copy of it, queued and delivered beside it. */
export function duplicateOf(h: EngineHarness, entry: QueuedMessage): QueuedMessage {
  const copy = { ...entry, message: { ...entry.message }, receives: 0 };
  h.queue.push(copy);
  return copy;
}
