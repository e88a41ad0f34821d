/**
 * What a model call costs: list prices in USD per million input and output tokens.
 *
 * Approximate on-demand list prices (Bedrock: us-east-1, standard tier; OpenAI: standard API),
 * written down from memory on 2026-11-30 and not checked against the price pages: treat them as
 * estimates. Batch, cached-input, provisioned and regional differences are ignored. A project
 * can set its own (`settings.llmPrices`), which take precedence; a model found in neither costs 0.
 */
export interface LlmPrice {
  inputPerMillion: number;
  outputPerMillion: number;
}

export type LlmPrices = Record<string, LlmPrice>;

const price = (inputPerMillion: number, outputPerMillion: number): LlmPrice => ({ inputPerMillion, outputPerMillion });

export const listPrices: LlmPrices = {
  // Bedrock: Anthropic
  'anthropic.claude-3-haiku-20240307-v1:0': price(0.25, 1.25),
  'anthropic.claude-3-sonnet-20240229-v1:0': price(3, 15),
  'anthropic.claude-3-opus-20240229-v1:0': price(15, 75),
  'anthropic.claude-3-5-haiku-20241022-v1:0': price(0.8, 4),
  'anthropic.claude-3-5-sonnet-20240620-v1:0': price(3, 15),
  'anthropic.claude-3-5-sonnet-20241022-v2:0': price(3, 15),
  'anthropic.claude-3-7-sonnet-20250219-v1:0': price(3, 15),
  'anthropic.claude-sonnet-4-20250514-v1:0': price(3, 15),
  'anthropic.claude-sonnet-4-5-20250929-v1:0': price(3, 15),
  'anthropic.claude-haiku-4-5-20251001-v1:0': price(1, 5),
  'anthropic.claude-opus-4-20250514-v1:0': price(15, 75),
  'anthropic.claude-opus-4-1-20250805-v1:0': price(15, 75),
  // Bedrock: Amazon
  'amazon.nova-micro-v1:0': price(0.035, 0.14),
  'amazon.nova-lite-v1:0': price(0.06, 0.24),
  'amazon.nova-pro-v1:0': price(0.8, 3.2),
  'amazon.nova-premier-v1:0': price(2.5, 12.5),
  'amazon.titan-text-lite-v1': price(0.15, 0.2),
  'amazon.titan-text-express-v1': price(0.2, 0.6),
  // Bedrock: Meta, Mistral, Cohere, DeepSeek
  'meta.llama3-1-8b-instruct-v1:0': price(0.22, 0.22),
  'meta.llama3-1-70b-instruct-v1:0': price(0.72, 0.72),
  'meta.llama3-3-70b-instruct-v1:0': price(0.72, 0.72),
  'mistral.mistral-small-2402-v1:0': price(1, 3),
  'mistral.mistral-large-2402-v1:0': price(4, 12),
  'cohere.command-r-v1:0': price(0.5, 1.5),
  'cohere.command-r-plus-v1:0': price(3, 15),
  'deepseek.r1-v1:0': price(1.35, 5.4),
  // OpenAI (dated snapshots such as gpt-4o-2024-08-06 take their family's price)
  'gpt-3.5-turbo': price(0.5, 1.5),
  'gpt-4-turbo': price(10, 30),
  'gpt-4o': price(2.5, 10),
  'gpt-4o-mini': price(0.15, 0.6),
  'gpt-4.1': price(2, 8),
  'gpt-4.1-mini': price(0.4, 1.6),
  'gpt-4.1-nano': price(0.1, 0.4),
  'gpt-5': price(1.25, 10),
  'gpt-5-mini': price(0.25, 2),
  'gpt-5-nano': price(0.05, 0.4),
  o1: price(15, 60),
  'o1-mini': price(1.1, 4.4),
  o3: price(2, 8),
  'o3-mini': price(1.1, 4.4),
  'o4-mini': price(1.1, 4.4),
};

/** Bedrock's cross-region inference profiles prefix a model id with a geography (`us.anthropic.…`). */
const inferenceProfilePrefix = /^(?:us|eu|apac|jp|au|ca|us-gov|global)\./;

/** The ids a model may be priced under, most specific first: as given, then without ARN and profile prefix. */
const candidateIds = (model: string): string[] => {
  const bare = model.startsWith('arn:') ? model.slice(model.lastIndexOf('/') + 1) : model;
  return [...new Set([model, bare, bare.replace(inferenceProfilePrefix, '')])];
};

/**
 * The price of a model: the project's own prices first, then the list; an exact id first, then
 * the longest priced id it extends with `-` (a dated snapshot of a priced family).
 */
export const priceOf = (model: string, overrides: LlmPrices = {}): LlmPrice | undefined => {
  const tables = [overrides, listPrices];
  const ids = candidateIds(model);
  for (const table of tables) {
    for (const id of ids) if (Object.prototype.hasOwnProperty.call(table, id)) return table[id];
  }
  for (const table of tables) {
    const family = Object.keys(table)
      .filter((key) => ids.some((id) => id.startsWith(`${key}-`)))
      .sort((a, b) => b.length - a.length)[0];
    if (family) return table[family];
  }
  return undefined;
};

/** USD for one call (0 for a model without a price), rounded to a billionth of a dollar. */
export const llmCostUsd = (call: { model: string; inputTokens: number; outputTokens: number }, overrides?: LlmPrices): number => {
  const found = priceOf(call.model, overrides);
  if (!found) return 0;
  const cost = (call.inputTokens * found.inputPerMillion + call.outputTokens * found.outputPerMillion) / 1_000_000;
  return Math.round(cost * 1e9) / 1e9;
};
