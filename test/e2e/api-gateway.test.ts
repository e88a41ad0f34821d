import { beforeEach, describe, expect, it } from 'vitest';
import { api, createProject, installationToken } from '../helpers/api';
import { resetData } from '../helpers/reset';
import { stack } from '../helpers/stack';

beforeEach(resetData);

describe('the HTTP API on the emulator', () => {
  it('answers GET /health with 200 through API Gateway, without a token', async () => {
    const response = await api('GET', '/health');

    expect(response.status).toBe(200);
    expect(response.body).toEqual({ status: 'ok', stage: stack.stage });
    expect(response.headers.get('x-request-id')).toBeTruthy();
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it.each([
    ['no token', undefined],
    ['a malformed token', 'short'],
    ['an unknown token', 'btn_thisTokenWasNeverIssuedByBatonAtAll0000000000'],
  ])('refuses /v1/whoami with %s: 401 in the JSON error shape', async (_case, token) => {
    const response = await api('GET', '/v1/whoami', { token });

    expect(response.status).toBe(401);
    expect(response.body).toEqual({
      error: { code: 'unauthorized', message: expect.any(String), requestId: response.headers.get('x-request-id') },
    });
  });

  it('identifies the installation admin token kept in Secrets Manager', async () => {
    const response = await api('GET', '/v1/whoami', { token: await installationToken() });

    expect(response.status).toBe(200);
    expect(response.body).toEqual({ kind: 'installation', role: 'admin' });
  });

  it('creates a project whose admin token identifies itself on /v1/whoami', async () => {
    const project = await createProject('whoami');

    const response = await api('GET', '/v1/whoami', { token: project.adminToken.token });

    expect(response.status).toBe(200);
    expect(response.body).toEqual({ kind: 'project', projectId: project.id, role: 'admin', tokenId: project.adminToken.id });
  });

  it('names the field when a body is invalid, and writes nothing', async () => {
    const token = await installationToken();

    const empty = await api('POST', '/v1/projects', { token, body: { name: '' } });
    const unknown = await api('POST', '/v1/projects', { token, body: { name: 'x', colour: 'red' } });
    const malformed = await api('POST', '/v1/projects', { token, body: '{"name":', headers: { 'content-type': 'application/json' } });

    expect(empty.status).toBe(400);
    expect(empty.body).toMatchObject({ error: { code: 'validation_error', field: 'body.name' } });
    expect(unknown.status).toBe(400);
    expect(unknown.body).toMatchObject({ error: { code: 'validation_error', field: 'body' } });
    expect(JSON.stringify(unknown.body)).toContain('colour');
    expect(malformed.status).toBe(400);
    expect(malformed.body).toMatchObject({ error: { code: 'validation_error', field: 'body' } });
  });

  it('keeps projects apart: a project token cannot read another project, nor create projects', async () => {
    const a = await createProject('a');
    const b = await createProject('b');

    const own = await api('GET', `/v1/projects/${a.id}`, { token: a.adminToken.token });
    const other = await api('GET', `/v1/projects/${b.id}`, { token: a.adminToken.token });
    const create = await api('POST', '/v1/projects', { token: a.adminToken.token, body: { name: 'c' } });

    expect(own.status).toBe(200);
    expect(own.body).toMatchObject({ id: a.id, name: 'a' });
    expect(other.status).toBe(404);
    expect(other.body).toMatchObject({ error: { code: 'not_found' } });
    expect(create.status).toBe(403);
  });

  it('answers an unknown route with a JSON 404', async () => {
    const response = await api('GET', '/v1/nothing-here', { token: await installationToken() });

    expect(response.status).toBe(404);
    expect(response.body).toMatchObject({ error: { code: 'not_found' } });
  });
});
