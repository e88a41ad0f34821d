import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { unwrap } from '#sdk';
import { engineClient, type EngineClient } from '../helpers/engine';
import { eventually } from '../helpers/poll';
import { batonClient } from '../helpers/projects';
import { stack } from '../helpers/stack';

/** Every operation of the published contract, so a new route is covered the day it is added. */
const contract = JSON.parse(readFileSync(new URL('../../docs/openapi.json', import.meta.url), 'utf8')) as {
  paths: Record<string, Record<string, { operationId: string; security: unknown[] }>>;
};
const operations = Object.entries(contract.paths).flatMap(([path, methods]) =>
  Object.entries(methods).map(([method, op]) => ({ path, method: method.toUpperCase(), operationId: op.operationId, open: op.security.length === 0 })),
);

/**
 * Raw fetch: the walk below calls every operation by the contract's method and path as data, with
 * missing, malformed and foreign tokens, which the SDK's typed calls are not made to send.
 */
async function callRaw(method: string, path: string, headers: Record<string, string> = {}, body?: unknown) {
  // A JSON body where the method may carry one (its content does not matter: access is checked first).
  const withBody = body ?? (method === 'GET' || method === 'DELETE' ? undefined : {});
  const response = await fetch(`${stack.apiUrl}${path}`, {
    method,
    headers: { ...headers, ...(withBody === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(withBody === undefined ? {} : { body: JSON.stringify(withBody) }),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: (text ? JSON.parse(text) : undefined) as { error?: { code: string } } | undefined };
}

const createToken = (client: EngineClient, body: { name: string; role: 'admin' | 'editor' | 'viewer'; rateLimit?: { perSecond: number; burst: number } }) =>
  unwrap(client.baton.POST('/v1/projects/{projectId}/tokens', { params: { path: { projectId: client.projectId } }, body }));

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
    await unwrap(a.baton.DELETE('/v1/projects/{projectId}/tokens/{tokenId}', { params: { path: { projectId: a.projectId, tokenId: revoked.id } } }));
    const workflowId = await a.workflow({ name: 'gate', steps: [{ id: 'review', kind: 'approval' }] });
    const run = await a.run(workflowId);
    values = {
      projectId: a.project.id,
      runId: run.id,
      otherRunId: run.id,
      workflowId,
      stepId: 'review',
      tokenId: viewer.id,
      scheduleId: 'sch_00000000000000000000000000',
      triggerId: 'trg_00000000000000000000000000',
      provider: 'github',
      action: 'pause',
      name: 'steps-parked',
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
      const response = await callRaw(op.method, op.path.replace('{token}', 'A'.repeat(43)), {}, op.operationId === 'completeCallback' ? { ok: true } : {});
      expect(response.status, op.operationId).toBe(404);
      expect(response.body?.error?.code).toBe('not_found');
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
        const response = await callRaw(op.method, pathOf(op.path), headers);
        if (response.status !== 401 || response.body?.error?.code !== 'unauthorized') refusals.push(`${op.operationId} with a ${label} token: ${response.status}`);
        // Refusals carry the same security headers and request id as any answer.
        if (response.headers.get('x-content-type-options') !== 'nosniff' || !response.headers.get('x-request-id')) refusals.push(`${op.operationId}: headers missing on the 401`);
      }
    }
    expect(refusals).toEqual([]);
  });

  it("answers 404 to another project's token on every project and run route, and 403 on installation routes", async () => {
    const leaks: string[] = [];
    const installationOnly = ['createProject', 'listProjects', 'listQueues', 'peekQueueMessages', 'redriveQueue'];
    const scoped = protectedOps.filter((op) => installationOnly.includes(op.operationId) || /\{(projectId|runId)\}/.test(op.path));
    expect(scoped.length).toBeGreaterThanOrEqual(protectedOps.length - 2);
    expect(scoped.map((op) => op.operationId)).toEqual(expect.arrayContaining(installationOnly));
    for (const op of scoped) {
      const response = await callRaw(op.method, pathOf(op.path), { authorization: `Bearer ${b.token}` });
      const expected = installationOnly.includes(op.operationId) ? 403 : 404;
      if (response.status !== expected) leaks.push(`${op.operationId}: ${response.status} (expected ${expected})`);
    }
    expect(leaks).toEqual([]);
  });

  it('lets a viewer read but not start a run, and an editor act on runs but not create tokens', async () => {
    const workflowId = values.workflowId!;

    const asViewer = batonClient(viewer.token);
    const asEditor = batonClient(editor.token);
    const path = { projectId: a.projectId };

    const viewerReads = await asViewer.GET('/v1/runs/{runId}', { params: { path: { runId: values.runId! } } });
    const viewerStarts = await asViewer.POST('/v1/projects/{projectId}/runs', { params: { path }, body: { workflowId } });
    const editorStarts = await asEditor.POST('/v1/projects/{projectId}/runs', { params: { path }, body: { workflowId } });
    const editorMintsToken = await asEditor.POST('/v1/projects/{projectId}/tokens', { params: { path }, body: { name: 'x', role: 'viewer' } });
    const editorChangesSettings = await asEditor.PATCH('/v1/projects/{projectId}/settings', { params: { path }, body: { autoQaOnCi: true } });

    expect(viewerReads.response.status).toBe(200);
    expect(viewerStarts.response.status).toBe(403);
    expect(viewerStarts.error?.error.code).toBe('forbidden');
    expect(editorStarts.response.status).toBe(201);
    expect(editorMintsToken.response.status).toBe(403);
    expect(editorChangesSettings.response.status).toBe(403);
  });

  it('rate-limits a token with 429 and Retry-After, and lets it through again once the bucket refills', async () => {
    const limited = await createToken(a, { name: 'slow', role: 'viewer', rateLimit: { perSecond: 1, burst: 2 } });
    const asLimited = batonClient(limited.token);
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let index = 0; index < 5 && retryAfter === null; index += 1) {
      const { response } = await asLimited.GET('/v1/whoami');
      statuses.push(response.status);
      if (response.status === 429) retryAfter = response.headers.get('retry-after');
    }
    const recovered = await eventually('the limited token to be let through again', async () => {
      const { response } = await asLimited.GET('/v1/whoami');
      return response.status === 200 ? response : undefined;
    }, { timeoutMs: 10_000, intervalMs: 500 });

    expect(statuses.slice(0, 2)).toEqual([200, 200]);
    expect(statuses).toContain(429);
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
    expect(recovered.status).toBe(200);
  });

  it('serves the OpenAPI document that is in the repository to any valid token, with security headers', async () => {
    const { data, response } = await batonClient(viewer.token).GET('/v1/openapi.json');

    expect(response.status).toBe(200);
    expect(data).toEqual(contract);
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    expect(response.headers.get('strict-transport-security')).toMatch(/max-age=/);
    expect(response.headers.get('x-request-id')).toBeTruthy();
  });
});
