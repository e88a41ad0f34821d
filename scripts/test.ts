/**
 * `npm test`: unit and infra tests (no emulator), then the e2e suite against the real stack
 * deployed once to the emulator (started and stopped here unless AWS_ENDPOINT_URL names one).
 * Ends with one line for the whole run: `N passed, N failed`.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { deploy } from './lib/deploy';
import { emulatorEnv, logFile, startEmulator, stopEmulator } from './lib/emulator';
import { ensureChromium } from './lib/browser';
import { fuzzSeed, pinnedFuzzSeed, runSchemathesis } from './lib/schemathesis';
import { root, statePath } from './lib/paths';

interface Tally {
  passed: number;
  failed: number;
  skipped: number;
}
const total: Tally = { passed: 0, failed: 0, skipped: 0 };

/** Runs vitest for some projects and adds its results (read from its JSON report) to the total. */
async function vitest(projects: string[], env: Record<string, string> = {}): Promise<boolean> {
  const report = statePath(`vitest-${projects.join('-')}.json`);
  rmSync(report, { force: true });
  // Coverage (and its thresholds, vitest.config.ts) whenever the unit project runs: it is what they measure.
  const coverage = projects.includes('unit') ? ['--coverage'] : [];
  const args = ['run', ...projects.flatMap((project) => ['--project', project]), ...coverage, '--reporter=default', '--reporter=json', `--outputFile.json=${report}`];
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

const only = process.argv.slice(2).filter((arg) => !arg.startsWith('-'));
const wants = (project: string) => only.length === 0 || only.includes(project);
let emulatorStarted = false;
let exitCode = 0;

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
    const emulator = await startEmulator();
    emulatorStarted = emulator.started;
    const began = Date.now();
    const info = await deploy(emulator.endpoint);
    console.log(`Deployed in ${((Date.now() - began) / 1000).toFixed(1)}s; running the e2e suite against ${emulator.endpoint}`);
    if (!(await vitest(['e2e'], emulatorEnv(emulator.endpoint)))) exitCode = 1;
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
  }
} catch (error) {
  console.error(error instanceof Error ? error.message : String(error));
  total.failed += 1;
  exitCode = 1;
} finally {
  if (emulatorStarted) {
    await stopEmulator();
    console.log(`Emulator stopped (its log: ${logFile()}).`);
  }
}

if (total.passed + total.failed === 0) exitCode = 1;
console.log(`\n${total.passed} passed, ${total.failed} failed${total.skipped ? `, ${total.skipped} skipped` : ''}`);
process.exit(exitCode);
