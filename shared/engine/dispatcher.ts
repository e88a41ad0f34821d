import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { StepMessage } from '#shared/schemas/messages';

/** SQS refuses delays above 15 minutes; longer waits are the sweeper's (timers index). */
export const maxQueueDelaySeconds = 900;

export interface Dispatch {
  message: StepMessage;
  delaySeconds?: number;
}

/** Sends step messages to the step queue, 10 to a request; fails loudly if any is refused. */
export const createDispatcher = ({ sqs, queueUrl }: { sqs: SQSClient; queueUrl: string }) => ({
  async send(dispatches: Dispatch[]): Promise<void> {
    for (let start = 0; start < dispatches.length; start += 10) {
      const batch = dispatches.slice(start, start + 10);
      let entries = batch.map(({ message, delaySeconds }, index) => ({
        Id: String(index),
        MessageBody: JSON.stringify(message),
        DelaySeconds: Math.max(0, Math.min(maxQueueDelaySeconds, Math.ceil(delaySeconds ?? 0))),
      }));
      for (let tries = 0; entries.length > 0; tries += 1) {
        const result = await sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: entries }));
        const failed = new Set((result.Failed ?? []).map((failure) => failure.Id));
        entries = entries.filter((entry) => failed.has(entry.Id));
        if (entries.length > 0 && tries >= 3) {
          throw new Error(`SQS refused ${entries.length} step message(s): ${JSON.stringify(result.Failed)}`);
        }
      }
    }
  },
});

export type Dispatcher = ReturnType<typeof createDispatcher>;
