import { spawn } from 'node:child_process';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createClient, unwrap, type BatonClient } from '#sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProject, type CreatedProject } from '../helpers/projects';
import { eventually } from '../helpers/poll';
import { resetData } from '../helpers/reset';
import { stack } from '../helpers/stack';
import { useTestAgent } from '../helpers/test-agent';

/**
 * The `baton` CLI against the deployed stack, spawned as a user runs it: the bin that `npx
 * baton` resolves to (cli/baton.mjs), its own config directory, nothing but its exit code and
 * output to go by. The tests run in order and share one login.
 */
const root = fileURLToPath(new URL('../..', import.meta.url));
const bin = join(root, 'cli', 'baton.mjs');
const planCsv = join(root, 'test', 'fixtures', 'plan-sample.csv');
const testAgent = useTestAgent({ beforeAll, afterAll });

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

let configHome: string;
let project: CreatedProject;
let sdk: BatonClient;

function baton(args: string[], { command = [process.execPath, bin] }: { command?: string[] } = {}): Promise<Result> {
  // Only this test's settings: no BATON_URL/BATON_TOKEN from the developer's shell.
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('BATON_')));
  const child = spawn(command[0]!, [...command.slice(1), ...args], {
    cwd: root,
    env: { ...env, XDG_CONFIG_HOME: configHome, BATON_POLL_MS: '300' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const json = <T>(result: Result): T => JSON.parse(result.stdout) as T;
const jsonLines = (result: Result) => result.stdout.trim().split('\n').map((line) => JSON.parse(line) as { type: string; status?: string; [key: string]: unknown });

async function file(name: string, text: string): Promise<string> {
  const path = join(configHome, name);
  await writeFile(path, text);
  return path;
}

async function apply(yaml: string): Promise<string> {
  const result = await baton(['workflows', 'apply', await file(`wf-${Date.now()}.yaml`, yaml), '--json']);
  expect(result.code, result.stderr).toBe(0);
  return json<{ id: string }>(result).id;
}

beforeAll(async () => {
  await resetData();
  configHome = await mkdtemp(join(tmpdir(), 'baton-cli-e2e-'));
  project = await createProject('cli');
  sdk = createClient({ baseUrl: stack.apiUrl, token: project.adminToken.token });
}, 60_000);

afterAll(async () => {
  await rm(configHome, { recursive: true, force: true });
});

describe('the baton CLI against the deployed stack', { timeout: 120_000 }, () => {
  it('logs in: the token is checked, then saved readable by the user alone', async () => {
    const login = await baton(['login', '--url', stack.apiUrl, '--token', project.adminToken.token]);
    const whoami = await baton(['whoami', '--json']);

    expect(login.code, login.stderr).toBe(0);
    expect(login.stdout).toContain(`as an admin of project ${project.id}`);
    expect((await stat(join(configHome, 'baton', 'config.json'))).mode & 0o777).toBe(0o600);
    expect(whoami.code).toBe(0);
    expect(json<{ whoami: { projectId: string } }>(whoami).whoami.projectId).toBe(project.id);
  });

  it('applies a YAML workflow; applying it again adds a version', async () => {
    const path = await file('hello.yaml', 'name: hello\nsteps:\n  - id: a\n    kind: noop\n  - id: b\n    kind: noop\n    dependsOn: [a]\n');

    const first = await baton(['workflows', 'apply', path, '--json']);
    const second = await baton(['workflows', 'apply', path]);
    const listed = await baton(['workflows', 'list', '--json']);

    expect(first.code, first.stderr).toBe(0);
    expect(json(first)).toMatchObject({ name: 'hello', version: 1, steps: 2 });
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/^Saved workflow hello \(wf_[0-9a-z]{26}\) version 2: 2 steps$/m);
    expect(json<{ items: unknown[] }>(listed).items).toEqual([expect.objectContaining({ name: 'hello', version: 2, steps: 2 })]);
  });

  it('imports the sample plan with date gating; without it, `run start <name> --watch` runs it to completion (exit 0)', async () => {
    const gated = await baton(['plan', 'import', planCsv, '--date-gating', '--name', 'gated-plan', '--json']);
    const plain = await baton(['plan', 'import', planCsv, '--json']);
    const gatedWorkflow = await unwrap(sdk.GET('/v1/projects/{projectId}/workflows/{workflowId}', { params: { path: { projectId: project.id, workflowId: json<{ id: string }>(gated).id } } }));

    // By name: the CLI finds its id through the workflows listing.
    const watched = await baton(['run', 'start', 'plan-sample', '--watch']);

    expect(gated.code, gated.stderr).toBe(0);
    expect(json(gated)).toMatchObject({ name: 'gated-plan', steps: 8 });
    expect(gatedWorkflow.steps.find((step) => step.id === 'day-2')?.notBefore).toMatch(/^2027-03-02/);
    expect(json(plain)).toMatchObject({ name: 'plan-sample', steps: 8 });
    expect(watched.code, watched.stderr).toBe(0);
    expect(watched.stdout).toMatch(/^Run run_[0-9a-z]{26} \(plan-sample v1\) completed in \d+/m);
    expect(watched.stdout).toMatch(/Steps: {2}8\/8 done/);
    expect(watched.stdout).toMatch(/Cost: {3}\$[0-9.]+ AWS \(estimated\)/);
    // Not a terminal: plain lines, no cursor movement or colour.
    expect(watched.stdout).not.toContain('\u001b[');
  });

  it('`run start --watch` exits 2 on a run that blocks on an agent answering 400, and says why', async () => {
    const workflowId = await apply(`name: blocks\nsteps:\n  - id: call\n    kind: http\n    input: { url: "${testAgent().url}/status/400" }\n  - id: after\n    kind: noop\n    dependsOn: [call]\n`);

    const watched = await baton(['run', 'start', workflowId, '--watch']);

    expect(watched.code, watched.stderr).toBe(2);
    expect(watched.stdout).toMatch(/\(blocks v1\) blocked after/);
    expect(watched.stdout).toMatch(/Failed: call: .*400/);
    expect(watched.stdout).toMatch(/Retry: {2}npx baton run retry run_[0-9a-z]{26} \[--step call --input <file>\]/);
  });

  it('approves a step waiting for approval with a comment; the watched run completes and the step keeps the comment', async () => {
    const workflowId = await apply('name: gate\nsteps:\n  - id: build\n    kind: noop\n  - id: review\n    kind: approval\n    dependsOn: [build]\n  - id: ship\n    kind: noop\n    dependsOn: [review]\n');
    const started = await baton(['run', 'start', workflowId, '--tag', 'team=growth', '--tag', 'ticket=GRO-7', '--json']);
    const runId = json<{ id: string }>(started).id;
    const tagged = await unwrap(sdk.GET('/v1/projects/{projectId}/runs', { params: { path: { projectId: project.id }, query: { tag: 'ticket:GRO-7' } } }));
    expect(tagged.items.map((run) => [run.id, run.tags])).toEqual([[runId, { team: 'growth', ticket: 'GRO-7' }]]);
    await eventually('review to wait for approval', async () => {
      const step = await unwrap(sdk.GET('/v1/runs/{runId}/steps/{stepId}', { params: { path: { runId, stepId: 'review' } } }));
      return step.status === 'needs_qa' ? step : undefined;
    });

    const inbox = await baton(['inbox', '--json']);
    const approved = await baton(['approve', runId, 'review', '--comment', 'ship it']);
    const watched = await baton(['run', 'watch', runId, '--json']);

    expect(json<{ items: unknown[] }>(inbox).items).toEqual([expect.objectContaining({ runId, stepId: 'review', workflowName: 'gate' })]);
    expect(approved.code, approved.stderr).toBe(0);
    expect(approved.stdout).toBe(`Approved review of run ${runId}: completed\n`);
    expect(watched.code, watched.stderr).toBe(0);
    const lines = jsonLines(watched);
    expect(lines.at(-1)).toMatchObject({ type: 'summary', status: 'completed', done: 3, total: 3 });
    const review = await unwrap(sdk.GET('/v1/runs/{runId}/steps/{stepId}', { params: { path: { runId, stepId: 'review' } } }));
    expect(review).toMatchObject({ comment: 'ship it', output: { approvedBy: expect.any(String), comment: 'ship it' } });
  });

  it('retries a blocked run with a new input for the failed step; --json output parses', async () => {
    const url = `${testAgent().url}/validate`;
    const workflowId = await apply(`name: validate\nsteps:\n  - id: check\n    kind: http\n    input: { url: "${url}", body: { valid: false } }\n  - id: after\n    kind: noop\n    dependsOn: [check]\n`);
    const blocked = await baton(['run', 'start', workflowId, '--watch', '--json']);
    const runId = (jsonLines(blocked)[0]!.run as { id: string }).id;
    const input = await file('fixed.json', JSON.stringify({ url, body: { valid: true } }));

    const retried = await baton(['run', 'retry', runId, '--step', 'check', '--input', input, '--watch', '--json']);
    const events = await baton(['run', 'events', runId, '--json']);
    const followed = await baton(['run', 'events', runId, '--follow', '--json']);
    const shown = await baton(['run', 'show', runId, '--json']);

    expect(blocked.code).toBe(2);
    expect(jsonLines(blocked).at(-1)).toMatchObject({ type: 'summary', status: 'blocked', failed: [{ step: 'check' }] });
    expect(retried.code, retried.stderr).toBe(0);
    expect(jsonLines(retried).map((line) => line.type)).toEqual(expect.arrayContaining(['retried', 'progress', 'summary']));
    expect(jsonLines(retried).at(-1)).toMatchObject({ type: 'summary', status: 'completed' });
    expect(events.code).toBe(0);
    const types = json<{ items: { type: string }[] }>(events).items.map((event) => event.type);
    expect(types).toContain('run.blocked');
    expect(types.at(-1)).toBe('run.completed');
    // --follow on a finished run: every event as a JSON line, then it ends by itself (exit 0: completed).
    expect(followed.code, followed.stderr).toBe(0);
    expect(jsonLines(followed).map((event) => event.type)).toEqual(types);
    expect(json(shown)).toMatchObject({ id: runId, status: 'completed', steps: { total: 2 } });
    expect(testAgent().requests.filter((request) => request.path === '/validate').map((request) => (request.body as { input: unknown }).input)).toEqual([{ valid: false }, { valid: true }]);
  });

  it("the summary gives the run's cost: Baton's AWS estimate and each model's calls and tokens", async () => {
    const workflowId = await apply(
      'name: facts\nsteps:\n  - id: research\n    kind: llm\n    input: { provider: bedrock, model: "anthropic.claude-3-haiku-20240307-v1:0", prompt: "Three facts about {{runInput.topic}}.", maxTokens: 200 }\n',
    );
    const input = await file('topic.json', '{"topic": "otters"}');

    const watched = await baton(['run', 'start', workflowId, '--input', input, '--watch']);

    expect(watched.code, watched.stderr).toBe(0);
    expect(watched.stdout).toMatch(/Cost: {3}\$[0-9.]+ AWS \(estimated\) · \$[0-9.]+ agents and models \([1-9][0-9]* tokens in, [1-9][0-9]* out\)/);
    expect(watched.stdout).toMatch(/Model: {2}bedrock anthropic\.claude-3-haiku-20240307-v1:0: 1 call, [1-9][0-9]* tokens in, [1-9][0-9]* out, \$[0-9.]+/);
  });

  it('usage errors exit 1 with the reason on stderr (JSON with --json); API errors name the field', async () => {
    const missing = await baton(['run', 'start']);
    const missingJson = await baton(['run', 'start', '--json']);
    const invalid = await baton(['workflows', 'apply', await file('bad.json', JSON.stringify({ name: 'bad', steps: [{ id: 'a', kind: 'noop', dependsOn: ['zz'] }] })), '--json']);

    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("missing required argument 'workflow'");
    expect(missingJson.code).toBe(1);
    expect(JSON.parse(missingJson.stderr)).toMatchObject({ error: { code: 'usage_error' } });
    expect(invalid.code).toBe(1);
    expect(invalid.stdout).toBe('');
    expect(JSON.parse(invalid.stderr)).toMatchObject({ error: { code: 'validation_error', field: 'body.steps[0].dependsOn', status: 400 } });
  });

  it('`npx baton` in the clone resolves to this bin', async () => {
    const version = await baton(['--version'], { command: ['npx', '--offline', '--no-install', 'baton'] });
    expect(version.code, version.stderr).toBe(0);
    expect(version.stdout.trim()).toBe('0.1.0');
  });
});
