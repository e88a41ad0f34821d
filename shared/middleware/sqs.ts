import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { z } from 'zod';
import { meterUsage } from '#shared/clients/usage-meter';
import { withCorrelation, type Correlation } from './correlation';
import { publishMetrics, type InvocationMetrics } from './baton-metrics';
import type { Metering, UsageRemainders } from './metering';
import { traceHandler, traceRecord } from './tracer';

/** A message body the consumer's schema refuses. */
export class UnreadableMessageError extends Error {
  override name = 'UnreadableMessageError';
}

export interface SqsConsumer<Body> {
  logger: Logger;
  metering: Metering;
  /** The function's metrics (the engine's recorder), published once as the invocation ends. */
  metrics?: InvocationMetrics;
  /** The message body's schema (the body is JSON). */
  body: z.ZodType<Body>;
  /**
   * What to do with a body the schema refuses: `fail` reports it as a batch item failure (SQS
   * redelivers it, then dead-letters it where a DLQ is configured); `drop` logs it whole and
   * lets it be deleted (a DLQ's consumer: nothing downstream could ever read it).
   */
  unreadable: 'fail' | 'drop';
  /** Records of a batch run concurrently (each in its own metering scope). */
  processInParallel?: boolean;
  /** The runs a message's work belongs to: what it spent beyond its steps' records is charged to them. */
  runsOf: (body: Body) => readonly string[];
  /**
   * What the message is about (run, step, attempt, the request that caused it): on every line
   * logged while it is handled, and the annotations of its own trace subsegment.
   */
  correlationOf?: (body: Body) => Correlation;
  /** Does one message's work; throws to have it redelivered. */
  handle: (body: Body, record: SQSRecord, context: Context) => Promise<void>;
}

/**
 * The one Middy stack of Baton's SQS consumers, in a fixed order: the handler's trace subsegment
 * (Powertools Tracer), the Lambda context into every log line (Powertools Logger), then the batch (Powertools BatchProcessor: a record that throws
 * is reported in `batchItemFailures`, the rest are deleted) inside the invocation's metering
 * scope; per record: the body parsed with its schema, then the consumer's work in a metering
 * scope of its own, whose remainder is charged to the message's runs, and in a correlation scope
 * and trace subsegment of its own (records run in parallel: their keys never mix).
 */
export const sqsStack = <Body>({ logger, metering, metrics, body, unreadable, processInParallel = false, runsOf, correlationOf, handle }: SqsConsumer<Body>) => {
  const processor = new BatchProcessor(EventType.SQS);
  const parseBody = z.string().transform((text, context) => {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      context.addIssue({ code: 'custom', message: 'not JSON' });
      return z.NEVER;
    }
  }).pipe(body);

  const processRecord = async (record: SQSRecord, context: Context, remainders: UsageRemainders): Promise<void> => {
    const parsed = parseBody.safeParse(record.body);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const reason = `${issue?.path.join('.') || 'body'}: ${issue?.message ?? 'invalid'}`;
      logger.error('unreadable message', { messageId: record.messageId, reason, body: record.body, outcome: unreadable === 'drop' ? 'dropped' : 'redelivered' });
      if (unreadable === 'fail') throw new UnreadableMessageError(reason);
      return;
    }
    const correlation = correlationOf?.(parsed.data) ?? {};
    await withCorrelation(correlation, () =>
      traceRecord('record', correlation, () =>
        meterUsage(async () => {
          try {
            await handle(parsed.data, record, context);
          } finally {
            remainders.charge(runsOf(parsed.data));
          }
        }),
      ),
    );
  };

  const stack = middy<SQSEvent, SQSBatchResponse>().use(traceHandler());
  if (metrics) stack.use(publishMetrics(metrics));
  return stack
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .handler(async (event, context) =>
      metering.invocation((remainders) =>
        processPartialResponse(event, (record: SQSRecord) => processRecord(record, context, remainders), processor, { context, processInParallel }),
      ),
    );
};
