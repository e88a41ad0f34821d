import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { unwrap } from '#sdk';
import { aws } from '../helpers/aws';
import { engineClient } from '../helpers/engine';
import { stepQueueDrained } from '../helpers/queues';
import { resetData } from '../helpers/reset';
import { stack } from '../helpers/stack';
import { useTestAgent } from '../helpers/test-agent';

const testAgent = useTestAgent({ beforeAll, afterAll });
beforeEach(resetData);

const noBackoffJitter = { maxAttempts: 3, backoffBaseSeconds: 1, backoffCapSeconds: 10, jitter: 'none' as const };

describe('failures, retries and dead letters on the deployed engine', () => {
  it('retries an agent that answers 503 twice with backoff, and completes on attempt 3', async () => {
    const client = await engineClient();
    const name = `flaky-${Date.now()}`;
    await unwrap(client.baton.PUT('/v1/projects/{projectId}/secrets/{name}', { params: { path: { projectId: client.projectId, name: 'agent-token' } }, body: { value: 'agent-secret-token' } }));
    const workflowId = await client.workflow({
      name: 'flaky',
      steps: [{ id: 'call', kind: 'http', input: { url: `${testAgent().url}/flaky/${name}?failures=2&status=503`, bearerToken: { $secret: 'agent-token' } }, retry: noBackoffJitter }],
    });

    const { id } = await client.run(workflowId);
    const run = await client.waitFor(id, ['completed', 'blocked'], 60_000);
    const step = await client.step(id, 'call');
    const calls = testAgent().requests.filter((request) => request.path.includes(name));

    expect(run.status).toBe('completed');
    expect(step.attempt).toBe(3);
    expect(step.output).toEqual({ attempts: 3 });
    // One execution: every attempt carries the same key, the attempt travels beside it.
    expect(calls.map((call) => [call.idempotencyKey, call.attempt])).toEqual([[`${id}:call:1`, 1], [`${id}:call:1`, 2], [`${id}:call:1`, 3]]);
    expect(step.generation).toBe(1);
    expect(calls.every((call) => call.authorization === 'Bearer agent-secret-token')).toBe(true);
    // Backoff 1 s then 2 s (no jitter): the agent saw the attempts at least that far apart.
    expect(calls[1]!.at - calls[0]!.at).toBeGreaterThanOrEqual(1_000);
    expect(calls[2]!.at - calls[1]!.at).toBeGreaterThanOrEqual(2_000);
  });

  it('fails a 400 at once and blocks the run; retry with a corrected input completes it', async () => {
    const client = await engineClient();
    const workflowId = await client.workflow({
      name: 'validate',
      steps: [
        { id: 'check', kind: 'http', input: { url: `${testAgent().url}/validate`, body: { valid: false } }, retry: noBackoffJitter },
        { id: 'after', kind: 'noop', dependsOn: ['check'] },
      ],
    });

    const { id } = await client.run(workflowId);
    const blocked = await client.waitFor(id, ['blocked', 'completed']);
    const failed = await client.step(id, 'check');
    const retried = await unwrap(client.baton.POST('/v1/runs/{runId}/actions/retry', { params: { path: { runId: id } }, body: { steps: { check: { input: { url: `${testAgent().url}/validate`, body: { valid: true } } } } } }));
    const completed = await client.waitFor(id, ['completed', 'blocked']);

    expect(blocked.status).toBe('blocked');
    expect(blocked.reason).toContain('check');
    expect(failed).toMatchObject({ status: 'failed', attempt: 1, error: { retryable: false, status: 400 } });
    expect(retried.id).toBe(id);
    expect(completed.status).toBe('completed');
    expect(await client.step(id, 'check')).toMatchObject({ attempt: 2, generation: 2 });
    // A new input is a new execution: the agent must not take it for a retry of the refused call.
    const calls = testAgent().requests.filter((request) => request.idempotencyKey?.startsWith(`${id}:check:`));
    expect(calls.map((call) => [call.idempotencyKey, call.attempt])).toEqual([[`${id}:check:1`, 1], [`${id}:check:2`, 2]]);
  });

  it('refuses a retry input for a step that did not fail, naming it', async () => {
    const client = await engineClient();
    const workflowId = await client.workflow({ name: 'one', steps: [{ id: 'only', kind: 'http', input: { url: `${testAgent().url}/status/404` } }] });
    const { id } = await client.run(workflowId);
    await client.waitFor(id, ['blocked']);

    const refused = await unwrap(client.baton.POST('/v1/runs/{runId}/actions/retry', { params: { path: { runId: id } }, body: { steps: { other: { input: {} } } } })).catch((error: unknown) => error);

    expect(refused).toMatchObject({ status: 400, code: 'validation_error', field: 'body.steps.other' });
  });

  it('survives a worker that dies mid-step: the step is taken over and completes on the next attempt', async () => {
    const client = await engineClient();
    const workflowId = await client.workflow({ name: 'crash-once', steps: [{ id: 'fragile', kind: 'crash', input: { crashUntilAttempt: 2 }, retry: noBackoffJitter }] });

    const { id } = await client.run(workflowId);
    const run = await client.waitFor(id, ['completed', 'blocked'], 90_000);
    const step = await client.step(id, 'fragile');
    const started = (await client.events(id)).filter((event) => event.type === 'step.started');

    expect(run.status).toBe('completed');
    // The takeover is the same execution: same generation, same idempotency key.
    expect(step).toMatchObject({ attempt: 2, generation: 1, output: { survivedAttempt: 2, idempotencyKey: `${id}:fragile:1` } });
    // (Each also carries its X-Ray trace id, detail.traceId.)
    expect(started.map(({ detail: { traceId: _traceId, ...detail } }) => detail)).toEqual([{ attempt: 1, generation: 1 }, { attempt: 2, generation: 1, takeover: true }]);
  });

  it('dead-letters a step whose worker dies on every delivery, blocks the run with the reason, and retry completes it', async () => {
    const client = await engineClient();
    const workflowId = await client.workflow({
      name: 'crash-always',
      // Enough attempts that the DLQ, not the attempt budget, ends it (the sweeper may add takeovers).
      steps: [{ id: 'doomed', kind: 'crash', input: { crashUntilAttempt: 100 }, retry: { ...noBackoffJitter, maxAttempts: 20 } }],
    });

    const { id } = await client.run(workflowId);
    const blocked = await client.waitFor(id, ['blocked', 'completed'], 240_000);
    const step = await client.step(id, 'doomed');
    await unwrap(client.baton.POST('/v1/runs/{runId}/actions/retry', { params: { path: { runId: id } }, body: { steps: { doomed: { input: { crashUntilAttempt: 0 } } } } }));
    const completed = await client.waitFor(id, ['completed', 'blocked'], 60_000);

    expect(blocked.status).toBe('blocked');
    expect(step.error).toMatchObject({ code: 'DEAD_LETTERED', retryable: false });
    // Delivered (and crashed on) at least as often as the redrive allows before dead-lettering.
    expect(step.attempt).toBeGreaterThanOrEqual(5);
    expect(step.attempt).toBeLessThan(20);
    expect(completed.status).toBe('completed');
  }, 360_000);

  it('never runs an attempt twice when the same step message is delivered several times', async () => {
    const client = await engineClient();
    const workflowId = await client.workflow({ name: 'dup', steps: [{ id: 'slow', kind: 'http', input: { url: `${testAgent().url}/slow?ms=1500` } }] });
    const { id } = await client.run(workflowId, { start: false });

    // Three copies of the first attempt's message, sent straight to the queue, plus the real one.
    const message = JSON.stringify({ runId: id, stepId: 'slow', attempt: 0 });
    await Promise.all([1, 2, 3].map(() => aws.sqs.send(new SendMessageCommand({ QueueUrl: stack.stepQueueUrl, MessageBody: message }))));
    await unwrap(client.baton.POST('/v1/runs/{runId}/actions/{action}', { params: { path: { runId: id, action: 'start' } } }));
    const run = await client.waitFor(id, ['completed', 'blocked']);
    // Every copy handled (none waiting, none in a worker's hands) before counting.
    await stepQueueDrained();

    const keys = [...testAgent().keyCounts()].filter(([key]) => key.startsWith(id));
    expect(run.status).toBe('completed');
    expect(keys).toEqual([[`${id}:slow:1`, 1]]);
  });
});
