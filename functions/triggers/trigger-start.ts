import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { z } from 'zod';
import { createEngine } from '#shared/clients/create-engine';
import { startFromEvent, type TriggeredStart } from '#shared/engine/triggers';
import { publishMetrics } from '#shared/middleware/baton-metrics';
import { createMetering } from '#shared/middleware/metering';
import { createProjectCounterStore } from '#shared/store/project-counters';
import { createRunUsageRecorder } from '#shared/store/run-usage';
import { listTriggers, readTrigger } from '#shared/store/triggers';
import { CorrelatedLogger } from '#shared/middleware/correlation';
import { traceHandler } from '#shared/middleware/tracer';

const logger = new CorrelatedLogger();
const engine = createEngine(logger);
const triggers = {
  read: (projectId: string, triggerId: string) => readTrigger(engine.documents, engine.tableName, projectId, triggerId),
  list: (projectId: string) => listTriggers(engine.documents, engine.tableName, projectId),
};
const metering = createMetering({ service: 'trigger-start', logger, runUsage: createRunUsageRecorder(engine), counters: createProjectCounterStore(engine) });

/** What a trigger's rule sends (its input transformer, shared/store/triggers.ts): the trigger, and the event whole. */
const ruleInput = z.object({ projectId: z.string().min(1), triggerId: z.string().min(1), event: z.looseObject({ id: z.string().min(1) }) });

/**
 * Invoked (asynchronously) by the EventBridge rule of an `eventbridge` trigger when an event on
 * the trigger bus matches its pattern: starts a run of the trigger's workflow with the event as
 * input (shared/engine/triggers.ts), idempotent per event id. A failed invocation is retried by
 * Lambda, then parked in the reactions DLQ with its event.
 */
export const handler = middy<unknown, TriggeredStart | { skipped: 'malformed' }>()
  .use(traceHandler())
  .use(publishMetrics(engine.metrics))
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .handler(async (input) => {
    const parsed = ruleInput.safeParse(input);
    if (!parsed.success) {
      // Retrying cannot fix it: logged (ids only, never the event), nothing started.
      logger.error('not a trigger rule input', { issues: parsed.error.issues });
      return { skipped: 'malformed' };
    }
    return metering.invocation(async (remainders) => {
      const started = await startFromEvent({ ...engine.deps, workflows: engine.workflows, triggers }, parsed.data);
      logger.info('trigger event handled', { triggerId: parsed.data.triggerId, eventId: parsed.data.event.id, ...started });
      if ('runId' in started) remainders.charge([started.runId]);
      return started;
    });
  });
