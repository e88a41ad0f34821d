import { join } from 'node:path';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { functionEntries } from '../../../scripts/lib/bench/cold-start';

/**
 * What running a step takes (undici's guarded connections, Ajv for llm replies, the Lambda and
 * Bedrock clients, the executors themselves) belongs in the step worker's bundle only; the API
 * keeps the kinds' validation halves (Ajv among them: an llm step's JSON Schema is compiled when
 * the workflow is saved). The bundles are built as CDK builds them, without writing them.
 */
const root = join(import.meta.dirname, '..', '..', '..');
const worker = 'functions/steps/step-worker.ts';
const api = 'functions/api/http-api.ts';

const runtimeOnly = [
  'node_modules/undici/',
  'node_modules/@aws-sdk/client-lambda/',
  'node_modules/@aws-sdk/client-bedrock-runtime/',
  'shared/executors/http.ts',
  'shared/executors/llm.ts',
  'shared/executors/executor-registry.ts',
  'shared/clients/step-executors.ts',
];

const bundleInputs = async (): Promise<Map<string, string[]>> => {
  const entries = functionEntries(root);
  const result = await build({
    entryPoints: entries.map((entry) => join(root, entry)),
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    metafile: true,
    write: false,
    outdir: join(root, '.baton', 'bundle-check'),
    absWorkingDir: root,
    logLevel: 'silent',
  });
  const byEntry = new Map<string, string[]>();
  for (const output of Object.values(result.metafile.outputs)) {
    if (output.entryPoint) byEntry.set(output.entryPoint, Object.keys(output.inputs));
  }
  return byEntry;
};

describe('function bundles', () => {
  it('carry what running a step takes only in the step worker', async () => {
    const inputs = await bundleInputs();

    expect([...inputs.keys()].sort()).toEqual(functionEntries(root));
    const carried = (entry: string, part: string) => (inputs.get(entry) ?? []).some((input) => input.includes(part));
    for (const part of runtimeOnly) expect(carried(worker, part), `${worker} carries ${part}`).toBe(true);
    for (const entry of functionEntries(root).filter((candidate) => candidate !== worker)) {
      expect(runtimeOnly.filter((part) => carried(entry, part)), entry).toEqual([]);
      expect(carried(entry, 'node_modules/ajv/'), `${entry} carries Ajv`).toBe(entry === api);
    }
  }, 60_000);
});
