import { DescribeRuleCommand, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { InvokeCommand } from '@aws-sdk/client-lambda';
import { beforeEach, describe, expect, it } from 'vitest';
import { unwrap, type CreateTriggerBody, type Run, type Trigger } from '#sdk';
import { aws } from '../helpers/aws';
import { engineClient, type EngineClient } from '../helpers/engine';
import { batonClient } from '../helpers/projects';
import { eventually } from '../helpers/poll';
import { resetData } from '../helpers/reset';
import { stack } from '../helpers/stack';
import { githubDelivery, githubSignature, setWebhookSecret } from '../helpers/webhooks';

beforeEach(resetData);

const createTrigger = (client: EngineClient, body: CreateTriggerBody) =>
  client.baton.POST('/v1/projects/{projectId}/triggers', { params: { path: { projectId: client.projectId } }, body });

const triggerAction = (client: EngineClient, triggerId: string, action: 'pause' | 'resume') =>
  unwrap(client.baton.POST('/v1/projects/{projectId}/triggers/{triggerId}/actions/{action}', { params: { path: { projectId: client.projectId, triggerId, action } } }));

const runsOf = async (client: EngineClient, workflowId: string): Promise<Run[]> =>
  (await unwrap(client.baton.GET('/v1/projects/{projectId}/runs', { params: { path: { projectId: client.projectId }, query: { workflowId } } }))).items;

/** Polls until the workflow has `count` runs; returns them. */
const waitForRuns = (client: EngineClient, workflowId: string, count: number) =>
  eventually(`${count} run(s) of ${workflowId}`, async () => {
    const runs = await runsOf(client, workflowId);
    return runs.length >= count ? runs : undefined;
  }, { timeoutMs: 30_000, intervalMs: 300 });

const pushBody = (repository: string, branch: string, after = 'c0ffee') => JSON.stringify({ ref: `refs/heads/${branch}`, after, repository: { full_name: repository }, pusher: { name: 'octocat' } });

const putEvent = async (source: string, detailType: string, detail: Record<string, unknown>) => {
  const result = await aws.events.send(new PutEventsCommand({ Entries: [{ EventBusName: stack.triggerBus, Source: source, DetailType: detailType, Detail: JSON.stringify(detail) }] }));
  expect(result.FailedEntryCount ?? 0).toBe(0);
  return result.Entries![0]!.EventId!;
};

const noopWorkflow = (client: EngineClient, name: string) => client.workflow({ name, steps: [{ id: 'work', kind: 'noop' }] });

describe('triggers: runs started by webhook deliveries', () => {
  it('a signed GitHub push to the mapped repository starts exactly one run, even delivered twice; other branches and a paused trigger start nothing', async () => {
    const client = await engineClient();
    const { secret } = await setWebhookSecret(client, 'github');
    const workflowId = await noopWorkflow(client, 'on-push');
    const created = await createTrigger(client, {
      name: 'deploy main',
      workflowId,
      source: { type: 'webhook', provider: 'github', event: 'push', filter: { repository: 'Acme/App', branch: 'main' } },
    });
    expect(created.response.status).toBe(201);
    const trigger = created.data!;
    expect(trigger).toMatchObject({ state: 'ENABLED', workflowId, source: { type: 'webhook', provider: 'github', event: 'push' } });

    const body = pushBody('acme/app', 'main');
    const first = await githubDelivery(client, 'push', 'push-1', body, githubSignature(secret, body));
    const again = await githubDelivery(client, 'push', 'push-1', body, githubSignature(secret, body));
    const other = pushBody('acme/app', 'feature');
    const otherBranch = await githubDelivery(client, 'push', 'push-2', other, githubSignature(secret, other));
    const reactions = await client.waitForDeliveryHandled('github', 'push-1');
    const otherReactions = await client.waitForDeliveryHandled('github', 'push-2');

    expect(first.status).toBe(202);
    expect(again.body.duplicate).toBe(true);
    expect(otherBranch.status).toBe(202);
    expect(reactions.startedRuns).toHaveLength(1);
    expect(otherReactions.startedRuns).toEqual([]);
    const runs = await runsOf(client, workflowId);
    expect(runs.map((run) => run.id)).toEqual(reactions.startedRuns);
    const run = await client.waitFor(runs[0]!.id, ['completed']);
    // The event is the run's input: the normalized delivery and the payload as GitHub sent it.
    expect(run.input).toMatchObject({ delivery: { provider: 'github', deliveryId: 'push-1', event: 'push', repository: 'acme/app', branch: 'main', sha: 'c0ffee' }, payload: JSON.parse(body) });
    const [createdEvent] = (await client.events(run.id)).filter((event) => event.type === 'run.created');
    expect(createdEvent?.actor).toBe(`trigger:${trigger.id}`);

    // Paused: a matching delivery is handled and starts nothing; resumed, the next one starts a run.
    expect((await triggerAction(client, trigger.id, 'pause')).state).toBe('DISABLED');
    const paused = pushBody('acme/app', 'main', 'beef01');
    await githubDelivery(client, 'push', 'push-3', paused, githubSignature(secret, paused));
    expect((await client.waitForDeliveryHandled('github', 'push-3')).startedRuns).toEqual([]);
    expect((await triggerAction(client, trigger.id, 'resume')).state).toBe('ENABLED');
    const resumed = pushBody('acme/app', 'main', 'beef02');
    await githubDelivery(client, 'push', 'push-4', resumed, githubSignature(secret, resumed));
    expect((await client.waitForDeliveryHandled('github', 'push-4')).startedRuns).toHaveLength(1);
    expect(await runsOf(client, workflowId)).toHaveLength(2);
  });

  it('maps the event into the input by JSONPath when asked', async () => {
    const client = await engineClient();
    const { secret } = await setWebhookSecret(client, 'github');
    const workflowId = await noopWorkflow(client, 'mapped');
    const created = await createTrigger(client, {
      workflowId,
      source: { type: 'webhook', provider: 'github', event: 'push' },
      input: { mapping: { sha: '$.delivery.sha', pusher: '$.payload.pusher.name', missing: '$.payload.nothing' } },
    });
    expect(created.response.status).toBe(201);
    const body = pushBody('acme/other', 'dev', 'feed42');
    await githubDelivery(client, 'push', 'map-1', body, githubSignature(secret, body));
    const [runId] = (await client.waitForDeliveryHandled('github', 'map-1')).startedRuns;
    expect((await client.getRun(runId!)).input).toEqual({ sha: 'feed42', pusher: 'octocat' });
  });
});

describe('triggers: runs started by EventBridge events', () => {
  it('an event put on the bus matching the pattern starts a run with the event as input; a redelivered event starts no second run', async () => {
    const client = await engineClient();
    const workflowId = await noopWorkflow(client, 'on-order');
    const created = await createTrigger(client, {
      workflowId,
      source: { type: 'eventbridge', pattern: { source: ['acme.orders'], 'detail-type': ['order.placed'], detail: { region: ['eu'] } } },
    });
    expect(created.response.status).toBe(201);
    const trigger = created.data!;
    expect(trigger.rule).toEqual({ name: expect.stringMatching(/^baton-local-trigger-trg_/), bus: stack.triggerBus });

    await putEvent('acme.orders', 'order.placed', { orderId: 'o-7', region: 'us' });
    const eventId = await putEvent('acme.orders', 'order.placed', { orderId: 'o-42', region: 'eu' });
    const [run] = await waitForRuns(client, workflowId, 1);
    const done = await client.waitFor(run!.id, ['completed']);
    expect(done.input).toMatchObject({ id: eventId, source: 'acme.orders', 'detail-type': 'order.placed', detail: { orderId: 'o-42', region: 'eu' } });

    // EventBridge delivers at least once: the same event again (as its rule sends it) finds the same run.
    const redelivered = await aws.lambda.send(
      new InvokeCommand({ FunctionName: stack.triggerStartFunction, Payload: new TextEncoder().encode(JSON.stringify({ projectId: client.projectId, triggerId: trigger.id, event: done.input })) }),
    );
    expect(JSON.parse(new TextDecoder().decode(redelivered.Payload))).toEqual({ runId: run!.id, created: false });
    // The non-matching event (region us) started nothing.
    expect(await runsOf(client, workflowId)).toHaveLength(1);
  });

  it('a paused trigger starts nothing (its rule disabled); resumed it starts again; deleted its rule is gone', async () => {
    const client = await engineClient();
    const workflowId = await noopWorkflow(client, 'on-signal');
    const fenceWorkflow = await noopWorkflow(client, 'fence');
    const trigger = (await createTrigger(client, { workflowId, source: { type: 'eventbridge', pattern: { source: ['acme.signals'], detail: { kind: ['ping'] } } } })).data!;
    // A second trigger on another event: its run shows events put after the paused one were handled.
    await createTrigger(client, { workflowId: fenceWorkflow, source: { type: 'eventbridge', pattern: { source: ['acme.fence'] } } });

    expect((await triggerAction(client, trigger.id, 'pause')).state).toBe('DISABLED');
    const rule = await aws.events.send(new DescribeRuleCommand({ Name: trigger.rule!.name, EventBusName: trigger.rule!.bus }));
    expect(rule.State).toBe('DISABLED');
    await putEvent('acme.signals', 'signal', { kind: 'ping' });
    await putEvent('acme.fence', 'fence', { n: 1 });
    await waitForRuns(client, fenceWorkflow, 1);
    expect(await runsOf(client, workflowId)).toHaveLength(0);

    await triggerAction(client, trigger.id, 'resume');
    await putEvent('acme.signals', 'signal', { kind: 'ping' });
    await waitForRuns(client, workflowId, 1);

    const deleted = await client.baton.DELETE('/v1/projects/{projectId}/triggers/{triggerId}', { params: { path: { projectId: client.projectId, triggerId: trigger.id } } });
    expect(deleted.response.status).toBe(204);
    await expect(aws.events.send(new DescribeRuleCommand({ Name: trigger.rule!.name, EventBusName: trigger.rule!.bus }))).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
    const listed = (await unwrap(client.baton.GET('/v1/projects/{projectId}/triggers', { params: { path: { projectId: client.projectId } } }))).items;
    expect(listed.map((item: Trigger) => item.id)).not.toContain(trigger.id);
  });
});

describe('triggers: roles', () => {
  it('editors manage triggers, viewers list them', async () => {
    const client = await engineClient();
    const workflowId = await noopWorkflow(client, 'roles');
    const tokenOf = (role: 'editor' | 'viewer') =>
      unwrap(client.baton.POST('/v1/projects/{projectId}/tokens', { params: { path: { projectId: client.projectId } }, body: { name: role, role } }));
    const asEditor = batonClient((await tokenOf('editor')).token);
    const asViewer = batonClient((await tokenOf('viewer')).token);
    const path = { projectId: client.projectId };
    const body = { workflowId, source: { type: 'webhook', provider: 'github' } } as const;

    const viewerCreates = await asViewer.POST('/v1/projects/{projectId}/triggers', { params: { path }, body });
    const editorCreates = await asEditor.POST('/v1/projects/{projectId}/triggers', { params: { path }, body });
    const triggerId = editorCreates.data!.id;
    const viewerLists = await asViewer.GET('/v1/projects/{projectId}/triggers', { params: { path } });
    const viewerPauses = await asViewer.POST('/v1/projects/{projectId}/triggers/{triggerId}/actions/{action}', { params: { path: { ...path, triggerId, action: 'pause' } } });
    const viewerDeletes = await asViewer.DELETE('/v1/projects/{projectId}/triggers/{triggerId}', { params: { path: { ...path, triggerId } } });
    const editorPauses = await asEditor.POST('/v1/projects/{projectId}/triggers/{triggerId}/actions/{action}', { params: { path: { ...path, triggerId, action: 'pause' } } });
    const editorDeletes = await asEditor.DELETE('/v1/projects/{projectId}/triggers/{triggerId}', { params: { path: { ...path, triggerId } } });

    expect([viewerCreates.response.status, viewerPauses.response.status, viewerDeletes.response.status]).toEqual([403, 403, 403]);
    expect([editorCreates.response.status, viewerLists.response.status, editorPauses.response.status, editorDeletes.response.status]).toEqual([201, 200, 200, 204]);
    expect(viewerLists.data!.items.map((item: Trigger) => item.id)).toEqual([triggerId]);
  });
});

describe('triggers: bad input', () => {
  it('gets 400s naming the field (unknown workflow, bad pattern, unknown provider) and writes nothing', async () => {
    const client = await engineClient();
    const workflowId = await noopWorkflow(client, 'target');
    const unknownWorkflow = await createTrigger(client, { workflowId: 'wf_00000000000000000000000000', source: { type: 'webhook', provider: 'github' } });
    const unknownVersion = await createTrigger(client, { workflowId, version: 9, source: { type: 'webhook', provider: 'github' } });
    // EventBridge refuses it (a leaf must be an array): the refusal is the caller's 400.
    const badPattern = await createTrigger(client, { workflowId, source: { type: 'eventbridge', pattern: { source: 'acme.orders' } } });
    const emptyPattern = await createTrigger(client, { workflowId, source: { type: 'eventbridge', pattern: {} } });
    const unknownProvider = await createTrigger(client, { workflowId, source: { type: 'webhook', provider: 'bitbucket' as 'github' } });
    const badPath = await createTrigger(client, { workflowId, source: { type: 'webhook', provider: 'github' }, input: { mapping: { x: 'payload.sha' } } });

    const fieldOf = (result: { response: Response; error?: unknown }) => ({ status: result.response.status, field: (result.error as { error?: { field?: string } })?.error?.field });
    expect(fieldOf(unknownWorkflow)).toEqual({ status: 400, field: 'body.workflowId' });
    expect(fieldOf(unknownVersion)).toEqual({ status: 400, field: 'body.version' });
    expect(fieldOf(badPattern)).toEqual({ status: 400, field: 'body.source.pattern' });
    expect(fieldOf(emptyPattern)).toEqual({ status: 400, field: 'body.source.pattern' });
    expect(fieldOf(unknownProvider)).toEqual({ status: 400, field: 'body.source.provider' });
    expect(fieldOf(badPath)).toEqual({ status: 400, field: 'body.input.mapping.x' });
    // Nothing half-written: the refused pattern left no trigger behind.
    expect((await unwrap(client.baton.GET('/v1/projects/{projectId}/triggers', { params: { path: { projectId: client.projectId } } }))).items).toEqual([]);
  });
});
