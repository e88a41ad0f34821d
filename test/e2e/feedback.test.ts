import { beforeEach, describe, expect, it } from 'vitest';
import { unwrap } from '#sdk';
import { engineClient } from '../helpers/engine';
import { batonClient } from '../helpers/projects';
import { resetData } from '../helpers/reset';

beforeEach(async () => {
  await resetData();
});

describe('feedback', () => {
  it('lists human feedback on the step and the run, averages it per workflow version, and refuses bad scores and steps that have not run', async () => {
    const client = await engineClient('feedback');
    const { baton, projectId } = client;
    const workflowId = await client.workflow({ name: 'reviewed', steps: [{ id: 'draft', kind: 'noop' }, { id: 'publish', kind: 'noop', dependsOn: ['draft'] }] });
    const first = await client.run(workflowId);
    await client.waitFor(first.id, ['completed']);
    const pending = await client.run(workflowId, { start: false });

    const give = (runId: string, stepId: string, body: { score: number; comment?: string; source?: 'human' | 'reviewer' }) =>
      baton.POST('/v1/runs/{runId}/steps/{stepId}/feedback', { params: { path: { runId, stepId } }, body });
    const recorded = await unwrap(give(first.id, 'draft', { score: 80, comment: 'clear, but long' }));
    await unwrap(give(first.id, 'draft', { score: 60 }));
    await unwrap(give(first.id, 'publish', { score: 100, source: 'reviewer' }));

    expect(recorded).toMatchObject({ runId: first.id, stepId: 'draft', generation: 1, workflowId, workflowVersion: 1, score: 80, comment: 'clear, but long', source: 'human', actor: expect.stringMatching(/^tok_/) });
    const onStep = await unwrap(baton.GET('/v1/runs/{runId}/steps/{stepId}/feedback', { params: { path: { runId: first.id, stepId: 'draft' } } }));
    expect(onStep.items.map((item) => [item.score, item.comment])).toEqual([[80, 'clear, but long'], [60, undefined]]);
    expect(onStep).toMatchObject({ count: 2, averageScore: 70 });
    const onRun = await unwrap(baton.GET('/v1/runs/{runId}/feedback', { params: { path: { runId: first.id } } }));
    expect(onRun.items.map((item) => `${item.stepId}:${item.score}:${item.source}`)).toEqual(['draft:80:human', 'draft:60:human', 'publish:100:reviewer']);
    expect(onRun.averageScore).toBe(80);

    // A second version gets its own average.
    await client.workflow({ name: 'reviewed', steps: [{ id: 'draft', kind: 'noop' }, { id: 'publish', kind: 'noop', dependsOn: ['draft'] }, { id: 'announce', kind: 'noop', dependsOn: ['publish'] }] });
    const second = await client.run(workflowId, { version: 2 });
    await client.waitFor(second.id, ['completed']);
    await unwrap(give(second.id, 'announce', { score: 30 }));
    const averages = await unwrap(baton.GET('/v1/projects/{projectId}/workflows/{workflowId}/feedback', { params: { path: { projectId, workflowId } } }));
    expect(averages.items).toEqual([{ version: 1, count: 3, averageScore: 80 }, { version: 2, count: 1, averageScore: 30 }]);

    const events = await client.events(first.id);
    expect(events.filter((event) => event.type === 'feedback.recorded').map((event) => [event.stepId, (event.detail as { score: number }).score])).toEqual([['draft', 80], ['draft', 60], ['publish', 100]]);

    const outOfRange = await give(first.id, 'draft', { score: 101 });
    expect(outOfRange.response.status).toBe(400);
    expect(outOfRange.error?.error.field).toBe('body.score');
    const notRun = await give(pending.id, 'draft', { score: 50 });
    expect(notRun.response.status).toBe(409);
    expect(notRun.error?.error.field).toBe('path.stepId');
    const unknownStep = await give(first.id, 'nope', { score: 50 });
    expect(unknownStep.response.status).toBe(404);

    // A viewer reads feedback but may not give it (as with approvals).
    const viewer = await unwrap(baton.POST('/v1/projects/{projectId}/tokens', { params: { path: { projectId } }, body: { name: 'reader', role: 'viewer' } }));
    const asViewer = batonClient(viewer.token);
    expect((await asViewer.POST('/v1/runs/{runId}/steps/{stepId}/feedback', { params: { path: { runId: first.id, stepId: 'draft' } }, body: { score: 1 } })).response.status).toBe(403);
    expect((await unwrap(asViewer.GET('/v1/runs/{runId}/feedback', { params: { path: { runId: first.id } } }))).count).toBe(3);
  });
});
