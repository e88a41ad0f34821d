import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { MiddlewareObj } from '@middy/core';
import { batonMetrics, type BatonMetricName, type MetricsRecorder } from '#shared/domain/metrics';

/**
 * Baton's own metrics (CloudWatch EMF through Powertools): one namespace, and only
 * low-cardinality dimensions (stage, and kind, reason, status class or provider; never a run,
 * step or project id). The engine's and the functions' metrics are defined in
 * shared/domain/metrics.ts; the sweeper's repairs here. The alarms and the dashboard
 * (infra/stacks/operations-stack.ts) read these names.
 */
export const metricsNamespace = 'Baton';

export const sweeperMetrics = {
  /** Steps found still running past their lease (their worker vanished) and sent again. */
  leasesExpired: 'LeasesExpired',
  /** Queued steps whose message never arrived, sent again. */
  dispatchesResent: 'DispatchesResent',
  /** Agent callbacks or heartbeats that did not come in time. */
  callbacksExpired: 'CallbacksExpired',
  /** Waiting steps (approval, webhook) failed past their deadline. */
  deadlinesPassed: 'DeadlinesPassed',
} as const;

/** The `service` dimension of the sweeper's metrics (POWERTOOLS_SERVICE_NAME of its function). */
export const sweeperService = 'baton-sweeper';

/**
 * A function's Metrics, its dimensions `service` (POWERTOOLS_SERVICE_NAME) and `stage`
 * (BATON_STAGE), so that two stages in one account never share a series.
 */
export const createBatonMetrics = (env: Record<string, string | undefined> = process.env): Metrics =>
  new Metrics({
    namespace: metricsNamespace,
    ...(env.POWERTOOLS_SERVICE_NAME ? { serviceName: env.POWERTOOLS_SERVICE_NAME } : {}),
    ...(env.BATON_STAGE ? { defaultDimensions: { stage: env.BATON_STAGE } } : {}),
  });

/** Adds the sweep's counts as metrics (one EMF line per sweep) and publishes them. */
export function emitSweepMetrics(metrics: Metrics, report: Record<keyof typeof sweeperMetrics, number>): void {
  for (const [field, name] of Object.entries(sweeperMetrics)) metrics.addMetric(name, MetricUnit.Count, report[field as keyof typeof sweeperMetrics]);
  metrics.publishStoredMetrics();
}

/** Below Powertools' 100 values per metric, at which it writes a line of its own. */
const valuesPerLine = 99;

/** A recorder that keeps the invocation's data points until `publish` writes them as EMF. */
export interface InvocationMetrics extends MetricsRecorder {
  /** Writes what was recorded since the last publish: one EMF line per dimension set (nothing when nothing was recorded). */
  publish(): void;
}

/**
 * The engine's MetricsRecorder on Powertools Metrics, one per function (built once per cold
 * start). Data points are aggregated per invocation: counts of the same metric and dimension
 * value summed into one value, durations kept as a list of values (EMF takes up to 100 per
 * metric; Powertools writes a line early when a list fills). `publish` writes one EMF line per
 * dimension set: `stage` alone, `stage` + `kind=http`, `stage` + `reason=TIMEOUT`, … (an EMF line
 * has one set of dimension values). No `service` dimension: a metric counts the same wherever the
 * engine decided it (a step fails in the worker, the API, the sweeper or the DLQ handler).
 */
export function createInvocationMetrics(
  env: Record<string, string | undefined> = process.env,
  metrics: Metrics = new Metrics({ namespace: metricsNamespace }),
): InvocationMetrics {
  metrics.clearDefaultDimensions();
  if (env.BATON_STAGE) metrics.setDefaultDimensions({ stage: env.BATON_STAGE });
  // By dimension set ("" for the stage alone), then metric name: the summed count or the durations.
  const pending = new Map<string, { dimension?: [string, string]; values: Map<BatonMetricName, number[]> }>();
  return {
    add(name, dimensions, value = 1) {
      const dimension = dimensions ? Object.entries(dimensions)[0] : undefined;
      const key = dimension ? `${dimension[0]}=${dimension[1]}` : '';
      let group = pending.get(key);
      if (!group) pending.set(key, (group = { ...(dimension ? { dimension } : {}), values: new Map() }));
      const values = group.values.get(name) ?? [];
      if (batonMetrics[name].unit === 'Count' && values.length > 0) values[0]! += value;
      else values.push(value);
      group.values.set(name, values);
    },
    publish() {
      for (const { dimension, values } of pending.values()) {
        // Powertools writes a line by itself when a metric reaches 100 values, and forgets the
        // dimension with it: more than 99 durations go in further lines of the same dimension set.
        const lines = Math.ceil(Math.max(...[...values.values()].map((points) => points.length)) / valuesPerLine);
        for (let line = 0; line < lines; line += 1) {
          if (dimension) metrics.addDimension(dimension[0], dimension[1]);
          for (const [name, points] of values) {
            for (const point of points.slice(line * valuesPerLine, (line + 1) * valuesPerLine)) metrics.addMetric(name, MetricUnit[batonMetrics[name].unit], point);
          }
          metrics.publishStoredMetrics();
        }
      }
      pending.clear();
    },
  };
}

/**
 * Publishes the invocation's metrics when it ends, answered or failed (first in a middy chain, so
 * it runs last: after the handler and every other middleware recorded theirs).
 */
export const publishMetrics = (metrics: InvocationMetrics): MiddlewareObj => ({
  after: async () => metrics.publish(),
  onError: async () => metrics.publish(),
});
