import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { unwrap } from '#sdk';
import { listPrices } from '#shared/domain/llm-prices';
import type { LlmUsageRecord } from '#shared/domain/llm-usage';
import { engineClient } from '../helpers/engine';
import { startOpenAiServer, type OpenAiServer } from '../helpers/openai-server';
import { resetData } from '../helpers/reset';
import { useTestAgent } from '../helpers/test-agent';

/**
 * `llm` steps on the deployed stack: one on Bedrock (the emulator's Converse, deterministic
 * replies with token counts) and others on an OpenAI-compatible server this test runs on loopback.
 */

const testAgent = useTestAgent({ beforeAll, afterAll });
let server: OpenAiServer;
beforeAll(async () => {
  server = await startOpenAiServer();
});
afterAll(async () => {
  await server.close();
});
beforeEach(async () => {
  server.requests.length = 0;
  await resetData();
});

const haiku = 'anthropic.claude-3-haiku-20240307-v1:0';
const fastRetry = { maxAttempts: 3, backoffBaseSeconds: 1, backoffCapSeconds: 1, jitter: 'none' as const };

interface LlmStepView {
  status: string;
  attempt: number;
  output?: { text: string; json?: unknown; stopReason: string };
  error?: { code?: string; message: string };
  llmUsage: LlmUsageRecord[];
}

const listCost = (model: string, inputTokens: number, outputTokens: number) =>
  (inputTokens * listPrices[model]!.inputPerMillion + outputTokens * listPrices[model]!.outputPerMillion) / 1_000_000;

describe('llm steps', () => {
  it('runs a Bedrock step and OpenAI-compatible steps, records each call on its step and sums them by model on the run', async () => {
    const client = await engineClient('llm');
    server.script('gpt-4.1-mini', [{ content: 'I think it deserves a 4.' }, { content: '{"score": 4, "reason": "clear"}' }]);
    const workflowId = await client.workflow({
      name: 'article',
      steps: [
        { id: 'research', kind: 'llm', input: { provider: 'bedrock', model: haiku, system: 'You are a researcher.', prompt: 'Find facts about {{runInput.topic}}.', maxTokens: 200 } },
        {
          id: 'draft',
          kind: 'llm',
          dependsOn: ['research'],
          input: { provider: 'openai', baseUrl: server.url, model: 'gpt-4o-mini', prompt: 'Write about {{runInput.topic}} from: {{dependencies.research.text}}', maxTokens: 300 },
        },
        {
          id: 'score',
          kind: 'llm',
          dependsOn: ['draft'],
          retry: fastRetry,
          input: {
            provider: 'openai',
            baseUrl: server.url,
            model: 'gpt-4.1-mini',
            messages: [{ role: 'user', content: 'Score this draft: {{dependencies.draft}}' }],
            maxTokens: 50,
            json: { type: 'object', required: ['score'], properties: { score: { type: 'integer', minimum: 1, maximum: 5 }, reason: { type: 'string' } } },
          },
        },
      ],
    });

    const { id } = await client.run(workflowId, { input: { topic: 'otters' } });
    const run = await client.waitFor(id, ['completed', 'blocked'], 90_000);
    expect(run.status, run.reason).toBe('completed');

    const research = (await client.step(id, 'research')) as unknown as LlmStepView;
    const draft = (await client.step(id, 'draft')) as unknown as LlmStepView;
    const score = (await client.step(id, 'score')) as unknown as LlmStepView;

    // Bedrock: the emulator's Converse answered with text and token counts.
    expect(research.output).toMatchObject({ text: expect.stringMatching(/\S/), stopReason: 'end_turn' });
    expect(research.llmUsage).toHaveLength(1);
    const [bedrockCall] = research.llmUsage;
    expect(bedrockCall).toMatchObject({ provider: 'bedrock', model: haiku, inputTokens: expect.any(Number), outputTokens: expect.any(Number) });
    expect(bedrockCall!.inputTokens).toBeGreaterThan(0);
    expect(bedrockCall!.totalTokens).toBe(bedrockCall!.inputTokens + bedrockCall!.outputTokens);
    expect(bedrockCall!.costUsd).toBeCloseTo(listCost(haiku, bedrockCall!.inputTokens, bedrockCall!.outputTokens), 9);
    expect(Date.parse(bedrockCall!.endedAt)).toBeGreaterThanOrEqual(Date.parse(bedrockCall!.startedAt));

    // OpenAI-compatible: the dependency's output was rendered into the prompt; the server counts characters.
    const draftPrompt = `Write about otters from: ${research.output!.text}`;
    expect(server.requests.find((request) => request.body.model === 'gpt-4o-mini')?.body.messages).toEqual([{ role: 'user', content: draftPrompt }]);
    expect(draft.output).toEqual({ text: `echo: ${draftPrompt}`, stopReason: 'stop' });
    expect(draft.llmUsage).toEqual([
      expect.objectContaining({
        provider: 'openai',
        model: 'gpt-4o-mini',
        inputTokens: draftPrompt.length,
        outputTokens: `echo: ${draftPrompt}`.length,
        costUsd: expect.closeTo(listCost('gpt-4o-mini', draftPrompt.length, `echo: ${draftPrompt}`.length), 9),
      }),
    ]);

    // The first reply was not JSON: retried, then completed with the parsed JSON; both calls were recorded.
    expect(score).toMatchObject({ status: 'completed', attempt: 2, output: { json: { score: 4, reason: 'clear' } } });
    expect(score.llmUsage.map((call) => call.model)).toEqual(['gpt-4.1-mini', 'gpt-4.1-mini']);
    const events = await client.events(id);
    expect(events.filter((event) => event.stepId === 'score' && event.type === 'step.retrying').map((event) => event.detail.error)).toEqual([
      expect.stringContaining("the model's reply is not JSON"),
    ]);

    // The run sums every call by model.
    const runUsage = (run.usage as { llm: Record<string, { provider: string; calls: number; inputTokens: number; outputTokens: number; totalTokens: number; costUsd: number; latencyMs: number }> }).llm;
    const sum = (records: LlmUsageRecord[]) => ({
      calls: records.length,
      inputTokens: records.reduce((total, call) => total + call.inputTokens, 0),
      outputTokens: records.reduce((total, call) => total + call.outputTokens, 0),
      totalTokens: records.reduce((total, call) => total + call.totalTokens, 0),
      latencyMs: records.reduce((total, call) => total + call.latencyMs, 0),
    });
    expect(Object.keys(runUsage).sort()).toEqual([haiku, 'gpt-4.1-mini', 'gpt-4o-mini'].sort());
    expect(runUsage[haiku]).toMatchObject({ provider: 'bedrock', ...sum(research.llmUsage) });
    expect(runUsage['gpt-4o-mini']).toMatchObject({ provider: 'openai', ...sum(draft.llmUsage) });
    expect(runUsage['gpt-4.1-mini']).toMatchObject({ provider: 'openai', ...sum(score.llmUsage) });
    expect(runUsage['gpt-4.1-mini']!.costUsd).toBeCloseTo(score.llmUsage[0]!.costUsd + score.llmUsage[1]!.costUsd, 9);
  });

  it('prices calls with the project\'s own prices once set', async () => {
    const client = await engineClient('llm-prices');
    const patched = await unwrap(
      client.baton.PATCH('/v1/projects/{projectId}/settings', {
        params: { path: { projectId: client.projectId } },
        // Any JSON number a price may be, even one a DynamoDB number refuses (found by schemathesis).
        body: { llmPrices: { 'gpt-4o-mini': { inputPerMillion: 1000, outputPerMillion: 2000 }, 'tiny-model': { inputPerMillion: 5e-324, outputPerMillion: 2.2250738585072014e-308 } } },
      }),
    );
    expect(patched).toMatchObject({ llmPrices: { 'tiny-model': { inputPerMillion: 5e-324, outputPerMillion: 2.2250738585072014e-308 } } });
    const workflowId = await client.workflow({
      name: 'priced',
      steps: [{ id: 'ask', kind: 'llm', input: { provider: 'openai', baseUrl: server.url, model: 'gpt-4o-mini', prompt: 'Hello', maxTokens: 20 } }],
    });

    const { id } = await client.run(workflowId);
    const run = await client.waitFor(id, ['completed', 'blocked']);
    const ask = (await client.step(id, 'ask')) as unknown as LlmStepView;

    // 5 characters in, "echo: Hello" (11) out, at the project's prices.
    const expected = (5 * 1000 + 11 * 2000) / 1_000_000;
    expect(run.status).toBe('completed');
    expect(ask.llmUsage).toEqual([expect.objectContaining({ inputTokens: 5, outputTokens: 11, costUsd: expect.closeTo(expected, 9) })]);
    expect((run.usage as { llm: Record<string, { costUsd: number }> }).llm['gpt-4o-mini']!.costUsd).toBeCloseTo(expected, 9);
    expect(expected).not.toBeCloseTo(listCost('gpt-4o-mini', 5, 11), 6);
  });

  it('records the model calls an agent reports, pricing those without a cost, next to the llm steps\' on the run', async () => {
    const client = await engineClient('llm-agents');
    const calls = [
      { provider: 'openai', model: 'gpt-4o-mini', inputTokens: 1000, outputTokens: 200, latencyMs: 800 },
      { provider: 'anthropic', model: 'claude-direct', inputTokens: 10, outputTokens: 10, costUsd: 0.5 },
    ];
    const workflowId = await client.workflow({
      name: 'agent-usage',
      steps: [
        { id: 'agent', kind: 'http', input: { url: `${testAgent().url}/usage`, body: { llm: calls } } },
        { id: 'ask', kind: 'llm', dependsOn: ['agent'], input: { provider: 'openai', baseUrl: server.url, model: 'gpt-4o-mini', prompt: 'Hi', maxTokens: 5 } },
      ],
    });

    const { id } = await client.run(workflowId);
    const run = await client.waitFor(id, ['completed', 'blocked']);
    const agent = (await client.step(id, 'agent')) as unknown as LlmStepView;
    const ask = (await client.step(id, 'ask')) as unknown as LlmStepView;

    expect(run.status).toBe('completed');
    expect(agent.llmUsage).toEqual([
      expect.objectContaining({ ...calls[0], totalTokens: 1200, costUsd: expect.closeTo(listCost('gpt-4o-mini', 1000, 200), 9) }),
      expect.objectContaining({ ...calls[1], totalTokens: 20, latencyMs: 0 }),
    ]);
    const llm = (run.usage as { llm: Record<string, { calls: number; inputTokens: number; costUsd: number }> }).llm;
    expect(llm['gpt-4o-mini']).toMatchObject({ calls: 2, inputTokens: 1000 + ask.llmUsage[0]!.inputTokens });
    expect(llm['claude-direct']).toMatchObject({ calls: 1, costUsd: 0.5 });
    // The older summary still adds up what agents and llm steps reported.
    expect((run.usage.agentUsage as { tokens: { input: number } }).tokens.input).toBe(1010 + ask.llmUsage[0]!.inputTokens);
  });

  it('refuses a template that refers to a step that is not a dependency (at creation and in a retry input), and fails a step whose reference has no value', async () => {
    const client = await engineClient('llm-templates');
    const refused = await client
      .workflow({
        name: 'bad',
        steps: [
          { id: 'a', kind: 'noop' },
          { id: 'b', kind: 'llm', input: { provider: 'openai', baseUrl: server.url, model: 'gpt-4o-mini', prompt: 'Use {{dependencies.a.x}}', maxTokens: 5 } },
        ],
      })
      .catch((error: unknown) => error);
    expect(refused).toMatchObject({ status: 400, field: 'body.steps[1].input.prompt' });

    const workflowId = await client.workflow({
      name: 'missing',
      steps: [
        { id: 'a', kind: 'noop', input: { summary: 'short' } },
        { id: 'b', kind: 'llm', dependsOn: ['a'], input: { provider: 'openai', baseUrl: server.url, model: 'gpt-4o-mini', prompt: 'Use {{dependencies.a.details}}', maxTokens: 5 } },
      ],
    });
    const { id } = await client.run(workflowId);
    const run = await client.waitFor(id, ['completed', 'blocked']);
    const b = (await client.step(id, 'b')) as unknown as LlmStepView;

    expect(run.status).toBe('blocked');
    expect(b).toMatchObject({ status: 'failed', attempt: 1, error: { code: 'TEMPLATE_MISSING_VALUE', message: 'prompt: {{dependencies.a.details}}: there is no "details" in that output' } });
    expect(server.requests).toHaveLength(0);

    // A retry with a new input is checked the same way, and a corrected one completes.
    const input = { provider: 'openai', baseUrl: server.url, model: 'gpt-4o-mini', maxTokens: 5 };
    const retry = (prompt: string) => unwrap(client.baton.POST('/v1/runs/{runId}/actions/retry', { params: { path: { runId: id } }, body: { steps: { b: { input: { ...input, prompt } } } } }));
    expect(await retry('Use {{dependencies.z.summary}}').catch((error: unknown) => error)).toMatchObject({ status: 400, field: 'body.steps.b.input.prompt' });
    expect(await retry('Use {{dependencies.a.summary}}')).toMatchObject({ id });
    expect((await client.waitFor(id, ['completed', 'blocked'])).status).toBe('completed');
    expect(server.requests.map((request) => request.body.messages)).toEqual([[{ role: 'user', content: 'Use short' }]]);
  });
});
