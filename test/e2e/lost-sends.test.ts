import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { InvokeCommand } from '@aws-sdk/client-lambda';
import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { unwrap } from '#sdk';
import { keys, timersIndex } from '#shared/store/keys';
import { aws } from '../helpers/aws';
import { engineClient, type EngineClient } from '../helpers/engine';
import { eventually } from '../helpers/poll';
import { resetData } from '../helpers/reset';
import { stack } from '../helpers/stack';

beforeEach(resetData);

/**
 * An agent on loopback for the gate case: `/accept` answers pending and keeps the callback URL it
 * was handed; `/review` scores what it is shown 90.
 */
let agent: Server;
let agentUrl: string;
const callbacks = new Map<string, string>();
const reviews: unknown[] = [];
beforeAll(async () => {
  agent = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as { runId?: string; callback?: { url: string } };
      if (request.url === '/accept' && body.runId && body.callback) callbacks.set(body.runId, body.callback.url);
      if (request.url === '/review') reviews.push(body);
      response.writeHead(request.url === '/accept' ? 202 : 200, { 'content-type': 'application/json' });
      response.end(JSON.stringify(request.url === '/accept' ? { ok: true, pending: true } : { ok: true, data: { score: 90, comment: 'fine' } }));
    });
  });
  await new Promise<void>((resolve) => agent.listen(0, '127.0.0.1', resolve));
  agentUrl = `http://127.0.0.1:${(agent.address() as AddressInfo).port}`;
});
afterAll(async () => {
  agent.closeAllConnections();
  await new Promise((resolve) => agent.close(resolve));
});

/**
 * The local stage's api function drops (without an error, as if it died right after its commit)
 * the messages of steps whose id starts with `lost-send-` (EngineOptions.loseTestSends, only where
 * TEST_EXECUTORS is on). Nothing else would ever send them: the sweeper must.
 */
async function runSweeper(): Promise<{ dispatchesResent: number }> {
  const response = await aws.lambda.send(new InvokeCommand({ FunctionName: stack.sweeperFunction, Payload: new TextEncoder().encode('{}') }));
  expect(response.FunctionError).toBeUndefined();
  return JSON.parse(new TextDecoder().decode(response.Payload)) as { dispatchesResent: number };
}

const stepItem = async (runId: string, stepId: string) =>
  (await aws.documents.send(new GetCommand({ TableName: stack.tableName, Key: keys.step(runId, stepId), ConsistentRead: true }))).Item ?? {};

/** Time passes beyond the sweeper's dispatch grace (the test moves the marker instead of waiting). */
async function overdue(runId: string, stepId: string): Promise<void> {
  await aws.documents.send(
    new UpdateCommand({
      TableName: stack.tableName,
      Key: keys.step(runId, stepId),
      UpdateExpression: 'SET dueAt = :overdue',
      ConditionExpression: 'timerPk = :dispatch',
      ExpressionAttributeValues: { ':overdue': new Date(Date.now() - 10 * 60_000).toISOString(), ':dispatch': timersIndex.dispatch },
    }),
  );
}

/** The lost step waits queued, filed under its dispatch marker, while its sibling (sent) has run. */
async function expectLost(client: EngineClient, runId: string, lost: string, sibling: string) {
  await client.waitForStep(runId, sibling, ['completed']);
  const item = await stepItem(runId, lost);
  expect(item).toMatchObject({ status: 'queued', attempt: 0, timerPk: 'DISPATCH' });
  expect((await client.events(runId)).filter((event) => event.type === 'step.started' && event.stepId === lost)).toEqual([]);
}

describe('lost sends on the deployed stack', () => {
  it('re-sends a root whose message was lost after start committed, and the run completes', async () => {
    const client = await engineClient();
    const workflowId = await client.workflow({
      name: 'lost-root',
      steps: [
        { id: 'sent-root', kind: 'noop' },
        { id: 'lost-send-root', kind: 'noop', input: { recovered: true } },
        { id: 'after', kind: 'noop', dependsOn: ['sent-root', 'lost-send-root'] },
      ],
    });
    const { id, status } = await client.run(workflowId);
    expect(status).toBe('running');
    await expectLost(client, id, 'lost-send-root', 'sent-root');

    await overdue(id, 'lost-send-root');
    const report = await runSweeper();
    const run = await client.waitFor(id, ['completed', 'blocked']);

    expect(report.dispatchesResent).toBeGreaterThanOrEqual(1);
    expect(run.status).toBe('completed');
    expect(await client.step(id, 'lost-send-root')).toMatchObject({ status: 'completed', attempt: 1, output: { recovered: true } });
    expect((await client.events(id)).filter((event) => event.type === 'step.started' && event.stepId === 'lost-send-root')).toHaveLength(1);
    // The claim replaced the marker; the completion removed the timer.
    expect((await stepItem(id, 'lost-send-root')).timerPk).toBeUndefined();
  });

  it('re-sends a step released by an approval whose message was lost: the approved gate stays filed under DISPATCH until the sweeper released it again', async () => {
    const client = await engineClient();
    const workflowId = await client.workflow({
      name: 'lost-release',
      steps: [
        { id: 'gate', kind: 'approval' },
        { id: 'sent-child', kind: 'noop', dependsOn: ['gate'] },
        { id: 'lost-send-child', kind: 'noop', dependsOn: ['gate'] },
      ],
    });
    const { id } = await client.run(workflowId);
    await client.waitForStep(id, 'gate', ['needs_qa']);

    const approve = await unwrap(client.baton.POST('/v1/runs/{runId}/steps/{stepId}/actions/{action}', { params: { path: { runId: id, stepId: 'gate', action: 'approve' } } }));
    expect(approve.status).toBe('completed');
    // A single-parent child is released by its parent's completion alone (its claim records it,
    // and is the write its item is born with): the lost one has no item yet and reads as pending,
    // and the gate keeps the marker its sends would have taken off.
    await client.waitForStep(id, 'sent-child', ['completed']);
    expect(await stepItem(id, 'lost-send-child')).toEqual({});
    expect(await client.step(id, 'lost-send-child')).toMatchObject({ status: 'pending', attempt: 0 });
    expect(await stepItem(id, 'gate')).toMatchObject({ status: 'completed', timerPk: 'DISPATCH' });

    await overdue(id, 'gate');
    const report = await runSweeper();
    const run = await client.waitFor(id, ['completed', 'blocked']);

    expect(report.dispatchesResent).toBeGreaterThanOrEqual(1);
    expect(run.status).toBe('completed');
    expect((await client.step(id, 'lost-send-child')).status).toBe('completed');
    expect((await client.events(id)).filter((event) => event.stepId === 'lost-send-child').map((event) => event.type)).toEqual(['step.queued', 'step.started', 'step.completed']);
    expect((await stepItem(id, 'gate')).timerPk).toBeUndefined();
  });

  it('re-sends the review message of a gated agent step completed by its callback: the gate waits reviewing under DISPATCH until the sweeper sends it', async () => {
    const client = await engineClient();
    const workflowId = await client.workflow({
      name: 'lost-review',
      steps: [
        { id: 'lost-send-draft', kind: 'http', input: { url: `${agentUrl}/accept` }, qa: { reviewer: { kind: 'http', input: { url: `${agentUrl}/review` } }, threshold: 60, onBelow: 'pause' } },
        { id: 'publish', kind: 'noop', dependsOn: ['lost-send-draft'] },
      ],
    });
    const { id } = await client.run(workflowId);
    // The step's own message comes from start (a root's is lost too): the sweeper sends it first.
    expect(await stepItem(id, 'lost-send-draft')).toMatchObject({ status: 'queued', timerPk: 'DISPATCH' });
    await overdue(id, 'lost-send-draft');
    await runSweeper();
    const callbackUrl = await eventually('the agent to be handed its callback URL', async () => callbacks.get(id), { timeoutMs: 60_000 });
    await client.waitForStep(id, 'lost-send-draft', ['running']);

    // The agent finishes: the api function writes the review, and its review message is lost.
    const answer = await fetch(callbackUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ok: true, data: { draft: 'otters' } }) });
    expect(answer.status).toBe(200);
    expect(await stepItem(id, 'lost-send-draft')).toMatchObject({ status: 'needs_qa', gate: { state: 'reviewing', round: 1 }, timerPk: 'DISPATCH' });
    expect(reviews).toEqual([]);

    await overdue(id, 'lost-send-draft');
    const report = await runSweeper();
    const run = await client.waitFor(id, ['completed', 'blocked'], 60_000);

    expect(report.dispatchesResent).toBeGreaterThanOrEqual(1);
    expect(run.status, run.reason).toBe('completed');
    expect(await client.step(id, 'lost-send-draft')).toMatchObject({ status: 'completed', output: { draft: 'otters' }, gate: { score: 90 } });
    expect(reviews).toHaveLength(1);
    // The reviewer's start took the marker off; the completion left every index.
    expect((await stepItem(id, 'lost-send-draft')).timerPk).toBeUndefined();
  });

  it('leaves a marker that is not yet overdue alone', async () => {
    const client = await engineClient();
    const workflowId = await client.workflow({ name: 'not-yet', steps: [{ id: 'sent', kind: 'noop' }, { id: 'lost-send-young', kind: 'noop' }] });
    const { id } = await client.run(workflowId);
    await expectLost(client, id, 'lost-send-young', 'sent');

    await runSweeper();

    // Within the grace the message may just be slow: nothing is sent, the marker stays.
    expect(await stepItem(id, 'lost-send-young')).toMatchObject({ status: 'queued', timerPk: 'DISPATCH' });
  });
});
