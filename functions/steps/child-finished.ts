import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { EventBridgeEvent } from 'aws-lambda';
import { z } from 'zod';
import { createEngine } from '#shared/clients/create-engine';
import { notifyParent } from '#shared/engine/sub-workflows';
import { publishMetrics } from '#shared/middleware/baton-metrics';
import { createMetering } from '#shared/middleware/metering';
import { createProjectCounterStore } from '#shared/store/project-counters';
import { createRunUsageRecorder } from '#shared/store/run-usage';
import { CorrelatedLogger } from '#shared/middleware/correlation';
import { traceHandler } from '#shared/middleware/tracer';

const logger = new CorrelatedLogger();
const engine = createEngine(logger);
const deps = { ...engine.deps, workflows: engine.workflows };
const metering = createMetering({ service: 'child-finished', logger, runUsage: createRunUsageRecorder(engine), counters: createProjectCounterStore(engine) });

const runEnded = z.looseObject({ id: z.string(), type: z.enum(['run.completed', 'run.blocked', 'run.cancelled']), runId: z.string() });

/**
 * Reached by the bus rule on `run.completed`, `run.blocked` and `run.cancelled` (asynchronous:
 * retried, then parked in the reactions DLQ): a sub-workflow's child ended, so its parent step
 * completes or fails (shared/engine/sub-workflows.ts). A run without a parent changes nothing.
 */
export const handler = middy<EventBridgeEvent<string, unknown>, string>()
  .use(traceHandler())
  .use(publishMetrics(engine.metrics))
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .handler(async (event) => {
    const parsed = runEnded.safeParse(event.detail);
    if (!parsed.success) {
      logger.error('not a run.completed/blocked/cancelled event', { issues: parsed.error.issues });
      return 'ignored';
    }
    return metering.invocation(async (remainders) => {
      const result = await notifyParent(deps, parsed.data);
      if (result !== 'ignored') logger.info('parent step notified', { childRunId: parsed.data.runId, result });
      const child = result === 'ignored' ? undefined : await engine.deps.store.getRun(parsed.data.runId);
      if (child?.parent) remainders.charge([child.parent.runId]);
      return result;
    });
  });
