import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { z } from 'zod';
import { createSqsClient } from '#shared/clients/sqs';
import { readConfig } from '#shared/config/env';
import { deadLetterAttribute, parksDeadLetter } from '#shared/engine/redrive';
import { createEngine } from '#shared/clients/create-engine';
import { handleDeadLetter } from '#shared/engine/dead-letters';
import { CorrelatedLogger } from '#shared/middleware/correlation';
import { createMetering } from '#shared/middleware/metering';
import { sqsStack } from '#shared/middleware/sqs';
import { stepMessage, stepMessageCorrelation } from '#shared/schemas/messages';
import { createProjectCounterStore } from '#shared/store/project-counters';
import { createRunUsageRecorder } from '#shared/store/run-usage';

const config = readConfig({ STEP_PARKED_QUEUE_URL: z.string().min(1) });
const logger = new CorrelatedLogger();
const sqs = createSqsClient();
const engine = createEngine(logger);
const { deps } = engine;
const metering = createMetering({ service: 'dlq-handler', logger, runUsage: createRunUsageRecorder(engine), counters: createProjectCounterStore(engine) });

/**
 * Step DLQ consumer: a message lands here when the worker failed on it every time (a crash, a
 * timeout). The step is failed with that reason and its run blocked, so `retry` can resume it
 * (a quality gate's reviewer instead pauses the gate for a person: shared/engine/gate-recovery.ts);
 * what that cost is added to the run's usage. A dead letter that failed its step is then parked in
 * steps-parked, marked (deadLetterAttribute), where operators peek at it and redrive it (the
 * worker resumes the run from a redriven one); a failed send leaves the message here to be
 * handled again, which parks it then (the record stands: parksDeadLetter). A body that is not a
 * step message has nothing to record against a run: it is logged whole and dropped (redelivering
 * it could never help).
 */
export const handler = sqsStack({
  logger,
  metering,
  metrics: engine.metrics,
  body: stepMessage,
  unreadable: 'drop',
  runsOf: (message) => [message.runId],
  correlationOf: stepMessageCorrelation,
  handle: async (message, record) => {
    const receiveCount = Number(record.attributes.ApproximateReceiveCount) || 0;
    const sentAt = Number(record.attributes.SentTimestamp) || undefined;
    const result = await handleDeadLetter(deps, message, receiveCount, sentAt);
    const parked = await parksDeadLetter(deps, message, result);
    if (parked) {
      await sqs.send(
        new SendMessageCommand({
          QueueUrl: config.STEP_PARKED_QUEUE_URL,
          MessageBody: record.body,
          MessageAttributes: { [deadLetterAttribute]: { DataType: 'String', StringValue: String(receiveCount) } },
        }),
      );
    }
    logger.warn('dead-lettered step message handled', { ...(message.start ? { start: message.start } : {}), result, receiveCount, parked });
  },
});
