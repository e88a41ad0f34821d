import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  StartMessageMoveTaskCommand,
  type Message,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { messageMoveTaskMissing } from '#shared/config/emulator-gaps';
import { queueRoles, type QueueAddress, type QueueName } from '#shared/domain/queues';
import { stepMessage } from '#shared/schemas/messages';

export interface QueueStats {
  name: QueueName;
  purpose: string;
  deadLetter: boolean;
  visible: number;
  inFlight: number;
  delayed: number;
  /** Age of the oldest message seen, or null where it is not read (see oldestAge). */
  oldestAgeSeconds: number | null;
  peekable: boolean;
  redriveTo?: QueueName;
}

export interface PeekedMessage {
  messageId: string;
  sentAt: string;
  receiveCount: number;
  runId?: string;
  stepId?: string;
  attempt?: number;
  error?: { code?: string; message: string };
  /** A reaction's dead letter: the event it failed on. */
  event?: { id?: string; type?: string };
}

export interface RedriveResult {
  name: QueueName;
  destination: QueueName;
  method: 'message-move-task' | 'emulator-copy';
  taskHandle?: string;
  moved?: number;
}

export interface QueueAdmin {
  list(): Promise<QueueStats[]>;
  /** Up to `limit` (1-10) messages, received with a short visibility timeout and made visible again at once. */
  peek(name: QueueName, limit: number): Promise<PeekedMessage[]>;
  redrive(name: QueueName): Promise<RedriveResult>;
}

export interface QueueAdminOptions {
  sqs: SQSClient;
  queues: readonly QueueAddress[];
  /** The recorded error of a step (its DEAD_LETTERED reason), for a step dead letter. */
  stepError: (runId: string, stepId: string) => Promise<{ code?: string; message: string } | undefined>;
  /** AWS_ENDPOINT_URL: on an emulator, a missing message move task is done by copy. */
  emulatorEndpoint?: string;
  now?: () => number;
}

/** How long a peeked message stays invisible if making it visible again fails. */
const peekVisibilitySeconds = 5;
/** At most this many messages per emulator redrive call (a move task has no such bound). */
const maxCopied = 1000;
/** Error texts shown when peeking are cut here: they are reasons, not stack traces. */
const maxErrorLength = 500;

/** Counts, peeks and redrives of the installation's queues (GET /v1/queues and friends). */
export function createQueueAdmin({ sqs, queues, stepError, emulatorEndpoint, now = Date.now }: QueueAdminOptions): QueueAdmin {
  const addressOf = (name: QueueName): QueueAddress => {
    const address = queues.find((queue) => queue.name === name);
    if (!address) throw new Error(`Queue ${name} is not configured in QUEUES`);
    return address;
  };

  /** Receives and at once releases up to `limit` messages: what a peek sees. */
  const receiveAndRelease = async (url: string, limit: number): Promise<Message[]> => {
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: limit, VisibilityTimeout: peekVisibilitySeconds, WaitTimeSeconds: 0, MessageSystemAttributeNames: ['All'], MessageAttributeNames: ['All'] }),
    );
    if (Messages.length > 0) {
      await sqs.send(
        new ChangeMessageVisibilityBatchCommand({ QueueUrl: url, Entries: Messages.map((message, index) => ({ Id: String(index), ReceiptHandle: message.ReceiptHandle!, VisibilityTimeout: 0 })) }),
      );
    }
    return Messages;
  };

  const describe = async (message: Message): Promise<PeekedMessage> => {
    const sent = Number(message.Attributes?.SentTimestamp);
    const base: PeekedMessage = {
      messageId: message.MessageId ?? '',
      sentAt: new Date(Number.isFinite(sent) ? sent : 0).toISOString(),
      receiveCount: Number(message.Attributes?.ApproximateReceiveCount) || 0,
    };
    let body: unknown;
    try {
      body = JSON.parse(message.Body ?? '');
    } catch {
      return base;
    }
    const step = stepMessage.safeParse(body);
    if (step.success) {
      const error = await stepError(step.data.runId, step.data.stepId);
      return { ...base, runId: step.data.runId, stepId: step.data.stepId, attempt: step.data.attempt, ...(error ? { error: cut(error) } : {}) };
    }
    return { ...base, ...reactionDeadLetter(body, message) };
  };

  return {
    async list() {
      return Promise.all(
        queues.map(async ({ name, url }) => {
          const role = queueRoles[name];
          const { Attributes = {} } = await sqs.send(
            new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible', 'ApproximateNumberOfMessagesDelayed'] }),
          );
          const visible = Number(Attributes.ApproximateNumberOfMessages ?? 0);
          // SQS keeps no oldest-message attribute (CloudWatch's ApproximateAgeOfOldestMessage is
          // on the dashboard): a peekable queue is sampled; a consumed one is not disturbed.
          let oldestAgeSeconds: number | null = null;
          if (!role.notPeekable) {
            const sample = visible > 0 ? await receiveAndRelease(url, 10) : [];
            const oldest = Math.min(...sample.map((message) => Number(message.Attributes?.SentTimestamp)).filter(Number.isFinite));
            oldestAgeSeconds = Number.isFinite(oldest) ? Math.max(0, Math.round((now() - oldest) / 1000)) : visible > 0 ? null : 0;
          }
          return {
            name,
            purpose: role.purpose,
            deadLetter: role.deadLetter,
            visible,
            inFlight: Number(Attributes.ApproximateNumberOfMessagesNotVisible ?? 0),
            delayed: Number(Attributes.ApproximateNumberOfMessagesDelayed ?? 0),
            oldestAgeSeconds,
            peekable: !role.notPeekable,
            ...('to' in role.redrive ? { redriveTo: role.redrive.to } : {}),
          };
        }),
      );
    },

    async peek(name, limit) {
      return Promise.all((await receiveAndRelease(addressOf(name).url, limit)).map(describe));
    },

    async redrive(name) {
      const role = queueRoles[name];
      if (!('to' in role.redrive)) throw new Error(`${name} cannot be redriven`);
      const source = addressOf(name);
      const destination = addressOf(role.redrive.to);
      try {
        const { TaskHandle } = await sqs.send(new StartMessageMoveTaskCommand({ SourceArn: source.arn, DestinationArn: destination.arn }));
        return { name, destination: destination.name, method: 'message-move-task', ...(TaskHandle ? { taskHandle: TaskHandle } : {}) };
      } catch (error) {
        if (!messageMoveTaskMissing(error, emulatorEndpoint)) throw error;
        return { name, destination: destination.name, method: 'emulator-copy', moved: await moveByCopy(sqs, source.url, destination.url) };
      }
    },
  };
}

const cut = (error: { code?: string; message: string }) => ({ ...(error.code ? { code: error.code } : {}), message: error.message.slice(0, maxErrorLength) });

/**
 * A reaction's dead letter: a Lambda on-failure record (`requestPayload` is the event,
 * `responsePayload` the error) or an event EventBridge could not deliver (the event itself, the
 * error in its ERROR_CODE / ERROR_MESSAGE attributes). Only the event's id and type and the error
 * are shown: the event's detail is a webhook's payload.
 */
function reactionDeadLetter(body: unknown, message: Message): Pick<PeekedMessage, 'event' | 'error'> {
  const record = body as { requestPayload?: { id?: unknown; 'detail-type'?: unknown }; responsePayload?: { errorMessage?: unknown; errorType?: unknown }; id?: unknown; 'detail-type'?: unknown };
  const event = record.requestPayload ?? record;
  const text = (value: unknown) => (typeof value === 'string' ? value : undefined);
  const errorMessage = text(record.responsePayload?.errorMessage) ?? message.MessageAttributes?.ERROR_MESSAGE?.StringValue;
  const errorCode = text(record.responsePayload?.errorType) ?? message.MessageAttributes?.ERROR_CODE?.StringValue;
  const id = text(event.id);
  const type = text(event['detail-type']);
  return {
    ...(id || type ? { event: { ...(id ? { id } : {}), ...(type ? { type } : {}) } } : {}),
    ...(errorMessage ? { error: cut({ message: errorMessage, ...(errorCode ? { code: errorCode } : {}) }) } : {}),
  };
}

/** What a message move task does, done by hand (emulator only: messageMoveTaskMissing). */
async function moveByCopy(sqs: SQSClient, sourceUrl: string, destinationUrl: string): Promise<number> {
  let moved = 0;
  while (moved < maxCopied) {
    const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: sourceUrl, MaxNumberOfMessages: 10, VisibilityTimeout: 30, WaitTimeSeconds: 0, MessageAttributeNames: ['All'] }));
    if (Messages.length === 0) break;
    const entries = Messages.map((message, index) => ({ Id: String(index), MessageBody: message.Body!, ...(message.MessageAttributes ? { MessageAttributes: message.MessageAttributes } : {}) }));
    const sent = await sqs.send(new SendMessageBatchCommand({ QueueUrl: destinationUrl, Entries: entries }));
    const ok = new Set((sent.Successful ?? []).map((entry) => entry.Id));
    // Only what arrived is deleted: a failed send stays in the source for the next redrive.
    const done = Messages.filter((_, index) => ok.has(String(index)));
    if (done.length > 0) await sqs.send(new DeleteMessageBatchCommand({ QueueUrl: sourceUrl, Entries: done.map((message, index) => ({ Id: String(index), ReceiptHandle: message.ReceiptHandle! })) }));
    moved += done.length;
    if (done.length < Messages.length) break;
  }
  return moved;
}
