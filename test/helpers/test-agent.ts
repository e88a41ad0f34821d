import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A scripted agent on loopback for tests of the http executor and of whole runs. Behaviour is
 * chosen by path, so one agent serves every scenario of a test file:
 *
 * - `/ok` → `{ ok: true, data: { echo: <input> } }`
 * - `/data` → `{ ok: true, data: <input> }` (a planner's `{plan: {steps}}` given as its input comes back as its output)
 * - `/flaky/<name>?failures=N&status=503&retryAfter=S` → fails N times for `<name>` (with a
 *   Retry-After header when given), then `{ ok: true, data: { attempts: n } }`
 * - `/status/<code>` → always `<code>` with `{ ok: false, error: 'status <code>' }`
 * - `/refuse` → 200 `{ ok: false, error: 'refused', code: 'BAD_INPUT' }`
 * - `/slow?ms=N` → waits N ms, then ok
 * - `/etag/<name>?v=<tag>` → ok with `ETag: "<tag>"` and `{version, served}`; a request whose
 *   If-None-Match is that ETag gets 304 with no body
 * - `/hang/<name>?times=N&ms=M` → the first N requests for `<name>` (default 1) hang for M ms
 *   (default 60 s, or until the client gives up), later ones answer ok at once
 * - `/artifact` → ok with one text artifact `report.md`
 * - `/big?bytes=N` → ok with `data` a string of N bytes
 * - `/validate` → ok only when `input.valid === true`, otherwise 400 (retry with corrected input)
 * - `/usage` → ok, reporting the model calls given as `input.llm` as its own (`usage.llm`)
 */
export interface TestAgent {
  /** Base URL, e.g. `http://127.0.0.1:41234` (append a path above). */
  url: string;
  /** Every request received, in arrival order. */
  requests: AgentRequest[];
  /** How many requests carried each idempotency key: a count above 1 is a repeated attempt. */
  keyCounts(): Map<string, number>;
  close(): Promise<void>;
}

export interface AgentRequest {
  method: string;
  /** Path and query string, as sent. */
  path: string;
  idempotencyKey: string | undefined;
  /** The `X-Baton-Attempt` header, as a number. */
  attempt: number | undefined;
  authorization: string | undefined;
  ifNoneMatch: string | undefined;
  /** Every header as received (names in lower case). */
  headers: Record<string, string | string[] | undefined>;
  /** Date.now() when the request arrived (to measure backoff between attempts). */
  at: number;
  /** The parsed JSON body (the raw text when it is not JSON). */
  body: unknown;
}

interface Reply {
  status: number;
  json: unknown;
  headers?: Record<string, string>;
}

export const reportArtifact = { name: 'report.md', contentType: 'text/markdown', content: '# Report\n\nAll good.\n' };

/** Starts the agent; `close()` it in afterAll/afterEach. */
export async function startTestAgent({ host = '127.0.0.1', port = 0 } = {}): Promise<TestAgent> {
  const requests: AgentRequest[] = [];
  const flakyCounts = new Map<string, number>();

  const server = createServer((request, response) => {
    void handle(request, response).catch((error: unknown) => {
      send(response, { status: 500, json: { ok: false, error: `test agent failed: ${String(error)}` } });
    });
  });

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const body = await readBody(request);
    requests.push({
      method: request.method ?? 'GET',
      path: request.url ?? '/',
      idempotencyKey: request.headers['x-idempotency-key'] as string | undefined,
      attempt: request.headers['x-baton-attempt'] === undefined ? undefined : Number(request.headers['x-baton-attempt']),
      authorization: request.headers.authorization,
      ifNoneMatch: request.headers['if-none-match'],
      headers: { ...request.headers },
      at: Date.now(),
      body,
    });
    const url = new URL(request.url ?? '/', 'http://agent');
    const reply = await script(url, body, flakyCounts, response);
    if (reply) send(response, reply);
  };

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as AddressInfo;

  return {
    url: `http://${host}:${address.port}`,
    requests,
    keyCounts() {
      const counts = new Map<string, number>();
      for (const { idempotencyKey } of requests) {
        if (idempotencyKey !== undefined) counts.set(idempotencyKey, (counts.get(idempotencyKey) ?? 0) + 1);
      }
      return counts;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        // Slow requests still in flight must not keep the test process waiting.
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

/** The scripted reply for a path; undefined when the client went away before it was due. */
async function script(url: URL, body: unknown, flakyCounts: Map<string, number>, response: ServerResponse): Promise<Reply | undefined> {
  const [, route = '', arg = ''] = url.pathname.split('/');
  const number = (name: string, fallback: number) => Number(url.searchParams.get(name) ?? fallback);
  switch (route) {
    case 'ok':
      return ok({ echo: inputOf(body) });
    case 'data':
      return ok(inputOf(body));
    case 'flaky': {
      const seen = (flakyCounts.get(arg) ?? 0) + 1;
      flakyCounts.set(arg, seen);
      if (seen > number('failures', 1)) return ok({ attempts: seen });
      const retryAfter = url.searchParams.get('retryAfter');
      const status = number('status', 503);
      return { status, json: { ok: false, error: `flaky failure ${seen}` }, ...(retryAfter === null ? {} : { headers: { 'retry-after': retryAfter } }) };
    }
    case 'status':
      return { status: Number(arg), json: { ok: false, error: `status ${arg}` } };
    case 'refuse':
      return { status: 200, json: { ok: false, error: 'refused', code: 'BAD_INPUT' } };
    case 'slow': {
      const ms = number('ms', 1000);
      const finished = await delay(ms, response);
      return finished ? ok({ waitedMs: ms }) : undefined;
    }
    case 'etag': {
      const etag = `"${url.searchParams.get('v') ?? 'v1'}"`;
      if (response.req.headers['if-none-match'] === etag) {
        response.writeHead(304, { etag }).end();
        return undefined;
      }
      const served = (flakyCounts.get(`etag:${arg}`) ?? 0) + 1;
      flakyCounts.set(`etag:${arg}`, served);
      return { status: 200, json: { ok: true, data: { version: etag, served } }, headers: { etag } };
    }
    case 'hang': {
      const seen = (flakyCounts.get(`hang:${arg}`) ?? 0) + 1;
      flakyCounts.set(`hang:${arg}`, seen);
      if (seen > number('times', 1)) return ok({ attempts: seen });
      const finished = await delay(number('ms', 60_000), response);
      return finished ? ok({ attempts: seen, hung: true }) : undefined;
    }
    case 'usage':
      return { status: 200, json: { ok: true, data: 'reported', usage: { llm: (inputOf(body) as { llm?: unknown } | null)?.llm ?? [] } } };
    case 'artifact':
      return { status: 200, json: { ok: true, data: { report: reportArtifact.name }, artifacts: [reportArtifact] } };
    case 'big':
      return ok('x'.repeat(number('bytes', 1024)));
    case 'validate': {
      const input = inputOf(body);
      const valid = typeof input === 'object' && input !== null && (input as { valid?: unknown }).valid === true;
      return valid ? ok({ validated: true }) : { status: 400, json: { ok: false, error: 'input.valid must be true' } };
    }
    default:
      return { status: 404, json: { ok: false, error: `no script for ${url.pathname}` } };
  }
}

const ok = (data: unknown): Reply => ({ status: 200, json: { ok: true, data } });

const inputOf = (body: unknown): unknown => (typeof body === 'object' && body !== null ? (body as { input?: unknown }).input : undefined);

/** Resolves true after `ms`, or false as soon as the client closes the connection (e.g. it timed out). */
const delay = (ms: number, response: ServerResponse): Promise<boolean> =>
  new Promise((resolve) => {
    const timer = setTimeout(() => resolve(true), ms);
    response.once('close', () => {
      clearTimeout(timer);
      resolve(false);
    });
  });

async function readBody(request: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function send(response: ServerResponse, { status, json, headers = {} }: Reply): void {
  if (response.headersSent || response.destroyed) return;
  response.writeHead(status, { 'content-type': 'application/json', ...headers });
  response.end(JSON.stringify(json));
}

/**
 * Starts one agent for a test file (beforeAll) and closes it after (afterAll); the returned
 * function gives the running agent inside tests.
 */
export function useTestAgent(hooks: { beforeAll: (fn: () => Promise<void>) => void; afterAll: (fn: () => Promise<void>) => void }): () => TestAgent {
  let agent: TestAgent | undefined;
  hooks.beforeAll(async () => {
    agent = await startTestAgent();
  });
  hooks.afterAll(async () => {
    await agent?.close();
  });
  return () => {
    if (!agent) throw new Error('the test agent is not running (use it inside tests)');
    return agent;
  };
}
