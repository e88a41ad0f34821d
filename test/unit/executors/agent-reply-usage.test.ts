import { describe, expect, it } from 'vitest';
import { agentReplyOutcome, parseAgentReply } from '#shared/executors/agent-reply';

const details = { status: 200 };
const at = new Date('2026-11-30T08:00:00.000Z');

describe('usage in agent replies', () => {
  it('keeps the old token and cost summary as it was', () => {
    const reply = parseAgentReply({ ok: true, data: 1, usage: { tokens: { input: 10, output: 2 }, costUsd: 0.5 } }, details);

    expect(agentReplyOutcome(reply, { who: 'agent', details, now: at })).toEqual({ status: 'completed', output: 1, usage: { tokens: { input: 10, output: 2 }, costUsd: 0.5 } });
  });

  it('completes per-call records, pricing those without a cost, and totals them', () => {
    const reply = parseAgentReply(
      {
        ok: true,
        data: 'done',
        usage: {
          llm: [
            { provider: 'openai', model: 'gpt-4o-mini', inputTokens: 1000, outputTokens: 100, latencyMs: 40 },
            { provider: 'bedrock', model: 'custom', inputTokens: 5, outputTokens: 5, costUsd: 0.01, startedAt: '2026-11-30T07:59:00.000Z', endedAt: '2026-11-30T07:59:01.000Z' },
          ],
        },
      },
      details,
    );

    const outcome = agentReplyOutcome(reply, { who: 'agent', details, now: at, prices: { custom: { inputPerMillion: 9, outputPerMillion: 9 } } });

    expect(outcome).toEqual({
      status: 'completed',
      output: 'done',
      usage: {
        tokens: { input: 1005, output: 105 },
        costUsd: 0.01021,
        llm: [
          { provider: 'openai', model: 'gpt-4o-mini', inputTokens: 1000, outputTokens: 100, totalTokens: 1100, latencyMs: 40, costUsd: 0.00021, startedAt: '2026-11-30T07:59:59.960Z', endedAt: '2026-11-30T08:00:00.000Z' },
          { provider: 'bedrock', model: 'custom', inputTokens: 5, outputTokens: 5, totalTokens: 10, latencyMs: 1000, costUsd: 0.01, startedAt: '2026-11-30T07:59:00.000Z', endedAt: '2026-11-30T07:59:01.000Z' },
        ],
      },
    });
  });

  it('refuses a call record without its counts', () => {
    expect(() => parseAgentReply({ ok: true, usage: { llm: [{ provider: 'openai', model: 'gpt-4o' }] } }, details)).toThrow(/usage\.llm\.0\.inputTokens/);
  });
});
