import { beforeEach, describe, expect, it } from 'vitest';
import { batonClient, createProject, installationClient, installationToken } from '../helpers/projects';
import { resetData } from '../helpers/reset';
import { stack } from '../helpers/stack';

beforeEach(resetData);

describe('the HTTP API on the emulator', () => {
  it('answers GET /health with 200 through API Gateway, without a token', async () => {
    const { data, response } = await batonClient().GET('/health');

    expect(response.status).toBe(200);
    expect(data).toEqual({ status: 'ok', stage: stack.stage });
    expect(response.headers.get('x-request-id')).toBeTruthy();
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it.each([
    ['no token', undefined],
    ['a malformed token', 'short'],
    ['an unknown token', 'btn_thisTokenWasNeverIssuedByBatonAtAll0000000000'],
  ])('refuses /v1/whoami with %s: 401 in the JSON error shape', async (_case, token) => {
    const { error, response } = await batonClient(token).GET('/v1/whoami');

    expect(response.status).toBe(401);
    expect(error).toEqual({
      error: { code: 'unauthorized', message: expect.any(String), requestId: response.headers.get('x-request-id') },
    });
  });

  it('identifies the installation admin token kept in Secrets Manager', async () => {
    const { data, response } = await (await installationClient()).GET('/v1/whoami');

    expect(response.status).toBe(200);
    expect(data).toEqual({ kind: 'installation', role: 'admin' });
  });

  it('creates a project whose admin token identifies itself on /v1/whoami', async () => {
    const project = await createProject('whoami');

    const { data, response } = await batonClient(project.adminToken.token).GET('/v1/whoami');

    expect(response.status).toBe(200);
    expect(data).toEqual({ kind: 'project', projectId: project.id, role: 'admin', tokenId: project.adminToken.id });
  });

  it('names the field when a body is invalid, and writes nothing', async () => {
    const installation = await installationClient();
    const withColour = { name: 'x', colour: 'red' };

    const empty = await installation.POST('/v1/projects', { body: { name: '' } });
    const unknown = await installation.POST('/v1/projects', { body: withColour });
    // Raw fetch: a body that is not JSON at all, which the SDK never sends.
    const malformed = await fetch(`${stack.apiUrl}/v1/projects`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await installationToken()}`, 'content-type': 'application/json' },
      body: '{"name":',
    });
    const listed = await installation.GET('/v1/projects');

    expect(empty.response.status).toBe(400);
    expect(empty.error).toMatchObject({ error: { code: 'validation_error', field: 'body.name' } });
    expect(unknown.response.status).toBe(400);
    expect(unknown.error).toMatchObject({ error: { code: 'validation_error', field: 'body' } });
    expect(JSON.stringify(unknown.error)).toContain('colour');
    expect(malformed.status).toBe(400);
    expect(await malformed.json()).toMatchObject({ error: { code: 'validation_error', field: 'body' } });
    expect(listed.data?.items).toEqual([]);
  });

  it('keeps projects apart: a project token cannot read another project, nor create projects', async () => {
    const a = await createProject('a');
    const b = await createProject('b');
    const asA = batonClient(a.adminToken.token);

    const own = await asA.GET('/v1/projects/{projectId}', { params: { path: { projectId: a.id } } });
    const other = await asA.GET('/v1/projects/{projectId}', { params: { path: { projectId: b.id } } });
    const create = await asA.POST('/v1/projects', { body: { name: 'c' } });

    expect(own.response.status).toBe(200);
    expect(own.data).toMatchObject({ id: a.id, name: 'a' });
    expect(other.response.status).toBe(404);
    expect(other.error).toMatchObject({ error: { code: 'not_found' } });
    expect(create.response.status).toBe(403);
  });

  it('answers an unknown route with a JSON 404', async () => {
    // Raw fetch: a path outside the contract, which the SDK's typed paths cannot name.
    const response = await fetch(`${stack.apiUrl}/v1/nothing-here`, { headers: { authorization: `Bearer ${await installationToken()}` } });

    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ error: { code: 'not_found' } });
  });
});
