import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import type { Executor } from '#shared/executors/types';
import { receive } from '../../helpers/crashing';
import { createEngineHarness, statusFromEvents, type EngineHarness } from '../../helpers/engine-harness';

/** A planner agent in miniature: its output is its input (so a test writes the plan it returns). */
const echo: Executor = { kind: 'echo', input: z.unknown(), run: async (input) => ({ status: 'completed', output: input }) };

const chainOf = (count: number, prefix = 's') => Array.from({ length: count }, (_, index) => ({ id: `${prefix}${index + 1}`, kind: 'work', ...(index ? { dependsOn: [`${prefix}${index}`] } : {}) }));
const planner = (steps: unknown[]) => ({ id: 'plan', kind: 'echo', input: { plan: { steps } } });
const started = (harness: EngineHarness, runId: string) => harness.memory.events().filter((event) => event.runId === runId && event.type === 'step.started').map((event) => event.stepId);

describe('planner steps', () => {
  it('adds a chain of 20 steps between the planner and its dependent, in one write, and runs them in order', async () => {
    const harness = createEngineHarness({ executors: [echo] });
    const runId = await harness.startRun([{ id: 'first' }, { ...planner(chainOf(20)), dependsOn: ['first'] }, { id: 'after', dependsOn: ['plan'] }]);
    await harness.drain();

    expect(harness.run(runId)).toMatchObject({ status: 'completed', totalSteps: 23 });
    expect(started(harness, runId)).toEqual(['first', 'plan', ...chainOf(20).map((step) => step.id), 'after']);
    expect(harness.executions.every((execution) => execution.dependenciesDone)).toBe(true);
    const steps = await harness.deps.store.listSteps(runId);
    expect(steps).toHaveLength(23);
    expect(steps.find((step) => step.stepId === 's1')).toMatchObject({ plannedBy: 'plan', dependsOn: ['plan'], status: 'completed' });
    // The planner's dependent now waits for the plan's last step (and only for it).
    expect(steps.find((step) => step.stepId === 'after')).toMatchObject({ dependsOn: ['s20'], status: 'completed' });
    expect(harness.step(runId, 'plan').dependents).toEqual(['s1']);
    const planned = harness.eventsOf(runId).find((event) => event.type === 'run.planned');
    expect(planned?.detail).toMatchObject({ stepId: 'plan', entries: ['s1'], exits: ['s20'], rewired: ['after'] });
    for (const step of steps) expect(statusFromEvents(harness.typesOf(runId, step.stepId))).toBe(step.status);
  });

  it('a sink planner: the run completes only after its plan; fans and joins inside the plan; dependencies on finished steps', async () => {
    const harness = createEngineHarness({ executors: [echo] });
    const plan = [{ id: 'x', kind: 'work' }, { id: 'y', kind: 'work', dependsOn: ['plan', 'first'] }, { id: 'z', kind: 'work', dependsOn: ['x', 'y'] }, { id: 'w', kind: 'work', dependsOn: ['x'] }];
    const runId = await harness.startRun([{ id: 'first' }, { ...planner(plan), dependsOn: ['first'] }]);
    await harness.drain();
    expect(harness.run(runId)).toMatchObject({ status: 'completed', totalSteps: 6 });
    const order = started(harness, runId);
    expect(order.slice(0, 2)).toEqual(['first', 'plan']);
    expect(order.indexOf('z')).toBeGreaterThan(Math.max(order.indexOf('x'), order.indexOf('y')));
    expect(harness.eventsOf(runId).filter((event) => event.type === 'run.completed')).toHaveLength(1);
    expect(harness.memory.pendingSinks(runId)).toEqual([]);
  });

  it('an invalid plan fails the planner with a clear error and adds nothing', async () => {
    const cases: [unknown[], RegExp][] = [
      [[{ id: 'a', kind: 'work', dependsOn: ['b'] }, { id: 'b', kind: 'work', dependsOn: ['a'] }], /cycle: a → b → a/],
      [[{ id: 'first', kind: 'work' }], /step id "first" is already a step of this run/],
      [[{ id: 'a', kind: 'work' }, { id: 'a', kind: 'work' }], /step id "a" is used by both/],
      [[{ id: 'a', kind: 'work', dependsOn: ['ghost'] }], /depends on "ghost", which is neither a step of this run nor of the plan/],
      [[{ id: 'a', kind: 'work', dependsOn: ['after'] }], /depends on "after", which is pending/],
      [[{ id: 'a', kind: 'nope' }], /output\.plan\.steps\[0\]\.kind: unknown step kind "nope"/],
      [[{ id: 'a', kind: 'work', surprise: 1 }], /output\.plan\.steps\[0\]/],
      [chainOf(41), /a plan adds at most 40 steps/],
    ];
    for (const [plan, message] of cases) {
      const harness = createEngineHarness({ executors: [echo] });
      const runId = await harness.startRun([{ id: 'first' }, { ...planner(plan), dependsOn: ['first'] }, { id: 'after', dependsOn: ['plan'] }]);
      await harness.drain();
      expect(harness.step(runId, 'plan')).toMatchObject({ status: 'failed', error: { code: 'INVALID_PLAN', retryable: false } });
      expect(harness.step(runId, 'plan').error?.message).toMatch(message);
      expect(harness.run(runId)).toMatchObject({ status: 'blocked', totalSteps: 3 });
      expect(harness.run(runId).reason).toMatch(message);
      expect((await harness.deps.store.listSteps(runId)).map((step) => step.stepId).sort()).toEqual(['after', 'first', 'plan']);
      expect(harness.typesOf(runId)).not.toContain('run.planned');
    }
  });

  it('an empty plan is an ordinary completion: the dependent runs after the planner', async () => {
    const harness = createEngineHarness({ executors: [echo] });
    const runId = await harness.startRun([planner([]), { id: 'after', dependsOn: ['plan'] }]);
    await harness.drain();
    expect(harness.run(runId)).toMatchObject({ status: 'completed', totalSteps: 2 });
    expect(started(harness, runId)).toEqual(['plan', 'after']);
    expect(harness.typesOf(runId)).not.toContain('run.planned');
  });

  it('refuses a plan over the run limits (maxExecutedSteps) and its strict budget', async () => {
    const harness = createEngineHarness({ executors: [echo] });
    const limited = await harness.startRun([planner(chainOf(5))], { limits: { maxExecutedSteps: 4 } });
    await harness.drain();
    expect(harness.step(limited, 'plan').error?.message).toMatch(/maxExecutedSteps \(4\)/);
    const budgeted = await harness.startRun([planner([{ id: 'spend', kind: 'llm', input: { maxTokens: 500 } }])], { budget: { tokens: 100, mode: 'strict' } });
    await harness.drain();
    expect(harness.step(budgeted, 'plan').error?.message).toMatch(/exceeds the run's strict budget/);
  });

  it('a worker dying anywhere around the planner\'s completion adds the plan exactly once (its redelivery finishes the work)', async () => {
    for (let crashAt = 1; crashAt <= 12; crashAt += 1) {
      for (const afterEffect of [false, true]) {
        const harness = createEngineHarness({ executors: [echo] });
        const runId = await harness.startRun([{ ...planner(chainOf(3)) }, { id: 'after', dependsOn: ['plan'] }]);
        // Its first receive: deleted if the worker lives, visible again after the timeout if it dies.
        await receive(harness, harness.deps, harness.visible()[0]!, { crashAt, afterEffect }, [0]);
        // Until the planner's write commits, nothing of the plan exists.
        const steps = await harness.deps.store.listSteps(runId);
        expect([2, 5]).toContain(steps.length);
        expect(harness.run(runId).totalSteps).toBe(steps.length);
        await harness.drain();
        expect(harness.run(runId).status, `crash at ${crashAt} ${afterEffect}`).toBe('completed');
        expect(harness.typesOf(runId).filter((type) => type === 'run.planned')).toHaveLength(1);
        const order = started(harness, runId).filter((id) => id !== 'plan');
        expect(order).toEqual(['s1', 's2', 's3', 'after']);
      }
    }
  });
});

describe('planIn', () => {
  it('finds a plan in an output or in an llm step\'s JSON reply, and nothing in other outputs', async () => {
    const { planIn } = await import('#shared/domain/planner');
    expect(planIn({ plan: { steps: [{ id: 'a' }] } })).toEqual([{ id: 'a' }]);
    expect(planIn({ text: '{…}', json: { plan: { steps: [] } }, stopReason: 'end_turn' })).toEqual([]);
    for (const output of [null, 'plan', { plan: 'x' }, { plan: { steps: {} } }, { json: { plan: 1 } }, [{ plan: { steps: [] } }]]) expect(planIn(output)).toBeUndefined();
  });
});
