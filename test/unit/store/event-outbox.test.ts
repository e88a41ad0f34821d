import type { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import type { BatchWriteCommand, DynamoDBDocumentClient, PutCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { isInProjectFeed, isPublishedOnBus } from '#shared/domain/events';
import { runEvent } from '#shared/engine/context';
import { committed, createDynamoEngineStore } from '#shared/store/engine-store';
import { createEventOutbox } from '#shared/store/event-outbox';
import { listingsIndex } from '#shared/store/keys';
import type { StepRecord } from '#shared/store/runs';
import { createTransaction } from '#shared/store/transaction';

const at = new Date('2026-11-30T10:00:00Z');
const quietRun = { id: 'run_1', projectId: 'prj_1' };
const subscribedRun = { ...quietRun, publishStepEvents: true };

/** A table and a bus that record what they were sent. */
function fakes() {
  const writes: Record<string, unknown>[][] = [];
  const marks: unknown[] = [];
  const published: string[] = [];
  const documents = {
    send: async (command: TransactWriteCommand | BatchWriteCommand | PutCommand) => {
      if ('TransactItems' in command.input) writes.push((command.input.TransactItems ?? []).map((item) => item.Put?.Item ?? {}));
      // A transaction of one item goes as the single write it is.
      else if ('Item' in command.input) writes.push([command.input.Item ?? {}]);
      else marks.push(...Object.values(command.input.RequestItems ?? {}).flat());
      return {};
    },
  } as unknown as DynamoDBDocumentClient;
  const bus = {
    send: async (command: PutEventsCommand) => {
      published.push(...(command.input.Entries ?? []).map((entry) => entry.DetailType!));
      return { Entries: (command.input.Entries ?? []).map(() => ({ EventId: 'e' })) };
    },
  } as unknown as EventBridgeClient;
  return { documents, bus, writes, marks, published, outbox: createEventOutbox({ documents, bus, tableName: 't', busName: 'b' }) };
}

describe('step events on the bus only for projects that subscribe', () => {
  it('publishes run- and project-level events always, step events only with publishStepEvents', () => {
    expect(isPublishedOnBus('run.completed', false)).toBe(true);
    expect(isPublishedOnBus('project.created', undefined)).toBe(true);
    expect(isPublishedOnBus('webhook.received', false)).toBe(true);
    expect(isPublishedOnBus('step.completed', undefined)).toBe(false);
    expect(isPublishedOnBus('step.completed', true)).toBe(true);
  });

  it('stores a quiet step event without an outbox entry and never puts it on the bus or marks it', async () => {
    const { documents, outbox, writes, marks, published } = fakes();
    const step = runEvent(quietRun, 'step.completed', 'worker', {}, at, 'a');
    const run = runEvent(quietRun, 'run.completed', 'worker', {}, at);
    const tx = createTransaction(documents, 't');
    tx.event(committed(step.event).key, step.event, step.publish);
    tx.event(committed(run.event).key, run.event, run.publish);

    const accepted = await outbox.publish(await tx.commit());

    expect(writes[0]!.map((item) => [item.type, item.outboxPk])).toEqual([
      ['step.completed', undefined],
      ['run.completed', 'PENDING'],
    ]);
    expect(published).toEqual(['run.completed']);
    expect(accepted.map(({ event }) => event.type)).toEqual(['run.completed']);
    expect(marks).toHaveLength(1);
  });

  it('publishes and marks the step events of a run created with the setting on', async () => {
    const { documents, outbox, writes, marks, published } = fakes();
    const step = runEvent(subscribedRun, 'step.started', 'worker', {}, at, 'a');
    const tx = createTransaction(documents, 't');
    tx.event(committed(step.event).key, step.event, step.publish);

    await outbox.publish(await tx.commit());

    expect(writes[0]![0]!.outboxPk).toBe('PENDING');
    expect(published).toEqual(['step.started']);
    expect(marks).toHaveLength(1);
  });
});

describe('the project feed: run events and the step events a person acts on', () => {
  it('lists bus events always, step.needs_qa, step.failed and step.retry_requested always, other step events only with publishStepEvents', () => {
    expect(isInProjectFeed('run.created', false)).toBe(true);
    expect(isInProjectFeed('project.created', undefined)).toBe(true);
    for (const type of ['step.needs_qa', 'step.failed', 'step.retry_requested']) expect(isInProjectFeed(type, false), type).toBe(true);
    for (const type of ['step.queued', 'step.started', 'step.completed', 'step.retrying', 'step.skipped', 'step.cancelled']) {
      expect(isInProjectFeed(type, false), type).toBe(false);
      expect(isInProjectFeed(type, true), type).toBe(true);
    }
  });

  it('writes a waiting gate\'s step.needs_qa as an event item in the feed, outside the outbox, with the step change', async () => {
    const { documents, writes } = fakes();
    const store = createDynamoEngineStore({ documents, tableName: 't' });
    const step = { runId: 'run_1', projectId: 'prj_1', stepId: 'gate', kind: 'approval', attempt: 1 } as StepRecord;
    const waiting = runEvent(quietRun, 'step.needs_qa', 'worker', { attempt: 1, reason: 'approval' }, at, 'gate');

    const written = await store.wait(step, at.toISOString(), { reason: 'approval' }, waiting);

    expect(written.won).toBe(true);
    const item = writes[0]!.find((candidate) => candidate.type === 'step.needs_qa');
    expect(item).toMatchObject({ id: waiting.event.id, [listingsIndex.partitionKey]: listingsIndex.feed('prj_1'), [listingsIndex.sortKey]: waiting.event.id });
    expect(item).not.toHaveProperty('outboxPk');
  });
});
