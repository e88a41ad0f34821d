import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { unwrap } from '#sdk';
import { engineClient } from '../helpers/engine';
import { resetData } from '../helpers/reset';
import { useTestAgent } from '../helpers/test-agent';

const testAgent = useTestAgent({ beforeAll, afterAll });
beforeEach(resetData);

const quickRetry = { maxAttempts: 2, backoffBaseSeconds: 1, backoffCapSeconds: 1, jitter: 'none' as const };

describe('degraded mode: steps with onFailure "continue"', () => {
  it('lets dependents of an optional step that failed for good run with {failed: true, error}, and completes the run degraded', async () => {
    const client = await engineClient();
    const tag = `degraded-${Date.now()}`;
    const workflowId = await client.workflow({
      name: 'degraded',
      steps: [
        { id: 'base', kind: 'noop', input: { facts: 1 } },
        // Retryable failures until its last attempt: then it fails for good, optionally.
        { id: 'enrich', kind: 'http', input: { url: `${testAgent().url}/status/503` }, retry: quickRetry, onFailure: 'continue' },
        { id: 'report', kind: 'http', input: { url: `${testAgent().url}/ok`, body: { tag } }, dependsOn: ['base', 'enrich'] },
        // An optional sink: its failure must not keep the run from completing.
        { id: 'extra', kind: 'http', input: { url: `${testAgent().url}/status/400` }, dependsOn: ['base'], onFailure: 'continue' },
      ],
    });

    const { id } = await client.run(workflowId);
    const run = await client.waitFor(id, ['completed', 'blocked'], 60_000);
    const enrich = await client.step(id, 'enrich');
    const report = await client.step(id, 'report');
    const events = await client.events(id);
    const reportCall = testAgent().requests.find((request) => JSON.stringify(request.body).includes(tag));
    const dependencies = (reportCall?.body as { dependencies: Record<string, unknown> }).dependencies;

    expect(run.status).toBe('completed');
    expect(run.degraded).toBe(true);
    expect([...(run.failedOptionalSteps ?? [])].sort()).toEqual(['enrich', 'extra']);
    expect(run.failedSteps).toBeUndefined();
    expect(enrich).toMatchObject({ status: 'failed', attempt: 2, error: { retryable: true, status: 503 } });
    expect(report.status).toBe('completed');
    expect(dependencies.base).toEqual({ facts: 1 });
    expect(dependencies.enrich).toMatchObject({ failed: true, error: { message: expect.stringContaining('503'), retryable: true, status: 503, attempt: 2 } });
    const completed = events.filter((event) => event.type === 'run.completed');
    expect(completed).toHaveLength(1);
    expect(completed[0]!.detail).toMatchObject({ degraded: true });
    expect([...(completed[0]!.detail.failedOptionalSteps as string[])].sort()).toEqual(['enrich', 'extra']);
    expect(events.some((event) => event.type === 'run.blocked')).toBe(false);
    expect(events.filter((event) => event.type === 'step.queued' && event.stepId === 'report')).toHaveLength(1);
  });

  it('still blocks the run on a non-optional failure; retry runs only that step and the run completes degraded', async () => {
    const client = await engineClient();
    const workflowId = await client.workflow({
      name: 'mixed',
      steps: [
        { id: 'optional', kind: 'http', input: { url: `${testAgent().url}/status/400` }, onFailure: 'continue' },
        { id: 'required', kind: 'http', input: { url: `${testAgent().url}/validate`, body: { valid: false } }, dependsOn: ['optional'], retry: quickRetry },
        { id: 'last', kind: 'noop', dependsOn: ['required'] },
      ],
    });

    const { id } = await client.run(workflowId);
    const blocked = await client.waitFor(id, ['blocked', 'completed']);
    const retried = await unwrap(client.baton.POST('/v1/runs/{runId}/actions/retry', { params: { path: { runId: id } }, body: { steps: { required: { input: { url: `${testAgent().url}/validate`, body: { valid: true } } } } } }));
    const completed = await client.waitFor(id, ['completed', 'blocked']);

    expect(blocked.status).toBe('blocked');
    expect(blocked.failedSteps).toEqual(['required']);
    expect(blocked.failedOptionalSteps).toEqual(['optional']);
    expect(blocked.degraded).toBeUndefined();
    expect(retried.id).toBe(id);
    expect(completed).toMatchObject({ status: 'completed', degraded: true, failedOptionalSteps: ['optional'] });
    // The optional step is not run again: its dependents already went on without it.
    expect(await client.step(id, 'optional')).toMatchObject({ status: 'failed', attempt: 1 });
    expect(await client.step(id, 'last')).toMatchObject({ status: 'completed' });
  });
});
