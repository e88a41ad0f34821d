import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { api } from '../helpers/api';
import { engineClient, type EngineClient } from '../helpers/engine';
import { eventually } from '../helpers/poll';

/** Every operation of the published contract, so a new route is covered the day it is added. */
const contract = JSON.parse(readFileSync(new URL('../../docs/openapi.json', import.meta.url), 'utf8')) as {
  paths: Record<string, Record<string, { operationId: string; security: unknown[] }>>;
};
const operations = Object.entries(contract.paths).flatMap(([path, methods]) =>
  Object.entries(methods).map(([method, op]) => ({ path, method: method.toUpperCase(), operationId: op.operationId, open: op.security.length === 0 })),
);

/** A JSON body where the method may carry one (its content does not matter: access is checked first). */
const bodyFor = (method: string) => (method === 'GET' || method === 'DELETE' ? {} : { body: {} });

const createToken = async (client: EngineClient, body: Record<string, unknown>) => {
  const response = await api<{ id: string; token: string }>('POST', `/v1/projects/${client.project.id}/tokens`, { token: client.token, body });
  expect(response.status, JSON.stringify(response.body)).toBe(201);
  return response.body;
};

describe('authentication and tenancy on the deployed API', () => {
  let a: EngineClient;
  let b: EngineClient;
  let viewer: { id: string; token: string };
  let editor: { id: string; token: string };
  let revoked: { id: string; token: string };
  let values: Record<string, string>;

  beforeAll(async () => {
    [a, b] = await Promise.all([engineClient('tenant-a'), engineClient('tenant-b')]);
    viewer = await createToken(a, { name: 'viewer', role: 'viewer' });
    editor = await createToken(a, { name: 'editor', role: 'editor' });
    revoked = await createToken(a, { name: 'gone', role: 'admin' });
    expect((await api('DELETE', `/v1/projects/${a.project.id}/tokens/${revoked.id}`, { token: a.token })).status).toBe(200);
    const workflowId = await a.workflow({ name: 'gate', steps: [{ id: 'review', kind: 'approval' }] });
    const run = await a.run(workflowId);
    values = {
      projectId: a.project.id,
      runId: run.id,
      workflowId,
      stepId: 'review',
      tokenId: viewer.id,
      scheduleId: 'sch_00000000000000000000000000',
      provider: 'github',
      action: 'pause',
    };
  });

  // Well-formed values everywhere (a malformed one is a 400 before any access check), the action
  // being the first one each kind of resource knows.
  const pathOf = (path: string) =>
    path.replace(/\{(\w+)\}/g, (_, name: string) => (name === 'action' && path.includes('/steps/') ? 'approve' : (values[name] ?? name)));
  const protectedOps = operations.filter((op) => !op.open);

  it('covers every operation of the contract; only health and the callbacks (their token is in the path) are open', () => {
    expect(protectedOps.length).toBeGreaterThanOrEqual(20);
    expect(operations.filter((op) => op.open).map((op) => op.operationId)).toEqual(['getHealth', 'completeCallback', 'heartbeatCallback']);
  });

  it('answers an open callback route without a bearer token, and only to a token it issued', async () => {
    for (const op of operations.filter((candidate) => candidate.path.startsWith('/v1/callbacks/'))) {
      const response = await api<{ error: { code: string } }>(op.method, op.path.replace('{token}', 'A'.repeat(43)), { body: op.operationId === 'completeCallback' ? { ok: true } : {} });
      expect(response.status, op.operationId).toBe(404);
      expect(response.body.error.code).toBe('not_found');
    }
  });

  it('refuses a missing, malformed, unknown or revoked token on every route but health and the callbacks', async () => {
    const refusals: string[] = [];
    for (const op of protectedOps) {
      for (const [label, headers] of [
        ['missing', {}],
        ['malformed', { authorization: 'Token abc' }],
        ['unknown', { authorization: `Bearer btn_${'x'.repeat(43)}` }],
        ['revoked', { authorization: `Bearer ${revoked.token}` }],
      ] as const) {
        const response = await api<{ error?: { code: string } }>(op.method, pathOf(op.path), { headers, ...bodyFor(op.method) });
        if (response.status !== 401 || response.body.error?.code !== 'unauthorized') refusals.push(`${op.operationId} with a ${label} token: ${response.status}`);
        // Refusals carry the same security headers and request id as any answer.
        if (response.headers.get('x-content-type-options') !== 'nosniff' || !response.headers.get('x-request-id')) refusals.push(`${op.operationId}: headers missing on the 401`);
      }
    }
    expect(refusals).toEqual([]);
  });

  it("answers 404 to another project's token on every project and run route, and 403 on installation routes", async () => {
    const leaks: string[] = [];
    const installationOnly = ['createProject', 'listProjects'];
    const scoped = protectedOps.filter((op) => installationOnly.includes(op.operationId) || /\{(projectId|runId)\}/.test(op.path));
    expect(scoped.length).toBeGreaterThanOrEqual(protectedOps.length - 2);
    for (const op of scoped) {
      const response = await api(op.method, pathOf(op.path), { token: b.token, ...bodyFor(op.method) });
      const expected = installationOnly.includes(op.operationId) ? 403 : 404;
      if (response.status !== expected) leaks.push(`${op.operationId}: ${response.status} (expected ${expected})`);
    }
    expect(leaks).toEqual([]);
  });

  it('lets a viewer read but not start a run, and an editor act on runs but not create tokens', async () => {
    const workflowId = values.workflowId!;

    const viewerReads = await api('GET', `/v1/runs/${values.runId}`, { token: viewer.token });
    const viewerStarts = await api<{ error: { code: string } }>('POST', `/v1/projects/${a.project.id}/runs`, { token: viewer.token, body: { workflowId } });
    const editorStarts = await api('POST', `/v1/projects/${a.project.id}/runs`, { token: editor.token, body: { workflowId } });
    const editorMintsToken = await api<{ error: { code: string } }>('POST', `/v1/projects/${a.project.id}/tokens`, { token: editor.token, body: { name: 'x', role: 'viewer' } });
    const editorChangesSettings = await api('PATCH', `/v1/projects/${a.project.id}/settings`, { token: editor.token, body: { autoQaOnCi: true } });

    expect(viewerReads.status).toBe(200);
    expect(viewerStarts.status).toBe(403);
    expect(viewerStarts.body.error.code).toBe('forbidden');
    expect(editorStarts.status).toBe(201);
    expect(editorMintsToken.status).toBe(403);
    expect(editorChangesSettings.status).toBe(403);
  });

  it('rate-limits a token with 429 and Retry-After, and lets it through again once the bucket refills', async () => {
    const limited = await createToken(a, { name: 'slow', role: 'viewer', rateLimit: { perSecond: 1, burst: 2 } });
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let index = 0; index < 5 && retryAfter === null; index += 1) {
      const response = await api('GET', '/v1/whoami', { token: limited.token });
      statuses.push(response.status);
      if (response.status === 429) retryAfter = response.headers.get('retry-after');
    }
    const recovered = await eventually('the limited token to be let through again', async () => {
      const response = await api('GET', '/v1/whoami', { token: limited.token });
      return response.status === 200 ? response : undefined;
    }, { timeoutMs: 10_000, intervalMs: 500 });

    expect(statuses.slice(0, 2)).toEqual([200, 200]);
    expect(statuses).toContain(429);
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
    expect(recovered.status).toBe(200);
  });

  it('serves the OpenAPI document that is in the repository to any valid token, with security headers', async () => {
    const response = await api('GET', '/v1/openapi.json', { token: viewer.token });

    expect(response.status).toBe(200);
    expect(response.body).toEqual(contract);
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    expect(response.headers.get('strict-transport-security')).toMatch(/max-age=/);
    expect(response.headers.get('x-request-id')).toBeTruthy();
  });
});
