import { beforeEach, describe, expect, it } from 'vitest';
import { collect, createClient, paginate, unwrap, type BatonClient } from '#sdk';
import { createProject, installationToken } from '../helpers/api';
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
