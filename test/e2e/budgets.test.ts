import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { unwrap, type SaveWorkflowBody } from '#sdk';
import { engineClient, type EngineClient, type RunEvent, type RunView } from '../helpers/engine';
import { stepQueueDrained } from '../helpers/queues';
import { resetData } from '../helpers/reset';

/**
 * Budgets on the deployed stack (issue 12 §1) with `llm` steps on the emulator's Bedrock Converse,
 * whose deterministic replies make every step of the same prompt spend the same tokens: a probe
 * run measures that spend (`perStep`), and each budget is set from it.
 */

const haiku = 'anthropic.claude-3-haiku-20240307-v1:0';
const maxTokens = 100;
const chain = (name: string, length: number): SaveWorkflowBody => ({
  name,
  steps: Array.from({ length }, (_, index) => ({
    id: `s${index + 1}`,
    kind: 'llm',
    dependsOn: index ? [`s${index}`] : [],
    input: { provider: 'bedrock', model: haiku, prompt: 'Name three otters, one line each.', maxTokens },
  })),
});
const ofType = (events: RunEvent[], type: string) => events.filter((event) => event.type === type);

/** Tokens one step of `chain` spends (input + output), measured on a run without budgets. */
let perStep = 0;
beforeAll(async () => {
  await resetData();
  const probe = await engineClient('budget-probe');
  const run = await probe.run(await probe.workflow(chain('probe', 1)));
  expect((await probe.waitFor(run.id, ['completed', 'blocked'], 60_000)).status).toBe('completed');
  perStep = (await probe.step(run.id, 's1')).llmUsage.reduce((sum, record) => sum + record.totalTokens, 0);
  expect(perStep).toBeGreaterThan(4);
}, 90_000);

// A strict budget that fits two steps and not a third: 0 + 100 and perStep + 100 fit, 2 × perStep + 100 does not.
const twoStepsWorth = () => maxTokens + perStep + Math.floor(perStep / 2);

let client: EngineClient;
beforeEach(async () => {
  client = await engineClient('budgets');
});

describe('budgets', () => {
  it('a strict run budget runs the first llm steps, blocks the run before the step that would overspend (it never starts), and a raise + resume completes it', async () => {
    const workflowId = await client.workflow(chain('strict', 4));
    const created = await client.run(workflowId, { budget: { tokens: twoStepsWorth(), mode: 'strict' } });
    expect(created.budget).toEqual({ tokens: twoStepsWorth(), mode: 'strict' });

    const blocked = await client.waitFor(created.id, ['blocked', 'completed'], 60_000);
    expect(blocked.status).toBe('blocked');
    expect(blocked.reason).toMatch(new RegExp(`^BUDGET_EXCEEDED: step s3 could spend up to ${maxTokens} tokens, and the run budget \\(${twoStepsWorth()} tokens, strict\\)`));
    expect(blocked.heldSteps).toEqual(['s3']);
    expect(blocked.budgets.run).toEqual({ tokens: twoStepsWorth(), mode: 'strict', spent: { tokens: 2 * perStep, usd: expect.any(Number) }, reserved: { tokens: 0, usd: 0 } });
    expect((await client.step(created.id, 's3')).status).toBe('queued');
    const events = await client.events(created.id);
    expect(events.some((event) => event.stepId === 's3' && event.type === 'step.started')).toBe(false);
    expect(ofType(events, 'budget.exceeded').map((event) => event.detail)).toEqual([
      expect.objectContaining({ level: 'run', stepId: 's3', unit: 'tokens', limit: twoStepsWorth(), used: 2 * perStep, worstCase: maxTokens, left: twoStepsWorth() - 2 * perStep }),
    ]);

    // Raise the budget (an editor), then resume.
    const raised = await unwrap(client.baton.PUT('/v1/runs/{runId}/budget', { params: { path: { runId: created.id } }, body: { tokens: 10_000, mode: 'strict' } }));
    expect(raised.budgets.run?.tokens).toBe(10_000);
    await unwrap(client.baton.POST('/v1/runs/{runId}/actions/{action}', { params: { path: { runId: created.id, action: 'resume' } } }));
    const done = await client.waitFor(created.id, ['completed', 'blocked'], 60_000);
    expect(done.status, done.reason).toBe('completed');
    expect(done.budgets.run?.spent.tokens).toBe(4 * perStep);
    expect(ofType(await client.events(created.id), 'budget.changed')).toHaveLength(1);
  }, 150_000);

  it('warn mode emits budget.warning at 80% and 100% and completes the run', async () => {
    const limit = Math.ceil(3.5 * perStep);
    const workflowId = await client.workflow(chain('warn', 4));
    const created = await client.run(workflowId, { budget: { tokens: limit, mode: 'warn' } });

    const done = await client.waitFor(created.id, ['completed', 'blocked'], 60_000);

    expect(done.status, done.reason).toBe('completed');
    const warnings = ofType(await client.events(created.id), 'budget.warning').map((event) => event.detail);
    expect(warnings).toEqual([
      expect.objectContaining({ level: 'run', unit: 'tokens', threshold: 80, limit, spent: 3 * perStep, stepId: 's3' }),
      expect.objectContaining({ level: 'run', unit: 'tokens', threshold: 100, limit, spent: 4 * perStep, stepId: 's4' }),
    ]);
    expect(done.budgets.run?.spent.tokens).toBe(4 * perStep);
  }, 120_000);

  it("a project's monthly budget stops runs across the project; raising it lets them resume", async () => {
    const projectId = client.projectId;
    await unwrap(client.baton.PATCH('/v1/projects/{projectId}/settings', { params: { path: { projectId } }, body: { budgets: { monthly: { tokens: twoStepsWorth(), mode: 'strict' } } } }));
    const workflowId = await client.workflow(chain('monthly', 2));

    const first = await client.run(workflowId);
    expect((await client.waitFor(first.id, ['completed', 'blocked'], 60_000)).status).toBe('completed');
    const second = await client.run(workflowId);
    const blocked = await client.waitFor(second.id, ['blocked', 'completed'], 60_000);

    expect(blocked.status).toBe('blocked');
    expect(blocked.reason).toMatch(/^BUDGET_EXCEEDED: step s1 could spend up to 100 tokens, and the project's budget for \d{4}-\d{2}/);
    expect(blocked.budgets.projectMonthly).toMatchObject({ tokens: twoStepsWorth(), mode: 'strict', spent: { tokens: 2 * perStep } });
    expect(ofType(await client.events(second.id), 'budget.exceeded')[0]?.detail).toMatchObject({ level: 'project', used: 2 * perStep, worstCase: maxTokens });

    await unwrap(client.baton.PATCH('/v1/projects/{projectId}/settings', { params: { path: { projectId } }, body: { budgets: { monthly: { tokens: 100_000, mode: 'strict' } } } }));
    await unwrap(client.baton.POST('/v1/runs/{runId}/actions/{action}', { params: { path: { runId: second.id, action: 'resume' } } }));
    const done = await client.waitFor(second.id, ['completed', 'blocked'], 60_000);
    expect(done.status, done.reason).toBe('completed');
    expect(done.budgets.projectMonthly?.spent.tokens).toBe(4 * perStep);
  }, 150_000);

  it('what a budget costs: 2 DynamoDB writes per strict level and step (reserve, settle), 1 per warn level, nothing for steps that spend nothing', async () => {
    // Each run alone, its usage read once every invocation has returned (the remainders are written then).
    const measured = async (workflow: SaveWorkflowBody, budget?: { tokens: number; mode: 'strict' | 'warn' }): Promise<RunView> => {
      const created = await client.run(await client.workflow(workflow), budget ? { budget } : {});
      expect((await client.waitFor(created.id, ['completed', 'blocked'], 60_000)).status).toBe('completed');
      await stepQueueDrained(60_000);
      return client.getRun(created.id);
    };
    const updates = (run: RunView) => (run.usage.calls as Record<string, number>)['DynamoDB.UpdateItem'] ?? 0;
    const noops: SaveWorkflowBody = { name: 'noops', steps: [{ id: 'a', kind: 'noop' }, { id: 'b', kind: 'noop', dependsOn: ['a'] }, { id: 'c', kind: 'noop', dependsOn: ['b'] }, { id: 'd', kind: 'noop', dependsOn: ['c'] }] };

    const none = await measured(chain('none', 4));
    const strict = await measured(chain('strict-cost', 4), { tokens: 1_000_000, mode: 'strict' });
    const warn = await measured(chain('warn-cost', 4), { tokens: 1_000_000, mode: 'warn' });
    const noopsFree = await measured(noops);
    const noopsBudgeted = await measured(noops, { tokens: 10, mode: 'strict' });

    const perStepOf = (run: RunView) => run.usage.perExecutedStep;
    console.log(`UpdateItem calls for 4 llm steps: none ${updates(none)}, strict ${updates(strict)}, warn ${updates(warn)}; 4 noop steps: none ${updates(noopsFree)}, strict ${updates(noopsBudgeted)}`);
    console.log(`per executed step: none ${JSON.stringify(perStepOf(none))}; strict ${JSON.stringify(perStepOf(strict))}; warn ${JSON.stringify(perStepOf(warn))}`);
    // The usage remainder adds one UpdateItem per worker invocation: a chain split across one more
    // invocation adds one, in either run (the first run measured, `none`, meets cold instances
    // that also read its steps' definitions, and is the one seen split once more).
    expect(updates(strict) - updates(none)).toBeGreaterThanOrEqual(7);
    expect(updates(strict) - updates(none)).toBeLessThanOrEqual(9);
    expect(updates(warn) - updates(none)).toBeGreaterThanOrEqual(3);
    expect(updates(warn) - updates(none)).toBeLessThanOrEqual(5);
    expect(Math.abs(updates(noopsBudgeted) - updates(noopsFree))).toBeLessThanOrEqual(1);
  }, 240_000);

  it('refuses a bad budget naming the field', async () => {
    const workflowId = await client.workflow(chain('bad', 1));
    const response = await client.baton.POST('/v1/projects/{projectId}/runs', { params: { path: { projectId: client.projectId } }, body: { workflowId, budget: { tokens: -1, mode: 'strict' } } });
    expect(response.response.status).toBe(400);
    expect((response.error as { error: { field: string } }).error.field).toBe('body.budget.tokens');
    const created = await client.run(workflowId, { start: false });
    const mode = await client.baton.PUT('/v1/runs/{runId}/budget', { params: { path: { runId: created.id } }, body: { tokens: 5, mode: 'hard' as 'strict' } });
    expect(mode.response.status).toBe(400);
    expect((mode.error as { error: { field: string } }).error.field).toBe('body.mode');
  });
});
