import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import type { RunDetail, StepSummary } from '#sdk';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from '#cli/program';
import type { CliDeps } from '#cli/session';

/**
 * The CLI run in-process against a scripted API (a fetch that answers by route), with memory
 * streams for the terminal: argument parsing, output and exit codes, no network.
 */
const url = 'https://baton.test';
const runId = 'run_01m8nr9vsag79msy2kv4hbxs92';
const workflowId = 'wf_01m8nr5602ecghew9sj3zd72wm';

interface Seen {
  method: string;
  path: string;
  query: URLSearchParams;
  body: string;
  headers: Headers;
}

interface Scripted {
  status?: number;
  json: unknown;
}

function fakeApi(routes: Record<string, Scripted | ((seen: Seen) => Scripted)>) {
  const seen: Seen[] = [];
  const fetch = async (request: Request) => {
    const { pathname: path, searchParams: query } = new URL(request.url);
    const entry = { method: request.method, path, query, body: await request.text(), headers: request.headers };
    seen.push(entry);
    const route = routes[`${request.method} ${path}`];
    const reply = typeof route === 'function' ? route(entry) : (route ?? { status: 404, json: { error: { code: 'not_found', message: `${path} was not found`, requestId: 'req-1' } } });
    return new Response(JSON.stringify(reply.json), { status: reply.status ?? 200, headers: { 'content-type': 'application/json' } });
  };
  return { fetch, seen };
}

const whoami = { 'GET /v1/whoami': { json: { kind: 'project', projectId: 'prj_1', role: 'editor', tokenId: 'tok_1' } } };

function runDetail(status: RunDetail['status'], byStatus: Record<string, number>, extra: Partial<RunDetail> = {}): RunDetail {
  return {
    id: runId,
    projectId: 'prj_1',
    workflowId,
    workflowName: 'hello',
    workflowVersion: 2,
    status,
    createdAt: '2026-11-30T09:00:00.000Z',
    startedAt: '2026-11-30T09:00:00.000Z',
    steps: { total: 2, byStatus },
    usage: { cost: { totalUsd: 0.00002 }, agentUsage: { tokens: { input: 0, output: 0 }, costUsd: 0 }, llm: {} },
    budgets: {},
    ...extra,
  };
}

/** GET run answers each state in turn, then keeps the last. */
function runStates(...states: RunDetail[]) {
  let index = 0;
  return () => ({ json: states[Math.min(index++, states.length - 1)] });
}

const stepsOf = (...items: StepSummary[]) => ({ json: { items } });
const step = (id: string, status: StepSummary['status'], extra: Partial<StepSummary> = {}): StepSummary => ({ id, kind: 'noop', status, attempt: 1, generation: 1, dependsOn: [], ...extra });

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'baton-cli-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function cli(
  argv: string[],
  api: { fetch: CliDeps['fetch'] } = fakeApi({}),
  { env = { BATON_URL: url, BATON_TOKEN: 'btn_x' }, stdin = '', tty = false }: { env?: Record<string, string>; stdin?: string; tty?: boolean } = {},
) {
  const stdout = Object.assign(new PassThrough(), tty ? { isTTY: true, columns: 100 } : {});
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  let clock = Date.parse('2026-11-30T09:00:10Z');
  const code = await runCli(argv, {
    env: { XDG_CONFIG_HOME: dir, ...env },
    terminal: { stdout, stderr },
    stdin: Readable.from([stdin]),
    fetch: api.fetch,
    sleep: async (ms) => {
      clock += ms;
    },
    now: () => clock,
  });
  return { code, out, err };
}

describe('usage', () => {
  it('exits 1 with a message on stderr for a missing argument, an unknown command or a bad option', async () => {
    for (const argv of [['run', 'start'], ['run', 'frobnicate'], ['run', 'start', workflowId, '--tag', 'nokey'], ['run', 'list', '--limit', 'ten']]) {
      const { code, out, err } = await cli(argv);
      expect(code, argv.join(' ')).toBe(1);
      expect(out).toBe('');
      expect(err).toMatch(/error: /);
    }
  });

  it('with --json, a usage error is one JSON line on stderr', async () => {
    const { code, err } = await cli(['--json', 'approve', runId]);
    expect(code).toBe(1);
    expect(JSON.parse(err)).toEqual({ error: { code: 'usage_error', message: "missing required argument 'step'" } });
  });

  it('retry refuses --input without its --step before calling the API', async () => {
    const api = fakeApi(whoami);
    const { code, err } = await cli(['run', 'retry', runId, '--input', 'new.json'], api);
    expect(code).toBe(1);
    expect(err).toMatch(/--step and --input go in pairs/);
    expect(api.seen).toEqual([]);
  });

  it('--help on every level, listing pause, resume and cancel at the top and under run', async () => {
    const top = await cli(['--help']);
    expect(top.code).toBe(0);
    for (const command of ['login', 'workflows', 'plan', 'run', 'inbox', 'approve', 'reject', 'pause', 'resume', 'cancel']) expect(top.out).toMatch(new RegExp(`^  ${command}\\b`, 'm'));
    const run = await cli(['run', '--help']);
    for (const command of ['start', 'watch', 'events', 'retry', 'pause', 'resume', 'cancel']) expect(run.out).toMatch(new RegExp(`^  ${command}\\b`, 'm'));
    const start = await cli(['run', 'start', '--help']);
    expect(start.out).toMatch(/--tag <key=value>/);
    expect(start.out).toMatch(/--json/);
  });

  it('without a login or BATON_URL/BATON_TOKEN, says how to log in (exit 1)', async () => {
    const { code, err } = await cli(['run', 'watch', runId], fakeApi({}), { env: {} });
    expect(code).toBe(1);
    expect(err).toMatch(/Not logged in.*baton login --url/);
  });
});

describe('login', () => {
  it('saves the URL and token (0600) once the API accepted the token', async () => {
    const api = fakeApi(whoami);
    const { code, out } = await cli(['login', '--url', `${url}/`, '--token', 'btn_good'], api, { env: {} });
    expect(code).toBe(0);
    expect(out).toMatch(/Logged in to https:\/\/baton.test as an editor of project prj_1/);
    const path = join(dir, 'baton', 'config.json');
    expect(JSON.parse(await readFile(path, 'utf8'))).toEqual({ url, token: 'btn_good' });
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(api.seen[0]!.headers.get('authorization')).toBe('Bearer btn_good');
  });

  it('saves nothing when the API refuses the token, and shows its message', async () => {
    const api = fakeApi({ 'GET /v1/whoami': { status: 401, json: { error: { code: 'unauthorized', message: 'A valid bearer token is required', requestId: 'req-9' } } } });
    const { code, err } = await cli(['login', '--url', url, '--token', 'btn_bad'], api, { env: {} });
    expect(code).toBe(1);
    expect(err).toMatch(/^Error: A valid bearer token is required \[HTTP 401 unauthorized, request req-9\]\nThe token was refused: log in again/);
    await expect(stat(join(dir, 'baton', 'config.json'))).rejects.toThrow(/ENOENT/);
  });

  it('reads the token from standard input with --token -', async () => {
    const api = fakeApi(whoami);
    expect((await cli(['login', '--url', url, '--token', '-'], api, { env: {}, stdin: 'btn_piped\n' })).code).toBe(0);
    expect(api.seen[0]!.headers.get('authorization')).toBe('Bearer btn_piped');
  });
});

describe('run start --watch', () => {
  const created = { status: 201, json: runDetail('running', {}) };

  it('exits 0 when the run completes, with plain lines (no escape codes) off a terminal', async () => {
    const api = fakeApi({
      ...whoami,
      'POST /v1/projects/prj_1/runs': created,
      [`GET /v1/runs/${runId}`]: runStates(runDetail('running', { completed: 1, running: 1 }), runDetail('completed', { completed: 2 }, { finishedAt: '2026-11-30T09:00:12.000Z' })),
      [`GET /v1/runs/${runId}/steps`]: stepsOf(step('a', 'completed'), step('b', 'running')),
    });
    const { code, out } = await cli(['run', 'start', workflowId, '--watch'], api);
    expect(code).toBe(0);
    expect(out).toMatch(/\[10s\] running · 1\/2 done · running: b/);
    expect(out).toMatch(/completed in 12s/);
    expect(out).toMatch(/Cost: {3}\$0\.000020 AWS/);
    expect(out).not.toContain('\u001b');
  });

  it('on a terminal: a redrawn bar, then the summary in colour (none with NO_COLOR)', async () => {
    const routes = () =>
      fakeApi({
        ...whoami,
        'POST /v1/projects/prj_1/runs': created,
        [`GET /v1/runs/${runId}`]: runStates(runDetail('completed', { completed: 2 }, { finishedAt: '2026-11-30T09:00:12.000Z' })),
        [`GET /v1/runs/${runId}/steps`]: stepsOf(step('a', 'completed'), step('b', 'completed')),
      });
    const coloured = await cli(['run', 'start', workflowId, '--watch'], routes(), { tty: true });
    const plain = await cli(['run', 'start', workflowId, '--watch'], routes(), { tty: true, env: { BATON_URL: url, BATON_TOKEN: 'btn_x', NO_COLOR: '1' } });

    expect(coloured.code).toBe(0);
    expect(coloured.out).toContain('Ctrl-C stops watching; the run goes on.');
    expect(coloured.out).toContain(`\u001b[32mRun ${runId} (hello v2) completed in 12s\u001b[39m`);
    expect(plain.out).toContain(`Run ${runId} (hello v2) completed in 12s\n`);
    expect(plain.out).not.toContain('\u001b[32m');
  });

  it('exits 2 when the run blocks; --json gives JSON lines ending with the summary', async () => {
    const failed = step('b', 'failed', { error: { message: 'agent answered 400', retryable: false, attempt: 1, at: '2026-11-30T09:00:05.000Z' } });
    const api = fakeApi({
      ...whoami,
      'POST /v1/projects/prj_1/runs': created,
      [`GET /v1/runs/${runId}`]: runStates(runDetail('blocked', { completed: 1, failed: 1 }, { reason: 'step b failed' })),
      [`GET /v1/runs/${runId}/steps`]: stepsOf(step('a', 'completed'), failed),
    });
    const { code, out } = await cli(['run', 'start', workflowId, '--watch', '--json'], api);
    expect(code).toBe(2);
    const lines = out.trim().split('\n').map((line) => JSON.parse(line) as { type: string; status?: string; failed?: unknown[] });
    expect(lines.map((line) => line.type)).toEqual(['started', 'progress', 'summary']);
    expect(lines.at(-1)).toMatchObject({ type: 'summary', status: 'blocked', failed: [{ step: 'b', message: 'agent answered 400' }] });
  });

  it('sends the input file, tags and an idempotency key', async () => {
    await writeFile(join(dir, 'input.yaml'), 'topic: release\nitems: [1, 2]\n');
    const api = fakeApi({ ...whoami, 'POST /v1/projects/prj_1/runs': created });
    const { code, out } = await cli(['run', 'start', workflowId, '--input', join(dir, 'input.yaml'), '--tag', 'team=data', '--tag', 'env=ci', '--idempotency-key', 'ci-42', '--json'], api);
    expect(code).toBe(0);
    expect(JSON.parse(out)).toMatchObject({ id: runId });
    const post = api.seen.find((seen) => seen.method === 'POST')!;
    expect(JSON.parse(post.body)).toEqual({ workflowId, input: { topic: 'release', items: [1, 2] }, tags: { team: 'data', env: 'ci' } });
    expect(post.headers.get('idempotency-key')).toBe('ci-42');
  });

  it("sets the run's budget from --budget-tokens, --budget-usd and --budget-mode; refuses a malformed amount", async () => {
    const api = fakeApi({ ...whoami, 'POST /v1/projects/prj_1/runs': created });
    const { code } = await cli(['run', 'start', workflowId, '--budget-tokens', '5000', '--budget-usd', '0.25', '--budget-mode', 'warn', '--json'], api);
    const bad = await cli(['run', 'start', workflowId, '--budget-usd', '-1'], api);

    expect(code).toBe(0);
    expect(JSON.parse(api.seen.find((seen) => seen.method === 'POST')!.body)).toEqual({ workflowId, budget: { tokens: 5000, usd: 0.25, mode: 'warn' } });
    expect(bad.code).toBe(1);
  });

  it('finds a workflow named on the command line through the workflows listing, page by page', async () => {
    const api = fakeApi({
      ...whoami,
      'GET /v1/projects/prj_1/workflows': (seen) => ({
        json: seen.query.get('cursor') === 'page-2'
          ? { items: [{ id: workflowId, name: 'hello', version: 2, steps: 2, updatedAt: '2026-11-30T09:00:00.000Z' }] }
          : { items: [{ id: 'wf_01m8nr5602ecghew9sj3zd72aa', name: 'other', version: 1, steps: 1, updatedAt: '2026-11-30T09:00:00.000Z' }], cursor: 'page-2' },
      }),
      'POST /v1/projects/prj_1/runs': created,
    });
    const { code } = await cli(['run', 'start', 'hello'], api);
    const missing = await cli(['run', 'start', 'nope'], api);

    expect(code).toBe(0);
    expect(JSON.parse(api.seen.find((seen) => seen.method === 'POST')!.body)).toEqual({ workflowId });
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/No workflow named "nope" in project prj_1/);
  });

  it("shows the API's error with its field and exits 1", async () => {
    const api = fakeApi({
      ...whoami,
      'POST /v1/projects/prj_1/runs': { status: 400, json: { error: { code: 'validation_error', message: 'body: Unrecognized key: "tags"', field: 'body', requestId: 'req-2' } } },
    });
    const { code, err } = await cli(['--json', 'run', 'start', workflowId, '--tag', 'a=b'], api);
    expect(code).toBe(1);
    expect(JSON.parse(err)).toEqual({ error: { code: 'validation_error', message: 'body: Unrecognized key: "tags"', field: 'body', status: 400, requestId: 'req-2' } });
  });
});

describe('actions', () => {
  it('approve and reject --comment send the comment', async () => {
    const api = fakeApi({
      [`POST /v1/runs/${runId}/steps/review/actions/approve`]: { json: { ...step('review', 'completed'), allowedAttempts: 1, dependents: [], retry: {}, artifacts: [] } },
      [`POST /v1/runs/${runId}/steps/review/actions/reject`]: { json: { ...step('review', 'failed'), allowedAttempts: 1, dependents: [], retry: {}, artifacts: [] } },
    });
    expect((await cli(['approve', runId, 'review', '--comment', 'ship it'], api)).code).toBe(0);
    expect((await cli(['reject', runId, 'review', '--comment', 'not yet'], api)).code).toBe(0);
    expect(api.seen.map((seen) => JSON.parse(seen.body) as unknown)).toEqual([{ comment: 'ship it' }, { comment: 'not yet' }]);
  });

  it('inbox lists what waits for approval, with the command that approves it', async () => {
    const item = { runId, stepId: 'review', kind: 'approval', waitingFor: 'awaiting approval: Ship it?', since: '2026-11-30T09:00:03.000Z', workflowId, workflowName: 'hello', runStatus: 'running' };
    const api = fakeApi({ ...whoami, 'GET /v1/projects/prj_1/inbox': { json: { items: [item] } } });
    const human = await cli(['inbox'], api);
    const json = await cli(['inbox', '--json'], api);

    expect(human.out).toBe(`${runId}  review  hello  since 2026-11-30 09:00  awaiting approval: Ship it?\n  npx baton approve ${runId} review   (or reject)\n`);
    expect(JSON.parse(json.out)).toEqual({ items: [item] });
  });

  it('retry pairs each --step with its --input', async () => {
    await writeFile(join(dir, 'a.json'), '{"valid": true}');
    await writeFile(join(dir, 'b.yaml'), 'n: 2\n');
    const api = fakeApi({ [`POST /v1/runs/${runId}/actions/retry`]: { json: runDetail('running', {}) } });
    const { code } = await cli(['run', 'retry', runId, '--step', 'a', '--input', join(dir, 'a.json'), '--step', 'b', '--input', join(dir, 'b.yaml')], api);
    expect(code).toBe(0);
    expect(JSON.parse(api.seen[0]!.body)).toEqual({ steps: { a: { input: { valid: true } }, b: { input: { n: 2 } } } });
  });

  it('cancel works at the top level and under run', async () => {
    const api = fakeApi({ [`POST /v1/runs/${runId}/actions/cancel`]: { json: runDetail('cancelled', {}) } });
    expect((await cli(['cancel', runId], api)).out).toBe(`Run ${runId}: cancelled\n`);
    expect((await cli(['run', 'cancel', runId], api)).code).toBe(0);
    expect(api.seen).toHaveLength(2);
  });
});

describe('transport', () => {
  it('an unreachable API is exit 1 with the URL and the reason', async () => {
    const refused = async () => {
      throw new TypeError('fetch failed', { cause: { code: 'ECONNREFUSED' } });
    };
    const { code, err } = await cli(['run', 'watch', runId], { fetch: refused });
    expect(code).toBe(1);
    expect(err).toBe(`Error: Cannot reach the Baton API at ${url}: ECONNREFUSED\n`);
  });
});
