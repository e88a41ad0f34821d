/** The graph shapes `npm run bench` measures, each built of noop steps only. */
export const benchShapes = ['chain', 'fan', 'diamond-mesh'] as const;
export type BenchShape = (typeof benchShapes)[number];

export const benchSizes = [10, 100, 1000] as const;

export interface BenchStep {
  id: string;
  kind: 'noop';
  dependsOn?: string[];
}

const stepId = (index: number): string => `s${String(index).padStart(4, '0')}`;

/** Columns of a diamond mesh: about the square root of its size, at least 2 (a diamond). */
export const meshWidth = (size: number): number => Math.max(2, Math.round(Math.sqrt(size)));

/**
 * The steps of one case, `size` of them:
 * - chain: each step depends on the one before (the inline path: no queue round trip);
 * - fan: one root, every other step depends on it alone (1 release, size-1 messages);
 * - diamond-mesh: rows of `meshWidth` steps, each depending on the step above it and the one
 *   above-right (wrapping), so every step past the first row is released by two parents (shared
 *   releases, the decrement path); a last partial row is allowed.
 */
export function benchSteps(shape: BenchShape, size: number): BenchStep[] {
  if (!Number.isInteger(size) || size < 2) throw new Error(`a bench case needs at least 2 steps, got ${size}`);
  const steps: BenchStep[] = [];
  for (let index = 0; index < size; index += 1) {
    const dependsOn = dependenciesOf(shape, size, index).map(stepId);
    steps.push({ id: stepId(index), kind: 'noop', ...(dependsOn.length ? { dependsOn } : {}) });
  }
  return steps;
}

function dependenciesOf(shape: BenchShape, size: number, index: number): number[] {
  if (index === 0) return [];
  switch (shape) {
    case 'chain':
      return [index - 1];
    case 'fan':
      return [0];
    case 'diamond-mesh': {
      const width = meshWidth(size);
      const row = Math.floor(index / width);
      if (row === 0) return [];
      const column = index % width;
      const above = (row - 1) * width;
      return [...new Set([above + column, above + ((column + 1) % width)])];
    }
  }
}

/** Step kinds a case may be made of: noop, or `llm` on the emulator's Bedrock (a step that spends, for what budgets cost). */
export const benchKinds = ['noop', 'llm'] as const;
export type BenchKind = (typeof benchKinds)[number];

/** The input of a bench `llm` step: a short deterministic Converse call (the emulator's replies are canned). */
const llmInput = { provider: 'bedrock', model: 'anthropic.claude-3-haiku-20240307-v1:0', prompt: 'Say ok.', maxTokens: 20 };

/** A workflow body for the API: one per case, named after it; `rate`: every step under this rate (one key, `bench`), for what a rate-limited step costs. */
export const benchWorkflow = (shape: BenchShape, size: number, kind: BenchKind = 'noop', rate?: { perSecond: number }) => ({
  name: `bench-${shape}-${size}${kind === 'noop' ? '' : `-${kind}`}${rate ? `-rate-${rate.perSecond}` : ''}`,
  description: `npm run bench: ${size} ${kind} steps, ${shape}${rate ? `, rate ${rate.perSecond}/s` : ''}`,
  steps: benchSteps(shape, size).map((step) => ({ ...(kind === 'noop' ? step : { ...step, kind, input: llmInput }), ...(rate ? { rate: { key: 'bench', perSecond: rate.perSecond } } : {}) })),
});
