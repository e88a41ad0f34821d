import { InvokeCommand } from '@aws-sdk/client-lambda';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { beforeEach, describe, expect, it } from 'vitest';
import { collect, createClient, paginate, runEvents, unwrap, waitForRun, type BatonClient } from '#sdk';
import { createProject } from '../helpers/projects';
import { aws } from '../helpers/aws';
import { eventually } from '../helpers/poll';
import { resetData } from '../helpers/reset';
import { listingsIndex } from '#shared/store/keys';
import { stack } from '../helpers/stack';

beforeEach(resetData);

async function projectClient(name: string) {
  const project = await createProject(name);
  return { projectId: project.id, baton: createClient({ baseUrl: stack.apiUrl, token: project.adminToken.token }) };
}

const inbox = (baton: BatonClient, projectId: string) => collect(paginate((cursor) => unwrap(baton.GET('/v1/projects/{projectId}/inbox', { params: { path: { projectId }, query: { limit: 2, ...(cursor ? { cursor } : {}) } } }))));
/** The inbox entries in the index itself (the listing also skips what moved on meanwhile, so this is what proves the index is kept). */
async function indexEntries(projectId: string): Promise<number> {
  const { Count } = await aws.documents.send(
    new QueryCommand({
      TableName: stack.tableName,
      IndexName: listingsIndex.name,
      KeyConditionExpression: '#pk = :pk',
      ExpressionAttributeNames: { '#pk': listingsIndex.partitionKey },
      ExpressionAttributeValues: { ':pk': listingsIndex.inbox(projectId) },
      Select: 'COUNT',
    }),
  );
  return Count ?? 0;
}

const stepsWaiting = (run: { steps: { byStatus: Record<string, number> } }) => (run.steps.byStatus.needs_qa ?? 0) > 0;

describe("a project's approval inbox", () => {
  it('lists the steps waiting in needs_qa across runs, oldest first, and drops each as it is approved, rejected or its run cancelled', async () => {
    const { projectId, baton } = await projectClient('inbox');
    const other = await projectClient('inbox-other');
    const { id: workflowId } = await unwrap(
      baton.POST('/v1/projects/{projectId}/workflows', {
        params: { path: { projectId } },
        body: { name: 'gated', steps: [{ id: 'build', kind: 'noop' }, { id: 'review', kind: 'approval', dependsOn: ['build'], input: { prompt: 'Ship it?' }, timeoutSeconds: 3600 }] },
      }),
    );
    const { id: otherWorkflow } = await unwrap(other.baton.POST('/v1/projects/{projectId}/workflows', { params: { path: { projectId: other.projectId } }, body: { name: 'elsewhere', steps: [{ id: 'gate', kind: 'approval' }] } }));
    const runs = [];
    for (let index = 0; index < 3; index += 1) {
      const run = await unwrap(baton.POST('/v1/projects/{projectId}/runs', { params: { path: { projectId } }, body: { workflowId } }));
      runs.push(await waitForRun(baton, run.id, { until: stepsWaiting, timeoutMs: 30_000 }));
    }
    const otherRun = await unwrap(other.baton.POST('/v1/projects/{projectId}/runs', { params: { path: { projectId: other.projectId } }, body: { workflowId: otherWorkflow } }));
    await waitForRun(other.baton, otherRun.id, { until: stepsWaiting, timeoutMs: 30_000 });

    const waiting = await inbox(baton, projectId);
    expect(await indexEntries(projectId)).toBe(3);
    expect(waiting.map((item) => item.runId)).toEqual(runs.map((run) => run.id));
    expect(waiting[0]).toEqual({
      runId: runs[0]!.id,
      stepId: 'review',
      kind: 'approval',
      waitingFor: 'awaiting approval: Ship it?',
      since: expect.any(String),
      deadline: expect.any(String),
      workflowId,
      workflowName: 'gated',
      runStatus: 'running',
      prompt: 'Ship it?',
    });
    expect(Date.parse(waiting[0]!.deadline!) - Date.parse(waiting[0]!.since)).toBe(3_600_000);
    expect(Date.parse(waiting[0]!.since)).toBeLessThanOrEqual(Date.parse(waiting[1]!.since));

    const path = (runId: string, action: 'approve' | 'reject') => ({ params: { path: { runId, stepId: 'review', action } } });
    await unwrap(baton.POST('/v1/runs/{runId}/steps/{stepId}/actions/{action}', path(runs[0]!.id, 'approve')));
    await unwrap(baton.POST('/v1/runs/{runId}/steps/{stepId}/actions/{action}', { ...path(runs[1]!.id, 'reject'), body: { reason: 'not yet' } }));
    await unwrap(baton.POST('/v1/runs/{runId}/actions/{action}', { params: { path: { runId: runs[2]!.id, action: 'cancel' } } }));

    const emptied = await eventually('the inbox to empty', async () => {
      const items = await inbox(baton, projectId);
      return items.length === 0 ? items : undefined;
    });
    const cancelled = await unwrap(baton.GET('/v1/runs/{runId}/steps/{stepId}', { params: { path: { runId: runs[2]!.id, stepId: 'review' } } }));
    const approvedRun = await waitForRun(baton, runs[0]!.id, { timeoutMs: 30_000 });
    const othersInbox = await inbox(other.baton, other.projectId);

    expect(emptied).toEqual([]);
    expect(await indexEntries(projectId)).toBe(0);
    expect(cancelled.status).toBe('cancelled');
    expect(approvedRun.status).toBe('completed');
    expect(othersInbox.map((item) => item.runId)).toEqual([otherRun.id]);
  });

  it('keeps the comment a step was approved or rejected with on the step and in its event; older bodies still work', async () => {
    const { projectId, baton } = await projectClient('inbox-comments');
    const { id: workflowId } = await unwrap(
      baton.POST('/v1/projects/{projectId}/workflows', { params: { path: { projectId } }, body: { name: 'reviewed', steps: [{ id: 'review', kind: 'approval' }, { id: 'after', kind: 'noop', dependsOn: ['review'] }] } }),
    );
    const runs = [];
    for (let index = 0; index < 3; index += 1) {
      const run = await unwrap(baton.POST('/v1/projects/{projectId}/runs', { params: { path: { projectId } }, body: { workflowId } }));
      runs.push(await waitForRun(baton, run.id, { until: stepsWaiting, timeoutMs: 30_000 }));
    }
    const decide = (runId: string, action: 'approve' | 'reject', body: { comment?: string; reason?: string; output?: unknown }) =>
      unwrap(baton.POST('/v1/runs/{runId}/steps/{stepId}/actions/{action}', { params: { path: { runId, stepId: 'review', action } }, body }));
    const tooLong = await baton.POST('/v1/runs/{runId}/steps/{stepId}/actions/{action}', { params: { path: { runId: runs[0]!.id, stepId: 'review', action: 'approve' } }, body: { comment: 'x'.repeat(1001) } });

    const approved = await decide(runs[0]!.id, 'approve', { comment: 'Looks right; ship it.' });
    const rejected = await decide(runs[1]!.id, 'reject', { comment: 'The totals are off by one.' });
    const approvedWithOutput = await decide(runs[2]!.id, 'approve', { output: { verdict: 'ship' } });
    const stepEvent = async (runId: string, type: string) => {
      const events = await collect(runEvents(baton, runId));
      return events.find((event) => event.type === type && event.stepId === 'review');
    };

    expect(tooLong.response.status).toBe(400);
    expect(tooLong.error).toMatchObject({ error: { field: 'body.comment' } });
    expect(approved).toMatchObject({ status: 'completed', comment: 'Looks right; ship it.', output: { approvedBy: expect.any(String), comment: 'Looks right; ship it.' } });
    expect((await stepEvent(runs[0]!.id, 'step.completed'))?.detail).toMatchObject({ comment: 'Looks right; ship it.' });
    expect(rejected).toMatchObject({ status: 'failed', comment: 'The totals are off by one.', error: { code: 'REJECTED', message: 'rejected: The totals are off by one.' } });
    expect((await stepEvent(runs[1]!.id, 'step.failed'))?.detail).toMatchObject({ comment: 'The totals are off by one.' });
    expect(approvedWithOutput).toMatchObject({ status: 'completed', output: { verdict: 'ship' } });
    expect(approvedWithOutput).not.toHaveProperty('comment');
    expect((await waitForRun(baton, runs[0]!.id, { timeoutMs: 30_000 })).status).toBe('completed');
    expect((await waitForRun(baton, runs[1]!.id, { timeoutMs: 30_000 })).status).toBe('blocked');
  });

  it('drops a step whose deadline passed, and takes it back when the run is retried', async () => {
    const { projectId, baton } = await projectClient('inbox-deadline');
    const { id: workflowId } = await unwrap(baton.POST('/v1/projects/{projectId}/workflows', { params: { path: { projectId } }, body: { name: 'hurry', steps: [{ id: 'gate', kind: 'approval', timeoutSeconds: 2 }] } }));
    const run = await unwrap(baton.POST('/v1/projects/{projectId}/runs', { params: { path: { projectId } }, body: { workflowId } }));
    await waitForRun(baton, run.id, { until: stepsWaiting, timeoutMs: 30_000 });
    const before = await inbox(baton, projectId);

    const blocked = await eventually('the deadline to fail the gate', async () => {
      const swept = await aws.lambda.send(new InvokeCommand({ FunctionName: stack.sweeperFunction, Payload: new TextEncoder().encode('{}') }));
      expect(swept.FunctionError).toBeUndefined();
      const current = await unwrap(baton.GET('/v1/runs/{runId}', { params: { path: { runId: run.id } } }));
      return current.status === 'blocked' ? current : undefined;
    }, { timeoutMs: 30_000, intervalMs: 500 });
    const afterDeadline = await inbox(baton, projectId);
    const entriesAfterDeadline = await indexEntries(projectId);
    await unwrap(baton.POST('/v1/runs/{runId}/actions/retry', { params: { path: { runId: run.id } } }));
    const again = await eventually('the retried gate back in the inbox', async () => {
      const items = await inbox(baton, projectId);
      return items.length === 1 ? items : undefined;
    });

    expect(before.map((item) => item.stepId)).toEqual(['gate']);
    expect(blocked.reason).toContain('gate');
    expect(afterDeadline).toEqual([]);
    expect(entriesAfterDeadline).toBe(0);
    expect(again[0]).toMatchObject({ runId: run.id, stepId: 'gate', waitingFor: 'awaiting approval' });
    expect(again[0]!.prompt).toBeUndefined();
  });
});

describe("a project's event feed", () => {
  /** The step events a person acts on: in the feed whatever the project's settings. */
  const actedOn = ['step.needs_qa', 'step.failed', 'step.retry_requested'];

  it("pages through the project's own events, its runs' events and the step events a person acts on (every step event with publishStepEvents), newest first, and no other project's", async () => {
    const { projectId, baton } = await projectClient('feed');
    const other = await projectClient('feed-other');
    const steps = [{ id: 'a', kind: 'noop' }, { id: 'review', kind: 'approval', dependsOn: ['a'] }, { id: 'b', kind: 'noop', dependsOn: ['review'] }];
    const { id: workflowId } = await unwrap(baton.POST('/v1/projects/{projectId}/workflows', { params: { path: { projectId } }, body: { name: 'gated', steps } }));
    await unwrap(other.baton.POST('/v1/projects/{projectId}/workflows', { params: { path: { projectId: other.projectId } }, body: { name: 'noise', steps: [{ id: 'x', kind: 'noop' }] } }));
    const review = (runId: string, action: 'approve' | 'reject') => unwrap(baton.POST('/v1/runs/{runId}/steps/{stepId}/actions/{action}', { params: { path: { runId, stepId: 'review', action } } }));
    const gated = async () => {
      const run = await unwrap(baton.POST('/v1/projects/{projectId}/runs', { params: { path: { projectId } }, body: { workflowId } }));
      await waitForRun(baton, run.id, { until: stepsWaiting, timeoutMs: 30_000 });
      return run.id;
    };
    // An approved run; a rejected one, retried and then approved; both without publishStepEvents.
    const approved = await gated();
    await review(approved, 'approve');
    await waitForRun(baton, approved, { timeoutMs: 30_000 });
    const retried = await gated();
    await review(retried, 'reject');
    await waitForRun(baton, retried, { until: (run) => run.status === 'blocked', timeoutMs: 30_000 });
    await unwrap(baton.POST('/v1/runs/{runId}/actions/retry', { params: { path: { runId: retried } } }));
    await waitForRun(baton, retried, { until: stepsWaiting, timeoutMs: 30_000 });
    await review(retried, 'approve');
    await waitForRun(baton, retried, { timeoutMs: 30_000 });
    // A project that subscribes to step events before its first run (a function reads a project's settings at most every 30 s).
    const loud = await projectClient('feed-subscribed');
    await unwrap(loud.baton.PATCH('/v1/projects/{projectId}/settings', { params: { path: { projectId: loud.projectId } }, body: { publishStepEvents: true } }));
    const { id: loudWorkflow } = await unwrap(loud.baton.POST('/v1/projects/{projectId}/workflows', { params: { path: { projectId: loud.projectId } }, body: { name: 'gated', steps } }));
    const subscribed = (await unwrap(loud.baton.POST('/v1/projects/{projectId}/runs', { params: { path: { projectId: loud.projectId } }, body: { workflowId: loudWorkflow } }))).id;
    await waitForRun(loud.baton, subscribed, { until: stepsWaiting, timeoutMs: 30_000 });
    await unwrap(loud.baton.POST('/v1/runs/{runId}/steps/{stepId}/actions/{action}', { params: { path: { runId: subscribed, stepId: 'review', action: 'approve' } } }));
    await waitForRun(loud.baton, subscribed, { timeoutMs: 30_000 });

    const feed = await collect(paginate((cursor) => unwrap(baton.GET('/v1/projects/{projectId}/events', { params: { path: { projectId }, query: { limit: 4, ...(cursor ? { cursor } : {}) } } }))));
    const loudFeed = await collect(paginate((cursor) => unwrap(loud.baton.GET('/v1/projects/{projectId}/events', { params: { path: { projectId: loud.projectId }, query: { limit: 50, ...(cursor ? { cursor } : {}) } } }))));
    const history = async (runId: string, client = baton) => (await unwrap(client.GET('/v1/runs/{runId}/events', { params: { path: { runId }, query: { limit: 500 } } }))).items;
    const inFeed = (runId: string, events = feed) => events.filter((event) => event.runId === runId).map((event) => event.id).sort();
    const ids = feed.map((event) => event.id);

    expect(ids).toEqual([...ids].sort().reverse());
    expect(new Set(ids).size).toBe(ids.length);
    expect(feed.at(-1)?.type).toBe('project.created');
    expect(feed.filter((event) => event.type === 'workflow.saved')).toHaveLength(1);
    for (const runId of [approved, retried]) {
      const events = await history(runId);
      const expected = events.filter((event) => !event.type.startsWith('step.') || actedOn.includes(event.type));
      expect(events.some((event) => event.type === 'step.completed')).toBe(true);
      expect(inFeed(runId)).toEqual(expected.map((event) => event.id).sort());
    }
    expect(feed.filter((event) => event.runId === approved).map((event) => event.type)).toContain('step.needs_qa');
    expect(feed.filter((event) => event.runId === retried && event.stepId === 'review').map((event) => event.type).reverse()).toEqual(['step.needs_qa', 'step.failed', 'step.retry_requested', 'step.needs_qa']);
    expect(inFeed(subscribed, loudFeed)).toEqual((await history(subscribed, loud.baton)).map((event) => event.id).sort());
    expect(loudFeed.filter((event) => event.runId === subscribed).map((event) => event.type)).toEqual(expect.arrayContaining(['step.queued', 'step.started', 'step.completed']));
    expect(feed.some((event) => event.projectId === loud.projectId)).toBe(false);
    expect(feed.every((event) => event.projectId === projectId)).toBe(true);
    expect(feed[0]).not.toHaveProperty('gsi2pk');
    expect(feed[0]).not.toHaveProperty('outboxPk');
  });
});
