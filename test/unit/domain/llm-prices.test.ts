import { describe, expect, it } from 'vitest';
import { listPrices, llmCostUsd, priceOf } from '#shared/domain/llm-prices';
import { completeLlmRecord, sumLlmUsage, type LlmUsageRecord } from '#shared/domain/llm-usage';

const record = (overrides: Partial<LlmUsageRecord>): LlmUsageRecord => ({
  provider: 'openai',
  model: 'gpt-4o-mini',
  inputTokens: 0,
  outputTokens: 0,
  totalTokens: 0,
  latencyMs: 0,
  costUsd: 0,
  startedAt: '2026-11-30T08:00:00.000Z',
  endedAt: '2026-11-30T08:00:01.000Z',
  ...overrides,
});

describe('LLM prices', () => {
  it('prices a call per million input and output tokens', () => {
    // gpt-4o-mini: 0.15 in, 0.60 out per million.
    expect(llmCostUsd({ model: 'gpt-4o-mini', inputTokens: 1_000_000, outputTokens: 500_000 })).toBeCloseTo(0.45, 9);
    expect(llmCostUsd({ model: 'anthropic.claude-3-haiku-20240307-v1:0', inputTokens: 2000, outputTokens: 1000 })).toBeCloseTo(0.00175, 9);
  });

  it('finds Bedrock inference profiles, ARNs and dated OpenAI snapshots under their model', () => {
    const haiku = listPrices['anthropic.claude-3-haiku-20240307-v1:0'];
    expect(priceOf('us.anthropic.claude-3-haiku-20240307-v1:0')).toEqual(haiku);
    expect(priceOf('arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0')).toEqual(haiku);
    expect(priceOf('gpt-4o-2024-08-06')).toEqual(listPrices['gpt-4o']);
    // The longest family wins: a gpt-4o-mini snapshot is not priced as gpt-4o.
    expect(priceOf('gpt-4o-mini-2024-07-18')).toEqual(listPrices['gpt-4o-mini']);
  });

  it('lets a project override a listed price and price models the list lacks', () => {
    const overrides = { 'gpt-4o-mini': { inputPerMillion: 1000, outputPerMillion: 2000 }, 'llama3.2:1b': { inputPerMillion: 1, outputPerMillion: 1 } };
    expect(llmCostUsd({ model: 'gpt-4o-mini', inputTokens: 100, outputTokens: 10 }, overrides)).toBeCloseTo(0.12, 9);
    expect(llmCostUsd({ model: 'llama3.2:1b', inputTokens: 1_000_000, outputTokens: 0 }, overrides)).toBe(1);
  });

  it('costs nothing for a model priced nowhere', () => {
    expect(priceOf('my-local-model')).toBeUndefined();
    expect(llmCostUsd({ model: 'my-local-model', inputTokens: 10_000, outputTokens: 10_000 })).toBe(0);
  });
});

describe('LLM usage records', () => {
  it('completes what an agent reported: total, cost from the prices, times', () => {
    const at = new Date('2026-11-30T08:00:05.000Z');
    expect(completeLlmRecord({ provider: 'openai', model: 'gpt-4o-mini', inputTokens: 1000, outputTokens: 100, latencyMs: 500 }, {}, at)).toEqual({
      provider: 'openai',
      model: 'gpt-4o-mini',
      inputTokens: 1000,
      outputTokens: 100,
      totalTokens: 1100,
      latencyMs: 500,
      costUsd: 0.00021,
      startedAt: '2026-11-30T08:00:04.500Z',
      endedAt: '2026-11-30T08:00:05.000Z',
    });
    // A cost the agent gave is kept as it is.
    expect(completeLlmRecord({ provider: 'x', model: 'gpt-4o', inputTokens: 1, outputTokens: 1, costUsd: 7 }, {}, at).costUsd).toBe(7);
  });

  it('sums records by model', () => {
    const sums = sumLlmUsage([
      record({ inputTokens: 10, outputTokens: 5, totalTokens: 15, costUsd: 0.1, latencyMs: 100 }),
      record({ inputTokens: 20, outputTokens: 5, totalTokens: 25, costUsd: 0.2, latencyMs: 50 }),
      record({ provider: 'bedrock', model: 'amazon.nova-lite-v1:0', inputTokens: 1, outputTokens: 1, totalTokens: 2, costUsd: 0, latencyMs: 7 }),
    ]);
    expect(sums).toEqual({
      'gpt-4o-mini': { provider: 'openai', calls: 2, inputTokens: 30, outputTokens: 10, totalTokens: 40, costUsd: 0.3, latencyMs: 150 },
      'amazon.nova-lite-v1:0': { provider: 'bedrock', calls: 1, inputTokens: 1, outputTokens: 1, totalTokens: 2, costUsd: 0, latencyMs: 7 },
    });
  });
});
