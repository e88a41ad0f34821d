import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { beforeEach, describe, expect, it } from 'vitest';
import { unwrap } from '#sdk';
import { logFile } from '../../scripts/lib/emulator';
import { engineClient } from '../helpers/engine';
import { eventually } from '../helpers/poll';
import { resetData } from '../helpers/reset';

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
});
