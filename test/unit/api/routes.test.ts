import { describe, expect, it } from 'vitest';
import { createApiHandler } from '#functions/api/routes';
import type { EngineDeps } from '#shared/engine/context';
import type { WorkflowStore } from '#shared/store/workflows';
import type { WebhookSecretStore } from '#shared/store/webhook-secrets';
import type { Schedules } from '#shared/engine/schedules';
import { createAuthenticator } from '#shared/middleware/principal';
import { httpEvent, lambdaContext } from '../../fixtures/lambda';
import { fakeOutbox, fakeProjectStore, silentLogger } from '../../helpers/fakes';

const installation = 'installation-token-for-unit-tests-0123456789';

function buildApi() {
  const projects = fakeProjectStore();
  const outbox = fakeOutbox();
  const handler = createApiHandler(
    {
      stage: 'test',
      projects,
      outbox,
      // The project routes under test never reach the engine or the workflow store.
      engine: {} as EngineDeps,
      workflows: {} as WorkflowStore,
      webhookSecrets: {} as WebhookSecretStore,
      schedules: {} as Schedules,
      authenticate: createAuthenticator({ installationToken: async () => installation, findActiveToken: (token) => projects.findActiveToken(token) }),
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

  it('changes project settings for an admin only, refusing unknown or empty settings', async () => {
    const { call } = buildApi();
    const project = (await call('POST', '/v1/projects', { headers: bearer(installation), body: { name: 'ci' } })).json;
    const admin = bearer(project.adminToken.token);

    const changed = await call('PATCH', `/v1/projects/${project.id}/settings`, { headers: admin, body: { autoQaOnCi: true } });
    const unknown = await call('PATCH', `/v1/projects/${project.id}/settings`, { headers: admin, body: { autoQa: true } });
    const empty = await call('PATCH', `/v1/projects/${project.id}/settings`, { headers: admin, body: {} });
    const wrongType = await call('PATCH', `/v1/projects/${project.id}/settings`, { headers: admin, body: { completeRunOnMerge: 'yes' } });
    const read = await call('GET', `/v1/projects/${project.id}`, { headers: admin });

    expect(changed.statusCode).toBe(200);
    expect(changed.json).toEqual({ autoQaOnCi: true, completeRunOnMerge: false });
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json).toMatchObject({ error: { code: 'validation_error', field: 'body' } });
    expect(empty.statusCode).toBe(400);
    expect(wrongType.json).toMatchObject({ error: { field: 'body.completeRunOnMerge' } });
    expect(read.json).toMatchObject({ settings: { autoQaOnCi: true, completeRunOnMerge: false } });
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
