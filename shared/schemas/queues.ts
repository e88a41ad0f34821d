import { z } from 'zod';
import { queueNames } from '#shared/domain/queues';

/** Schemas of the queue routes (GET /v1/queues, …/messages, …/redrive); installation admin only. */
export const queueName = z.enum(queueNames).meta({ description: 'A queue\'s short name (GET /v1/queues lists them)' });

/** `{name}` as a plain string: an unknown name is a 404 (not a 400), like any unknown object. */
export const queuePath = z.strictObject({ name: z.string().min(1).max(64).meta({ description: 'A queue\'s short name: steps, steps-dlq, steps-parked or reactions-dlq' }) });

export const peekQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(10).default(10).meta({ description: 'How many messages to peek at (SQS returns at most 10 per receive, and may return fewer than there are)' }),
});

const timestamp = z.iso.datetime({ offset: true });

export const queueStatsResponse = z
  .object({
    items: z.array(
      z.object({
        name: queueName,
        purpose: z.string(),
        deadLetter: z.boolean(),
        visible: z.number().int().min(0),
        inFlight: z.number().int().min(0),
        delayed: z.number().int().min(0),
        oldestAgeSeconds: z.number().int().min(0).nullable().meta({ description: 'Age of the oldest message of a peekable queue (sampled); null for a consumed queue, which is not disturbed (its age is on the dashboard)' }),
        peekable: z.boolean(),
        redriveTo: queueName.optional(),
      }),
    ),
  })
  .meta({ id: 'QueueStats' });

export const peekedMessagesResponse = z
  .object({
    name: queueName,
    peek: z.string().meta({ description: 'How the messages were read: received with a short visibility timeout and made visible again at once (each peek adds 1 to their receive count)' }),
    messages: z.array(
      z.object({
        messageId: z.string(),
        sentAt: timestamp,
        receiveCount: z.number().int().min(0),
        runId: z.string().optional(),
        stepId: z.string().optional(),
        attempt: z.number().int().min(0).optional(),
        error: z.object({ code: z.string().optional(), message: z.string() }).optional(),
        event: z.object({ id: z.string().optional(), type: z.string().optional() }).optional(),
      }),
    ),
  })
  .meta({ id: 'PeekedMessages' });

export const redriveResponse = z
  .object({
    name: queueName,
    destination: queueName,
    method: z.enum(['message-move-task', 'emulator-copy']).meta({ description: 'message-move-task: SQS moves the messages (asynchronously; taskHandle names the task); emulator-copy: an emulator without the task, moved by the API (moved counts them)' }),
    taskHandle: z.string().optional(),
    moved: z.number().int().min(0).optional(),
  })
  .meta({ id: 'Redrive' });
