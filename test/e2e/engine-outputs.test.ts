import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { unwrap } from '#sdk';
import { keys } from '#shared/store/keys';
import { aws } from '../helpers/aws';
import { subscribeToBus, type BusEvent, type BusSubscription } from '../helpers/bus';
import { engineClient } from '../helpers/engine';
import { eventually } from '../helpers/poll';
import { resetData } from '../helpers/reset';
import { stack } from '../helpers/stack';
import { reportArtifact, useTestAgent } from '../helpers/test-agent';

const testAgent = useTestAgent({ beforeAll, afterAll });
let subscriber: BusSubscription;
beforeAll(async () => {
  subscriber = await subscribeToBus(`e2e-lifecycle-${Date.now()}`, { source: ['baton'], 'detail-type': ['run.completed', 'step.failed', 'step.completed'] });
});
afterAll(async () => {
  await subscriber.remove();
});
beforeEach(resetData);

describe('outputs, artifacts, history and lifecycle events', () => {
  it('keeps a large output and the artifacts in S3 and serves them through signed URLs', async () => {
    const client = await engineClient();
    const workflowId = await client.workflow({
      name: 'outputs',
      steps: [
        { id: 'big', kind: 'http', input: { url: `${testAgent().url}/big?bytes=20000` } },
        { id: 'report', kind: 'http', input: { url: `${testAgent().url}/artifact` } },
      ],
    });
    const { id } = await client.run(workflowId);
    await client.waitFor(id, ['completed', 'blocked']);

    const big = await client.step(id, 'big');
    const report = await client.step(id, 'report');
    const output = await fetch(big.outputUrl!);
    const artifact = await fetch(report.artifacts[0]!.url);

    expect(big.output).toBeUndefined();
    expect(output.status).toBe(200);
    expect(((await output.json()) as string).length).toBe(20000);
    expect(report.artifacts[0]).toMatchObject({ name: reportArtifact.name, contentType: reportArtifact.contentType });
    expect(await artifact.text()).toBe(reportArtifact.content);
    expect(new URL(big.outputUrl!).searchParams.get('X-Amz-Expires')).toBe('900');
  });

  it('publishes run.completed and step.failed on the bus for subscribers', async () => {
    const client = await engineClient();
    // Step events reach the bus only for projects that subscribe to them.
    await unwrap(client.baton.PATCH('/v1/projects/{projectId}/settings', { params: { path: { projectId: client.projectId } }, body: { publishStepEvents: true } }));
    const ok = await client.workflow({ name: 'ok', steps: [{ id: 'a', kind: 'noop' }] });
    const bad = await client.workflow({ name: 'bad', steps: [{ id: 'b', kind: 'http', input: { url: `${testAgent().url}/status/422` } }] });

    const completed = await client.run(ok);
    const failed = await client.run(bad);
    const seen: BusEvent[] = [];
    await eventually('run.completed and step.failed on the subscriber queue', async () => {
      seen.push(...(await subscriber.receive()));
      const types = new Set(seen.map((event) => `${event['detail-type']}:${event.detail.runId}`));
      return types.has(`run.completed:${completed.id}`) && types.has(`step.failed:${failed.id}`) ? true : undefined;
    }, { timeoutMs: 30_000 });

    expect(seen.every((event) => ['run.completed', 'step.failed', 'step.completed'].includes(event['detail-type']))).toBe(true);
  });

  it('keeps step events off the bus by default, and every event in the history', async () => {
    const client = await engineClient();
    const workflowId = await client.workflow({ name: 'quiet', steps: [{ id: 'a', kind: 'noop' }, { id: 'b', kind: 'noop', dependsOn: ['a'] }] });

    const { id } = await client.run(workflowId);
    await client.waitFor(id, ['completed']);
    // The publication mark lands just after the bus has the event; step events would have been
    // put on the bus with it (the same publish), never after.
    const stored = await eventually('the run events marked published', async () => {
      const { Items = [] } = await aws.documents.send(
        new QueryCommand({ TableName: stack.tableName, KeyConditionExpression: 'pk = :pk AND begins_with(sk, :events)', ExpressionAttributeValues: { ':pk': keys.run(id).pk, ':events': keys.runEvent(id, '').sk } }),
      );
      return Items.some((item) => item.type === 'run.completed' && item.publishedAt) ? Items : undefined;
    });
    // Everything put on the bus until now has reached the subscriber's queue.
    const seen = await subscriber.settle();
    const history = (await client.events(id)).map((event) => event.type);

    expect(seen.filter((event) => event.detail.runId === id).map((event) => event['detail-type'])).toEqual(['run.completed']);
    expect(history.filter((type) => type === 'step.completed')).toHaveLength(2);
    expect(history).toEqual(expect.arrayContaining(['run.created', 'run.started', 'step.queued', 'step.started', 'step.completed', 'run.completed']));
    // Step events never enter the outbox (nothing for the sweeper); run events left it once published.
    expect(stored.filter((item) => item.outboxPk !== undefined)).toEqual([]);
    expect(stored.filter((item) => item.publishedAt !== undefined).map((item) => String(item.type)).sort()).toEqual(['run.completed', 'run.created', 'run.started']);
  });

  it("pages the event history in either order and lists a project's runs by status", async () => {
    const client = await engineClient();
    const workflowId = await client.workflow({ name: 'three', steps: ['a', 'b', 'c'].map((id, index, ids) => ({ id, kind: 'noop', dependsOn: ids.slice(index - 1, index) })) });
    const { id } = await client.run(workflowId);
    const pending = await client.run(workflowId, { start: false });
    await client.waitFor(id, ['completed']);

    const all = await client.events(id);
    const eventsPage = (cursor?: string) => unwrap(client.baton.GET('/v1/runs/{runId}/events', { params: { path: { runId: id }, query: { order: 'desc', limit: 2, ...(cursor ? { cursor } : {}) } } }));
    const firstDesc = await eventsPage();
    const nextDesc = await eventsPage(firstDesc.cursor);
    const listRuns = (query: { status: 'completed' | 'pending'; workflowId?: string }) => unwrap(client.baton.GET('/v1/projects/{projectId}/runs', { params: { path: { projectId: client.projectId }, query } }));
    const completedRuns = await listRuns({ status: 'completed' });
    const pendingRuns = await listRuns({ status: 'pending', workflowId });
    // Raw fetch: the SDK's types allow only the statuses the contract names.
    const badQuery = await fetch(`${stack.apiUrl}/v1/projects/${client.projectId}/runs?status=sleeping`, { headers: { authorization: `Bearer ${client.token}` } });

    expect(all[0]?.type).toBe('run.created');
    expect(all.at(-1)?.type).toBe('run.completed');
    expect([...firstDesc.items, ...nextDesc.items].map((event) => event.id)).toEqual(all.slice(-4).reverse().map((event) => event.id));
    expect(completedRuns.items.map((run) => run.id)).toEqual([id]);
    expect(pendingRuns.items.map((run) => run.id)).toEqual([pending.id]);
    expect(badQuery.status).toBe(400);
  });
});
