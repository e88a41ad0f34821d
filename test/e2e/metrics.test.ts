import { describe, expect, it } from 'vitest';
import { engineClient } from '../helpers/engine';
import { emfLinesSince, withMetric } from '../helpers/emf';
import { eventually } from '../helpers/poll';
import { stack } from '../helpers/stack';

/**
 * Baton's metrics on the deployed stack (issue 14 §1): the functions write them as CloudWatch
 * EMF lines on their logs, namespace Baton, dimension stage plus at most one low-cardinality
 * one, never a run or project id. Names: shared/domain/metrics.ts, README "Baton's metrics".
 */
describe('metrics as EMF on the deployed stack', () => {
  it('a completed run writes StepsStarted, StepsCompleted and StepDuration by kind, RunsCompleted and ApiRequests, with no run or project id', async () => {
    const since = Date.now() - 5_000;
    const client = await engineClient('metrics-ok');
    const workflowId = await client.workflow({ name: 'metrics-ok', steps: [{ id: 'a', kind: 'noop' }, { id: 'b', kind: 'noop', dependsOn: ['a'] }] });
    const { id } = await client.run(workflowId);
    expect((await client.waitFor(id, ['completed', 'blocked'], 120_000)).status).toBe('completed');

    const lines = await eventually('the completed steps as EMF', async () => {
      const found = await emfLinesSince(since);
      return withMetric(found, 'RunsCompleted').length && withMetric(found, 'StepsCompleted').some(({ document }) => document.kind === 'noop') ? found : undefined;
    }, { timeoutMs: 60_000, intervalMs: 1_000 });

    const [completed] = withMetric(lines, 'StepsCompleted').filter(({ document }) => document.kind === 'noop');
    expect(completed!.document).toMatchObject({ stage: stack.stage, kind: 'noop', StepsCompleted: expect.any(Number), StepsStarted: expect.any(Number) });
    expect(completed!.document._aws.CloudWatchMetrics[0]!.Dimensions).toEqual([['stage', 'kind']]);
    expect(withMetric(lines, 'StepDuration').some(({ document }) => document.kind === 'noop')).toBe(true);
    expect(withMetric(lines, 'RunsCompleted')[0]!.document._aws.CloudWatchMetrics[0]!.Dimensions).toEqual([['stage']]);
    expect(withMetric(lines, 'ApiRequests').some(({ document }) => document.statusClass === '2xx')).toBe(true);
    for (const { raw } of lines) {
      expect(raw).not.toContain(id);
      expect(raw).not.toContain(client.projectId);
    }
  }, 240_000);

  it('a poison step: StepsDeadLettered by kind from the DLQ handler and RunsBlocked DEAD_LETTERED', async () => {
    const since = Date.now() - 5_000;
    const client = await engineClient('metrics-poison');
    const workflowId = await client.workflow({
      name: 'metrics-poison',
      // The worker dies at every delivery: the fifth receive dead-letters the message.
      steps: [{ id: 'poison', kind: 'crash', input: { crashUntilAttempt: 100 }, retry: { maxAttempts: 20, backoffBaseSeconds: 1, backoffCapSeconds: 10, jitter: 'none' } }],
    });
    const { id } = await client.run(workflowId);
    expect((await client.waitFor(id, ['blocked', 'completed'], 240_000)).status).toBe('blocked');

    const lines = await eventually('StepsDeadLettered as EMF', async () => {
      const found = await emfLinesSince(since);
      return withMetric(found, 'StepsDeadLettered').length && withMetric(found, 'RunsBlocked').length ? found : undefined;
    }, { timeoutMs: 60_000, intervalMs: 1_000 });

    const [deadLettered] = withMetric(lines, 'StepsDeadLettered');
    expect(deadLettered!.logGroup).toMatch(/DlqHandler/);
    expect(deadLettered!.document).toMatchObject({ stage: stack.stage, kind: 'crash', StepsDeadLettered: 1 });
    expect(deadLettered!.document._aws.CloudWatchMetrics[0]).toMatchObject({ Namespace: 'Baton', Dimensions: [['stage', 'kind']] });
    expect(withMetric(lines, 'RunsBlocked').map(({ document }) => document.reason)).toContain('DEAD_LETTERED');
    expect(deadLettered!.raw).not.toContain(id);
  }, 360_000);
});
