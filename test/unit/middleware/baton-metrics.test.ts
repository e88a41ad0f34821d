import { Metrics } from '@aws-lambda-powertools/metrics';
import { describe, expect, it, vi } from 'vitest';
import { createBatonMetrics, createInvocationMetrics, emitSweepMetrics, metricsNamespace, sweeperMetrics } from '#shared/middleware/baton-metrics';

describe('Baton metrics', () => {
  it("emits a sweep's repairs as one EMF document, by service and stage only (what the LeasesExpired alarm reads)", () => {
    const metrics = createBatonMetrics({ BATON_STAGE: 'prod', POWERTOOLS_SERVICE_NAME: 'baton-sweeper' });
    let emitted: ReturnType<typeof metrics.serializeMetrics> | undefined;
    vi.spyOn(metrics, 'publishStoredMetrics').mockImplementation(() => {
      emitted = metrics.serializeMetrics();
      return metrics;
    });

    emitSweepMetrics(metrics, { leasesExpired: 3, dispatchesResent: 1, callbacksExpired: 0, deadlinesPassed: 2 });

    const [directive] = emitted!._aws.CloudWatchMetrics;
    expect(directive?.Namespace).toBe(metricsNamespace);
    expect(directive?.Dimensions).toEqual([expect.arrayContaining(['service', 'stage'])]);
    expect(directive?.Dimensions[0]).toHaveLength(2);
    expect(directive?.Metrics.map((metric) => metric.Name).sort()).toEqual(Object.values(sweeperMetrics).sort());
    expect(emitted).toMatchObject({ stage: 'prod', service: 'baton-sweeper', LeasesExpired: 3, DispatchesResent: 1, CallbacksExpired: 0, DeadlinesPassed: 2 });
  });
});

describe('the engine metrics on Powertools (createInvocationMetrics)', () => {
  /** The EMF documents the adapter publishes, as Powertools would print them. */
  function published() {
    const metrics = new Metrics({ namespace: metricsNamespace, serviceName: 'baton-worker' });
    const lines: ReturnType<typeof metrics.serializeMetrics>[] = [];
    vi.spyOn(metrics, 'publishStoredMetrics').mockImplementation(() => {
      lines.push(metrics.serializeMetrics());
      metrics.clearMetrics();
      metrics.clearDimensions();
      return metrics;
    });
    return { recorder: createInvocationMetrics({ BATON_STAGE: 'prod', POWERTOOLS_SERVICE_NAME: 'baton-worker' }, metrics), lines };
  }

  it('writes one EMF document per dimension set per invocation: counts summed, durations listed, stage the only default dimension', () => {
    const { recorder, lines } = published();
    for (let step = 0; step < 100; step += 1) {
      recorder.add('StepsStarted', { kind: 'http' });
      recorder.add('StepsCompleted', { kind: 'http' });
      recorder.add('StepDuration', { kind: 'http' }, 10 + (step % 3));
    }
    recorder.add('StepsDeadLettered', { kind: 'llm' });
    recorder.add('RunsCompleted', undefined, 2);

    recorder.publish();

    // 100 durations: 99 in the first line of kind http (Powertools' limit is 100 values), the last in a second one.
    expect(lines).toHaveLength(4);
    const [http, httpRest, llm, stage] = lines;
    expect(http).toMatchObject({ stage: 'prod', kind: 'http', StepsStarted: 100, StepsCompleted: 100 });
    expect(http?.StepDuration).toHaveLength(99);
    expect(httpRest).toMatchObject({ stage: 'prod', kind: 'http', StepDuration: 10 });
    expect(httpRest?._aws.CloudWatchMetrics[0]?.Metrics).toEqual([{ Name: 'StepDuration', Unit: 'Milliseconds' }]);
    expect(http?._aws.CloudWatchMetrics[0]).toMatchObject({ Namespace: 'Baton', Dimensions: [['stage', 'kind']] });
    expect(http?._aws.CloudWatchMetrics[0]?.Metrics).toEqual([
      { Name: 'StepsStarted', Unit: 'Count' },
      { Name: 'StepsCompleted', Unit: 'Count' },
      { Name: 'StepDuration', Unit: 'Milliseconds' },
    ]);
    expect(llm).toMatchObject({ stage: 'prod', kind: 'llm', StepsDeadLettered: 1 });
    expect(stage).toMatchObject({ stage: 'prod', RunsCompleted: 2 });
    expect(stage?._aws.CloudWatchMetrics[0]?.Dimensions).toEqual([['stage']]);
    // No service dimension: a step fails the same wherever the engine decided it.
    for (const line of lines) expect(line).not.toHaveProperty('service');
  });

  it('starts each invocation empty: nothing recorded, nothing written', () => {
    const { recorder, lines } = published();
    recorder.add('QueueLag', undefined, 40);
    recorder.publish();
    recorder.publish();

    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ QueueLag: 40 });
  });
});
