import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { build, type BuildOptions } from 'esbuild';

/**
 * Cold-start cost of each Baton function beside a minimal handler that imports the same AWS SDK
 * packages: the bundle's size and the time Node takes to `require` it in a fresh process (what
 * a cold Lambda spends before the handler runs, without the runtime's own start).
 */

/** esbuild as `BatonFunction` has CDK run it for a cloud stage (infra/constructs/baton-function.ts). */
const cdkLikeOptions: BuildOptions = { bundle: true, platform: 'node', format: 'cjs', target: 'node20', minify: true, metafile: true, write: true, logLevel: 'silent' };

/** Every function entry the stacks declare (`entry: 'functions/…'` in infra/stacks). */
export function functionEntries(root: string): string[] {
  const stacks = join(root, 'infra', 'stacks');
  const entries = readdirSync(stacks)
    .filter((file) => file.endsWith('.ts'))
    .flatMap((file) => [...readFileSync(join(stacks, file), 'utf8').matchAll(/entry: '([^']+)'/g)].map((match) => match[1]!));
  return [...new Set(entries)].sort();
}

/** The AWS SDK packages a bundle took in (`@aws-sdk/client-*`, `@aws-sdk/lib-*`), from esbuild's metafile inputs. */
export function sdkPackagesOf(inputs: string[]): string[] {
  const packages = new Set<string>();
  for (const input of inputs) {
    const match = /node_modules\/(@aws-sdk\/(?:client|lib)-[\w-]+)\//.exec(input);
    if (match) packages.add(match[1]!);
  }
  return [...packages].sort();
}

/** A handler that does nothing but import `packages` (kept by referencing each namespace). */
export const minimalHandlerSource = (packages: string[]): string =>
  [
    ...packages.map((name, index) => `import * as sdk${index} from '${name}';`),
    `export const handler = async () => [${packages.map((_, index) => `sdk${index}`).join(', ')}].length;`,
  ].join('\n');

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
};

/** Median wall time of `require(file)` in a fresh Node process, over `times` processes. */
function requireMs(file: string, env: Record<string, string>, times: number): number {
  const script = `const t=process.hrtime.bigint();require(${JSON.stringify(file)});process.stdout.write(String(Number(process.hrtime.bigint()-t)/1e6));process.exit(0);`;
  const samples: number[] = [];
  for (let run = 0; run < times; run += 1) {
    const result = spawnSync(process.execPath, ['-e', script], { env, encoding: 'utf8', timeout: 60_000 });
    if (result.status !== 0) throw new Error(`require(${file}) failed: ${result.stderr.trim().split('\n').slice(-3).join(' ')}`);
    samples.push(Number(result.stdout));
  }
  return median(samples);
}

export interface ColdStartLine {
  kind: 'cold-start';
  function: string;
  bundleBytes: number;
  requireMs: number;
  sdkPackages: string[];
  minimal: { bundleBytes: number; requireMs: number };
}

/**
 * Bundles each function and its minimal twin into `workDir` and times their `require`. `env` is
 * what the functions read at cold start (their typed config fails fast without it).
 */
export async function measureColdStarts({ root, workDir, env, times = 5 }: { root: string; workDir: string; env: Record<string, string>; times?: number }): Promise<ColdStartLine[]> {
  rmSync(workDir, { recursive: true, force: true });
  mkdirSync(workDir, { recursive: true });
  const lines: ColdStartLine[] = [];
  for (const entry of functionEntries(root)) {
    const name = basename(entry, '.ts');
    const outfile = join(workDir, name, 'index.js');
    const bundle = await build({ ...cdkLikeOptions, entryPoints: [join(root, entry)], outfile, absWorkingDir: root });
    const sdkPackages = sdkPackagesOf(Object.keys(bundle.metafile!.inputs));
    const minimalDir = join(workDir, `${name}-minimal`);
    mkdirSync(minimalDir, { recursive: true });
    writeFileSync(join(minimalDir, 'handler.mjs'), minimalHandlerSource(sdkPackages));
    const minimalFile = join(minimalDir, 'index.js');
    const minimal = await build({ ...cdkLikeOptions, entryPoints: [join(minimalDir, 'handler.mjs')], outfile: minimalFile, absWorkingDir: root, nodePaths: [join(root, 'node_modules')] });
    lines.push({
      kind: 'cold-start',
      function: entry,
      bundleBytes: bundle.metafile!.outputs[Object.keys(bundle.metafile!.outputs)[0]!]!.bytes,
      requireMs: Math.round(requireMs(outfile, env, times)),
      sdkPackages,
      minimal: {
        bundleBytes: minimal.metafile!.outputs[Object.keys(minimal.metafile!.outputs)[0]!]!.bytes,
        requireMs: Math.round(requireMs(minimalFile, env, times)),
      },
    });
  }
  return lines;
}
