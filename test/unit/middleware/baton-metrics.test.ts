import { describe, expect, it, vi } from 'vitest';
import { createBatonMetrics, emitSweepMetrics, metricsNamespace, sweeperMetrics } from '#shared/middleware/baton-metrics';

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
