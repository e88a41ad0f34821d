import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { StepError } from '#shared/domain/step-errors';
import { createHttpExecutor, httpExecutor, httpInput, nonPublicAddressKind, type HttpInput } from '#shared/executors/http';
import type { StepContext } from '#shared/executors/types';
import { defaultProjectSettings } from '#shared/schemas/projects';
import { stepContext } from '#test/fixtures/step-context';
import { reportArtifact, startTestAgent, type TestAgent } from '#test/helpers/test-agent';

let agent: TestAgent;
beforeAll(async () => {
  agent = await startTestAgent();
});
afterAll(async () => {
  await agent.close();
});
beforeEach(() => {
  agent.requests.length = 0;
});

const context = (overrides: Partial<StepContext> = {}, secrets: Record<string, string> = {}): StepContext =>
  stepContext(
    {
      stepId: 'draft',
      idempotencyKey: 'run_1:draft:1',
      runInput: { topic: 'otters' },
      dependencyOutputs: { research: { notes: 'they hold hands' } },
      ...overrides,
    },
    secrets,
  );

const input = (overrides: Partial<HttpInput> & { path: string }): HttpInput => {
  const { path, ...rest } = overrides;
  return httpInput.parse({ url: `${agent.url}${path}`, ...rest });
};

/** Runs the executor and returns what it threw (failing the test when it did not throw a StepError). */
const failure = async (run: Promise<unknown>): Promise<StepError> => {
  const error: unknown = await run.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  if (!(error instanceof StepError)) throw new Error(`expected a StepError, got ${String(error)}`);
  return error;
};

describe('http executor', () => {
  it('completes with the agent data, sending the step, its dependencies and the run input', async () => {
    const outcome = await httpExecutor.run(input({ path: '/ok', body: { draft: 'v1' } }), context());

    expect(outcome).toEqual({ status: 'completed', output: { echo: { draft: 'v1' } } });
    expect(agent.requests[0]).toMatchObject({
      method: 'POST',
      body: { runId: 'run_1', stepId: 'draft', attempt: 1, idempotencyKey: 'run_1:draft:1', input: { draft: 'v1' }, dependencies: { research: { notes: 'they hold hands' } }, runInput: { topic: 'otters' } },
    });
  });

  it("sends the execution's idempotency key with the attempt beside it, so the agent recognises a retry", async () => {
    await httpExecutor.run(input({ path: '/ok' }), context({ attempt: 1, idempotencyKey: 'run_1:draft:1' }));
    await httpExecutor.run(input({ path: '/ok' }), context({ attempt: 2, idempotencyKey: 'run_1:draft:1' }));

    expect(agent.keyCounts()).toEqual(new Map([['run_1:draft:1', 2]]));
    expect(agent.requests.map(({ attempt, body }) => [attempt, (body as { attempt: number; idempotencyKey: string })])).toEqual([
      [1, expect.objectContaining({ attempt: 1, idempotencyKey: 'run_1:draft:1' })],
      [2, expect.objectContaining({ attempt: 2, idempotencyKey: 'run_1:draft:1' })],
    ]);
  });

  it('leaves the step pending on 202 Accepted, the callback URLs having gone with the request', async () => {
    const callback = { url: 'https://api.example/v1/callbacks/t', heartbeatUrl: 'https://api.example/v1/callbacks/t/heartbeat' };

    const outcome = await httpExecutor.run(input({ path: '/status/202' }), context({ callback }));

    expect(outcome).toEqual({ status: 'pending' });
    expect(agent.requests[0]?.body).toMatchObject({ callback });
  });

  it('sends the bearer token and custom headers resolved from project secrets, with PUT when asked', async () => {
    const secrets = { 'agent-token': 'sk-secret-123', 'team-key': 'key-456' };
    const headers = { 'x-team': 'blue', 'x-api-key': { $secret: 'team-key' } };

    await httpExecutor.run(input({ path: '/ok', method: 'PUT', bearerToken: { $secret: 'agent-token' }, headers }), context({}, secrets));

    expect(agent.requests[0]).toMatchObject({ method: 'PUT', authorization: 'Bearer sk-secret-123', headers: { 'x-team': 'blue', 'x-api-key': 'key-456' } });
  });

  it('takes a credential only as a secret reference, and says where to store a literal one', () => {
    const literal = httpInput.safeParse({ url: `${agent.url}/ok`, bearerToken: 'sk-literal' });
    const badHeader = httpInput.safeParse({ url: `${agent.url}/ok`, headers: { 'x-api-key': { $secret: 'no spaces allowed' } } });

    expect(literal.success).toBe(false);
    expect(literal.error?.issues[0]).toMatchObject({ path: ['bearerToken'], message: expect.stringContaining('must be a secret reference {"$secret": "<name>"}') });
    expect(literal.error?.issues[0]?.message).toContain('PUT /v1/projects/{projectId}/secrets/{name}');
    expect(badHeader.error?.issues[0]?.path).toEqual(['headers', 'x-api-key', '$secret']);
  });

  it('fails without calling the agent when a referenced secret cannot be resolved', async () => {
    await expect(httpExecutor.run(input({ path: '/ok', bearerToken: { $secret: 'gone' } }), context())).rejects.toThrow('unknown secret gone');

    expect(agent.requests).toHaveLength(0);
  });

  it('maps artifacts from the reply', async () => {
    const outcome = await httpExecutor.run(input({ path: '/artifact' }), context());

    expect(outcome).toMatchObject({
      status: 'completed',
      artifacts: [{ name: 'report.md', contentType: 'text/markdown', body: reportArtifact.content }],
    });
  });

  it('maps usage and decodes base64 artifacts', async () => {
    const reply = {
      ok: true,
      data: { summary: 'done' },
      usage: { tokens: { input: 1200, output: 300 }, costUsd: 0.0123 },
      artifacts: [{ name: 'chart.png', contentType: 'image/png', content: Buffer.from([137, 80, 78, 71]).toString('base64'), encoding: 'base64' }],
    };
    const executor = createHttpExecutor({ fetch: async () => Response.json(reply) });

    const outcome = await executor.run(input({ path: '/ok' }), context());

    expect(outcome).toEqual({
      status: 'completed',
      output: { summary: 'done' },
      usage: { tokens: { input: 1200, output: 300 }, costUsd: 0.0123 },
      artifacts: [{ name: 'chart.png', contentType: 'image/png', body: new Uint8Array([137, 80, 78, 71]) }],
    });
  });

  it('makes a 503 retryable and honours its Retry-After', async () => {
    const error = await failure(httpExecutor.run(input({ path: '/flaky/a503?failures=1&status=503&retryAfter=7' }), context()));

    expect(error.retryable).toBe(true);
    expect(error.details).toMatchObject({ status: 503, retryAfterSeconds: 7 });
    expect(error.message).toContain('503');
  });

  it('succeeds once a flaky agent recovers', async () => {
    await failure(httpExecutor.run(input({ path: '/flaky/recovers?failures=1' }), context()));

    const outcome = await httpExecutor.run(input({ path: '/flaky/recovers?failures=1' }), context({ attempt: 2 }));

    expect(outcome).toEqual({ status: 'completed', output: { attempts: 2 } });
  });

  it('makes a 429 retryable', async () => {
    const error = await failure(httpExecutor.run(input({ path: '/status/429' }), context()));

    expect(error.retryable).toBe(true);
    expect(error.details.status).toBe(429);
  });

  it('fails a 400 for good, with the agent’s own explanation', async () => {
    const error = await failure(httpExecutor.run(input({ path: '/validate', body: { valid: false } }), context()));

    expect(error.retryable).toBe(false);
    expect(error.details.status).toBe(400);
    expect(error.message).toContain('input.valid must be true');
  });

  it('fails for good when the agent refuses with ok:false, keeping its code', async () => {
    const error = await failure(httpExecutor.run(input({ path: '/refuse' }), context()));

    expect(error.retryable).toBe(false);
    expect(error.message).toBe('refused');
    expect(error.details.code).toBe('BAD_INPUT');
  });

  it('refuses a reply that is not the agent JSON contract', async () => {
    const html = createHttpExecutor({ fetch: async () => new Response('<html>hi</html>', { status: 200 }) });
    const shapeless = createHttpExecutor({ fetch: async () => Response.json({ result: 'done' }) });

    const errors = [await failure(html.run(input({ path: '/ok' }), context())), await failure(shapeless.run(input({ path: '/ok' }), context()))];

    for (const error of errors) {
      expect(error.retryable).toBe(false);
      expect(error.message).toMatch(/^agent reply is not the expected JSON/);
    }
  });

  it('refuses an artifact whose name could escape its folder', async () => {
    const reply = { ok: true, artifacts: [{ name: '../../etc/passwd', contentType: 'text/plain', content: 'x' }] };
    const executor = createHttpExecutor({ fetch: async () => Response.json(reply) });

    const error = await failure(executor.run(input({ path: '/ok' }), context()));

    expect(error.retryable).toBe(false);
    expect(error.message).toContain('artifacts.0.name');
  });

  it('accepts a large reply but refuses one beyond the size limit', async () => {
    const limited = createHttpExecutor({ maxReplyBytes: 64 * 1024 });

    const large = await limited.run(input({ path: '/big?bytes=32000' }), context());
    const error = await failure(limited.run(input({ path: '/big?bytes=100000' }), context()));

    expect(large).toMatchObject({ status: 'completed', output: 'x'.repeat(32000) });
    expect(error.retryable).toBe(false);
    expect(error.message).toContain('more than 65536 bytes');
  });

  it('times out within the step deadline, retryably', async () => {
    const started = Date.now();

    const error = await failure(httpExecutor.run(input({ path: '/slow?ms=5000', timeoutSeconds: 30 }), context({ deadlineMs: 200 })));

    expect(error.retryable).toBe(true);
    expect(error.message).toContain('timed out after 0.2s');
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('makes an unreachable agent retryable', async () => {
    const closed = await startTestAgent();
    await closed.close();

    const error = await failure(httpExecutor.run(httpInput.parse({ url: `${closed.url}/ok` }), context()));

    expect(error.retryable).toBe(true);
    expect(error.message).toContain('ECONNREFUSED');
  });

  it('never puts a resolved secret in an error message or the output, even when the agent echoes it', async () => {
    const token = 'sk-very-secret-token';
    const apiKey = 'header-secret-value';
    const secrets = { token, key: apiKey };
    const credentials = { bearerToken: { $secret: 'token' }, headers: { 'x-api-key': { $secret: 'key' } } };
    const echo = (status: number, body: unknown) => createHttpExecutor({ fetch: async () => Response.json(body, { status }) });

    const errors = [
      await failure(httpExecutor.run(input({ path: '/status/401', ...credentials }), context({}, secrets))),
      await failure(httpExecutor.run(input({ path: '/slow?ms=5000', ...credentials }), context({ deadlineMs: 100 }, secrets))),
      await failure(echo(403, { ok: false, error: `token ${token} is not allowed` }).run(input({ path: '/ok', ...credentials }), context({}, secrets))),
      await failure(echo(200, { ok: false, error: `key ${apiKey} is not allowed` }).run(input({ path: '/ok', ...credentials }), context({}, secrets))),
    ];
    const completed = await echo(200, { ok: true, data: { saw: `Bearer ${token}`, headers: [apiKey] } }).run(input({ path: '/ok', ...credentials }), context({}, secrets));

    for (const error of errors) expect(`${error.message} ${JSON.stringify(error.details)}`).not.toMatch(/sk-very-secret-token|header-secret-value/);
    expect(errors[2]?.message).toContain('[redacted]');
    expect(errors[3]?.message).toContain('[redacted]');
    expect(completed).toEqual({ status: 'completed', output: { saw: 'Bearer [redacted]', headers: ['[redacted]'] } });
  });
});

describe('http executor SSRF guard', () => {
  const publicOnly = context({ allowPrivateTargets: false });

  it.each(['http://127.0.0.1:9/ok', 'http://169.254.169.254/latest/meta-data/', 'http://[::1]/ok', 'http://10.1.2.3/ok'])(
    'refuses %s when private targets are not allowed',
    async (url) => {
      const error = await failure(httpExecutor.run(httpInput.parse({ url }), publicOnly));

      expect(error.retryable).toBe(false);
      expect(error.message).toMatch(/^refusing to call /);
      expect(error.message).toContain(new URL(url).hostname.replace(/[[\]]/g, ''));
    },
  );

  it('refuses a name that resolves to a private address at connect time, naming the host and the address', async () => {
    const executor = createHttpExecutor({ resolveHost: async () => [{ address: '192.168.1.20', family: 4 }] });

    const error = await failure(executor.run(httpInput.parse({ url: 'https://agent.internal.example/run' }), publicOnly));

    expect(error).toMatchObject({ retryable: false, details: { code: 'TARGET_NOT_ALLOWED', url: 'https://agent.internal.example/run' } });
    expect(error.message).toContain('agent.internal.example');
    expect(error.message).toContain('192.168.1.20');
    expect(agent.requests).toHaveLength(0);
  });

  it('checks the answer the socket uses: a rebinding DNS that says public first and loopback on the connect is refused', async () => {
    const answers = ['93.184.215.14', '127.0.0.1'];
    const lookups: string[] = [];
    const rebinding = async (hostname: string) => {
      lookups.push(hostname);
      return [{ address: answers.shift() ?? '127.0.0.1', family: 4 }];
    };
    // What a check-then-fetch guard would have seen (and passed): the public first answer.
    const checked = await rebinding('rebind.example');
    lookups.length = 0;
    const executor = createHttpExecutor({ resolveHost: rebinding });

    const error = await failure(executor.run(httpInput.parse({ url: `http://rebind.example:${new URL(agent.url).port}/ok` }), publicOnly));

    expect(checked[0]?.address).toBe('93.184.215.14');
    expect(error.details.code).toBe('TARGET_NOT_ALLOWED');
    expect(error.message).toContain('refusing to call rebind.example (resolves to 127.0.0.1): loopback');
    // One lookup, made by the connection itself: nothing else could have been asked.
    expect(lookups).toEqual(['rebind.example']);
    expect(agent.requests).toHaveLength(0);
  });

  it('connects to a private range the project allows, through the checked address only', async () => {
    const executor = createHttpExecutor({ resolveHost: async () => [{ address: '127.0.0.1', family: 4 }] });
    // The name exists nowhere but in the injected lookup: reaching the agent proves the socket used its answer.
    const url = `http://agent.vpc.internal:${new URL(agent.url).port}/ok`;

    const allowed = await executor.run(httpInput.parse({ url, body: { via: 'vpc' } }), context({ allowPrivateTargets: false, projectSettings: { ...defaultProjectSettings, allowPrivateAgents: ['10.0.0.0/8', '127.0.0.0/8'] } }));
    const broad = await failure(executor.run(httpInput.parse({ url }), context({ allowPrivateTargets: false, projectSettings: { ...defaultProjectSettings, allowPrivateAgents: ['0.0.0.0/0'] } })));

    expect(allowed).toEqual({ status: 'completed', output: { echo: { via: 'vpc' } } });
    expect(agent.requests).toHaveLength(1);
    // Loopback opens only for a CIDR inside it, never for a broad one that happens to cover it.
    expect(broad.details.code).toBe('TARGET_NOT_ALLOWED');
  });

  it.each([
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:169.254.169.254', 'link-local'],
    ['::ffff:10.1.2.3', 'private'],
  ])('refuses the IPv4-mapped IPv6 address %s as %s, resolved or literal', async (address, kind) => {
    const executor = createHttpExecutor({ resolveHost: async () => [{ address, family: 6 }] });

    const resolved = await failure(executor.run(httpInput.parse({ url: 'https://mapped.example/run' }), publicOnly));
    const literal = await failure(executor.run(httpInput.parse({ url: `http://[${address}]/run` }), publicOnly));

    expect(resolved.message).toContain(`(resolves to ${address}): ${kind}`);
    expect(literal.details.code).toBe('TARGET_NOT_ALLOWED');
    expect(literal.message).toContain(kind);
  });

  it('makes a failed lookup retryable', async () => {
    const executor = createHttpExecutor({ resolveHost: async () => Promise.reject(Object.assign(new Error('getaddrinfo EAI_AGAIN'), { code: 'EAI_AGAIN' })) });

    const error = await failure(executor.run(httpInput.parse({ url: 'https://flaky-dns.example/run' }), publicOnly));

    expect(error.retryable).toBe(true);
    expect(error.message).toContain('could not resolve agent host flaky-dns.example: EAI_AGAIN');
  });

  it('classifies address ranges', () => {
    expect(nonPublicAddressKind('127.0.0.1')).toBe('loopback');
    expect(nonPublicAddressKind('::ffff:127.0.0.1')).toBe('loopback');
    expect(nonPublicAddressKind('172.31.255.255')).toBe('private');
    expect(nonPublicAddressKind('fd12::1')).toBe('private');
    expect(nonPublicAddressKind('fe80::1')).toBe('link-local');
    expect(nonPublicAddressKind('100.100.0.1')).toBe('carrier-grade NAT');
    expect(nonPublicAddressKind('0.0.0.0')).toBe('unspecified');
    expect(nonPublicAddressKind('172.32.0.1')).toBeUndefined();
    expect(nonPublicAddressKind('2606:4700::1111')).toBeUndefined();
  });
});

describe('http executor input', () => {
  it.each([
    [{ url: 'ftp://agent.example.com' }, 'url'],
    [{ url: 'https://user:pw@agent.example.com' }, 'url'],
    [{ url: 'https://agent.example.com', headers: { Authorization: 'Bearer x' } }, 'headers.Authorization'],
    [{ url: 'https://agent.example.com', headers: { 'X-Idempotency-Key': 'k' } }, 'headers.X-Idempotency-Key'],
    [{ url: 'https://agent.example.com', headers: { 'x-baton-attempt': '1' } }, 'headers.x-baton-attempt'],
    [{ url: 'https://agent.example.com', timeoutSeconds: 901 }, 'timeoutSeconds'],
    [{ url: 'https://agent.example.com', method: 'GET' }, 'method'],
  ])('refuses %j at %s', (value, path) => {
    const result = httpInput.safeParse(value);

    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.path.join('.')).toBe(path);
  });

  it('defaults to POST', () => {
    expect(httpInput.parse({ url: 'https://agent.example.com' }).method).toBe('POST');
  });
});
