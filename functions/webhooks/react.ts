import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { EventBridgeEvent } from 'aws-lambda';
import { z } from 'zod';
import { webhookProviderNames } from '#shared/webhook-providers/registry';
import { createEngine } from '#shared/clients/create-engine';
import { reactToDelivery, type ReactionReport } from '#shared/engine/webhook-reactions';
import { publishMetrics } from '#shared/middleware/baton-metrics';
import { createMetering } from '#shared/middleware/metering';
import { createProjectStore } from '#shared/store/projects';
import { createProjectCounterStore } from '#shared/store/project-counters';
import { createRunUsageRecorder } from '#shared/store/run-usage';
import { listTriggers, readTrigger } from '#shared/store/triggers';
import { CorrelatedLogger } from '#shared/middleware/correlation';
import { traceHandler } from '#shared/middleware/tracer';

const logger = new CorrelatedLogger();
const engine = createEngine(logger);
const projects = createProjectStore({ documents: engine.documents, tableName: engine.tableName });
const triggers = {
  workflows: engine.workflows,
  triggers: {
    read: (projectId: string, triggerId: string) => readTrigger(engine.documents, engine.tableName, projectId, triggerId),
    list: (projectId: string) => listTriggers(engine.documents, engine.tableName, projectId),
  },
};
const metering = createMetering({ service: 'webhook-reactions', logger, runUsage: createRunUsageRecorder(engine), counters: createProjectCounterStore(engine) });

/** The part of a `webhook.received` event the reactions rely on; anything else is refused loudly. */
const deliveryEvent = z.looseObject({
  id: z.string(),
  type: z.literal('webhook.received'),
  projectId: z.string(),
  at: z.string(),
  actor: z.string(),
  detail: z.looseObject({ provider: z.enum(webhookProviderNames), deliveryId: z.string(), event: z.string(), payloadRef: z.string() }),
});

/**
 * Reached by the bus rule on `webhook.received` (asynchronous invocation: retried, then parked
 * in the reactions DLQ). See shared/engine/webhook-reactions.ts for what a delivery does. What
 * it cost is charged to the runs it moved, in equal shares (none moved: the metrics only).
 */
export const handler = middy<EventBridgeEvent<'webhook.received', unknown>, ReactionReport>()
  .use(traceHandler())
  .use(publishMetrics(engine.metrics))
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .handler(async (event) => {
    const parsed = deliveryEvent.safeParse(event.detail);
    if (!parsed.success) {
      // Retrying cannot fix a malformed event: log it whole, change nothing.
      logger.error('not a webhook.received event', { event, issues: parsed.error.issues });
      return { completedSteps: [], approvedGates: [], failedGates: [], completedRuns: [], startedRuns: [] };
    }
    return metering.invocation(async (remainders) => {
      const report = await reactToDelivery(
        { engine: engine.deps, settingsOf: async (projectId) => (await projects.get(projectId))?.settings, triggers },
        parsed.data,
      );
      logger.info('delivery handled', { eventId: parsed.data.id, deliveryId: parsed.data.detail.deliveryId, ...report });
      remainders.charge(runsMovedBy(report));
      return report;
    });
  });

/** The runs a delivery moved, each once (`run/step` entries name their run first). */
const runsMovedBy = (report: ReactionReport): string[] =>
  [...new Set([...report.completedSteps, ...report.approvedGates, ...report.failedGates].map((entry) => entry.split('/')[0]!).concat(report.completedRuns, report.startedRuns))];
