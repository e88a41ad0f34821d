import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { z } from 'zod';
import { createEngine } from '#shared/clients/create-engine';
import { startScheduledRun, type ScheduledStart } from '#shared/engine/scheduled-start';
import { publishMetrics } from '#shared/middleware/baton-metrics';
import { createMetering } from '#shared/middleware/metering';
import { createProjectCounterStore } from '#shared/store/project-counters';
import { createRunUsageRecorder } from '#shared/store/run-usage';
import { forgetSchedule, readSchedule } from '#shared/store/schedules';
import { CorrelatedLogger } from '#shared/middleware/correlation';
import { traceHandler } from '#shared/middleware/tracer';

const logger = new CorrelatedLogger();
const engine = createEngine(logger);
const schedules = {
  read: (projectId: string, scheduleId: string) => readSchedule(engine.documents, engine.tableName, projectId, scheduleId),
  forget: (projectId: string, scheduleId: string) => forgetSchedule(engine.documents, engine.tableName, projectId, scheduleId),
};
const metering = createMetering({ service: 'scheduled-start', logger, runUsage: createRunUsageRecorder(engine), counters: createProjectCounterStore(engine) });

const fire = z.object({ projectId: z.string().min(1), scheduleId: z.string().min(1), scheduledTime: z.string() });

/**
 * Invoked by EventBridge Scheduler on each fire: starts a run of the schedule's workflow
 * (shared/engine/scheduled-start.ts). The run carries what its creation cost, as a run created
 * through the API does, and the rest of the invocation (starting it, forgetting a one-time
 * schedule) is added to it.
 */
export const handler = middy<unknown, ScheduledStart>()
  .use(traceHandler())
  .use(publishMetrics(engine.metrics))
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .handler(async (event) =>
    metering.invocation(async (remainders) => {
      const started = await startScheduledRun({ ...engine.deps, workflows: engine.workflows, schedules }, fire.parse(event));
      if ('runId' in started) remainders.charge([started.runId]);
      return started;
    }),
  );
