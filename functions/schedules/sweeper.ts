import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { z } from 'zod';
import { readConfig } from '#shared/config/env';
import { createEngine } from '#shared/clients/create-engine';
import { sweep, type SweepReport } from '#shared/engine/sweeper';
import { createBatonMetrics, emitSweepMetrics, publishMetrics } from '#shared/middleware/baton-metrics';
import { createMetering } from '#shared/middleware/metering';
import { createProjectCounterStore } from '#shared/store/project-counters';
import { createRunUsageRecorder } from '#shared/store/run-usage';
import { CorrelatedLogger } from '#shared/middleware/correlation';
import { traceHandler } from '#shared/middleware/tracer';

const config = readConfig({
  SWEEP_EVENT_GRACE_SECONDS: z.coerce.number().int().min(0),
  SWEEP_LIMIT: z.coerce.number().int().min(1).max(10_000),
  SWEEP_LEASE_GRACE_SECONDS: z.coerce.number().int().min(0),
  SWEEP_DISPATCH_GRACE_SECONDS: z.coerce.number().int().min(0),
});
const logger = new CorrelatedLogger();
const engine = createEngine(logger);
// A sweep is housekeeping over every project's runs (republishing, lease and timer checks): its
// usage is the installation's, reported in its metrics, not charged to the runs it looked at.
const { deps } = engine;
const metering = createMetering({ service: 'sweeper', logger, runUsage: createRunUsageRecorder(engine), counters: createProjectCounterStore(engine) });
// What the sweep repaired, as metrics: the expired-leases alarm reads LeasesExpired.
const metrics = createBatonMetrics();

/** Runs on an EventBridge schedule (and can be invoked by hand): see shared/engine/sweeper.ts. */
export const handler = middy<unknown, SweepReport>()
  .use(traceHandler())
  .use(publishMetrics(engine.metrics))
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .handler(async () =>
    metering.invocation(async () => {
      const report = await sweep(deps, {
        eventGraceSeconds: config.SWEEP_EVENT_GRACE_SECONDS,
        limit: config.SWEEP_LIMIT,
        leaseGraceSeconds: config.SWEEP_LEASE_GRACE_SECONDS,
        dispatchGraceSeconds: config.SWEEP_DISPATCH_GRACE_SECONDS,
      });
      logger.info('sweep done', { ...report });
      emitSweepMetrics(metrics, report);
      return report;
    }),
  );
