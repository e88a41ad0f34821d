import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { portSetting, type EmulatorTarget } from './emulator';
import { root } from './paths';

/**
 * How `npm test` splits the e2e suite between emulators running side by side. The heavy shard
 * holds the runs of 10,000 steps and items (CPU-bound on the emulator for most of their quarter
 * of an hour) and the CLI's suite (whose dead-letter test waits out five visibility timeouts),
 * so the two shards take about as long; everything else, the console's tests included, runs on
 * the first emulator, the one schemathesis fuzzes afterwards. The files of a shard still run one
 * at a time (vitest.config.ts): each cleans its stack between tests.
 */
export const heavyShardFiles = ['test/e2e/big-runs.test.ts', 'test/e2e/map.test.ts', 'test/e2e/cli.test.ts'];

export interface E2eShard {
  name: string;
  files: string[];
  /** Its emulator's port. */
  port: number;
  /** Its state folder (stack.json, emulator log, vitest report, test.log), under the main one. */
  stateDir: string;
}

export interface E2eShardPlan {
  /** The files this process runs on its own emulator (empty: every e2e file). */
  files: string[];
  /** Shards run beside it, each in a child process with its own emulator. */
  others: E2eShard[];
}

const e2eFiles = (): string[] =>
  readdirSync(join(root, 'test', 'e2e'))
    .filter((name) => name.endsWith('.test.ts'))
    .sort()
    .map((name) => `test/e2e/${name}`);

/**
 * One shard when told so (BATON_E2E_SHARDS=1) or when the emulator is someone else's
 * (AWS_ENDPOINT_URL: one stack, nothing to start); otherwise the heavy files on a second
 * emulator at the next port (BATON_E2E_SHARD_PORT to choose another).
 */
export function e2eShardPlan(env: NodeJS.ProcessEnv, target: EmulatorTarget): E2eShardPlan {
  const shards = env.BATON_E2E_SHARDS ?? '2';
  if (shards !== '1' && shards !== '2') throw new Error(`BATON_E2E_SHARDS must be 1 or 2, got "${shards}"`);
  if (shards === '1' || target.external) return { files: [], others: [] };
  const port = portSetting('BATON_E2E_SHARD_PORT', env.BATON_E2E_SHARD_PORT, Number(new URL(target.endpoint).port) + 1);
  const all = e2eFiles();
  const heavy = heavyShardFiles.filter((file) => all.includes(file));
  return {
    files: all.filter((file) => !heavy.includes(file)),
    others: [{ name: 'heavy', files: heavy, port, stateDir: 'e2e-heavy' }],
  };
}
