import { beforeEach, describe, expect, it } from 'vitest';
import { collect, createClient, paginate, unwrap, type BatonClient } from '#sdk';
import { createProject, installationToken } from '../helpers/projects';
import { resetData } from '../helpers/reset';
import { stack } from '../helpers/stack';

beforeEach(resetData);

const clientFor = (token: string) => createClient({ baseUrl: stack.apiUrl, token });

async function projectClient(name: string) {
  const project = await createProject(name);
  return { projectId: project.id, baton: clientFor(project.adminToken.token) };
}

const saveWorkflow = (baton: BatonClient, projectId: string, body: { name: string; description?: string; steps: { id: string; kind: string; dependsOn?: string[] }[] }) =>
  unwrap(baton.POST('/v1/projects/{projectId}/workflows', { params: { path: { projectId } }, body }));

describe('listings for the console and the CLI', () => {
  it('lists the installation\'s projects, oldest first and paged, to the installation token only', async () => {
    const created = [await createProject('first'), await createProject('second'), await createProject('third')];
    const installation = clientFor(await installationToken());

    const listed = await collect(paginate((cursor) => unwrap(installation.GET('/v1/projects', { params: { query: { limit: 2, ...(cursor ? { cursor } : {}) } } }))));
    const firstPage = await unwrap(installation.GET('/v1/projects', { params: { query: { limit: 2 } } }));
    const byProjectToken = await unwrap(clientFor(created[0]!.adminToken.token).GET('/v1/projects')).catch((error: unknown) => error);

    expect(listed.map((project) => project.name)).toEqual(['first', 'second', 'third']);
    expect(listed[0]).toMatchObject({ id: created[0]!.id, createdAt: expect.any(String), settings: { autoQaOnCi: false } });
    expect(JSON.stringify(listed)).not.toContain('btn_');
    expect(firstPage.items).toHaveLength(2);
    expect(firstPage.cursor).toEqual(expect.any(String));
    expect(byProjectToken).toMatchObject({ status: 403, code: 'forbidden' });
  });

  it("lists a project's workflows by name with their latest version and its step count", async () => {
    const { projectId, baton } = await projectClient('workflows');
    const other = await projectClient('other');
    await saveWorkflow(baton, projectId, { name: 'beta', steps: [{ id: 'one', kind: 'noop' }] });
    await saveWorkflow(baton, projectId, { name: 'alpha', description: 'first cut', steps: [{ id: 'a', kind: 'noop' }, { id: 'b', kind: 'noop', dependsOn: ['a'] }] });
    const alpha2 = await saveWorkflow(baton, projectId, {
      name: 'alpha',
      description: 'second cut',
      steps: [{ id: 'a', kind: 'noop' }, { id: 'b', kind: 'noop', dependsOn: ['a'] }, { id: 'c', kind: 'approval', dependsOn: ['b'] }],
    });
    await saveWorkflow(other.baton, other.projectId, { name: 'elsewhere', steps: [{ id: 'x', kind: 'noop' }] });

    const all = await unwrap(baton.GET('/v1/projects/{projectId}/workflows', { params: { path: { projectId } } }));
    const paged = await collect(paginate((cursor) => unwrap(baton.GET('/v1/projects/{projectId}/workflows', { params: { path: { projectId }, query: { limit: 1, ...(cursor ? { cursor } : {}) } } }))));
    const badCursor = await unwrap(baton.GET('/v1/projects/{projectId}/workflows', { params: { path: { projectId }, query: { cursor: 'bm90LWEtY3Vyc29y' } } })).catch((error: unknown) => error);

    expect(all.items).toEqual([
      { id: alpha2.id, name: 'alpha', description: 'second cut', version: 2, steps: 3, updatedAt: expect.any(String) },
      { id: expect.stringMatching(/^wf_/), name: 'beta', version: 1, steps: 1, updatedAt: expect.any(String) },
    ]);
    expect(all.cursor).toBeUndefined();
    expect(paged.map((workflow) => workflow.name)).toEqual(['alpha', 'beta']);
    expect(badCursor).toMatchObject({ status: 400, field: 'query.cursor' });
  });
});

describe('run search', () => {
  it('keeps the tags a run was created with and finds runs by tag and by creation time', async () => {
    const { projectId, baton } = await projectClient('search');
    const { id: workflowId } = await saveWorkflow(baton, projectId, { name: 'tagged', steps: [{ id: 'a', kind: 'noop' }] });
    const create = (tags?: Record<string, string>) =>
      unwrap(baton.POST('/v1/projects/{projectId}/runs', { params: { path: { projectId } }, body: { workflowId, start: false, ...(tags ? { tags } : {}) } }));
    const first = await create({ team: 'ops', env: 'prod' });
    const second = await create({ team: 'ops' });
    const third = await create({ team: 'dev', 'ticket/id': 'BAT-1:2' });
    const list = (query: { tag?: string; from?: string; to?: string; status?: 'pending' | 'running'; limit?: number; cursor?: string }) =>
      unwrap(baton.GET('/v1/projects/{projectId}/runs', { params: { path: { projectId }, query } }));
    const ids = (page: { items: { id: string }[] }) => page.items.map((run) => run.id);

    const read = await unwrap(baton.GET('/v1/runs/{runId}', { params: { path: { runId: first.id } } }));
    const ops = await list({ tag: 'team:ops' });
    const prod = await list({ tag: 'env:prod', status: 'pending' });
    const colonInValue = await list({ tag: 'ticket/id:BAT-1:2' });
    const none = await list({ tag: 'team:nobody' });
    const fromSecond = await list({ from: second.createdAt });
    const toFirst = await list({ to: first.createdAt });
    const between = await list({ from: second.createdAt, to: second.createdAt });
    const opsPaged = await collect(paginate((cursor) => list({ tag: 'team:ops', limit: 1, ...(cursor ? { cursor } : {}) })));
    // A cursor of this listing, passed back with a time range it lies outside: a 400, not DynamoDB's refusal as a 500.
    const firstPage = await list({ limit: 1 });
    const outOfRange = await list({ from: new Date(Date.parse(third.createdAt) + 60_000).toISOString(), cursor: firstPage.cursor! }).catch((error: unknown) => error);

    expect(first.tags).toEqual({ team: 'ops', env: 'prod' });
    expect(read.tags).toEqual({ team: 'ops', env: 'prod' });
    expect(ids(ops)).toEqual([second.id, first.id]);
    expect(ids(prod)).toEqual([first.id]);
    expect(ids(colonInValue)).toEqual([third.id]);
    expect(none.items).toEqual([]);
    expect(ids(fromSecond)).toEqual([third.id, second.id]);
    expect(ids(toFirst)).toEqual([first.id]);
    expect(ids(between)).toEqual([second.id]);
    expect(opsPaged.map((run) => run.id)).toEqual([second.id, first.id]);
    expect(firstPage.cursor).toBeDefined();
    expect(outOfRange).toMatchObject({ status: 400, field: 'query.cursor' });
  });

  it('refuses bad tags and bad searches, naming the field', async () => {
    const { projectId, baton } = await projectClient('search-errors');
    const { id: workflowId } = await saveWorkflow(baton, projectId, { name: 'tagged', steps: [{ id: 'a', kind: 'noop' }] });
    const tooMany = Object.fromEntries(Array.from({ length: 11 }, (_, index) => [`k${index}`, 'v']));
    const refused = (call: Promise<unknown>) => call.catch((error: unknown) => error);

    const manyTags = await refused(unwrap(baton.POST('/v1/projects/{projectId}/runs', { params: { path: { projectId } }, body: { workflowId, tags: tooMany } })));
    const badKey = await refused(unwrap(baton.POST('/v1/projects/{projectId}/runs', { params: { path: { projectId } }, body: { workflowId, tags: { 'a:b': 'c' } } })));
    const emptyValue = await refused(unwrap(baton.POST('/v1/projects/{projectId}/runs', { params: { path: { projectId } }, body: { workflowId, tags: { a: '' } } })));
    const noColon = await refused(unwrap(baton.GET('/v1/projects/{projectId}/runs', { params: { path: { projectId }, query: { tag: 'team' } } })));
    const backwards = await refused(unwrap(baton.GET('/v1/projects/{projectId}/runs', { params: { path: { projectId }, query: { from: '2026-11-30T10:00:00Z', to: '2026-11-30T09:00:00Z' } } })));
    const notATime = await refused(unwrap(baton.GET('/v1/projects/{projectId}/runs', { params: { path: { projectId }, query: { from: 'yesterday' } } })));
    const listed = await unwrap(baton.GET('/v1/projects/{projectId}/runs', { params: { path: { projectId } } }));

    expect(manyTags).toMatchObject({ status: 400, field: 'body.tags' });
    expect(badKey).toMatchObject({ status: 400, field: expect.stringMatching(/^body\.tags/) });
    expect(emptyValue).toMatchObject({ status: 400, field: 'body.tags.a' });
    expect(noColon).toMatchObject({ status: 400, field: 'query.tag' });
    expect(backwards).toMatchObject({ status: 400, field: 'query.to' });
    expect(notATime).toMatchObject({ status: 400, field: 'query.from' });
    expect(listed.items).toEqual([]);
  });
});
