import { Logger } from '@aws-lambda-powertools/logger';
import { createEngine } from '#shared/clients/create-engine';
import { handleDeadLetter } from '#shared/engine/dead-letters';
import { createMetering } from '#shared/middleware/metering';
import { sqsStack } from '#shared/middleware/sqs';
import { stepMessage } from '#shared/schemas/messages';
import { createRunUsageRecorder } from '#shared/store/run-usage';

const logger = new Logger();
const engine = createEngine(logger);
const { deps } = engine;
const metering = createMetering({ service: 'dlq-handler', logger, runUsage: createRunUsageRecorder(engine) });

/**
 * Step DLQ consumer: a message lands here when the worker failed on it every time (a crash, a
 * timeout). The step is failed with that reason and its run blocked, so `retry` can resume it
 * (a quality gate's reviewer instead pauses the gate for a person: shared/engine/gate-recovery.ts);
 * what that cost is added to the run's usage. A body that is not a step message has nothing to
 * record against a run: it is logged whole and dropped (redelivering it could never help).
 */
export const handler = sqsStack({
  logger,
  metering,
  body: stepMessage,
  unreadable: 'drop',
  runsOf: (message) => [message.runId],
  handle: async (message, record) => {
    const receiveCount = Number(record.attributes.ApproximateReceiveCount) || 0;
    const sentAt = Number(record.attributes.SentTimestamp) || undefined;
    const result = await handleDeadLetter(deps, message, receiveCount, sentAt);
    logger.warn('dead-lettered step message handled', { ...message, result, receiveCount });
  },
});
