import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { unwrap } from '#sdk';
import { logFile } from '../../scripts/lib/emulator';
import { engineClient } from '../helpers/engine';
import { eventually } from '../helpers/poll';
import { resetData } from '../helpers/reset';
import { useTestAgent } from '../helpers/test-agent';

const testAgent = useTestAgent({ beforeAll, afterAll });

beforeEach(resetData);

type LogLine = Record<string, unknown>;

/** The JSON log lines (Powertools, one object a line; Lambda stdout in the emulator's log) that mention `text`. */
const jsonLinesWith = (text: string): LogLine[] =>
  readFileSync(logFile(), 'utf8')
    .split('\n')
    .filter((line) => line.includes(text))
    .flatMap((line) => {
      try {
        return [JSON.parse(line.slice(line.indexOf('{'))) as LogLine];
      } catch {
        return [];
      }
    });

describe('one correlation id from the API request to the steps\' log lines and traces', () => {
  it('a worker log line of each step carries its run, step, attempt and the x-request-id of the request that started the run; step.started names its trace', async () => {
    // Prepare: a chain, so the second step's message is sent by the worker, not the API.
    expect(existsSync(logFile()), `${logFile()} is missing`).toBe(true);
    const client = await engineClient('correlation');
    const workflowId = await client.workflow({ name: 'chain', steps: [{ id: 'first', kind: 'noop' }, { id: 'second', kind: 'noop', dependsOn: ['first'] }] });
    const requestId = `e2e-${randomBytes(6).toString('hex')}`;

    // Act
    const started = await client.baton.POST('/v1/projects/{projectId}/runs', {
      params: { path: { projectId: client.projectId } },
      body: { workflowId },
      headers: { 'x-request-id': requestId },
    });
    const { id: runId } = await unwrap(Promise.resolve(started));
    await client.waitFor(runId, ['completed', 'blocked'], 120_000);

    // Assess: the API answered with the caller's id, and every step's worker line carries it.
    expect(started.response.headers.get('x-request-id')).toBe(requestId);
    const workerLines = await eventually('the worker lines of both steps in the emulator log', async () => {
      const lines = jsonLinesWith(requestId).filter((line) => line.message === 'step message processed' && line.runId === runId);
      return lines.length >= 2 ? lines : undefined;
    }, { timeoutMs: 60_000, intervalMs: 500 });
    for (const stepId of ['first', 'second']) {
      expect(workerLines.find((line) => line.stepId === stepId)).toMatchObject({ runId, stepId, attempt: 1, requestId, level: 'INFO', service: 'baton-stepworker' });
    }

    // A step links to its trace: step.started records the invocation's X-Ray trace id, the one its log lines name.
    expect((await client.getRun(runId)).status).toBe('completed');
    const events = await client.events(runId);
    for (const stepId of ['first', 'second']) {
      const traceId = events.find((event) => event.stepId === stepId && event.type === 'step.started')?.detail.traceId;
      expect(traceId, `step.started of ${stepId}`).toMatch(/^1-[0-9a-f]{8}-[0-9a-f]{24}$/);
      expect(workerLines.find((line) => line.stepId === stepId)?.xray_trace_id).toBe(traceId);
    }
  }, 240_000);

  it('the request that acts on a run (a retry) is the correlation id of the steps it sends again', async () => {
    // Prepare: a run blocked by a step the agent refuses (400), started with one id.
    const client = await engineClient('correlation-retry');
    const workflowId = await client.workflow({ name: 'refused', steps: [{ id: 'check', kind: 'http', input: { url: `${testAgent().url}/validate`, body: { valid: false } } }] });
    const startedBy = `e2e-start-${randomBytes(4).toString('hex')}`;
    const retriedBy = `e2e-retry-${randomBytes(4).toString('hex')}`;
    const { id: runId } = await unwrap(client.baton.POST('/v1/projects/{projectId}/runs', { params: { path: { projectId: client.projectId } }, body: { workflowId }, headers: { 'x-request-id': startedBy } }));
    await client.waitFor(runId, ['blocked'], 120_000);

    // Act: retry it, with the input the agent accepts, under another id.
    await unwrap(
      client.baton.POST('/v1/runs/{runId}/actions/retry', {
        params: { path: { runId } },
        body: { steps: { check: { input: { url: `${testAgent().url}/validate`, body: { valid: true } } } } },
        headers: { 'x-request-id': retriedBy },
      }),
    );
    await client.waitFor(runId, ['completed'], 120_000);

    // Assess: attempt 1 ran under the start's id, attempt 2 under the retry's.
    const lineOf = (requestId: string) =>
      eventually(`the worker line of ${requestId}`, async () =>
        jsonLinesWith(requestId).find((line) => line.message === 'step message processed' && line.runId === runId && line.stepId === 'check'), { timeoutMs: 60_000, intervalMs: 500 });
    expect(await lineOf(startedBy)).toMatchObject({ runId, stepId: 'check', attempt: 1, requestId: startedBy });
    expect(await lineOf(retriedBy)).toMatchObject({ runId, stepId: 'check', attempt: 2, requestId: retriedBy });
  }, 240_000);
});
