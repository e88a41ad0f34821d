import { spawn } from 'node:child_process';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createClient, unwrap, type BatonClient } from '#sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProject, installationToken, type CreatedProject } from '../helpers/projects';
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
/** The run the budget test raised and completed: feedback, re-run, fork and compare use it. */
let articleRun: string;
const llmStep = (id: string, prompt: string, dependsOn: string[] = []) =>
  `  - id: ${id}\n    kind: llm\n${dependsOn.length ? `    dependsOn: [${dependsOn.join(', ')}]\n` : ''}    input: { provider: bedrock, model: "anthropic.claude-3-haiku-20240307-v1:0", prompt: "${prompt}", maxTokens: 100 }\n`;
const articleYaml = `name: article\nsteps:\n${llmStep('research', 'Facts about {{runInput.topic}}.')}${llmStep('draft', 'Write about {{runInput.topic}}: {{dependencies.research.text}}', ['research'])}  - id: publish\n    kind: noop\n    dependsOn: [draft]\n`;

function baton(args: string[], { command = [process.execPath, bin], env: extra = {} }: { command?: string[]; env?: Record<string, string> } = {}): Promise<Result> {
  // Only this test's settings: no BATON_URL/BATON_TOKEN from the developer's shell.
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('BATON_')));
  const child = spawn(command[0]!, [...command.slice(1), ...args], {
    cwd: root,
    env: { ...env, XDG_CONFIG_HOME: configHome, BATON_POLL_MS: '300', ...extra },
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

  it('a strict run budget blocks the run before the step that could overspend; `run budget` shows the spend, raises it, and `resume` completes the run', async () => {
    const workflowId = await apply(articleYaml);
    const input = await file('otters.json', '{"topic": "otters"}');

    // 110 tokens fit research's worst case (maxTokens 100), not draft's once research spent some.
    const watched = await baton(['run', 'start', workflowId, '--input', input, '--budget-tokens', '110', '--watch']);
    const runId = /Run (run_[0-9a-z]{26})/.exec(watched.stdout)?.[1] ?? '';
    articleRun = runId;
    const shown = await baton(['run', 'budget', runId]);
    const badTokens = await baton(['run', 'budget', runId, '--tokens', 'lots']);
    const badMode = await baton(['run', 'budget', runId, '--tokens', '5000', '--mode', 'sometimes']);
    const raised = await baton(['run', 'budget', runId, '--tokens', '5000']);
    const resumed = await baton(['resume', runId]);
    const completed = await baton(['run', 'watch', runId]);
    const ended = await baton(['run', 'budget', runId, '--tokens', '9000', '--json']);

    expect(watched.code, watched.stderr).toBe(2);
    expect(watched.stdout).toMatch(/blocked after .*: BUDGET_EXCEEDED: step draft could spend up to 100 tokens, and the run budget \(110 tokens, strict\) has \d+ tokens left/);
    expect(watched.stdout).toMatch(/^ {2}Budget: run \d+ \/ 110 tokens · strict$/m);
    expect(watched.stdout).toContain('  Waits:  draft (held until the run resumes)');
    expect(watched.stdout).toContain(`  Raise:  npx baton run budget ${runId} --tokens <n> [--usd <usd>], then npx baton resume ${runId}`);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(/^ {2}run \d+ \/ 110 tokens · strict\nThe run is blocked: BUDGET_EXCEEDED: /m);
    // Bad values are refused before any request, naming the option; nothing changed.
    expect(badTokens.code).toBe(1);
    expect(badTokens.stderr).toContain("option '--tokens <n>' argument 'lots' is invalid. must be a whole number (0 or more)");
    expect(badMode.code).toBe(1);
    expect(badMode.stderr).toContain("option '--mode <mode>' argument 'sometimes' is invalid. must be strict, warn or off");
    expect(raised.code, raised.stderr).toBe(0);
    expect(raised.stdout).toMatch(new RegExp(`^Set the budget of run ${runId}\\n {2}run \\d+ \\/ 5,000 tokens · strict\\n`));
    expect(raised.stdout).toContain(`Continue it: npx baton resume ${runId}`);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(completed.code, completed.stderr).toBe(0);
    expect(completed.stdout).toMatch(/^ {2}Budget: run \d+ \/ 5,000 tokens · strict$/m);
    // A run that ended keeps its budget: the API's 409, said on stderr as JSON with --json, exit 1.
    expect(ended.code).toBe(1);
    expect(JSON.parse(ended.stderr)).toMatchObject({ error: { status: 409, code: 'conflict' } });
  });

  it('gives and lists feedback on a step; bad scores, sources and a missing step are refused with the reason', async () => {
    const given = await baton(['feedback', articleRun, 'draft', '--score', '80', '--comment', 'clear, but long']);
    const byReviewer = await baton(['feedback', articleRun, 'research', '--score', '30', '--source', 'reviewer', '--json']);
    const listed = await baton(['feedback', articleRun]);
    const ofStep = await baton(['feedback', articleRun, 'draft', '--json']);
    const tooHigh = await baton(['feedback', articleRun, 'draft', '--score', '101']);
    const noStep = await baton(['feedback', articleRun, '--score', '50']);
    const badSource = await baton(['feedback', articleRun, 'draft', '--score', '50', '--source', 'robot']);
    const unknownStep = await baton(['feedback', articleRun, 'nosuch', '--score', '50']);

    expect(given.code, given.stderr).toBe(0);
    expect(given.stdout).toBe(`Recorded 80 on draft of run ${articleRun} (generation 1)\n`);
    expect(json(byReviewer)).toMatchObject({ stepId: 'research', score: 30, source: 'reviewer', actorName: 'initial admin token' });
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout.split('\n').filter(Boolean)).toEqual([
      expect.stringMatching(/^draft +80\/100 {2}human +by initial admin token {2}\d{4}-\d\d-\d\d \d\d:\d\d {2}"clear, but long"$/),
      expect.stringMatching(/^research +30\/100 {2}reviewer {2}by initial admin token {2}\d{4}-\d\d-\d\d \d\d:\d\d$/),
      '2 scores, average 55',
    ]);
    expect(json(ofStep)).toMatchObject({ count: 1, averageScore: 80, items: [{ score: 80, comment: 'clear, but long' }] });
    for (const refused of [tooHigh, noStep, badSource, unknownStep]) expect(refused.code).toBe(1);
    expect(tooHigh.stderr).toContain("option '--score <n>' argument '101' is invalid. must be a whole number from 0 to 100");
    expect(noStep.stderr).toBe('Error: --score needs the step: baton feedback <run> <step> --score <n> (field step)\n');
    expect(badSource.stderr).toContain("argument 'robot' is invalid. Allowed choices are human, reviewer.");
    expect(unknownStep.stderr).toMatch(/^Error: Step was not found .*\[HTTP 404 not_found/);
    expect((await unwrap(sdk.GET('/v1/runs/{runId}/feedback', { params: { path: { runId: articleRun } } }))).count).toBe(2);
  });

  it('re-runs a step with guidance (then exactly its downstream); a bad input file is refused naming the option', async () => {
    const before = await unwrap(sdk.GET('/v1/runs/{runId}/steps/{stepId}', { params: { path: { runId: articleRun, stepId: 'draft' } } }));
    const missing = await baton(['rerun', articleRun, 'draft', '--input', join(configHome, 'nope.json')]);
    const broken = await baton(['rerun', articleRun, 'draft', '--input', await file('broken.json', '{"provider": ')]);

    const rerun = await baton(['rerun', articleRun, 'draft', '--guidance', 'Shorter, please.']);
    const watched = await baton(['run', 'watch', articleRun]);

    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^Error: Cannot read --input .*nope\.json: no such file \(field --input\)/);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toMatch(/^Error: --input .*broken\.json is not valid JSON: .* \(field --input\)/);
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(rerun.stdout).toBe(`Re-running draft of run ${articleRun} as generation 2, then publish\n`);
    expect(watched.code, watched.stderr).toBe(0);
    const after = await unwrap(sdk.GET('/v1/runs/{runId}/steps/{stepId}', { params: { path: { runId: articleRun, stepId: 'draft' } } }));
    expect(after).toMatchObject({ generation: 2, guidance: 'Shorter, please.' });
    expect(after.output).not.toEqual(before.output);
    const research = await unwrap(sdk.GET('/v1/runs/{runId}/steps/{stepId}', { params: { path: { runId: articleRun, stepId: 'research' } } }));
    expect(research.generation).toBe(1);
  });

  it('forks a run at a step with a new input, and compares the two runs step by step', async () => {
    const seals = await file('seals.json', '{"topic": "seals"}');
    const unknown = await baton(['fork', articleRun, '--from', 'nosuch']);
    const reusedInput = await baton(['fork', articleRun, '--from', 'draft', '--step-input', `research=${seals}`]);
    const malformed = await baton(['fork', articleRun, '--from', 'draft', '--step-input', 'research']);

    const forked = await baton(['fork', articleRun, '--from', 'draft', '--input', seals]);
    const forkId = /: (run_[0-9a-z]{26}) /.exec(forked.stdout)?.[1] ?? '';
    const watched = await baton(['run', 'watch', forkId]);
    const compared = await baton(['compare', articleRun, forkId]);
    const comparedJson = await baton(['compare', articleRun, forkId, '--json']);
    const otherProject = await baton(['compare', articleRun, 'run_00000000000000000000000000']);

    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^Error: body\.fromStep: run run_\w+ has no step "nosuch" \(its steps: research, draft, publish\) \(field body\.fromStep\) \[HTTP 400 validation_error/);
    expect(reusedInput.code).toBe(1);
    expect(reusedInput.stderr).toContain('(field body.stepInputs.research)');
    expect(malformed.code).toBe(1);
    expect(malformed.stderr).toBe('Error: --step-input research: give it as <step id>=<file> (field --step-input)\n');
    expect(forked.code, forked.stderr).toBe(0);
    expect(forked.stdout).toBe(`Forked run ${articleRun} at draft: ${forkId} (running); reused research\n`);
    expect(watched.code, watched.stderr).toBe(0);
    expect(compared.code, compared.stderr).toBe(0);
    const lines = compared.stdout.split('\n');
    expect(lines.slice(0, 2)).toEqual([`a: ${articleRun}`, `b: ${forkId} (forked from a at draft)`]);
    expect(lines).toContainEqual(expect.stringMatching(/^≠ draft {5}completed +\S+ +\d+ tok +\$[0-9.]+ {2}completed +\S+ +\d+ tok +\$[0-9.]+ {2}differs at text$/));
    expect(lines).toContainEqual(expect.stringMatching(/^ {2}research {2}completed +\S+ +[1-9]\d* tok +\$[0-9.]+ {2}reused +- +0 tok +\$0\.00 {2}same$/));
    expect(lines).toContainEqual(expect.stringMatching(/^ {2}b − a: -\$[0-9.]+, -[\d,]+ tokens, .*; steps run 3 → 2, reused 0 → 1$/));
    const comparison = json<{ changedSteps: string[]; b: { reusedSteps: number } }>(comparedJson);
    expect(comparison.changedSteps).toContain('draft');
    expect(comparison.b.reusedSteps).toBe(1);
    expect(otherProject.code).toBe(1);
    expect(otherProject.stderr).toContain('(field path.otherRunId) [HTTP 404 not_found');
  });

  it('a run over its limit of executions blocks with MAX_EXECUTED_STEPS; `run limits` raises it and `resume` completes the run', async () => {
    const workflowId = await apply('name: three\nsteps:\n  - id: a\n    kind: noop\n  - id: b\n    kind: noop\n    dependsOn: [a]\n  - id: c\n    kind: noop\n    dependsOn: [b]\n');

    const watched = await baton(['run', 'start', workflowId, '--max-executed-steps', '2', '--watch']);
    const runId = /Run (run_[0-9a-z]{26})/.exec(watched.stdout)?.[1] ?? '';
    const zero = await baton(['run', 'limits', runId, '--max-executed-steps', '0']);
    const raised = await baton(['run', 'limits', runId, '--max-executed-steps', '5']);
    const resumed = await baton(['resume', runId]);
    const completed = await baton(['run', 'watch', runId]);

    expect(watched.code, watched.stderr).toBe(2);
    expect(watched.stdout).toMatch(/blocked after .*: MAX_EXECUTED_STEPS: step c would be execution 3, and the run's limits\.maxExecutedSteps is 2/);
    expect(watched.stdout).toContain('  Waits:  c (held until the run resumes)');
    expect(watched.stdout).toContain('  Limits: 2 / 2 executions · no duration limit · the same output 3× stops a step');
    expect(watched.stdout).toContain(`  Raise:  npx baton run limits ${runId} --max-executed-steps <n>, then npx baton resume ${runId}`);
    expect(zero.code).toBe(1);
    expect(zero.stderr).toContain("option '--max-executed-steps <n>' argument '0' is invalid. must be a positive whole number");
    expect(raised.code, raised.stderr).toBe(0);
    expect(raised.stdout).toMatch(new RegExp(`^Set the limits of run ${runId}\\n {2}2 / 5 executions · `));
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(completed.code, completed.stderr).toBe(0);
    expect(completed.stdout).toContain('  Limits: 3 / 5 executions');
  });

  it('shows a step held at a human quality gate; a score below the threshold pauses it, a guided re-run runs it again, approve completes the run; the workflow\'s feedback per version', async () => {
    const workflowId = await apply('name: gated\nsteps:\n  - id: draft\n    kind: noop\n    input: {text: otters}\n    qa: {reviewer: human, threshold: 60}\n  - id: publish\n    kind: noop\n    dependsOn: [draft]\n');
    const started = json<{ id: string }>(await baton(['run', 'start', 'gated', '--json']));
    const runId = started.id;
    const atGate = () => eventually('draft to wait at its gate', async () => {
      const step = await unwrap(sdk.GET('/v1/runs/{runId}/steps/{stepId}', { params: { path: { runId, stepId: 'draft' } } }));
      return step.status === 'needs_qa' && step.gate?.state === 'waiting' ? step : undefined;
    });
    await atGate();

    const waiting = await baton(['step', runId, 'draft']);
    const scored = await baton(['feedback', runId, 'draft', '--score', '35', '--comment', 'cite your sources']);
    const paused = await baton(['step', runId, 'draft']);
    const rerun = await baton(['rerun', runId, 'draft', '--guidance', 'Name two sources.']);
    await atGate();
    const approved = await baton(['approve', runId, 'draft', '--comment', 'Better.']);
    const watched = await baton(['run', 'watch', runId]);
    const averages = await baton(['workflows', 'feedback', 'gated']);
    const averagesJson = await baton(['workflows', 'feedback', workflowId, '--json']);

    expect(waiting.code, waiting.stderr).toBe(0);
    expect(waiting.stdout.split('\n')).toEqual([
      'draft  needs_qa  noop  attempt 1 of 3',
      "quality gate (this step's): waiting; reviewer human, threshold 60, below it pause",
      `  score it:  npx baton feedback ${runId} draft --score <0-100> [--comment <text>]`,
      `  decide:    npx baton approve ${runId} draft   (or reject, or: npx baton rerun ${runId} draft --guidance <text>)`,
      '',
    ]);
    expect(scored.code, scored.stderr).toBe(0);
    expect(paused.stdout.split('\n').slice(1, 4)).toEqual([
      "quality gate (this step's): paused; reviewer human, threshold 60, below it pause",
      '  score 35 (below the threshold): cite your sources',
      `  decide:    npx baton approve ${runId} draft   (or reject, or: npx baton rerun ${runId} draft --guidance <text>)`,
    ]);
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(approved.code, approved.stderr).toBe(0);
    expect(approved.stdout).toBe(`Approved draft of run ${runId}: completed\n`);
    expect(watched.code, watched.stderr).toBe(0);
    const draft = await unwrap(sdk.GET('/v1/runs/{runId}/steps/{stepId}', { params: { path: { runId, stepId: 'draft' } } }));
    expect(draft).toMatchObject({ status: 'completed', generation: 2, comment: 'Better.', input: { text: 'otters', guidance: 'Name two sources.' } });
    const critical = (await unwrap(sdk.GET('/v1/runs/{runId}/events', { params: { path: { runId }, query: { limit: 200 } } }))).items.filter((event) => event.type === 'feedback.critical');
    expect(critical.map((event) => event.detail)).toEqual([expect.objectContaining({ score: 35, threshold: 60, verdict: 'pause' })]);
    expect(averages.code, averages.stderr).toBe(0);
    expect(averages.stdout).toBe('v1     1 score   average 35\n');
    expect(json(averagesJson)).toEqual({ workflowId, items: [{ version: 1, count: 1, averageScore: 35 }] });
  });

  it("shows and changes the project's governing settings (an admin's): budgets, limits, capacity; a bad one names its field", async () => {
    const before = await baton(['settings']);
    const changed = await baton(['settings', '--set', await file('settings.yaml', 'concurrency: {limit: 3}\nlimits: {maxExecutedSteps: 500}\n')]);
    const asJson = await baton(['settings', '--json']);
    const refused = await baton(['settings', '--set', await file('bad-settings.json', '{"concurrency": {"limit": 0}}')]);
    const cleared = await baton(['settings', '--set', await file('clear.json', '{"concurrency": {}}'), '--json']);

    expect(before.code, before.stderr).toBe(0);
    expect(before.stdout).toContain('concurrency  no project limit\n');
    expect(changed.code, changed.stderr).toBe(0);
    expect(changed.stdout.split('\n').slice(0, 4)).toEqual([
      `Changed the settings of project ${project.id}:`,
      expect.stringMatching(/^budgets {6}/),
      'limits       {"maxExecutedSteps":500}',
      'concurrency  at most 3 steps at once',
    ]);
    expect(json(asJson)).toMatchObject({ concurrency: { limit: 3 }, limits: { maxExecutedSteps: 500 } });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/body\.concurrency\.limit/);
    expect(json<{ concurrency?: unknown }>(cleared).concurrency).toEqual({});
    const stored = await unwrap(sdk.GET('/v1/projects/{projectId}', { params: { path: { projectId: project.id } } }));
    expect(stored.settings).toMatchObject({ limits: { maxExecutedSteps: 500 } });
  });

  it('creates, lists, pauses, resumes and deletes triggers (webhook and EventBridge); a trigger needs exactly one source', async () => {
    await apply('name: on-push\nsteps:\n  - id: build\n    kind: noop\n');
    const pattern = await file('pattern.yaml', 'source: [acme.orders]\ndetail-type: [order.placed]\n');
    const mapping = await file('mapping.json', '{"orderId": "$.detail.orderId"}');

    const webhook = await baton(['trigger', 'create', '--workflow', 'on-push', '--name', 'build main', '--webhook', 'github', '--event', 'push', '--repository', 'acme/app', '--branch', 'main', '--json']);
    const events = await baton(['trigger', 'create', '--workflow', 'on-push', '--pattern', pattern, '--input-mapping', mapping]);
    const both = await baton(['trigger', 'create', '--workflow', 'on-push', '--webhook', 'github', '--pattern', pattern]);
    const neither = await baton(['trigger', 'create', '--workflow', 'on-push']);
    const id = json<{ id: string }>(webhook).id;
    const paused = await baton(['trigger', 'pause', id]);
    const listed = await baton(['trigger', 'list']);
    const resumed = await baton(['trigger', 'resume', id]);
    const deleted = await baton(['trigger', 'delete', id]);
    const after = await baton(['trigger', 'list', '--json']);

    expect(webhook.code, webhook.stderr).toBe(0);
    expect(json(webhook)).toMatchObject({ name: 'build main', state: 'ENABLED', source: { type: 'webhook', provider: 'github', event: 'push', filter: { repository: 'acme/app', branch: 'main' } } });
    expect(events.code, events.stderr).toBe(0);
    expect(events.stdout).toMatch(/^Created trg_[0-9a-z]{26} {2}enabled {2}eventbridge \{"source":\["acme\.orders"\],"detail-type":\["order\.placed"\]\} {2}→ wf_[0-9a-z]{26}\n {2}EventBridge rule \S+ on bus \S+\n$/);
    for (const refused of [both, neither]) expect(refused.code).toBe(1);
    expect(neither.stderr).toBe('Error: Give either --webhook <provider> or --pattern <file> (field webhook)\n');
    expect(paused.code, paused.stderr).toBe(0);
    expect(paused.stdout).toMatch(new RegExp(`^Paused ${id} {2}paused {3}github push repository=acme/app branch=main {2}→ wf_[0-9a-z]{26} {2}"build main"\n$`));
    expect(listed.stdout.split('\n').filter(Boolean)).toEqual(expect.arrayContaining([expect.stringMatching(new RegExp(`^${id} {2}paused `)), expect.stringMatching(/^trg_[0-9a-z]{26} {2}enabled {2}eventbridge /)]));
    expect(resumed.stdout).toMatch(new RegExp(`^Resumed ${id} {2}enabled `));
    expect(deleted.stdout).toBe(`Deleted trigger ${id}\n`);
    const remaining = json<{ items: { id: string; input?: unknown }[] }>(after).items;
    expect(remaining).toHaveLength(1);
    expect(remaining[0]).toMatchObject({ input: { mapping: { orderId: '$.detail.orderId' } } });
    expect(remaining[0]!.id).not.toBe(id);
  });

  it("shows a map step's progress and lists its children through every page (--failed for the failed ones); `run steps` pages a 1,100-step run; a workflow step names its child run", async () => {
    const failing = [5, 120];
    const items = Array.from({ length: 130 }, (_, index) => ({ url: `${testAgent().url}/${failing.includes(index) ? 'refuse' : 'ok'}` }));
    const saved = await unwrap(
      sdk.POST('/v1/projects/{projectId}/workflows', {
        params: { path: { projectId: project.id } },
        body: { name: 'cli-map', steps: [{ id: 'fan', kind: 'map', input: { items, maxConcurrency: 20, step: { kind: 'http', input: { url: '{{item.url}}' }, retry: { maxAttempts: 1 } } } }, { id: 'after', kind: 'noop', dependsOn: ['fan'] }] },
      }),
    );
    const { id: runId } = await unwrap(sdk.POST('/v1/projects/{projectId}/runs', { params: { path: { projectId: project.id } }, body: { workflowId: saved.id } }));
    const watched = await baton(['run', 'watch', runId]);

    const step = await baton(['step', runId, 'fan']);
    const all = await baton(['step', runId, 'fan', '--children', '--json']);
    const failed = await baton(['step', runId, 'fan', '--children', '--failed']);
    const shown = await baton(['run', 'show', runId, '--json']);
    const shownText = await baton(['run', 'show', runId]);
    const failedSteps = await baton(['run', 'steps', runId, '--status', 'failed', '--json']);

    expect(watched.code, watched.stderr).toBe(2);
    expect(step.code, step.stderr).toBe(0);
    expect(step.stdout).toContain('fan  failed  map');
    expect(step.stdout).toContain('\nmap: 130 of 130 done: 128 succeeded, 2 failed, 0 queued or running\n');
    expect(step.stdout).toMatch(/\nresults: s3:\/\/\S+\n|\nerror: MAP_TOLERANCE_EXCEEDED: 2 of 130 items failed/);
    expect(step.stdout).toContain(`\nchildren: npx baton step ${runId} fan --children --failed\n`);
    expect(step.stdout).toContain(`\nretry the failed items only: npx baton run retry ${runId}\n`);
    // 130 children over two pages of the listing, in item order.
    const listed = json<{ counts: { count: number; failed: number }; items: { index: number; status: string }[] }>(all);
    expect(listed.counts).toMatchObject({ count: 130, failed: 2 });
    expect(listed.items.map((child) => child.index)).toEqual(Array.from({ length: 130 }, (_, index) => index));
    expect(failed.stdout.split('\n').filter(Boolean)).toEqual([
      '000005  failed     attempt 1  BAD_INPUT: refused',
      '000120  failed     attempt 1  BAD_INPUT: refused',
      'fan: 130 of 130 done: 128 succeeded, 2 failed, 0 queued or running',
    ]);
    // The run's own steps only (the children are the map's), and every failed step of the listing.
    expect(json<{ stepList: { id: string }[] }>(shown).stepList.map((item) => item.id).sort()).toEqual(['after', 'fan']);
    expect(shownText.stdout).toContain('\n  Steps:  0/2 done; 1 pending, 1 failed\n  Items:  130/130 map items done (128 succeeded, 2 failed)\n');
    expect(json<{ items: { id: string }[] }>(failedSteps).items.map((item) => item.id)).toEqual(['fan', 'fan[000005]', 'fan[000120]']);

    // A run bigger than a page: `run steps` follows the cursor.
    const name = (index: number) => `s${String(index).padStart(4, '0')}`;
    const big = await unwrap(sdk.POST('/v1/projects/{projectId}/workflows', { params: { path: { projectId: project.id } }, body: { name: 'cli-big', steps: Array.from({ length: 1100 }, (_, index) => ({ id: name(index), kind: 'noop' })) } }));
    const bigRun = await unwrap(sdk.POST('/v1/projects/{projectId}/runs', { params: { path: { projectId: project.id } }, body: { workflowId: big.id, start: false } }));
    const bigSteps = await baton(['run', 'steps', bigRun.id, '--json']);
    const firstFew = await baton(['run', 'steps', bigRun.id, '--limit', '2']);
    expect(json<{ items: { id: string }[] }>(bigSteps).items.map((item) => item.id)).toEqual(Array.from({ length: 1100 }, (_, index) => name(index)));
    expect(firstFew.stdout).toBe('s0000  pending    noop  attempt 0\ns0001  pending    noop  attempt 0\n');

    // A workflow step names the child run it started.
    const inner = await unwrap(sdk.POST('/v1/projects/{projectId}/workflows', { params: { path: { projectId: project.id } }, body: { name: 'cli-child', steps: [{ id: 'inner', kind: 'noop' }] } }));
    const parent = await unwrap(
      sdk.POST('/v1/projects/{projectId}/workflows', { params: { path: { projectId: project.id } }, body: { name: 'cli-parent', steps: [{ id: 'sub', kind: 'workflow', input: { workflowId: inner.id } }] } }),
    );
    const parentRun = await unwrap(sdk.POST('/v1/projects/{projectId}/runs', { params: { path: { projectId: project.id } }, body: { workflowId: parent.id } }));
    const child = await eventually('the workflow step to start its child', async () => (await unwrap(sdk.GET('/v1/runs/{runId}/steps/{stepId}', { params: { path: { runId: parentRun.id, stepId: 'sub' } } }))).childRun?.runId, { timeoutMs: 60_000 });
    const subStep = await baton(['step', parentRun.id, 'sub']);
    expect(subStep.stdout).toContain(`\nchild run: ${child}  (npx baton run show ${child})\n`);
  }, 300_000);

  it("lists the installation's queues, peeks a dead-lettered step and redrives it (installation token); a project token is refused", async () => {
    const saved = await unwrap(
      sdk.POST('/v1/projects/{projectId}/workflows', {
        params: { path: { projectId: project.id } },
        body: { name: 'cli-poison', steps: [{ id: 'poison', kind: 'crash', input: { crashUntilAttempt: 6 }, retry: { maxAttempts: 20, backoffBaseSeconds: 1, backoffCapSeconds: 10, jitter: 'none' } }] },
      }),
    );
    const { id } = await unwrap(sdk.POST('/v1/projects/{projectId}/runs', { params: { path: { projectId: project.id } }, body: { workflowId: saved.id } }));
    const installation = { BATON_URL: stack.apiUrl, BATON_TOKEN: await installationToken() };
    const asProject = await baton(['queues', 'list']);
    // Parked once the run blocks on the dead letter (five deliveries that kill the worker).
    const peeked = await eventually('the dead letter to be parked', async () => {
      const result = await baton(['queues', 'peek', 'steps-parked', '--json'], { env: installation });
      return json<{ messages: { runId?: string }[] }>(result).messages.some((message) => message.runId === id) ? result : undefined;
    }, { timeoutMs: 300_000, intervalMs: 3000 });
    const listed = await baton(['queues', 'list'], { env: installation });
    const peekText = await baton(['queues', 'peek', 'steps-parked'], { env: installation });
    const redrive = await baton(['queues', 'redrive', 'steps-parked'], { env: installation });
    const refused = await baton(['queues', 'redrive', 'reactions-dlq'], { env: installation });

    expect(asProject.code).toBe(1);
    expect(asProject.stderr).toMatch(/\[HTTP 403 /);
    expect(json<{ messages: unknown[] }>(peeked).messages).toEqual(expect.arrayContaining([expect.objectContaining({ runId: id, stepId: 'poison', error: expect.objectContaining({ code: 'DEAD_LETTERED' }) })]));
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout.split('\n').filter(Boolean).map((line) => line.split(' ')[0])).toEqual(['steps', 'steps-dlq', 'steps-parked', 'reactions-dlq']);
    expect(listed.stdout).toMatch(/^steps-parked +[1-9][0-9]* visible .*\(redrive to steps\)$/m);
    expect(peekText.stdout).toMatch(new RegExp(`^\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d  ${id}  poison  sent for attempt [1-9]\\d*  DEAD_LETTERED: .*\\(received \\d+×\\)$`, 'm'));
    expect(peekText.stdout).toContain('Move them back: npx baton queues redrive steps-parked\n');
    expect(redrive.code, redrive.stderr).toBe(0);
    expect(redrive.stdout).toMatch(/^(Moved [1-9][0-9]* messages? from steps-parked to steps\.|SQS is moving the messages of steps-parked to steps)/);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/reactions-dlq cannot be redriven/);
    // The redriven step runs again (its sixth attempt survives) and the run completes.
    await eventually('the redriven run to complete', async () => ((await unwrap(sdk.GET('/v1/runs/{runId}', { params: { path: { runId: id } } }))).status === 'completed' ? true : undefined), { timeoutMs: 90_000, intervalMs: 1000 });
  }, 480_000);

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
