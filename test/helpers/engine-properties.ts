import { expect } from 'vitest';
import type { EngineHarness } from './engine-harness';
import { statusFromEvents } from './engine-harness';

/**
 * What both engine property tests (test/unit/engine/interleavings*.test.ts) check of every run,
 * whatever happened to it, and how they pick their seed.
 */

/** Every change of the step has its event: its history replays to its status, with one start per attempt. */
export function expectStepRecorded(h: EngineHarness, runId: string, stepId: string): void {
  const step = h.step(runId, stepId);
  const types = h.typesOf(runId, stepId);
  expect(statusFromEvents(types), stepId).toBe(step.status);
  expect(types.filter((type) => type === 'step.started'), stepId).toHaveLength(step.attempt);
}

/** No (step, attempt) executed twice, each after its dependencies, all under the run's first generation's idempotency key. */
export function expectEachAttemptOnce(h: EngineHarness, runId: string): void {
  const attempts = h.executions.map((execution) => `${execution.stepId}#${execution.attempt}`);
  expect(new Set(attempts).size).toBe(attempts.length);
  expect(h.executions.every((execution) => execution.dependenciesDone)).toBe(true);
  expect(h.executions.every((execution) => execution.idempotencyKey === `${runId}:${execution.stepId}:1`)).toBe(true);
}

/**
 * fast-check's seed: a fresh one each time (printed, so that any run can be played again), or the
 * one the variable `name` gives, with `<name minus _SEED>_PATH` to replay a failure's shrunk path.
 */
export function propertySeed(name: string): { seed: number; path?: string; endOnFailure?: boolean; replaying: boolean } {
  const given = process.env[name];
  const seed = given && given !== 'random' ? Number(given) : Math.floor(Math.random() * 2 ** 31);
  const path = process.env[name.replace(/_SEED$/, '_PATH')];
  console.log(`${name}=${seed}${path ? ` (replaying path ${path})` : ''}`);
  return { seed, ...(path ? { path, endOnFailure: true } : {}), replaying: Boolean(path) };
}
