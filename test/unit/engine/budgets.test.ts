import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { Budget } from '#shared/domain/budgets';
import { setRunBudget } from '#shared/engine/budgets';
import { completeByCallback } from '#shared/engine/callbacks';
import { runAction } from '#shared/engine/run-actions';
import type { Executor } from '#shared/executors/types';
import { defaultProjectSettings, type ProjectSettings } from '#shared/schemas/projects';
import { createEngineHarness, projectId, type EngineHarness } from '../../helpers/engine-harness';

/**
 * Budgets on the in-memory store (issue 12 §1): strict reservations before the claim, settlement
 * after, warn thresholds, project months, and concurrent steps that cannot overspend together.
 */

/** A fake `llm`: reports `spend` tokens (input 10 + the rest output) at $1 per million, after `gate` opens. */
const fakeLlm = (gate: () => Promise<void> = async () => undefined): Executor => ({
  kind: 'llm',
  input: z.object({ model: z.string(), maxTokens: z.number(), spend: z.number() }),
  async run(input, context) {
    await gate();
    const { spend } = input as { spend: number };
    const at = new Date().toISOString();
    return {
      status: 'completed',
      output: { by: context.stepId },
      usage: { llm: [{ provider: 'bedrock', model: 'test-model', inputTokens: 10, outputTokens: spend - 10, totalTokens: spend, latencyMs: 1, costUsd: spend / 1_000_000, startedAt: at, endedAt: at }] },
    };
  },
});
const llmStep = (id: string, dependsOn: string[] = [], extra: Record<string, unknown> = {}) => ({ id, kind: 'llm', dependsOn, input: { model: 'test-model', maxTokens: 100, spend: 30 }, ...extra });
const chain = (length: number) => Array.from({ length }, (_, index) => llmStep(`s${index + 1}`, index ? [`s${index}`] : []));
const prices: ProjectSettings['llmPrices'] = { 'test-model': { inputPerMillion: 1, outputPerMillion: 1 } };

const started = (harness: EngineHarness, runId: string, stepId: string) => harness.typesOf(runId, stepId).includes('step.started');
const runEventsOf = (harness: EngineHarness, runId: string, type: string) => harness.eventsOf(runId).filter((event) => event.type === type);

describe('strict run budget', () => {
  it('runs the steps that fit, blocks the run before the one that could overspend, and continues after a raise and resume', async () => {
    // Prepare: 4 steps of maxTokens 100 that each spend 30; 180 tokens fit 3 (30+30+100 = 160), not a 4th (90 + 100).
    const harness = createEngineHarness({ executors: [fakeLlm()], settings: () => ({ ...defaultProjectSettings, llmPrices: prices }) });
    const runId = await harness.startRun(chain(4), { budget: { tokens: 180, mode: 'strict' } });

    // Act
    await harness.drain();

    // Assess
    expect(harness.run(runId)).toMatchObject({ status: 'blocked', heldSteps: ['s4'] });
    expect(harness.run(runId).reason).toMatch(/^BUDGET_EXCEEDED: step s4 could spend up to 100 tokens, and the run budget \(180 tokens, strict\) has 90 tokens left/);
    expect(['s1', 's2', 's3'].map((id) => harness.step(runId, id).status)).toEqual(['completed', 'completed', 'completed']);
    expect(harness.step(runId, 's4').status).toBe('queued');
    expect(started(harness, runId, 's4')).toBe(false);
    const [exceeded] = runEventsOf(harness, runId, 'budget.exceeded');
    expect(exceeded?.detail).toMatchObject({ level: 'run', stepId: 's4', unit: 'tokens', limit: 180, used: 90, worstCase: 100, left: 90 });
    expect(runEventsOf(harness, runId, 'run.blocked')[0]?.detail).toMatchObject({ code: 'BUDGET_EXCEEDED', stepId: 's4' });
    // Counted as metrics by reason (no run id in sight: shared/domain/metrics.ts).
    expect(harness.metrics.of('BudgetEvents')).toEqual([{ name: 'BudgetEvents', dimensions: { reason: 'exceeded' }, value: 1 }]);
    expect(harness.metrics.of('RunsBlocked')).toEqual([{ name: 'RunsBlocked', dimensions: { reason: 'BUDGET_EXCEEDED' }, value: 1 }]);
    // The refused reservation left nothing behind: used = spent.
    expect(harness.memory.ledger({ runId })).toEqual({ used: { tokens: 90, usd: 0.00009 }, spent: { tokens: 90, usd: 0.00009 } });

    // Act: a person raises the budget and resumes
    await setRunBudget(harness.deps, harness.run(runId), { tokens: 1000, mode: 'strict' }, 'editor');
    await runAction(harness.deps, harness.run(runId), 'resume', 'editor');
    await harness.drain();

    // Assess
    expect(harness.run(runId).status).toBe('completed');
    expect(harness.run(runId).reason).toBeUndefined();
    expect(harness.memory.ledger({ runId })?.spent.tokens).toBe(120);
    expect(harness.typesOf(runId)).toContain('budget.changed');
  });

  it('lets concurrent steps reserve only what fits: never more run than the budget can pay for at worst', async () => {
    // Prepare: 6 parallel steps (worst 100 each) under 250 tokens, all in flight before any settles.
    let open!: () => void;
    const opened = new Promise<void>((resolve) => (open = resolve));
    const harness = createEngineHarness({ executors: [fakeLlm(() => opened)] });
    const runId = await harness.startRun(Array.from({ length: 6 }, (_, index) => llmStep(`p${index}`)), { budget: { tokens: 250, mode: 'strict' } });

    // Act: six deliveries at once, each yielding at every store call
    const deliveries = Array.from({ length: 6 }, () => harness.deliver());
    await new Promise((resolve) => setTimeout(resolve, 20));
    open();
    await Promise.all(deliveries);

    // Assess: two reservations fit (0 → 100 → 200; a third would reach 300)
    const ran = Array.from({ length: 6 }, (_, index) => `p${index}`).filter((id) => started(harness, runId, id));
    expect(ran).toHaveLength(2);
    expect(harness.run(runId).heldSteps).toHaveLength(4);
    expect(harness.run(runId).status).toBe('blocked');
    expect(runEventsOf(harness, runId, 'budget.exceeded')).toHaveLength(4);
    expect(runEventsOf(harness, runId, 'run.blocked')).toHaveLength(1);
    expect(harness.memory.ledger({ runId })).toMatchObject({ used: { tokens: 60 }, spent: { tokens: 60 } });
  });

  it('a step that loses its claim (a duplicate delivery) gives its reservation back', async () => {
    const harness = createEngineHarness({ executors: [fakeLlm()] });
    const runId = await harness.startRun([llmStep('a')], { budget: { tokens: 500, mode: 'strict' } });
    // The same message twice: the second finds the step running and never reserves; a copy that loses the claim releases.
    harness.queue.push({ ...harness.queue[0]!, receives: 0 });
    await Promise.all([harness.deliver(), harness.deliver()]);
    expect(harness.step(runId, 'a').status).toBe('completed');
    expect(harness.memory.ledger({ runId })).toMatchObject({ used: { tokens: 30 }, spent: { tokens: 30 } });
  });
});

describe('warn, step and project budgets', () => {
  it('warn mode emits budget.warning at 80% and 100% and completes the run', async () => {
    const harness = createEngineHarness({ executors: [fakeLlm()] });
    const runId = await harness.startRun(chain(4), { budget: { tokens: 100, mode: 'warn' } });

    await harness.drain();

    expect(harness.run(runId).status).toBe('completed');
    const warnings = runEventsOf(harness, runId, 'budget.warning').map((event) => event.detail);
    expect(warnings).toEqual([
      expect.objectContaining({ level: 'run', unit: 'tokens', threshold: 80, limit: 100, spent: 90, stepId: 's3' }),
      expect.objectContaining({ level: 'run', unit: 'tokens', threshold: 100, limit: 100, spent: 120, stepId: 's4' }),
    ]);
    expect(harness.published.map((event) => event.type)).toContain('budget.warning');
    expect(harness.metrics.count('BudgetEvents', { reason: 'warning' })).toBe(2);
    expect(harness.metrics.count('RunsCompleted')).toBe(1);
  });

  it("a step's own strict budget blocks it before its first attempt when its maxTokens could pass it", async () => {
    const harness = createEngineHarness({ executors: [fakeLlm()] });
    const runId = await harness.startRun([llmStep('a'), llmStep('b', ['a'], { budget: { tokens: 50, mode: 'strict' } })]);

    await harness.drain();

    expect(harness.step(runId, 'a').status).toBe('completed');
    expect(started(harness, runId, 'b')).toBe(false);
    expect(runEventsOf(harness, runId, 'budget.exceeded')[0]?.detail).toMatchObject({ level: 'step', stepId: 'b', limit: 50, used: 0, worstCase: 100 });
  });

  it("a project's monthly budget stops runs across the project, and a raise lets them resume", async () => {
    let settings: ProjectSettings = { ...defaultProjectSettings, budgets: { monthly: { tokens: 150, mode: 'strict' } } };
    const harness = createEngineHarness({ executors: [fakeLlm()], settings: () => settings });
    const first = await harness.startRun(chain(2));
    await harness.drain();
    expect(harness.run(first).status).toBe('completed');

    // 60 spent this month: a new run's first step (worst 100) fits (160 > 150? no: 60 + 100 = 160 > 150)
    const second = await harness.startRun(chain(2));
    await harness.drain();

    expect(harness.run(second).status).toBe('blocked');
    expect(runEventsOf(harness, second, 'budget.exceeded')[0]?.detail).toMatchObject({ level: 'project', month: '2026-11', limit: 150, used: 60, worstCase: 100 });
    expect(harness.memory.ledger({ projectId, month: '2026-11' })?.spent.tokens).toBe(60);

    settings = { ...settings, budgets: { monthly: { tokens: 1000, mode: 'strict' } } };
    await runAction(harness.deps, harness.run(second), 'resume', 'editor');
    await harness.drain();
    expect(harness.run(second).status).toBe('completed');
  });

  it('the project default per run is copied to runs created without a budget', async () => {
    const perRun: Budget = { usd: 2, mode: 'warn' };
    const harness = createEngineHarness({ settings: () => ({ ...defaultProjectSettings, budgets: { perRun } }) });
    const runId = await harness.startRun([{ id: 'a' }]);
    expect(harness.run(runId).budget).toEqual(perRun);
  });
});

describe('cost and run actions', () => {
  it('a step with no budget in force, or of a kind that spends nothing, touches no ledger', async () => {
    const harness = createEngineHarness({ executors: [fakeLlm()] });
    let calls = 0;
    const budgets = harness.deps.store.budgets;
    harness.deps.store = { ...harness.deps.store, budgets: new Proxy(budgets, { get: (target, name): unknown => (calls++, Reflect.get(target, name) as unknown) }) };
    const unbudgeted = await harness.startRun(chain(3));
    const noopUnderBudget = await harness.startRun([{ id: 'w1' }, { id: 'w2', dependsOn: ['w1'] }], { budget: { tokens: 10, mode: 'strict' } });

    await harness.drain();

    expect([harness.run(unbudgeted).status, harness.run(noopUnderBudget).status]).toEqual(['completed', 'completed']);
    expect(calls).toBe(0);
  });

  it('resume is refused for a run blocked by a failed step (retry it), and retry also sends the steps a budget held', async () => {
    const harness = createEngineHarness({ executors: [fakeLlm()], failWhen: ({ stepId, attempt }) => (stepId === 'w' && attempt === 1 ? 'fatal' : undefined) });
    const runId = await harness.startRun([{ id: 'w' }, llmStep('a'), llmStep('b')], { budget: { tokens: 100, mode: 'strict' } });
    await harness.drain();
    expect(harness.run(runId)).toMatchObject({ status: 'blocked', failedSteps: ['w'], heldSteps: ['b'] });

    await expect(runAction(harness.deps, harness.run(runId), 'resume', 'editor')).rejects.toThrow(/blocked by failed steps \(w\); retry it instead/);
    await setRunBudget(harness.deps, harness.run(runId), { tokens: 500, mode: 'strict' }, 'editor');
    await runAction(harness.deps, harness.run(runId), 'retry', 'editor');
    await harness.drain();

    expect(harness.run(runId).status).toBe('completed');
  });
});

describe('agents that report later', () => {
  it("what an agent reports through its callback counts against the run's budget, with its warnings", async () => {
    // Prepare: an agent that answers "pending" and keeps its callback URL; a warn budget of 150 tokens.
    const urls: string[] = [];
    const agent: Executor = {
      kind: 'http',
      input: z.unknown(),
      async run(_input, context) {
        urls.push(context.callback!.url);
        return { status: 'pending' };
      },
    };
    const harness = createEngineHarness({ executors: [agent], callbackBaseUrl: 'https://api.example' });
    const runId = await harness.startRun([{ id: 'agent', kind: 'http', input: { url: 'https://agent.example' }, estimate: { tokens: 100 } }], { budget: { tokens: 150, mode: 'warn' } });
    await harness.drain();
    expect(harness.step(runId, 'agent')).toMatchObject({ status: 'running', waitingFor: 'callback' });

    // Act: the agent calls back with the model calls it made.
    const token = urls[0]!.split('/').at(-1)!;
    const result = await completeByCallback(harness.deps, token, { ok: true, data: { done: true }, usage: { llm: [{ provider: 'openai', model: 'gpt-4o', inputTokens: 40, outputTokens: 160 }] } });

    // Assess
    expect(result.outcome).toBe('completed');
    expect(harness.memory.ledger({ runId })?.spent.tokens).toBe(200);
    expect(runEventsOf(harness, runId, 'budget.warning').map((event) => event.detail.threshold)).toEqual([80, 100]);
  });
});
