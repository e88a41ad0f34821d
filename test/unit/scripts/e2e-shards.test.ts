import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { e2eShardPlan, heavyShardFiles } from '../../../scripts/lib/e2e-shards';

const local = { endpoint: 'http://127.0.0.1:4566', external: false };
const allFiles = readdirSync('test/e2e').filter((name) => name.endsWith('.test.ts')).map((name) => `test/e2e/${name}`).sort();

describe("npm test's e2e shards", () => {
  it('runs the heavy files on a second emulator at the next port and every other file on the first, each file once', () => {
    const plan = e2eShardPlan({}, local);
    expect(plan.others).toEqual([{ name: 'heavy', files: heavyShardFiles, port: 4567, stateDir: 'e2e-heavy' }]);
    expect(plan.files.some((file) => heavyShardFiles.includes(file))).toBe(false);
    expect([...plan.files, ...plan.others.flatMap((shard) => shard.files)].sort()).toEqual(allFiles);
    // Every heavy file exists: a renamed one would silently move back to the first shard.
    for (const file of heavyShardFiles) expect(allFiles).toContain(file);
  });

  it('runs everything on one stack when told so or when the emulator is somebody else’s', () => {
    expect(e2eShardPlan({ BATON_E2E_SHARDS: '1' }, local)).toEqual({ files: [], others: [] });
    expect(e2eShardPlan({}, { endpoint: 'http://localhost:4566', external: true })).toEqual({ files: [], others: [] });
  });

  it('takes the second port from BATON_E2E_SHARD_PORT and refuses bad settings with the reason', () => {
    expect(e2eShardPlan({ BATON_E2E_SHARD_PORT: '4700' }, local).others[0]?.port).toBe(4700);
    expect(() => e2eShardPlan({ BATON_E2E_SHARDS: '3' }, local)).toThrow('BATON_E2E_SHARDS must be 1 or 2, got "3"');
    expect(() => e2eShardPlan({ BATON_E2E_SHARD_PORT: 'next' }, local)).toThrow('BATON_E2E_SHARD_PORT must be a port number from 1024 to 65535, got "next"');
  });
});
