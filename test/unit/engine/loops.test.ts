import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '#shared/domain/errors';
import { untilHolds } from '#shared/domain/loops';
import { parseWorkflowDefinition } from '#shared/domain/workflow-definition';
import type { Executor } from '#shared/executors/types';
import { createMemoryFeedbackStore } from '#shared/store/memory-feedback-store';
import { receive } from '../../helpers/crashing';
import { createEngineHarness, statusFromEvents, type EngineHarness } from '../../helpers/engine-harness';

/** Counts its own executions per run and step: output {n}. */
const counter = (): Executor => {
  const counts = new Map<string, number>();
  return {
    kind: 'count',
    input: z.unknown(),
    async run(_input, context) {
      const key = `${context.runId}:${context.stepId}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
      return { status: 'completed', output: { n: counts.get(key) } };
    },
  };
};
/** Always the same output. */
const constant: Executor = { kind: 'same', input: z.unknown(), run: async () => ({ status: 'completed', output: { n: 0 } }) };

const started = (harness: EngineHarness, runId: string) => harness.memory.events().filter((event) => event.runId === runId && event.type === 'step.started').map((event) => event.stepId);
const countLoop = (extra: Record<string, unknown> = {}) => ({ id: 'count', kind: 'count', dependsOn: ['first'], loop: { over: ['count'], until: { path: 'n', greaterThanOrEqual: 3 }, maxIterations: 5 }, ...extra });

describe('bounded loops', () => {
  it('a loop step alone runs again until its output meets until; each iteration\'s output is kept; its dependent runs once after', async () => {
    const harness = createEngineHarness({ executors: [counter()] });
    const runId = await harness.startRun([{ id: 'first' }, countLoop(), { id: 'after', dependsOn: ['count'] }]);
    await harness.drain();
    expect(harness.run(runId).status).toBe('completed');
    expect(started(harness, runId)).toEqual(['first', 'count', 'count', 'count', 'after']);
    expect(harness.step(runId, 'count')).toMatchObject({ status: 'completed', output: { n: 3 }, iteration: 3, generation: 3 });
    const iterated = harness.eventsOf(runId, 'count').filter((event) => event.type === 'step.iterated');
    expect(iterated.map((event) => event.detail)).toEqual([expect.objectContaining({ iteration: 1, next: 2, output: { n: 1 } }), expect.objectContaining({ iteration: 2, next: 3, output: { n: 2 } })]);
    for (const id of ['first', 'count', 'after']) expect(statusFromEvents(harness.typesOf(runId, id))).toBe(harness.step(runId, id).status);
  });

  it('a body of several steps runs again as a whole, each step after its dependencies, as new generations', async () => {
    const harness = createEngineHarness({ executors: [counter()] });
    const runId = await harness.startRun([
      { id: 'first' },
      { id: 'b', kind: 'count', dependsOn: ['first'] },
      { id: 'b2', kind: 'count', dependsOn: ['first'] },
      { id: 'c', kind: 'count', dependsOn: ['b', 'b2', 'first'], loop: { over: ['b', 'b2', 'c'], until: { path: 'n', equals: 3 }, maxIterations: 4 } },
      { id: 'd', dependsOn: ['c'] },
    ]);
    await harness.drain();
    expect(harness.run(runId).status).toBe('completed');
    const order = started(harness, runId);
    expect(order.filter((id) => id === 'b')).toHaveLength(3);
    expect(order.filter((id) => id === 'c')).toHaveLength(3);
    expect(order.filter((id) => id === 'first' || id === 'd')).toEqual(['first', 'd']);
    expect(harness.executions.every((execution) => execution.dependenciesDone)).toBe(true);
    expect(harness.step(runId, 'b')).toMatchObject({ generation: 3, output: { n: 3 } });
    expect(harness.executions.filter((execution) => execution.stepId === 'c').map((execution) => execution.idempotencyKey)).toEqual([`${runId}:c:1`, `${runId}:c:2`, `${runId}:c:3`]);
    for (const id of ['b', 'b2', 'c']) expect(statusFromEvents(harness.typesOf(runId, id))).toBe('completed');
  });

  it('fails with LOOP_LIMIT at maxIterations when until never holds, blocking the run', async () => {
    const harness = createEngineHarness({ executors: [counter()] });
    const runId = await harness.startRun([{ id: 'first' }, countLoop({ loop: { over: [], until: { path: 'n', greaterThan: 10 }, maxIterations: 3 } }), { id: 'after', dependsOn: ['count'] }]);
    await harness.drain();
    expect(harness.step(runId, 'count')).toMatchObject({ status: 'failed', iteration: 3, error: { code: 'LOOP_LIMIT', retryable: false } });
    expect(harness.run(runId).status).toBe('blocked');
    expect(harness.run(runId).reason).toMatch(/LOOP_LIMIT: step count ran 3 iterations \(loop.maxIterations 3\) and its output never met loop.until \(n greaterThan 10\)/);
    expect(started(harness, runId).filter((id) => id === 'count')).toHaveLength(3);
    expect(harness.step(runId, 'after').status).toBe('pending');
  });

  it('identical outputs stop a loop with NO_PROGRESS (limits.noProgressAfter) before its limit', async () => {
    const harness = createEngineHarness({ executors: [constant] });
    const runId = await harness.startRun([{ id: 'same', kind: 'same', loop: { over: ['same'], until: { path: 'n', equals: 1 }, maxIterations: 10 } }], { limits: { noProgressAfter: 2 } });
    await harness.drain();
    expect(harness.step(runId, 'same')).toMatchObject({ status: 'failed', error: { code: 'NO_PROGRESS' } });
    expect(harness.run(runId).reason).toMatch(/^NO_PROGRESS/);
    expect(started(harness, runId)).toHaveLength(2);
  });

  it('works with a QA gate: reviewed only once until holds; a QA retry runs the step again and checks until again', async () => {
    const reviews: unknown[] = [];
    // A reviewer scoring the first output it sees too low, the next one well.
    const reviewer: Executor = {
      kind: 'lambda',
      input: z.unknown(),
      async run(_input, context) {
        reviews.push(context.dependencyOutputs.output);
        return { status: 'completed', output: { score: reviews.length === 1 ? 30 : 90, comment: 'more' } };
      },
    };
    const harness = createEngineHarness({ executors: [counter(), reviewer] });
    harness.deps.feedback = createMemoryFeedbackStore().store;
    const qa = { reviewer: { kind: 'lambda', input: { function: 'baton-agent-reviewer' } }, threshold: 60, onBelow: 'retry', maxRetries: 2 };
    const runId = await harness.startRun([{ id: 'first' }, countLoop({ qa, loop: { over: ['count'], until: { path: 'n', greaterThanOrEqual: 2 }, maxIterations: 5 } }), { id: 'after', dependsOn: ['count'] }]);
    await harness.drain();

    expect(harness.run(runId).status).toBe('completed');
    // n=1 misses until: a new iteration, no review; n=2 meets it: reviewed (30, below); the QA retry's n=3 meets it again: reviewed (90).
    expect(reviews).toEqual([{ n: 2 }, { n: 3 }]);
    expect(harness.step(runId, 'count')).toMatchObject({ status: 'completed', output: { n: 3 }, gate: { score: 90 } });
    expect(harness.eventsOf(runId, 'count').filter((event) => event.type === 'step.iterated').map((event) => event.detail.output)).toEqual([{ n: 1 }]);
    expect(started(harness, runId).filter((id) => id === 'after')).toHaveLength(1);
  });

  it('a worker dying anywhere around an iteration leaves the loop whole: it goes on and completes', async () => {
    // The whole chain (first → b → c, and c's iterations) runs inline in the first message's invocation: its worker dies at each of its calls in turn.
    for (let crashAt = 1; crashAt <= 60; crashAt += 1) {
      for (const afterEffect of [false, true]) {
        const harness = createEngineHarness({ executors: [counter()] });
        const runId = await harness.startRun([{ id: 'first' }, { id: 'b', kind: 'count', dependsOn: ['first'] }, { id: 'c', kind: 'count', dependsOn: ['b'], loop: { over: ['b'], until: { path: 'n', greaterThanOrEqual: 3 }, maxIterations: 6 } }, { id: 'after', dependsOn: ['c'] }]);
        // Its first receive: deleted if the worker lives, visible again after the timeout if it dies.
        await receive(harness, harness.deps, harness.visible()[0]!, { crashAt, afterEffect }, [0]);
        await harness.drain();
        expect(harness.run(runId).status, `crash at ${crashAt} ${afterEffect}`).toBe('completed');
        const c = harness.step(runId, 'c');
        expect(harness.eventsOf(runId, 'c').filter((event) => event.type === 'step.iterated')).toHaveLength(c.iteration! - 1);
        expect(started(harness, runId).filter((id) => id === 'after')).toHaveLength(1);
        for (const id of ['b', 'c', 'after']) expect(statusFromEvents(harness.typesOf(runId, id))).toBe('completed');
      }
    }
  });
});

describe('loop validation at workflow creation', () => {
  const refused = (steps: unknown[]) => {
    try {
      parseWorkflowDefinition({ name: 'loops', steps }, 'application/json');
    } catch (error) {
      if (error instanceof ValidationError) return { field: error.field, message: error.message };
      throw error;
    }
    return undefined;
  };
  const until = { path: 'n', equals: 1 };
  it('accepts a sub-graph ending at the loop step', () => {
    expect(refused([{ id: 'a', kind: 'noop' }, { id: 'b', kind: 'noop', dependsOn: ['a'] }, { id: 'c', kind: 'noop', dependsOn: ['b'], loop: { over: ['b', 'c'], until, maxIterations: 3 } }, { id: 'd', kind: 'noop', dependsOn: ['c'] }])).toBeUndefined();
  });
  it.each([
    ['an unknown step', [{ id: 'c', kind: 'noop', loop: { over: ['ghost'], until, maxIterations: 3 } }], 'body.steps[0].loop.over[0]', /"ghost" is not a step/],
    ['a step that does not lead to it', [{ id: 'a', kind: 'noop' }, { id: 'c', kind: 'noop', loop: { over: ['a'], until, maxIterations: 3 } }], 'body.steps[1].loop.over', /"a" does not lead to "c"/],
    ['a body step followed by a step outside', [{ id: 'b', kind: 'noop' }, { id: 'x', kind: 'noop', dependsOn: ['b'] }, { id: 'c', kind: 'noop', dependsOn: ['b'], loop: { over: ['b'], until, maxIterations: 3 } }], 'body.steps[2].loop.over', /"b" is followed by "x", which is outside the loop/],
    ['too many iterations', [{ id: 'c', kind: 'noop', loop: { over: [], until, maxIterations: 101 } }], 'body.steps[0].loop.maxIterations', /100/],
    ['no operator', [{ id: 'c', kind: 'noop', loop: { over: [], until: { path: 'n' }, maxIterations: 3 } }], 'body.steps[0].loop.until', /exactly one of/],
    ['two operators', [{ id: 'c', kind: 'noop', loop: { over: [], until: { path: 'n', equals: 1, lessThan: 2 }, maxIterations: 3 } }], 'body.steps[0].loop.until', /exactly one of/],
    ['a bad path', [{ id: 'c', kind: 'noop', loop: { over: [], until: { path: 'a..b', equals: 1 }, maxIterations: 3 } }], 'body.steps[0].loop.until.path', /dot path/],
    ['nested loops', [{ id: 'b', kind: 'noop', loop: { over: [], until, maxIterations: 2 } }, { id: 'c', kind: 'noop', dependsOn: ['b'], loop: { over: ['b'], until, maxIterations: 3 } }], 'body.steps[1].loop.over', /loop of its own|already in the loop/],
  ])('refuses %s, naming the field', (_name, steps, field, message) => {
    const found = refused(steps);
    expect(found?.field).toBe(field);
    expect(found?.message).toMatch(message);
  });
  it('conditions', () => {
    expect(untilHolds({ path: 'n', greaterThanOrEqual: 3 }, { n: 3 })).toBe(true);
    expect(untilHolds({ path: 'n', lessThan: 3 }, { n: '1' })).toBe(false);
    expect(untilHolds({ path: 'a.b', equals: { x: 1, y: [2] } }, { a: { b: { y: [2], x: 1 } } })).toBe(true);
    expect(untilHolds({ path: 'done', exists: true }, { done: false })).toBe(true);
    expect(untilHolds({ path: 'done', exists: false }, {})).toBe(true);
    expect(untilHolds({ path: 'status', notEquals: 'retry' }, { status: 'ok' })).toBe(true);
    expect(untilHolds({ path: '', equals: 'done' }, 'done')).toBe(true);
  });
});
