import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  StartMessageMoveTaskCommand,
  type MessageAttributeValue,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { createQueueAdmin } from '#shared/clients/queue-admin';
import type { QueueAddress } from '#shared/domain/queues';
import { deadLetterAttribute } from '#shared/engine/redrive';

interface Stored {
  id: string;
  body: string;
  sentAt: number;
  receives: number;
  visibleAt: number;
  attributes?: Record<string, MessageAttributeValue>;
}

const queues: QueueAddress[] = [
  { name: 'steps', url: 'q/steps', arn: 'arn:steps' },
  { name: 'steps-dlq', url: 'q/steps-dlq', arn: 'arn:steps-dlq' },
  { name: 'steps-parked', url: 'q/steps-parked', arn: 'arn:steps-parked' },
  { name: 'reactions-dlq', url: 'q/reactions-dlq', arn: 'arn:reactions-dlq' },
];

/** An SQS that keeps messages per queue URL and answers the calls the queue admin makes. */
function fakeSqs({ moveTask }: { moveTask: 'works' | 'missing' }) {
  let now = 1_000_000;
  let ids = 0;
  const stored = new Map<string, Stored[]>(queues.map((queue) => [queue.url, []]));
  const moveTasks: unknown[] = [];
  const put = (url: string, body: string, attributes?: Record<string, MessageAttributeValue>) =>
    stored.get(url)!.push({ id: `m${(ids += 1)}`, body, sentAt: now, receives: 0, visibleAt: 0, ...(attributes ? { attributes } : {}) });
  const sqs = {
    send: async (command: unknown) => {
      if (command instanceof GetQueueAttributesCommand) {
        const messages = stored.get(command.input.QueueUrl!)!;
        const visible = messages.filter((message) => message.visibleAt <= now).length;
        return { Attributes: { ApproximateNumberOfMessages: String(visible), ApproximateNumberOfMessagesNotVisible: String(messages.length - visible), ApproximateNumberOfMessagesDelayed: '0' } };
      }
      if (command instanceof ReceiveMessageCommand) {
        const visible = stored.get(command.input.QueueUrl!)!.filter((message) => message.visibleAt <= now).slice(0, command.input.MaxNumberOfMessages ?? 1);
        return {
          Messages: visible.map((message) => {
            message.receives += 1;
            message.visibleAt = now + (command.input.VisibilityTimeout ?? 30) * 1000;
            return { MessageId: message.id, ReceiptHandle: message.id, Body: message.body, Attributes: { SentTimestamp: String(message.sentAt), ApproximateReceiveCount: String(message.receives) }, ...(message.attributes ? { MessageAttributes: message.attributes } : {}) };
          }),
        };
      }
      if (command instanceof ChangeMessageVisibilityBatchCommand) {
        const messages = stored.get(command.input.QueueUrl!)!;
        for (const entry of command.input.Entries ?? []) messages.find((message) => message.id === entry.ReceiptHandle)!.visibleAt = now + (entry.VisibilityTimeout ?? 0) * 1000;
        return {};
      }
      if (command instanceof SendMessageBatchCommand) {
        for (const entry of command.input.Entries ?? []) put(command.input.QueueUrl!, entry.MessageBody!, entry.MessageAttributes);
        return { Successful: (command.input.Entries ?? []).map((entry) => ({ Id: entry.Id })) };
      }
      if (command instanceof DeleteMessageBatchCommand) {
        const handles = new Set((command.input.Entries ?? []).map((entry) => entry.ReceiptHandle));
        stored.set(command.input.QueueUrl!, stored.get(command.input.QueueUrl!)!.filter((message) => !handles.has(message.id)));
        return {};
      }
      if (command instanceof StartMessageMoveTaskCommand) {
        if (moveTask === 'missing') throw Object.assign(new Error('The action StartMessageMoveTask is not valid for this endpoint.'), { name: 'InvalidAction' });
        moveTasks.push(command.input);
        return { TaskHandle: 'task-1' };
      }
      throw new Error(`unexpected ${String(command)}`);
    },
  } as unknown as SQSClient;
  return { sqs, put, stored, moveTasks, advance: (seconds: number) => (now += seconds * 1000), now: () => now };
}

const parked = (runId: string, stepId: string, attempt: number) => JSON.stringify({ runId, stepId, attempt });
const marked = { [deadLetterAttribute]: { DataType: 'String', StringValue: '5' } };
const stepError = async (runId: string) => (runId === 'run_1' ? { code: 'DEAD_LETTERED', message: 'dead-lettered after 5 deliveries' } : undefined);

describe('queue admin: counts, peeks and redrives', () => {
  it("counts every queue and samples the oldest age of the peekable one only; a peek shows run, step, attempt and error and leaves the messages there", async () => {
    const fake = fakeSqs({ moveTask: 'works' });
    const admin = createQueueAdmin({ sqs: fake.sqs, queues, stepError, now: fake.now });
    fake.put('q/steps-parked', parked('run_1', 'a', 4), marked);
    fake.advance(30);
    fake.put('q/steps-parked', parked('run_2', 'b', 0));
    fake.put('q/steps', parked('run_3', 'c', 0));
    fake.advance(12);

    const listed = await admin.list();
    expect(listed.map((queue) => queue.name)).toEqual(['steps', 'steps-dlq', 'steps-parked', 'reactions-dlq']);
    expect(listed.find((queue) => queue.name === 'steps-parked')).toMatchObject({ visible: 2, inFlight: 0, delayed: 0, oldestAgeSeconds: 42, peekable: true, redriveTo: 'steps' });
    // The step queue's consumer counts receives: it is counted, never received from.
    expect(listed.find((queue) => queue.name === 'steps')).toMatchObject({ visible: 1, oldestAgeSeconds: null, peekable: false });
    expect(fake.stored.get('q/steps')![0]!.receives).toBe(0);

    const peeked = await admin.peek('steps-parked', 10);
    expect(peeked).toEqual([
      expect.objectContaining({ runId: 'run_1', stepId: 'a', attempt: 4, error: { code: 'DEAD_LETTERED', message: 'dead-lettered after 5 deliveries' } }),
      expect.objectContaining({ runId: 'run_2', stepId: 'b', attempt: 0 }),
    ]);
    expect(peeked[1]).not.toHaveProperty('error');
    // Nothing consumed: both still there and visible at once.
    expect((await admin.list()).find((queue) => queue.name === 'steps-parked')).toMatchObject({ visible: 2, inFlight: 0 });
  });

  it("redrives through SQS's message move task, from steps-parked to steps; a missing task is an error on AWS", async () => {
    const fake = fakeSqs({ moveTask: 'works' });
    const admin = createQueueAdmin({ sqs: fake.sqs, queues, stepError });
    expect(await admin.redrive('steps-parked')).toEqual({ name: 'steps-parked', destination: 'steps', method: 'message-move-task', taskHandle: 'task-1' });
    expect(fake.moveTasks).toEqual([{ SourceArn: 'arn:steps-parked', DestinationArn: 'arn:steps' }]);

    const onAws = createQueueAdmin({ sqs: fakeSqs({ moveTask: 'missing' }).sqs, queues, stepError });
    await expect(onAws.redrive('steps-parked')).rejects.toThrow(/not valid for this endpoint/);
  });

  it('on an emulator without the move task, moves every message itself, body and attributes kept (infra/emulator-gaps.ts)', async () => {
    const fake = fakeSqs({ moveTask: 'missing' });
    const admin = createQueueAdmin({ sqs: fake.sqs, queues, stepError, emulatorEndpoint: 'http://127.0.0.1:4566' });
    for (let index = 0; index < 23; index += 1) fake.put('q/steps-parked', parked(`run_${index}`, 'a', 4), marked);

    expect(await admin.redrive('steps-parked')).toEqual({ name: 'steps-parked', destination: 'steps', method: 'emulator-copy', moved: 23 });
    expect(fake.stored.get('q/steps-parked')).toEqual([]);
    const steps = fake.stored.get('q/steps')!;
    expect(steps).toHaveLength(23);
    expect(steps[0]).toMatchObject({ body: parked('run_0', 'a', 4), attributes: marked });
  });
});
