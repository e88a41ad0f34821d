import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';

/**
 * Baton's own metrics (CloudWatch EMF through Powertools): one namespace, and only
 * low-cardinality dimensions (service, stage; never a run, step or project id). The alarms and
 * the dashboard (infra/stacks/operations-stack.ts) read these names, so they are defined once here.
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
