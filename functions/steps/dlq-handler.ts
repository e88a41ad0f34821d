import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { Logger } from '@aws-lambda-powertools/logger';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { createEngine } from '#shared/engine/create-engine';
import { handleDeadLetter } from '#shared/engine/step-worker';
import { stepMessage } from '#shared/schemas/messages';

const logger = new Logger();
const { deps } = createEngine(logger);
const processor = new BatchProcessor(EventType.SQS);

/**
 * Step DLQ consumer: a message lands here when the worker failed on it every time (a crash, a
 * timeout). The step is failed with that reason and its run blocked, so `retry` can resume it.
 */
export const handler = async (event: SQSEvent, context: Context): Promise<SQSBatchResponse> =>
  processPartialResponse(
    event,
    async (record: SQSRecord) => {
      const parsed = stepMessage.safeParse(JSON.parse(record.body));
      if (!parsed.success) {
        // Not a step message: nothing to record against a run. Keep it visible in the logs.
        logger.error('unreadable message on the step DLQ', { body: record.body });
        return;
      }
      const receiveCount = Number(record.attributes.ApproximateReceiveCount) || 0;
      const result = await handleDeadLetter(deps, parsed.data, receiveCount);
      logger.warn('dead-lettered step message handled', { ...parsed.data, result, receiveCount });
    },
    processor,
    { context },
  );
