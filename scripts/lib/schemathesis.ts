import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readAdminToken } from './demo';
import { root, statePath, venvDir } from './paths';
import type { StackInfo } from './stack';

export const schemathesisVersion = '4.32.5';

/** Installs the pinned schemathesis into the project's .venv (created by the emulator's install), once. */
export function ensureSchemathesisInstalled(): string {
  const binary = join(venvDir, 'bin', 'schemathesis');
  const marker = join(venvDir, `.schemathesis-${schemathesisVersion}`);
  if (existsSync(binary) && existsSync(marker)) return binary;
  console.log(`Installing schemathesis ${schemathesisVersion} into .venv …`);
  if (!existsSync(join(venvDir, 'bin', 'pip'))) run('python3', ['-m', 'venv', venvDir]);
  run(join(venvDir, 'bin', 'pip'), ['install', '--quiet', '--disable-pip-version-check', `schemathesis==${schemathesisVersion}`]);
  writeFileSync(marker, '');
  return binary;
}

function run(command: string, args: string[]): void {
  const result = spawnSync(command, args, { stdio: 'inherit' });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (exit ${result.status ?? 'signal'})`);
}

async function call<T>(info: StackInfo, method: string, path: string, token: string, body?: unknown): Promise<T> {
  const response = await fetch(`${info.apiUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return JSON.parse(text) as T;
}

/**
 * A project for schemathesis to work in: an admin token with a rate limit high enough not to
 * throttle the run, a workflow with an approval gate, a run waiting at it, and a viewer token.
 * Every path parameter of the contract is pinned to one of these, so generated requests reach
 * real objects instead of answering 404 to random ids.
 */
async function prepareProject(info: StackInfo) {
  const installation = await readAdminToken(info);
  const project = await call<{ id: string; adminToken: { token: string } }>(info, 'POST', '/v1/projects', installation, { name: 'schemathesis' });
  const admin = await call<{ token: string }>(info, 'POST', `/v1/projects/${project.id}/tokens`, project.adminToken.token, {
    name: 'schemathesis',
    role: 'admin',
    rateLimit: { perSecond: 1000, burst: 10_000 },
  });
  const viewer = await call<{ id: string }>(info, 'POST', `/v1/projects/${project.id}/tokens`, admin.token, { name: 'viewer', role: 'viewer' });
  const workflow = await call<{ id: string }>(info, 'POST', `/v1/projects/${project.id}/workflows`, admin.token, {
    name: 'fuzzed',
    steps: [{ id: 'gate', kind: 'approval' }, { id: 'after', kind: 'noop', dependsOn: ['gate'] }],
  });
  const run = await call<{ id: string }>(info, 'POST', `/v1/projects/${project.id}/runs`, admin.token, { workflowId: workflow.id });
  return { installation, projectId: project.id, token: admin.token, workflowId: workflow.id, runId: run.id, tokenId: viewer.id };
}

/** A TOML basic string (its escapes are JSON's, and the installation token may hold any punctuation). */
const toml = (value: string) => JSON.stringify(value);

export interface FuzzResult {
  ok: boolean;
  /** Test cases schemathesis ran, by operation ("METHOD /path"). */
  casesPerOperation: Record<string, number>;
}

/**
 * Runs schemathesis from docs/openapi.json against the deployed API with every check,
 * authenticated, `maxExamples` per operation and phase. Prints its report and returns the case
 * count per operation (from its NDJSON event stream).
 */
export async function runSchemathesis(info: StackInfo, { maxExamples, seed }: { maxExamples: number; seed?: string }): Promise<FuzzResult> {
  const binary = ensureSchemathesisInstalled();
  const fixture = await prepareProject(info);
  const reportDir = statePath('schemathesis');
  rmSync(reportDir, { recursive: true, force: true });
  mkdirSync(reportDir, { recursive: true });
  const config = join(reportDir, 'schemathesis.toml');
  writeFileSync(
    config,
    [
      '# Written by scripts/lib/schemathesis.ts for one run.',
      `headers = { Authorization = ${toml(`Bearer ${fixture.token}`)} }`,
      '# A schema-violating body past the API\'s 512 KiB limit (e.g. a workflow past maxItems steps)',
      '# is refused before it is parsed, with 413 payload_too_large: a rejection like the others.',
      'checks.negative_data_rejection.expected-statuses = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429", "5xx"]',
      '[parameters]',
      `"path.projectId" = ${toml(fixture.projectId)}`,
      `"path.runId" = ${toml(fixture.runId)}`,
      // A run compared with itself: the same prepared run.
      `"path.otherRunId" = ${toml(fixture.runId)}`,
      `"path.workflowId" = ${toml(fixture.workflowId)}`,
      `"path.tokenId" = ${toml(fixture.tokenId)}`,
      '"path.stepId" = "gate"',
      '# The dead letters kept for operators: peeking and redriving an empty or full parking queue both answer 2xx.',
      '"path.name" = "steps-parked"',
      '',
      '# Creating and listing projects, and the queue routes, take the installation token.',
      '[[operations]]',
      'include-operation-id-regex = "^(createProject|listProjects|listQueues|peekQueueMessages|redriveQueue)$"',
      `headers = { Authorization = ${toml(`Bearer ${fixture.installation}`)} }`,
      '',
      '# Where validity depends on more than a JSON Schema can say, a generated "valid" request',
      '# is rightly refused with a 400 naming the problem, so positive_data_acceptance takes a 400 too:',
      '# a plan CSV is text (any string fits the schema, almost none is a plan); a workflow\'s',
      '# dependsOn must name its own steps without a cycle, and each kind has its own input; a retry',
      '# names steps that failed in that run; a fork starts from a step of its run; a default quality',
      '# gate\'s reviewer input is checked by its kind, as a step\'s input is; an EventBridge trigger\'s',
      '# pattern is checked by EventBridge itself (e.g. it refuses an empty object as a value).',
      '[[operations]]',
      'include-operation-id-regex = "^(importPlan|saveWorkflow|retryRun|forkRun|updateProjectSettings|createTrigger)$"',
      'checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409", "429"]',
      '',
      '# Callback routes take no bearer token: the token in the path is the credential, issued to an',
      '# agent for one step execution. A generated token is unknown (404); none can be prepared for the',
      '# fuzzer without a live pending step, whose callback would end it after the first case.',
      '[[operations]]',
      'include-operation-id-regex = "^(completeCallback|heartbeatCallback)$"',
      'checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "404", "409"]',
      '',
      '# An Idempotency-Key already used with another body is a 422 (documented): the fuzzer reuses',
      '# its generated keys across bodies.',
      '[[operations]]',
      'include-operation-id-regex = "^createRun$"',
      'checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "409", "422", "429"]',
      '',
      '# A run that has ended (the fuzzer may cancel the prepared run) keeps its budget and limits: 409, documented.',
      '[[operations]]',
      'include-operation-id-regex = "^(setRunBudget|setRunLimits)$"',
      'checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "409", "429"]',
      '',
      '# A cursor is opaque: only one a listing returned is valid, and any other is a 400.',
      '[[operations]]',
      'include-operation-id-regex = "^(listRuns|listRunEvents|listProjects|listWorkflows|listInbox|listProjectEvents|listSteps)$"',
      'checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "429"]',
      '',
      '# The same for map children, and a step that is not a map has none: 409, documented.',
      '[[operations]]',
      'include-operation-id-regex = "^listStepChildren$"',
      'checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409", "429"]',
      '',
    ].join('\n'),
  );
  const events = join(reportDir, 'events.ndjson');
  const args = [
    '--config-file', config,
    'run', join(root, 'docs', 'openapi.json'),
    '--url', info.apiUrl,
    '--checks', 'all',
    '--max-examples', String(maxExamples),
    '--workers', '1',
    // The emulator runs every Lambda on this machine; under load a response can take seconds.
    '--request-timeout', '30',
    '--max-response-time', '30',
    '--report', 'junit,ndjson',
    '--report-dir', reportDir,
    '--report-ndjson-path', events,
    '--no-color',
    // A seed makes the generated cases the same from run to run (schemathesis prints the seed of
    // every run, so a failure found with a fresh one can be replayed with BATON_FUZZ_SEED).
    ...(seed ? ['--seed', seed] : []),
  ];
  const code = await new Promise<number>((resolve) => {
    const child = spawn(binary, args, { cwd: root, stdio: 'inherit' });
    child.on('exit', (exitCode, signal) => resolve(exitCode ?? (signal ? 1 : 0)));
  });
  return { ok: code === 0, casesPerOperation: existsSync(events) ? countCases(readFileSync(events, 'utf8')) : {} };
}

/**
 * The seed `npm test` fuzzes with, so CI runs the same cases every time (a contract change still
 * changes what is generated). `npm run fuzz` explores with a fresh seed on each run instead.
 * BATON_FUZZ_SEED overrides either; `random` gives `npm test` a fresh one too.
 */
export const pinnedFuzzSeed = '75126686782915947283886179160405426381';

/** The seed for a run: BATON_FUZZ_SEED if set (`random`: none), else the given default. */
export function fuzzSeed(env: Record<string, string | undefined>, fallback: string | undefined): string | undefined {
  const chosen = env.BATON_FUZZ_SEED?.trim() || fallback;
  if (!chosen || chosen === 'random') return undefined;
  if (!/^\d+$/.test(chosen)) throw new Error(`BATON_FUZZ_SEED must be a whole number or "random", got "${chosen}"`);
  return chosen;
}

/** Counts test cases per operation in schemathesis' NDJSON events (one ScenarioFinished per scenario). */
export function countCases(ndjson: string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const line of ndjson.split('\n')) {
    if (!line.trim()) continue;
    const event = JSON.parse(line) as Record<string, { label?: string; recorder?: { label?: string; cases?: Record<string, unknown> } }>;
    const finished = event.ScenarioFinished;
    const label = finished?.recorder?.label ?? finished?.label;
    if (!finished || !label) continue;
    counts[label] = (counts[label] ?? 0) + Object.keys(finished.recorder?.cases ?? {}).length;
  }
  return counts;
}
