import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { agentFunctionName, createAgentFunction, type AgentFunction } from '../helpers/agent-functions';
import { engineClient, type RunEvent } from '../helpers/engine';
import { eventually } from '../helpers/poll';
import { resetData } from '../helpers/reset';
import { stack } from '../helpers/stack';

/**
 * A long-running agent on loopback: it answers 202 (pending) and keeps the callback URLs it was
 * given; a lambda agent posts its URLs here too. Tests then play the agent finishing later.
 */
interface Received {
  path: string;
  body: { runId: string; stepId: string; attempt: number; callback?: { url: string; heartbeatUrl: string } };
}
let server: Server;
let agentUrl: string;
const received: Received[] = [];

beforeAll(async () => {
  server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      received.push({ path: request.url ?? '/', body: JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Received['body'] });
      response.writeHead(request.url === '/accept' ? 202 : 200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ ok: true, pending: true }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  agentUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});
beforeEach(async () => {
  received.length = 0;
  await resetData();
});

/** The callback URLs the agent received for a step's attempt (waits for the request to arrive). */
const callbackOf = (stepId: string, attempt: number) =>
  eventually(`the agent to receive the callback URLs of ${stepId} attempt ${attempt}`, async () => {
    const request = received.find(({ body }) => body.stepId === stepId && body.attempt === attempt && body.callback);
    return request?.body.callback;
  }, { timeoutMs: 60_000 });

/**
 * Posts to a callback URL as the agent that was handed it does. Raw fetch: agents hold a URL,
 * not an SDK client, and some tests send what the SDK's types refuse (a malformed token, `ok: "yes"`).
 */
const post = async (url: string, body?: unknown) => {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body ?? {}) });
  return { status: response.status, body: (await response.json()) as { error: { code: string; message: string; field?: string } } & Record<string, unknown> };
};

const at = (events: RunEvent[], type: string, stepId: string) => Date.parse(events.find((event) => event.type === type && event.stepId === stepId)!.at);

describe('callbacks for long agent work on the deployed stack', () => {
  it('keeps an http step waiting through heartbeats longer than the worker timeout, then completes it from the callback (once)', async () => {
    const client = await engineClient();
    const workflowId = await client.workflow({
      name: 'long-review',
      steps: [
        { id: 'review', kind: 'http', input: { url: `${agentUrl}/accept` }, heartbeatSeconds: 8, callbackTimeoutSeconds: 600 },
        { id: 'publish', kind: 'noop', dependsOn: ['review'] },
      ],
    });

    const { id } = await client.run(workflowId);
    const callback = await callbackOf('review', 1);
    const waiting = await client.waitForStep(id, 'review', ['running']);
    // Heartbeat for ~30 s: longer than the worker's own timeout (20 s locally), well past heartbeatSeconds.
    const started = Date.now();
    const beats: number[] = [];
    while (Date.now() - started < 30_000) {
      const beat = await post(callback.heartbeatUrl);
      beats.push(beat.status);
      expect(beat.body).toMatchObject({ outcome: 'extended', step: { runId: id, stepId: 'review', status: 'running', attempt: 1 } });
      await new Promise((resolve) => setTimeout(resolve, 3_000));
    }
    const stillWaiting = await client.step(id, 'review');
    const done = await post(callback.url, { ok: true, data: { verdict: 'ship it' }, usage: { tokens: { input: 9, output: 3 } } });
    const run = await client.waitFor(id, ['completed', 'blocked']);
    const again = await post(callback.url, { ok: true, data: { verdict: 'changed my mind' } });
    const lateBeat = await post(callback.heartbeatUrl);
    const events = await client.events(id);

    expect(callback.url).toMatch(/\/v1\/callbacks\/[A-Za-z0-9_-]{43}$/);
    expect(callback.heartbeatUrl).toBe(`${callback.url}/heartbeat`);
    expect(waiting.attempt).toBe(1);
    expect(beats.every((status) => status === 200)).toBe(true);
    expect(stillWaiting).toMatchObject({ status: 'running', attempt: 1 });
    expect(done).toMatchObject({ status: 200, body: { outcome: 'completed', step: { status: 'completed', attempt: 1 } } });
    expect(run.status).toBe('completed');
    expect((await client.step(id, 'review')).output).toEqual({ verdict: 'ship it' });
    expect((await client.step(id, 'publish')).status).toBe('completed');
    expect(run.usage.agentUsage).toMatchObject({ tokens: { input: 9, output: 3 } });
    // A repeated callback (and a heartbeat after the end) changes nothing and says so.
    expect(again).toMatchObject({ status: 409, body: { error: { code: 'callback_closed' }, step: { status: 'completed', attempt: 1, tokenAttempt: 1 } } });
    expect(lateBeat.status).toBe(409);
    expect((await client.step(id, 'review')).output).toEqual({ verdict: 'ship it' });
    expect(events.filter((event) => event.type === 'step.completed' && event.stepId === 'review')).toHaveLength(1);
    expect(events.filter((event) => event.stepId === 'review').map((event) => event.type)).toEqual(['step.queued', 'step.started', 'step.pending', 'step.completed']);
    // The worker held a Lambda only until the agent's 202; the wait itself held none.
    const heldMs = at(events, 'step.pending', 'review') - at(events, 'step.started', 'review');
    const waitedMs = at(events, 'step.completed', 'review') - at(events, 'step.pending', 'review');
    console.info(`callback step: Lambda held ${heldMs} ms (start → pending), then waited ${waitedMs} ms holding none`);
    expect(waitedMs).toBeGreaterThan(20_000);
  }, 120_000);

  it('retries an attempt whose agent stops heartbeating: a new token, the old one answering 409', async () => {
    const client = await engineClient();
    const workflowId = await client.workflow({
      name: 'silent-agent',
      steps: [{ id: 'work', kind: 'http', input: { url: `${agentUrl}/accept` }, heartbeatSeconds: 3, retry: { maxAttempts: 2, backoffBaseSeconds: 1, backoffCapSeconds: 1, jitter: 'none' } }],
    });

    const { id } = await client.run(workflowId);
    const first = await callbackOf('work', 1);
    const second = await callbackOf('work', 2);
    const late = await post(first.url, { ok: true, data: { from: 'attempt 1' } });
    const finished = await post(second.url, { ok: true, data: { from: 'attempt 2' } });
    const run = await client.waitFor(id, ['completed', 'blocked']);
    const retrying = (await client.events(id)).find((event) => event.type === 'step.retrying');

    expect(second.url).not.toBe(first.url);
    expect(retrying?.detail).toMatchObject({ attempt: 1, code: 'HEARTBEAT_TIMEOUT' });
    expect(late).toMatchObject({ status: 409, body: { step: { attempt: 2, tokenAttempt: 1 } } });
    expect(late.body.error.message).toContain('attempt 2');
    expect(finished).toMatchObject({ status: 200, body: { outcome: 'completed' } });
    expect(run.status).toBe('completed');
    expect((await client.step(id, 'work')).output).toEqual({ from: 'attempt 2' });
  }, 120_000);

  it('fails or retries the step like a reply when the callback says ok: false', async () => {
    const client = await engineClient();
    const workflowId = await client.workflow({ name: 'refused-later', steps: [{ id: 'work', kind: 'http', input: { url: `${agentUrl}/accept` }, retry: { maxAttempts: 1 } }] });

    const { id } = await client.run(workflowId);
    const callback = await callbackOf('work', 1);
    await client.waitForStep(id, 'work', ['running']);
    const answer = await post(callback.url, { ok: false, error: 'the repository is archived', code: 'ARCHIVED' });
    const run = await client.waitFor(id, ['blocked', 'completed']);

    expect(answer).toMatchObject({ status: 200, body: { outcome: 'failed', step: { status: 'failed' } } });
    expect(run.status).toBe('blocked');
    expect((await client.step(id, 'work')).error).toMatchObject({ code: 'ARCHIVED', message: 'the repository is archived', retryable: false });
  }, 60_000);

  it('answers 404 to an unknown or malformed token and 400 to a body that is not an agent reply, without a bearer token', async () => {
    const unknown = await post(`${stack.apiUrl}/v1/callbacks/${'A'.repeat(43)}`, { ok: true });
    const malformed = await post(`${stack.apiUrl}/v1/callbacks/not-a-token/heartbeat`);
    const badBody = await post(`${stack.apiUrl}/v1/callbacks/${'A'.repeat(43)}`, { ok: 'yes' });

    expect(unknown).toMatchObject({ status: 404, body: { error: { code: 'not_found' } } });
    expect(malformed.status).toBe(404);
    expect(badBody).toMatchObject({ status: 400, body: { error: { field: 'body.ok' } } });
  });

  describe('with a lambda agent', () => {
    let agent: AgentFunction;
    beforeAll(async () => {
      // Accepts the work, hands its callback URLs to "its backend" (the test's server), answers pending.
      agent = await createAgentFunction(
        agentFunctionName('pending'),
        `exports.handler = async (event) => {
          await fetch(event.input.backend, { method: 'POST', headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ runId: event.runId, stepId: event.stepId, attempt: event.attempt, callback: event.callback }) });
          return { ok: true, pending: true };
        };`,
      );
    }, 120_000);
    afterAll(async () => {
      await agent?.remove();
    });

    it('answers pending and completes the run through its callback', async () => {
      const client = await engineClient();
      const workflowId = await client.workflow({
        name: 'lambda-pending',
        steps: [
          { id: 'summarise', kind: 'lambda', input: { function: agent.name, payload: { backend: `${agentUrl}/backend` } }, callbackTimeoutSeconds: 300 },
          { id: 'after', kind: 'noop', dependsOn: ['summarise'] },
        ],
      });

      const { id } = await client.run(workflowId);
      const callback = await callbackOf('summarise', 1);
      const pending = await eventually('the step to record pending', async () => ((await client.events(id)).some((event) => event.type === 'step.pending') ? true : undefined));
      const done = await post(callback.url, { ok: true, data: { summary: 'short' } });
      const run = await client.waitFor(id, ['completed', 'blocked']);

      expect(pending).toBe(true);
      expect(done).toMatchObject({ status: 200, body: { outcome: 'completed' } });
      expect(run.status).toBe('completed');
      expect((await client.step(id, 'summarise')).output).toEqual({ summary: 'short' });
      expect((await client.step(id, 'after')).status).toBe('completed');
    }, 90_000);
  });
});
