import { describe, expect, it } from 'vitest';
import { mapChildId } from '#shared/domain/map-step';
import type { RunRecord, StepRecord } from '#shared/store/runs';
import { runView } from '#functions/api/views';

/** The run detail's sums (GET /v1/runs/{runId}) over a run with a map step and its children (issue 13 §1). */

const run: RunRecord = { id: 'run_1', projectId: 'prj_1', workflowId: 'wf_1', workflowName: 'w', workflowVersion: 1, status: 'completed', createdAt: '2026-12-01T00:00:00.000Z', totalSteps: 2, remainingSinks: 0 };
const usage = (writeUnits: number) => ({ calls: { 'DynamoDB.UpdateItem': writeUnits }, dynamodb: { readUnits: 0, writeUnits }, sqsBillableRequests: 0, eventsPublished: 0 });
const step = (stepId: string, kind: string, extra: Partial<StepRecord> = {}): StepRecord =>
  ({ runId: run.id, projectId: run.projectId, stepId, kind, dependsOn: [], dependents: [], retry: { maxAttempts: 1 }, status: 'completed', attempt: 1, allowedAttempts: 1, remaining: 0, ...extra }) as StepRecord;

describe('run detail of a run with a map', () => {
  // Three children, 2 write units each; the map carries their sum (6) plus nothing else; `list` spent 1.
  const children = [0, 1, 2].map((index) =>
    step(mapChildId('fan', index), 'http', { usage: usage(2), agentUsage: { tokens: { input: 10, output: 5 }, costUsd: 0.01 }, mapItem: { mapId: 'fan', index } }),
  );
  const steps = [step('fan', 'map', { usage: usage(6) }), ...children, step('list', 'http', { usage: usage(1) })];
  const detail = runView(run, steps, undefined, { total: 3, done: 3, succeeded: 3, failed: 0 });
  if (!('steps' in detail)) throw new Error('a run view with steps has its counts');
  const view = detail;

  it('counts the run\'s own steps by status and the children apart', () => {
    expect(view.steps.total).toBe(2);
    expect(view.steps.byStatus.completed).toBe(2);
    expect(view.steps.children).toEqual({ total: 3, done: 3, succeeded: 3, failed: 0 });
  });

  it('counts the children\'s AWS usage once (the map step carries it), their agent usage from them', () => {
    expect(view.usage.dynamodb.writeUnits).toBe(7);
    expect(view.usage.agentUsage).toEqual({ tokens: { input: 30, output: 15 }, costUsd: expect.closeTo(0.03, 10) });
    // Executions: the map, its children and list.
    expect(view.usage.perExecutedStep?.steps).toBe(5);
  });
});
