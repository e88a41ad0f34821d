import { llmCostUsd, type LlmPrices } from './llm-prices';

/** One model call, as the crew seed's LLM sidecar recorded it. */
export interface LlmUsageRecord {
  provider: string;
  model: string;
  inputTokens: number;
  outputTokens: number;
  totalTokens: number;
  latencyMs: number;
  costUsd: number;
  startedAt: string;
  endedAt: string;
}

/** What an agent may report of a call: the counts, and whatever else it measured. */
export type ReportedLlmCall = Pick<LlmUsageRecord, 'provider' | 'model' | 'inputTokens' | 'outputTokens'> & Partial<LlmUsageRecord>;

/**
 * A full record from what an agent reported: total = input + output, cost from the prices
 * (the project's, then the list) when it gave none, times at `at` and latency 0 when unknown.
 */
export const completeLlmRecord = (call: ReportedLlmCall, prices: LlmPrices | undefined, at: Date): LlmUsageRecord => {
  const endedAt = call.endedAt ?? at.toISOString();
  const latencyMs = call.latencyMs ?? (call.startedAt && call.endedAt ? Math.max(0, Date.parse(call.endedAt) - Date.parse(call.startedAt)) : 0);
  return {
    provider: call.provider,
    model: call.model,
    inputTokens: call.inputTokens,
    outputTokens: call.outputTokens,
    totalTokens: call.totalTokens ?? call.inputTokens + call.outputTokens,
    latencyMs,
    costUsd: call.costUsd ?? llmCostUsd(call, prices),
    startedAt: call.startedAt ?? new Date(Date.parse(endedAt) - latencyMs).toISOString(),
    endedAt,
  };
};

/** One model's calls summed (latency is the total time spent waiting for it). */
export interface LlmModelUsage {
  provider: string;
  calls: number;
  inputTokens: number;
  outputTokens: number;
  totalTokens: number;
  costUsd: number;
  latencyMs: number;
}

/** Sums records by model id. */
export const sumLlmUsage = (records: Iterable<LlmUsageRecord>): Record<string, LlmModelUsage> => {
  const byModel: Record<string, LlmModelUsage> = {};
  for (const record of records) {
    const sum = (byModel[record.model] ??= { provider: record.provider, calls: 0, inputTokens: 0, outputTokens: 0, totalTokens: 0, costUsd: 0, latencyMs: 0 });
    sum.calls += 1;
    sum.inputTokens += record.inputTokens;
    sum.outputTokens += record.outputTokens;
    sum.totalTokens += record.totalTokens;
    sum.costUsd = Math.round((sum.costUsd + record.costUsd) * 1e9) / 1e9;
    sum.latencyMs += record.latencyMs;
  }
  return byModel;
};

/** Token and cost totals of some records (the agent usage summary of a step that reported calls only). */
export const llmTotals = (records: LlmUsageRecord[]) => ({
  tokens: { input: records.reduce((sum, record) => sum + record.inputTokens, 0), output: records.reduce((sum, record) => sum + record.outputTokens, 0) },
  costUsd: Math.round(records.reduce((sum, record) => sum + record.costUsd, 0) * 1e9) / 1e9,
});
