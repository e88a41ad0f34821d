import { beforeEach, describe, expect, it } from 'vitest';
import {
  BatonApiError,
  collect,
  createClient,
  createRunAndWait,
  mapChildren,
  paginate,
  runSteps,
  runEvents,
  unwrap,
  waitForRun,
  waitForStep,
  type FeedbackBody,
  type Fork,
  type ForkBody,
  type ProjectSettingsBody,
  type RerunBody,
  type RunBudgetBody,
  type RunComparison,
  type RunLimitsBody,
  type StepGate,
} from '#sdk';
import { createProject } from '../helpers/projects';
import { resetData } from '../helpers/reset';
import { stack } from '../helpers/stack';

beforeEach(resetData);

async function projectClient() {
  const project = await createProject('sdk');
  return { projectId: project.id, baton: createClient({ baseUrl: stack.apiUrl, token: project.adminToken.token }) };
}

describe('the SDK against the deployed API', () => {
  it('saves a workflow, runs it to the end and reads its history, following it while it runs', async () => {
    const { projectId, baton } = await projectClient();
    const saved = await unwrap(
      baton.POST('/v1/projects/{projectId}/workflows', {
        params: { path: { projectId } },
        body: { name: 'sdk-chain', steps: [{ id: 'a', kind: 'noop', input: { n: 1 } }, { id: 'b', kind: 'noop', dependsOn: ['a'] }, { id: 'c', kind: 'noop', dependsOn: ['b'] }] },
      }),
    );

    const created = await unwrap(baton.POST('/v1/projects/{projectId}/runs', { params: { path: { projectId } }, body: { workflowId: saved.id } }));
    const followed = await collect(runEvents(baton, created.id, { follow: true, pollIntervalMs: 300, signal: AbortSignal.timeout(45_000) }));
    const run = await waitForRun(baton, created.id, { timeoutMs: 10_000 });
    const history = await collect(runEvents(baton, created.id, { pageSize: 2 }));
    const newestFirst = await collect(runEvents(baton, created.id, { order: 'desc', pageSize: 3 }));

    expect(run.status).toBe('completed');
    expect(run.steps.byStatus.completed).toBe(3);
    expect(followed.map((event) => event.id)).toEqual(history.map((event) => event.id));
    expect(history.at(-1)?.type).toBe('run.completed');
    expect(history.filter((event) => event.type === 'step.completed').map((event) => event.stepId)).toEqual(['a', 'b', 'c']);
    expect(newestFirst.map((event) => event.id)).toEqual(history.map((event) => event.id).reverse());
  });

  it('creates a run and waits until it waits for a person; reading after an event id gives only later ones', async () => {
    const { projectId, baton } = await projectClient();
    const saved = await unwrap(
      baton.POST('/v1/projects/{projectId}/workflows', {
        params: { path: { projectId } },
        body: { name: 'sdk-gate', steps: [{ id: 'work', kind: 'noop' }, { id: 'gate', kind: 'approval', dependsOn: ['work'], input: { prompt: 'ok?' } }] },
      }),
    );

    const waiting = await createRunAndWait(baton, { projectId, workflowId: saved.id, idempotencyKey: 'sdk-gate-1' }, { timeoutMs: 45_000 });
    const again = await createRunAndWait(baton, { projectId, workflowId: saved.id, idempotencyKey: 'sdk-gate-1' }, { timeoutMs: 45_000 });
    const all = await collect(runEvents(baton, waiting.id));
    const later = await collect(runEvents(baton, waiting.id, { after: all[1]!.id }));
    const earlier = await collect(runEvents(baton, waiting.id, { order: 'desc', after: all[2]!.id }));

    expect(waiting.status).toBe('running');
    expect(waiting.steps.byStatus.needs_qa).toBe(1);
    expect(again.id).toBe(waiting.id);
    expect(later.map((event) => event.id)).toEqual(all.slice(2).map((event) => event.id));
    expect(earlier.map((event) => event.id)).toEqual([all[1]!.id, all[0]!.id]);
  });

  it("pages through a listing and throws the API's errors with their code, field and request id", async () => {
    const { projectId, baton } = await projectClient();
    const saved = await unwrap(baton.POST('/v1/projects/{projectId}/workflows', { params: { path: { projectId } }, body: { name: 'sdk-many', steps: [{ id: 'a', kind: 'noop' }] } }));
    const ids: string[] = [];
    for (let index = 0; index < 5; index += 1) ids.push((await unwrap(baton.POST('/v1/projects/{projectId}/runs', { params: { path: { projectId } }, body: { workflowId: saved.id, start: false } }))).id);

    const listed = await collect(paginate((cursor) => unwrap(baton.GET('/v1/projects/{projectId}/runs', { params: { path: { projectId }, query: { limit: 2, ...(cursor ? { cursor } : {}) } } }))));
    const invalid = await unwrap(baton.POST('/v1/projects/{projectId}/runs', { params: { path: { projectId } }, body: { workflowId: 'wf_nope' } })).catch((error: unknown) => error);
    const both = await unwrap(baton.GET('/v1/runs/{runId}/events', { params: { path: { runId: ids[0]! }, query: { cursor: 'x', after: '01JDTEST000000000000000000' } } })).catch((error: unknown) => error);
    const unknown = await unwrap(createClient({ baseUrl: stack.apiUrl, token: 'btn_unknown' }).GET('/v1/whoami')).catch((error: unknown) => error);

    expect(listed.map((run) => run.id)).toEqual([...ids].reverse());
    expect(invalid).toBeInstanceOf(BatonApiError);
    expect(invalid).toMatchObject({ status: 400, code: 'validation_error', field: 'body.workflowId', requestId: expect.any(String) });
    expect(both).toMatchObject({ status: 400, field: 'query.after' });
    expect(unknown).toMatchObject({ status: 401 });
  });

  it('governs a run through the typed routes: its budget, feedback, a re-run, a fork and the comparison of the two', async () => {
    const { projectId, baton } = await projectClient();
    const saved = await unwrap(
      baton.POST('/v1/projects/{projectId}/workflows', {
        params: { path: { projectId } },
        body: { name: 'sdk-governed', steps: [{ id: 'fetch', kind: 'noop', input: { n: 1 } }, { id: 'shape', kind: 'noop', dependsOn: ['fetch'], input: { style: 'long' } }, { id: 'ship', kind: 'noop', dependsOn: ['shape'] }] },
      }),
    );
    const created = await unwrap(baton.POST('/v1/projects/{projectId}/runs', { params: { path: { projectId } }, body: { workflowId: saved.id, budget: { tokens: 1000, mode: 'warn' } } }));
    const run = await waitForRun(baton, created.id, { timeoutMs: 45_000 });
    const path = { runId: run.id, stepId: 'shape' };

    // Budget: spend against it on the run; a budget cannot change once the run ended (409), a bad one names its field (400).
    const budget: RunBudgetBody = { tokens: 2000, mode: 'strict' };
    const ended = await unwrap(baton.PUT('/v1/runs/{runId}/budget', { params: { path: { runId: run.id } }, body: budget })).catch((error: unknown) => error);
    const invalid = await unwrap(baton.PUT('/v1/runs/{runId}/budget', { params: { path: { runId: run.id } }, body: { tokens: -1, mode: 'strict' } })).catch((error: unknown) => error);
    // Feedback: given, listed on the step and the run, averaged per workflow version.
    const feedback: FeedbackBody = { score: 70, comment: 'fine', source: 'human' };
    const given = await unwrap(baton.POST('/v1/runs/{runId}/steps/{stepId}/feedback', { params: { path }, body: feedback }));
    const ofStep = await unwrap(baton.GET('/v1/runs/{runId}/steps/{stepId}/feedback', { params: { path } }));
    const ofRun = await unwrap(baton.GET('/v1/runs/{runId}/feedback', { params: { path: { runId: run.id } } }));
    const averages = await unwrap(baton.GET('/v1/projects/{projectId}/workflows/{workflowId}/feedback', { params: { path: { projectId, workflowId: saved.id } } }));
    // Re-run shape with a new input: a new generation, then ship.
    const rerunBody: RerunBody = { input: { style: 'short' } };
    const rerun = await unwrap(baton.POST('/v1/runs/{runId}/steps/{stepId}/actions/rerun', { params: { path }, body: rerunBody }));
    const rerunDone = await waitForRun(baton, run.id, { timeoutMs: 45_000 });
    // Fork at shape with another input for it, then compare.
    const forkBody: ForkBody = { fromStep: 'shape', stepInputs: { shape: { style: 'haiku' } } };
    const fork: Fork = await unwrap(baton.POST('/v1/runs/{runId}/fork', { params: { path: { runId: run.id } }, body: forkBody }));
    await waitForRun(baton, fork.id, { timeoutMs: 45_000 });
    const comparison: RunComparison = await unwrap(baton.GET('/v1/runs/{runId}/compare/{otherRunId}', { params: { path: { runId: run.id, otherRunId: fork.id } } }));

    expect(run.status).toBe('completed');
    expect(run.budgets.run).toMatchObject({ tokens: 1000, mode: 'warn', spent: { tokens: 0, usd: 0 } });
    expect(ended).toMatchObject({ status: 409, code: 'conflict' });
    expect(invalid).toBeInstanceOf(BatonApiError);
    expect(invalid).toMatchObject({ status: 400, field: 'body.tokens' });
    expect(given).toMatchObject({ stepId: 'shape', score: 70, generation: 1, source: 'human', actorName: 'initial admin token' });
    expect(ofStep).toMatchObject({ count: 1, averageScore: 70 });
    expect(ofRun.items.map((item) => item.id)).toEqual([given.id]);
    expect(averages.items).toEqual([{ version: 1, count: 1, averageScore: 70 }]);
    expect(rerun).toMatchObject({ step: { id: 'shape', generation: 2 }, downstream: ['ship'] });
    expect(rerunDone.status).toBe('completed');
    expect(fork).toMatchObject({ forkedFrom: { runId: run.id, stepId: 'shape' }, reused: ['fetch'] });
    expect(comparison.changedSteps).toEqual(['shape']);
    expect(comparison.steps.find((step) => step.stepId === 'shape')?.output.changes).toEqual([{ path: 'style', a: 'short', b: 'haiku' }]);
    expect(comparison.b).toMatchObject({ reusedSteps: 1, executedSteps: 2 });
  });

  it("governs with the typed routes: the project's default limits, a run's limits raised and resumed, a human quality gate scored, re-run and approved", async () => {
    const { projectId, baton } = await projectClient();
    const settings: ProjectSettingsBody = { limits: { maxExecutedSteps: 1 } };
    const changed = await unwrap(baton.PATCH('/v1/projects/{projectId}/settings', { params: { path: { projectId } }, body: settings }));
    const saved = await unwrap(
      baton.POST('/v1/projects/{projectId}/workflows', {
        params: { path: { projectId } },
        body: { name: 'sdk-gated', steps: [{ id: 'prepare', kind: 'noop' }, { id: 'draft', kind: 'noop', dependsOn: ['prepare'], input: { text: 'otters' }, qa: { reviewer: 'human', threshold: 60, onBelow: 'pause' } }] },
      }),
    );
    // The project's default of one execution stops the run before draft; raised on the run, it resumes.
    const created = await unwrap(baton.POST('/v1/projects/{projectId}/runs', { params: { path: { projectId } }, body: { workflowId: saved.id } }));
    const blocked = await waitForRun(baton, created.id, { timeoutMs: 45_000 });
    const limits: RunLimitsBody = { maxExecutedSteps: 5 };
    const raised = await unwrap(baton.PUT('/v1/runs/{runId}/limits', { params: { path: { runId: created.id } }, body: limits }));
    await unwrap(baton.POST('/v1/runs/{runId}/actions/{action}', { params: { path: { runId: created.id, action: 'resume' } } }));
    const path = { runId: created.id, stepId: 'draft' };
    const atGate = () => waitForStep(baton, created.id, 'draft', { until: (step) => step.status === 'needs_qa' && step.gate?.state === 'waiting', timeoutMs: 45_000 });
    const waiting = await atGate();
    // A person's score decides a human gate: below the threshold it pauses.
    await unwrap(baton.POST('/v1/runs/{runId}/steps/{stepId}/feedback', { params: { path }, body: { score: 40, comment: 'thin' } }));
    const paused = await unwrap(baton.GET('/v1/runs/{runId}/steps/{stepId}', { params: { path } }));
    const rerun = await unwrap(baton.POST('/v1/runs/{runId}/steps/{stepId}/actions/rerun', { params: { path }, body: { guidance: 'More detail.' } }));
    await atGate();
    const approved = await unwrap(baton.POST('/v1/runs/{runId}/steps/{stepId}/actions/{action}', { params: { path: { ...path, action: 'approve' } }, body: { comment: 'ok' } }));
    const done = await waitForRun(baton, created.id, { timeoutMs: 45_000 });

    expect(changed.limits).toEqual({ maxExecutedSteps: 1 });
    expect(blocked).toMatchObject({ status: 'blocked', limits: { maxExecutedSteps: 1, executedSteps: 1 } });
    expect(blocked.reason).toMatch(/^MAX_EXECUTED_STEPS: /);
    expect(raised.limits).toMatchObject({ maxExecutedSteps: 5 });
    const gate: StepGate | undefined = waiting.gate;
    expect(gate).toMatchObject({ state: 'waiting', reviewer: 'human', threshold: 60, onBelow: 'pause', from: 'step' });
    expect(paused.gate).toMatchObject({ state: 'paused', score: 40, comment: 'thin' });
    expect(rerun).toMatchObject({ step: { id: 'draft', generation: 2 }, downstream: [] });
    expect(approved).toMatchObject({ id: 'draft', status: 'completed', comment: 'ok' });
    expect(done.status).toBe('completed');
  });

  it("reads a big run's steps and a map's children through their cursors with async iterators", async () => {
    const { projectId, baton } = await projectClient();
    const name = (index: number) => `s${String(index).padStart(4, '0')}`;
    const big = await unwrap(baton.POST('/v1/projects/{projectId}/workflows', { params: { path: { projectId } }, body: { name: 'sdk-big', steps: Array.from({ length: 1100 }, (_, index) => ({ id: name(index), kind: 'noop' })) } }));
    const bigRun = await unwrap(baton.POST('/v1/projects/{projectId}/runs', { params: { path: { projectId } }, body: { workflowId: big.id, start: false } }));
    const steps = await collect(runSteps(baton, bigRun.id, { pageSize: 500 }));
    expect(steps.map((step) => step.id)).toEqual(Array.from({ length: 1100 }, (_, index) => name(index)));
    expect(steps.every((step) => step.status === 'pending')).toBe(true);
    expect((await collect(runSteps(baton, bigRun.id, { pageSize: 500, limit: 3 }))).map((step) => step.id)).toEqual(['s0000', 's0001', 's0002']);

    const map = await unwrap(
      baton.POST('/v1/projects/{projectId}/workflows', { params: { path: { projectId } }, body: { name: 'sdk-map', steps: [{ id: 'fan', kind: 'map', input: { items: Array.from({ length: 25 }, (_, index) => index), step: { kind: 'noop', input: { n: '{{item}}' } } } }] } }),
    );
    const run = await createRunAndWait(baton, { projectId, workflowId: map.id }, { timeoutMs: 120_000 });
    expect(run.status).toBe('completed');
    const children = await collect(mapChildren(baton, run.id, 'fan', { pageSize: 10 }));
    expect(children.map((child) => [child.index, child.id, child.status])).toEqual(Array.from({ length: 25 }, (_, index) => [index, `fan[${String(index).padStart(6, '0')}]`, 'completed']));
  }, 180_000);
});
