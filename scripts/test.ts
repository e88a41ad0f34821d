/**
 * `npm test`: unit and infra tests (no emulator), then the e2e suite against the real stack
 * deployed to the emulator (started and stopped here unless AWS_ENDPOINT_URL names one).
 * Ends with one line for the whole run: `N passed, N failed`.
 *
 * The e2e suite runs in two shards at once, each on its own emulator and stack (e2e-shards.ts):
 * the 10,000-step runs keep one emulator busy for about a quarter of an hour while most other
 * tests mostly wait (on SQS's poller, on visibility timeouts, on schedules), so side by side they
 * finish in about the time of the longer one. `BATON_E2E_SHARDS=1`, or an emulator of your own
 * (AWS_ENDPOINT_URL), runs them one after the other on one stack.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deploy } from './lib/deploy';
import { e2eShardPlan, type E2eShard } from './lib/e2e-shards';
import { emulatorEnv, logFile, resolveTarget, startEmulator, stopEmulator } from './lib/emulator';
import { ensureChromium } from './lib/browser';
import { fuzzSeed, pinnedFuzzSeed, runSchemathesis } from './lib/schemathesis';
import { root, stateDir, statePath } from './lib/paths';

interface Tally {
  passed: number;
  failed: number;
  skipped: number;
}
const total: Tally = { passed: 0, failed: 0, skipped: 0 };

/** Runs vitest for some projects (only `files` when given) and adds its results (read from its JSON report) to the total. */
async function vitest(projects: string[], env: Record<string, string> = {}, files: string[] = []): Promise<boolean> {
  const report = statePath(`vitest-${projects.join('-')}.json`);
  rmSync(report, { force: true });
  // Coverage (and its thresholds, vitest.config.ts) whenever the unit project runs: it is what they measure.
  const coverage = projects.includes('unit') ? ['--coverage'] : [];
  const args = ['run', ...projects.flatMap((project) => ['--project', project]), ...coverage, '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, ...files];
  const code = await new Promise<number>((resolve) => {
    const child = spawn(join(root, 'node_modules', '.bin', 'vitest'), args, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } });
    child.on('exit', (exitCode, signal) => resolve(exitCode ?? (signal ? 1 : 0)));
  });
  if (existsSync(report)) {
    const results = JSON.parse(readFileSync(report, 'utf8')) as { numPassedTests: number; numFailedTests: number; numPendingTests: number; numTodoTests: number };
    total.passed += results.numPassedTests;
    total.failed += results.numFailedTests;
    total.skipped += results.numPendingTests + results.numTodoTests;
    // A suite that fails to load has no failed test but a non-zero exit: count it as one failure.
    if (code !== 0 && results.numFailedTests === 0) total.failed += 1;
  } else if (code !== 0) {
    total.failed += 1;
  }
  return code === 0;
}

/** Type-check and lint: not tests, but a red one fails the run like a failed test. */
async function check(name: string, command: string, args: string[]): Promise<boolean> {
  console.log(`\n▶ ${name}`);
  const code = await new Promise<number>((resolve) => {
    const child = spawn(join(root, 'node_modules', '.bin', command), args, { cwd: root, stdio: 'inherit' });
    child.on('exit', (exitCode, signal) => resolve(exitCode ?? (signal ? 1 : 0)));
  });
  if (code !== 0) {
    console.error(`${name} failed`);
    total.failed += 1;
  }
  return code === 0;
}

/**
 * One e2e shard in this process: its own emulator (BATON_EMULATOR_PORT) and state folder
 * (BATON_STATE_DIR, so its own stack.json), the stack deployed there, its files run, the emulator
 * stopped; its tally written to shard-result.json for the parent to add.
 */
async function runShard(files: string[]): Promise<never> {
  let started = false;
  try {
    const emulator = await startEmulator();
    started = emulator.started;
    const began = Date.now();
    await deploy(emulator.endpoint);
    console.log(`Deployed in ${((Date.now() - began) / 1000).toFixed(1)}s; running ${files.length} e2e files against ${emulator.endpoint}`);
    await vitest(['e2e'], emulatorEnv(emulator.endpoint), files);
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    total.failed += 1;
  } finally {
    if (started) await stopEmulator();
  }
  writeFileSync(statePath('shard-result.json'), JSON.stringify(total));
  process.exit(0);
}

/** Starts a shard as a child process (its output in its folder's test.log); resolves to its tally. */
function startShard(shard: E2eShard): Promise<Tally> {
  const dir = join(stateDir, shard.stateDir);
  mkdirSync(dir, { recursive: true });
  rmSync(join(dir, 'shard-result.json'), { force: true });
  const output = openSync(join(dir, 'test.log'), 'w');
  const child = spawn(process.execPath, [join(root, 'scripts', 'run.mjs'), 'test.ts', '--e2e-shard', ...shard.files], {
    cwd: root,
    stdio: ['ignore', output, output],
    env: { ...process.env, BATON_STATE_DIR: dir, BATON_EMULATOR_PORT: String(shard.port) },
  });
  return new Promise((resolve) => {
    child.on('exit', () => {
      const result = join(dir, 'shard-result.json');
      resolve(existsSync(result) ? (JSON.parse(readFileSync(result, 'utf8')) as Tally) : { passed: 0, failed: 1, skipped: 0 });
    });
  });
}

if (process.argv[2] === '--e2e-shard') await runShard(process.argv.slice(3));

const only = process.argv.slice(2).filter((arg) => !arg.startsWith('-'));
const wants = (project: string) => only.length === 0 || only.includes(project);
let emulatorStarted = false;
let exitCode = 0;
/** The e2e shards running beside this process: waited for before this one's emulator stops. */
let others: { shard: E2eShard; done: Promise<Tally> }[] = [];

try {
  if (only.length === 0) {
    if (!(await check('type-check (tsc --noEmit)', 'tsc', ['--noEmit']))) exitCode = 1;
    if (!(await check('lint (eslint)', 'eslint', ['.']))) exitCode = 1;
  }
  const offline = ['unit', 'infra'].filter(wants);
  if (offline.length > 0 && !(await vitest(offline))) exitCode = 1;

  if (wants('e2e')) {
    // The console's browser test drives Debian's Chromium.
    ensureChromium();
    const target = resolveTarget();
    const plan = e2eShardPlan(process.env, target);
    const emulator = await startEmulator();
    emulatorStarted = emulator.started;
    const began = Date.now();
    const info = await deploy(emulator.endpoint);
    // The other shard deploys its own stack after this one's (one CDK assembly folder at a time).
    others = plan.others.map((shard) => ({ shard, done: startShard(shard) }));
    for (const { shard } of others) console.log(`e2e shard "${shard.name}" (${shard.files.join(', ')}) runs beside this one on port ${shard.port}; its output: ${join(stateDir, shard.stateDir, 'test.log')}`);
    console.log(`Deployed in ${((Date.now() - began) / 1000).toFixed(1)}s; running the e2e suite${plan.others.length ? ' (this shard)' : ''} against ${emulator.endpoint}`);
    if (!(await vitest(['e2e'], emulatorEnv(emulator.endpoint), plan.files))) exitCode = 1;
    // The API contract, fuzzed: bounded here (npm run fuzz runs it long).
    console.log('\n▶ schemathesis (docs/openapi.json against the deployed API, all checks)');
    const fuzz = await runSchemathesis(info, { maxExamples: Number(process.env.BATON_FUZZ_EXAMPLES ?? 25), seed: fuzzSeed(process.env, pinnedFuzzSeed) });
    const cases = Object.values(fuzz.casesPerOperation).reduce((sum, count) => sum + count, 0);
    console.log(`schemathesis: ${cases} cases over ${Object.keys(fuzz.casesPerOperation).length} operations, ${fuzz.ok ? 'no failure' : 'FAILED'}`);
    if (fuzz.ok) total.passed += 1;
    else {
      total.failed += 1;
      exitCode = 1;
    }
    for (const { shard, done } of others) {
      const tally = await done;
      console.log(`\n▶ e2e shard "${shard.name}" (it ran beside the one above)\n`);
      console.log(readFileSync(join(stateDir, shard.stateDir, 'test.log'), 'utf8'));
      total.passed += tally.passed;
      total.failed += tally.failed;
      total.skipped += tally.skipped;
      if (tally.failed > 0) exitCode = 1;
    }
  }
} catch (error) {
  console.error(error instanceof Error ? error.message : String(error));
  total.failed += 1;
  exitCode = 1;
} finally {
  // A shard still running after a failure here finishes (and stops its emulator) on its own.
  await Promise.all(others.map(({ done }) => done));
  if (emulatorStarted) {
    await stopEmulator();
    console.log(`Emulator stopped (its log: ${logFile()}).`);
  }
}

if (total.passed + total.failed === 0) exitCode = 1;
console.log(`\n${total.passed} passed, ${total.failed} failed${total.skipped ? `, ${total.skipped} skipped` : ''}`);
process.exit(exitCode);
