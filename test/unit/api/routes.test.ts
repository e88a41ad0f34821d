import { describe, expect, it } from 'vitest';
import type { QueueAdmin } from '#shared/clients/queue-admin';
import { createApiHandler } from '#functions/api/routes';
import type { ApiDeps } from '#functions/api/routes/deps';
import type { ArtifactStore } from '#shared/store/artifacts';
import type { RunStore } from '#shared/store/runs';
import type { WorkflowStore } from '#shared/store/workflows';
import type { WebhookSecretStore } from '#shared/store/webhook-secrets';
import type { ProjectSecretStore } from '#shared/store/project-secrets';
import type { Schedules } from '#shared/store/schedules';
import type { Triggers } from '#shared/store/triggers';
import { RateLimitedError } from '#shared/domain/errors';
import { createAuthenticator } from '#shared/middleware/principal';
import type { RateLimiter } from '#shared/store/rate-limiter';
import { httpEvent, lambdaContext } from '../../fixtures/lambda';
import { fakeOutbox, fakeProjectStore, silentLogger } from '../../helpers/fakes';
import { createMemoryFeedbackStore } from '#shared/store/memory-feedback-store';
import { createMemoryProjectCounterStore } from '#shared/store/memory-project-counters';

const installation = 'installation-token-for-unit-tests-0123456789';

/** An in-memory stand-in for the DynamoDB bucket: the same GCRA arithmetic on a Map. */
function memoryRateLimiter(now: () => number): RateLimiter {
  const tats = new Map<string, number>();
  return {
    async take(key, { perSecond, burst }) {
      const at = now();
      const interval = 1000 / perSecond;
      const tat = Math.max(tats.get(key) ?? 0, at);
      if (tat + interval - at > burst * interval) throw new RateLimitedError(Math.max(1, Math.ceil((tat + interval - burst * interval - at) / 1000)));
      tats.set(key, tat + interval);
    },
  };
}

const redriven: string[] = [];
const fakeQueues: QueueAdmin = {
  list: async () => [{ name: 'steps-parked', purpose: 'parked', deadLetter: true, visible: 1, inFlight: 0, delayed: 0, oldestAgeSeconds: 12, peekable: true, redriveTo: 'steps' }],
  peek: async (name, limit) => Array.from({ length: Math.min(limit, 1) }, () => ({ messageId: 'm1', sentAt: '2026-11-30T20:00:00.000Z', receiveCount: 2, runId: 'run_1', stepId: 'a', attempt: 5, error: { code: 'DEAD_LETTERED', message: `dead in ${name}` } })),
  redrive: async (name) => {
    redriven.push(name);
    return { name, destination: 'steps', method: 'message-move-task', taskHandle: 'task-1' };
  },
};

function buildApi({ rateLimited = false }: { rateLimited?: boolean } = {}) {
  const projects = fakeProjectStore();
  const outbox = fakeOutbox();
  const handler = createApiHandler(
    {
      stage: 'test',
      projects,
      outbox,
      // The project routes under test never reach the engine or the workflow store.
      engine: {} as ApiDeps['engine'],
      runs: {} as RunStore,
      artifacts: {} as ArtifactStore,
      feedback: createMemoryFeedbackStore().store,
      runUsage: async () => undefined,
      projectCounters: createMemoryProjectCounterStore(),
      workflows: {} as WorkflowStore,
      webhookSecrets: {} as WebhookSecretStore,
      secrets: {} as ProjectSecretStore,
      schedules: {} as Schedules,
      triggers: {} as Triggers,
      queues: fakeQueues,
      authenticate: createAuthenticator({ installationToken: async () => installation, findActiveToken: (token) => projects.findActiveToken(token) }),
      defaultRateLimit: { perSecond: 100, burst: 100 },
      ...(rateLimited ? { rateLimiter: memoryRateLimiter(() => 1_000_000) } : {}),
      checkResponses: true,
    },
    { logger: silentLogger(), corsOrigins: ['*'] },
  );
  const call = async (...args: Parameters<typeof httpEvent>) => {
    const result = await handler(httpEvent(...args), lambdaContext());
    return { ...result, json: JSON.parse(result.body ?? 'null') as ResponseBody };
  };
  return { call, projects, outbox };
}

interface ResponseBody {
  id: string;
  adminToken: { token: string };
  error?: { code: string; field?: string };
  [key: string]: unknown;
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe('queue routes', () => {
  it('lists, peeks and redrives for the installation admin; 404 for an unknown queue, 409 where a peek or redrive is refused', async () => {
    const { call } = buildApi();

    const listed = await call('GET', '/v1/queues', { headers: bearer(installation) });
    const peeked = await call('GET', '/v1/queues/steps-parked/messages', { headers: bearer(installation), query: { limit: '3' } });
    const unknown = await call('GET', '/v1/queues/nope/messages', { headers: bearer(installation) });
    const consumed = await call('GET', '/v1/queues/steps/messages', { headers: bearer(installation) });
    const notRedrivable = await call('POST', '/v1/queues/reactions-dlq/redrive', { headers: bearer(installation) });
    const badLimit = await call('GET', '/v1/queues/steps-parked/messages', { headers: bearer(installation), query: { limit: '11' } });
    const redrive = await call('POST', '/v1/queues/steps-parked/redrive', { headers: bearer(installation) });

    expect(listed.statusCode).toBe(200);
    expect(listed.json.items).toEqual([expect.objectContaining({ name: 'steps-parked', visible: 1, redriveTo: 'steps' })]);
    expect(peeked.statusCode).toBe(200);
    expect(peeked.json).toMatchObject({ name: 'steps-parked', peek: expect.stringMatching(/made visible again/), messages: [{ runId: 'run_1', stepId: 'a', attempt: 5, error: { code: 'DEAD_LETTERED' } }] });
    expect(unknown.statusCode).toBe(404);
    expect(consumed.statusCode).toBe(409);
    expect(consumed.json.error?.code).toBe('conflict');
    expect(notRedrivable.statusCode).toBe(409);
    expect(badLimit.json.error).toMatchObject({ code: 'validation_error', field: 'query.limit' });
    expect(redrive.statusCode).toBe(202);
    expect(redrive.json).toMatchObject({ name: 'steps-parked', destination: 'steps', method: 'message-move-task' });
    expect(redriven).toEqual(['steps-parked']);
  });

  it("refuses a project admin's token with 403 on every queue route", async () => {
    const { call } = buildApi();
    const project = (await call('POST', '/v1/projects', { headers: bearer(installation), body: { name: 'q' } })).json;

    for (const [method, path] of [['GET', '/v1/queues'], ['GET', '/v1/queues/steps-parked/messages'], ['POST', '/v1/queues/steps-parked/redrive']] as const) {
      const response = await call(method, path, { headers: bearer(project.adminToken.token) });
      expect(response.statusCode, path).toBe(403);
    }
  });
});

describe('API routes', () => {
  it('answers /health without a token', async () => {
    const { call } = buildApi();

    const response = await call('GET', '/health');

    expect(response.statusCode).toBe(200);
    expect(response.json).toEqual({ status: 'ok', stage: 'test' });
    expect(response.headers?.['x-request-id']).toBe('req-1');
  });

  it('creates a project with the installation token and publishes its event', async () => {
    const { call, projects, outbox } = buildApi();

    const response = await call('POST', '/v1/projects', { headers: bearer(installation), body: { name: 'alpha' } });

    expect(response.statusCode).toBe(201);
    expect(response.json).toMatchObject({ name: 'alpha', adminToken: { role: 'admin', token: expect.stringMatching(/^btn_/) } });
    expect(projects.projects.size).toBe(1);
    expect(outbox.published).toEqual(['project.created']);
  });

  it('refuses an invalid body with 400 naming the field, and stores nothing', async () => {
    const { call, projects } = buildApi();

    const response = await call('POST', '/v1/projects', { headers: bearer(installation), body: { name: 42 } });

    expect(response.statusCode).toBe(400);
    expect(response.json).toMatchObject({ error: { code: 'validation_error', field: 'body.name', requestId: 'req-1' } });
    expect(projects.projects.size).toBe(0);
  });

  it('hides other projects behind 404 and refuses project tokens on installation routes', async () => {
    const { call } = buildApi();
    const a = (await call('POST', '/v1/projects', { headers: bearer(installation), body: { name: 'a' } })).json;
    const b = (await call('POST', '/v1/projects', { headers: bearer(installation), body: { name: 'b' } })).json;

    const other = await call('GET', `/v1/projects/${b.id}`, { headers: bearer(a.adminToken.token) });
    const create = await call('POST', '/v1/projects', { headers: bearer(a.adminToken.token), body: { name: 'c' } });

    expect(other.statusCode).toBe(404);
    expect(create.statusCode).toBe(403);
  });

  it('refuses a malformed project id with 400 naming the path parameter', async () => {
    const { call } = buildApi();

    const response = await call('GET', '/v1/projects/not-an-id', { headers: bearer(installation) });

    expect(response.statusCode).toBe(400);
    expect(response.json).toMatchObject({ error: { field: 'path.projectId' } });
  });

  it('changes project settings for an admin only, refusing unknown settings; an empty patch changes nothing', async () => {
    const { call } = buildApi();
    const project = (await call('POST', '/v1/projects', { headers: bearer(installation), body: { name: 'ci' } })).json;
    const admin = bearer(project.adminToken.token);

    const changed = await call('PATCH', `/v1/projects/${project.id}/settings`, { headers: admin, body: { autoQaOnCi: true } });
    const unknown = await call('PATCH', `/v1/projects/${project.id}/settings`, { headers: admin, body: { autoQa: true } });
    const empty = await call('PATCH', `/v1/projects/${project.id}/settings`, { headers: admin, body: {} });
    const wrongType = await call('PATCH', `/v1/projects/${project.id}/settings`, { headers: admin, body: { completeRunOnMerge: 'yes' } });
    const read = await call('GET', `/v1/projects/${project.id}`, { headers: admin });

    expect(changed.statusCode).toBe(200);
    expect(changed.json).toEqual({ autoQaOnCi: true, completeRunOnMerge: false, llmPrices: {}, allowPrivateAgents: [], publishStepEvents: false, budgets: {}, limits: {} });
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json).toMatchObject({ error: { code: 'validation_error', field: 'body' } });
    expect(empty.statusCode).toBe(200);
    expect(empty.json).toEqual({ autoQaOnCi: true, completeRunOnMerge: false, llmPrices: {}, allowPrivateAgents: [], publishStepEvents: false, budgets: {}, limits: {} });
    expect(wrongType.json).toMatchObject({ error: { field: 'body.completeRunOnMerge' } });
    expect(read.json).toMatchObject({ settings: { autoQaOnCi: true, completeRunOnMerge: false } });
  });

  it('sets a project\'s own LLM prices (the patch replaces the table), refusing a bad price by its field', async () => {
    const { call } = buildApi();
    const project = (await call('POST', '/v1/projects', { headers: bearer(installation), body: { name: 'prices' } })).json;
    const admin = bearer(project.adminToken.token);
    const prices = { 'gpt-4o-mini': { inputPerMillion: 1000, outputPerMillion: 2000 } };

    const set = await call('PATCH', `/v1/projects/${project.id}/settings`, { headers: admin, body: { llmPrices: prices } });
    const negative = await call('PATCH', `/v1/projects/${project.id}/settings`, { headers: admin, body: { llmPrices: { m: { inputPerMillion: -1, outputPerMillion: 0 } } } });
    const cleared = await call('PATCH', `/v1/projects/${project.id}/settings`, { headers: admin, body: { llmPrices: {} } });

    expect(set.json).toEqual({ autoQaOnCi: false, completeRunOnMerge: false, llmPrices: prices, allowPrivateAgents: [], publishStepEvents: false, budgets: {}, limits: {} });
    expect(negative.statusCode).toBe(400);
    expect(negative.json).toMatchObject({ error: { field: 'body.llmPrices.m.inputPerMillion' } });
    expect(cleared.json).toMatchObject({ llmPrices: {} });
  });

  it('lets an admin (only) allow private agent ranges, as valid CIDRs', async () => {
    const { call } = buildApi();
    const project = (await call('POST', '/v1/projects', { headers: bearer(installation), body: { name: 'vpc' } })).json;
    const admin = bearer(project.adminToken.token);
    const editor = bearer((await call('POST', `/v1/projects/${project.id}/tokens`, { headers: admin, body: { name: 'dev', role: 'editor' } })).json.token as string);

    const allowed = await call('PATCH', `/v1/projects/${project.id}/settings`, { headers: admin, body: { allowPrivateAgents: ['10.0.0.0/8', 'fd00::/8'] } });
    const notCidr = await call('PATCH', `/v1/projects/${project.id}/settings`, { headers: admin, body: { allowPrivateAgents: ['10.0.0.0/8', '10.0.0.0'] } });
    const byEditor = await call('PATCH', `/v1/projects/${project.id}/settings`, { headers: editor, body: { allowPrivateAgents: ['0.0.0.0/0'] } });
    const read = await call('GET', `/v1/projects/${project.id}`, { headers: admin });

    expect(allowed.statusCode).toBe(200);
    expect(allowed.json).toMatchObject({ allowPrivateAgents: ['10.0.0.0/8', 'fd00::/8'] });
    expect(notCidr.statusCode).toBe(400);
    expect(notCidr.json).toMatchObject({ error: { field: 'body.allowPrivateAgents.1', message: expect.stringContaining('CIDR') } });
    expect(byEditor.statusCode).toBe(403);
    expect(read.json).toMatchObject({ settings: { allowPrivateAgents: ['10.0.0.0/8', 'fd00::/8'] } });
  });

  it('creates, lists and revokes tokens; a revoked token is refused at once; the secret is shown only once', async () => {
    const { call } = buildApi();
    const project = (await call('POST', '/v1/projects', { headers: bearer(installation), body: { name: 'tokens' } })).json;
    const admin = bearer(project.adminToken.token);

    const created = await call('POST', `/v1/projects/${project.id}/tokens`, { headers: admin, body: { name: 'ci bot', role: 'editor', rateLimit: { perSecond: 2, burst: 5 } } });
    const botToken = created.json.token as string;
    const whoBefore = await call('GET', '/v1/whoami', { headers: bearer(botToken) });
    const listed = await call('GET', `/v1/projects/${project.id}/tokens`, { headers: admin });
    const revoked = await call('DELETE', `/v1/projects/${project.id}/tokens/${created.json.id}`, { headers: admin });
    const whoAfter = await call('GET', '/v1/whoami', { headers: bearer(botToken) });

    expect(created.statusCode).toBe(201);
    expect(created.json).toMatchObject({ name: 'ci bot', role: 'editor', rateLimit: { perSecond: 2, burst: 5 }, token: expect.stringMatching(/^btn_/) });
    expect(whoBefore.json).toMatchObject({ kind: 'project', role: 'editor' });
    expect(listed.statusCode).toBe(200);
    expect(JSON.stringify(listed.json)).not.toContain(botToken);
    expect((listed.json.items as { name: string }[]).map((token) => token.name)).toEqual(['initial admin token', 'ci bot']);
    expect(revoked.json).toMatchObject({ id: created.json.id, revokedAt: expect.any(String) });
    expect(whoAfter.statusCode).toBe(401);
  });

  it('lets only admins manage tokens, and refuses a bad role or an unknown field naming it', async () => {
    const { call } = buildApi();
    const project = (await call('POST', '/v1/projects', { headers: bearer(installation), body: { name: 'roles' } })).json;
    const admin = bearer(project.adminToken.token);
    const editor = (await call('POST', `/v1/projects/${project.id}/tokens`, { headers: admin, body: { name: 'e', role: 'editor' } })).json.token as string;

    const byEditor = await call('POST', `/v1/projects/${project.id}/tokens`, { headers: bearer(editor), body: { name: 'x', role: 'viewer' } });
    const listByEditor = await call('GET', `/v1/projects/${project.id}/tokens`, { headers: bearer(editor) });
    const badRole = await call('POST', `/v1/projects/${project.id}/tokens`, { headers: admin, body: { name: 'x', role: 'owner' } });
    const extra = await call('POST', `/v1/projects/${project.id}/tokens`, { headers: admin, body: { name: 'x', role: 'viewer', scopes: [] } });

    expect(byEditor.statusCode).toBe(403);
    expect(listByEditor.statusCode).toBe(403);
    expect(badRole.json).toMatchObject({ error: { code: 'validation_error', field: 'body.role' } });
    expect(extra.json).toMatchObject({ error: { code: 'validation_error', field: 'body' } });
  });

  it('refuses a body over the size limit with 413, and a body where none is taken with 400', async () => {
    const { call } = buildApi();

    const large = await call('POST', '/v1/projects', { headers: bearer(installation), body: { name: 'x'.repeat(4 * 1024 * 1024 + 1) } });
    const bodyOnGet = await call('GET', '/v1/whoami', { headers: bearer(installation), body: { surprise: true } });

    expect(large.statusCode).toBe(413);
    expect(large.json).toMatchObject({ error: { code: 'payload_too_large', field: 'body' } });
    expect(bodyOnGet.statusCode).toBe(400);
  });

  it('answers 429 with Retry-After once a token has used its burst', async () => {
    const { call, projects } = buildApi({ rateLimited: true });
    const project = (await call('POST', '/v1/projects', { headers: bearer(installation), body: { name: 'rate' } })).json;
    const slow = await projects.createToken({ projectId: project.id, name: 'slow', role: 'viewer', rateLimit: { perSecond: 1, burst: 2 }, actor: 'test' });

    const statuses = [];
    let limited;
    for (let index = 0; index < 4; index += 1) {
      const response = await call('GET', '/v1/whoami', { headers: bearer(slow.token) });
      statuses.push(response.statusCode);
      if (response.statusCode === 429) limited = response;
    }

    expect(statuses.slice(0, 2)).toEqual([200, 200]);
    expect(statuses).toContain(429);
    expect(limited?.headers?.['retry-after']).toMatch(/^[1-9]\d*$/);
    expect(limited?.json).toMatchObject({ error: { code: 'rate_limited' } });
  });

  it('answers 405 with Allow for a known path and another method, 404 for an unknown path', async () => {
    const { call } = buildApi();

    const wrongMethod = await call('PUT', '/v1/projects', { headers: bearer(installation), body: {} });
    const unknown = await call('GET', '/v1/nothing-here', { headers: bearer(installation) });

    expect(wrongMethod.statusCode).toBe(405);
    expect(wrongMethod.headers?.allow).toBe('POST, GET');
    expect(wrongMethod.json).toMatchObject({ error: { code: 'method_not_allowed' } });
    expect(unknown.statusCode).toBe(404);
  });

  it('prefers the most specific path: GET on /workflows/import is a 405, not a lookup of workflow "import"', async () => {
    const { call } = buildApi();
    const project = (await call('POST', '/v1/projects', { headers: bearer(installation), body: { name: 'paths' } })).json;

    const response = await call('GET', `/v1/projects/${project.id}/workflows/import`, { headers: bearer(project.adminToken.token) });

    expect(response.statusCode).toBe(405);
    expect(response.headers?.allow).toBe('POST');
  });

  it('turns an unexpected failure into a bare 500 that leaks nothing', async () => {
    const { call, projects } = buildApi();
    projects.get = async () => { throw new Error('secret internal detail'); };
    const created = (await call('POST', '/v1/projects', { headers: bearer(installation), body: { name: 'x' } })).json;

    const response = await call('GET', `/v1/projects/${created.id}`, { headers: bearer(installation) });

    expect(response.statusCode).toBe(500);
    expect(response.json).toEqual({ error: { code: 'internal_error', message: 'Internal error', requestId: 'req-1' } });
  });
});
