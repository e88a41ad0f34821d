import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { agentFunctionName, createAgentFunction, type AgentFunction } from '../helpers/agent-functions';
import { engineClient } from '../helpers/engine';
import { resetData } from '../helpers/reset';

/** Answers at once, in the agent shape, with what it was sent and some usage. */
const reviewerSource = `
exports.handler = async (event) => ({
  ok: true,
  data: { reviewed: event.input, key: event.idempotencyKey, attempt: event.attempt, draft: event.dependencies.draft, topic: event.runInput.topic },
  usage: { tokens: { input: 120, output: 30 }, costUsd: 0.002 },
});
`;

/** A plain function: any JSON it returns is the output. */
const plainSource = `exports.handler = async (event) => ({ words: String(event.input.text).split(' ').length });`;

/** Crashes on its first attempt (the emulator may start a fresh process per invocation: no memory between them). */
const crashOnceSource = `
exports.handler = async (event) => {
  if (event.attempt === 1) throw new Error('cold cache');
  return { ok: true, data: { attempt: event.attempt, key: event.idempotencyKey } };
};
`;

let reviewer: AgentFunction;
let plain: AgentFunction;
let crashOnce: AgentFunction;
let outsider: AgentFunction;

beforeAll(async () => {
  [reviewer, plain, crashOnce, outsider] = await Promise.all([
    createAgentFunction(agentFunctionName('review'), reviewerSource),
    createAgentFunction(agentFunctionName('count'), plainSource),
    createAgentFunction(agentFunctionName('crash'), crashOnceSource),
    // Exists, but is not named baton-agent-*: the worker must not invoke it.
    createAgentFunction(`payroll-export-${Date.now().toString(36)}`, plainSource),
  ]);
}, 120_000);
afterAll(async () => {
  await Promise.all([reviewer, plain, crashOnce, outsider].map((fn) => fn?.remove()));
});
beforeEach(resetData);

describe('lambda steps on the deployed engine', () => {
  it('invokes an agent function that answers at once, recording its output and usage', async () => {
    const client = await engineClient();
    const workflowId = await client.workflow({
      name: 'lambda-review',
      steps: [
        { id: 'draft', kind: 'noop', input: { text: 'three little words' } },
        { id: 'review', kind: 'lambda', dependsOn: ['draft'], input: { function: reviewer.name, payload: { strict: true } } },
        { id: 'count', kind: 'lambda', dependsOn: ['draft'], input: { function: plain.arn, payload: { text: 'three little words' } } },
      ],
    });

    const { id } = await client.run(workflowId, { input: { topic: 'otters' } });
    const run = await client.waitFor(id, ['completed', 'blocked'], 60_000);
    const review = await client.step(id, 'review');
    const count = await client.step(id, 'count');

    expect(run.status, run.reason).toBe('completed');
    expect(review.output).toEqual({ reviewed: { strict: true }, key: `${id}:review:1`, attempt: 1, draft: { text: 'three little words' }, topic: 'otters' });
    expect(count.output).toEqual({ words: 3 });
    expect(run.usage.agentUsage).toEqual({ tokens: { input: 120, output: 30 }, costUsd: 0.002 });
    expect((review as unknown as { usage: { calls: Record<string, number>; lambdaInvocations: number } }).usage).toMatchObject({ calls: { 'Lambda.Invoke': 1 }, lambdaInvocations: 1 });
  });

  it('retries a function error, and the retry carries the same idempotency key', async () => {
    const client = await engineClient();
    const workflowId = await client.workflow({
      name: 'lambda-crash',
      steps: [{ id: 'flaky', kind: 'lambda', input: { function: crashOnce.name }, retry: { maxAttempts: 3, backoffBaseSeconds: 1, backoffCapSeconds: 1, jitter: 'none' } }],
    });

    const { id } = await client.run(workflowId);
    const run = await client.waitFor(id, ['completed', 'blocked'], 60_000);
    const events = await client.events(id);

    expect(run.status, run.reason).toBe('completed');
    expect((await client.step(id, 'flaky')).output).toEqual({ attempt: 2, key: `${id}:flaky:1` });
    expect(events.find((event) => event.type === 'step.retrying')?.detail.error).toMatch(/failed \([\w.]+\): cold cache/);
  });

  it('refuses a function that is not allowed with a clear step error, without invoking it', async () => {
    const client = await engineClient();
    const workflowId = await client.workflow({ name: 'lambda-outsider', steps: [{ id: 'export', kind: 'lambda', input: { function: outsider.name } }] });

    const { id } = await client.run(workflowId);
    const run = await client.waitFor(id, ['blocked', 'completed'], 60_000);
    const step = await client.step(id, 'export');

    expect(run.status).toBe('blocked');
    expect(step).toMatchObject({ status: 'failed', attempt: 1, error: { code: 'FUNCTION_NOT_ALLOWED', retryable: false } });
    expect(step.error?.message).toContain(`function:${outsider.name} is not allowed`);
    expect(step.error?.message).toContain('-c agentFunctions=');
    expect((step as unknown as { usage?: { calls: Record<string, number> } }).usage?.calls['Lambda.Invoke']).toBeUndefined();
  });

  it('refuses a malformed lambda input at workflow creation, naming the field', async () => {
    const client = await engineClient();

    const refused = await client.workflow({ name: 'bad', steps: [{ id: 'a', kind: 'lambda', input: { function: 'has/slash' } }] }).catch((error: unknown) => error);

    expect(refused).toMatchObject({ status: 400, field: 'body.steps[0].input.function' });
  });
});
