import { describe, expect, it } from 'vitest';
import { createEngineHarness, projectId } from '../../helpers/engine-harness';

describe('step events link to their trace', () => {
  it('records the trace id on step.started, step.completed and step.failed, and annotates the trace with project, run and step', async () => {
    // Prepare: a trace per step, as the worker's X-Ray subsegment would be.
    const harness = createEngineHarness({ failWhen: ({ stepId }) => (stepId === 'bad' ? 'fatal' : undefined) });
    const annotated: { projectId: string; runId: string; stepId: string }[] = [];
    harness.deps.traceStep = (step) => {
      annotated.push(step);
      return `1-6750a1b2-${step.stepId.padEnd(24, '0')}`;
    };
    const runId = await harness.startRun([{ id: 'good' }, { id: 'bad', onFailure: 'continue' }]);

    // Act
    await harness.drain();

    // Assess
    const traceOf = (stepId: string, type: string) => harness.eventsOf(runId, stepId).find((event) => event.type === type)?.detail.traceId;
    expect(traceOf('good', 'step.started')).toBe('1-6750a1b2-good00000000000000000000');
    expect(traceOf('good', 'step.completed')).toBe('1-6750a1b2-good00000000000000000000');
    expect(traceOf('bad', 'step.failed')).toBe('1-6750a1b2-bad000000000000000000000');
    expect(annotated).toContainEqual({ projectId, runId, stepId: 'good' });
  });

  it('leaves traceId out where there is no trace', async () => {
    const harness = createEngineHarness();
    harness.deps.traceStep = () => undefined;
    const runId = await harness.startRun([{ id: 'only' }]);

    await harness.drain();

    const started = harness.eventsOf(runId, 'only').find((event) => event.type === 'step.started');
    expect(started?.detail).toBeDefined();
    expect(started?.detail).not.toHaveProperty('traceId');
  });

  it('runs a dependent the worker takes inline in its own step scope (its keys on the lines logged meanwhile)', async () => {
    const harness = createEngineHarness();
    const scoped: string[] = [];
    harness.deps.stepScope = async (message, work) => {
      scoped.push(`${message.stepId}/${message.attempt}`);
      return work();
    };
    const runId = await harness.startRun([{ id: 'a' }, { id: 'b', dependsOn: ['a'] }, { id: 'c', dependsOn: ['b'] }]);

    await harness.drain();

    expect(harness.run(runId).status).toBe('completed');
    expect(scoped).toEqual(['b/0', 'c/0']);
  });
});
