import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { ConditionFailedError, createTransaction, updateExpression } from '#shared/store/transaction';

describe('updateExpression', () => {
  it('names every attribute, so reserved words such as status are safe', () => {
    const expression = updateExpression({
      set: { status: 'queued', queuedAt: 'now' },
      add: { remaining: -1 },
      remove: ['leaseUntil'],
      condition: '#status = :pending AND #attempt = :attempt',
      values: { ':pending': 'pending', ':attempt': 2 },
    });

    expect(expression).toEqual({
      UpdateExpression: 'SET #status = :set_status, #queuedAt = :set_queuedAt ADD #remaining :add_remaining REMOVE #leaseUntil',
      ConditionExpression: '#status = :pending AND #attempt = :attempt',
      ExpressionAttributeNames: { '#status': 'status', '#queuedAt': 'queuedAt', '#remaining': 'remaining', '#leaseUntil': 'leaseUntil', '#attempt': 'attempt' },
      ExpressionAttributeValues: { ':pending': 'pending', ':attempt': 2, ':set_status': 'queued', ':set_queuedAt': 'now', ':add_remaining': -1 },
    });
  });
});

describe('createTransaction', () => {
  const failingWith = (error: Error) => ({ send: async () => Promise.reject(error) }) as unknown as DynamoDBDocumentClient;
  const event = { id: '01J0000000000000000000000', type: 'step.queued', projectId: 'prj', runId: 'run', at: 'now', actor: 'test', detail: {} };

  it('reports a lost condition as ConditionFailedError', async () => {
    const cancelled = Object.assign(new Error('cancelled'), { name: 'TransactionCanceledException', CancellationReasons: [{ Code: 'None' }, { Code: 'ConditionalCheckFailed' }] });
    const tx = createTransaction(failingWith(cancelled), 'table')
      .update({ pk: 'a', sk: 'b' }, { set: { x: 1 }, condition: '#x = :y', values: { ':y': 0 } })
      .event({ pk: 'RUN#run', sk: 'EVENT#1' }, event);

    await expect(tx.commit()).rejects.toBeInstanceOf(ConditionFailedError);
  });

  it('sends a change of one item as one conditional write (not a transaction, billed double) and reports its lost condition the same way', async () => {
    const sent: { name: string; input: Record<string, unknown> }[] = [];
    const documents = {
      send: async (command: { constructor: { name: string }; input: Record<string, unknown> }) => {
        sent.push({ name: command.constructor.name, input: command.input });
        return {};
      },
    } as unknown as DynamoDBDocumentClient;
    const kept = { ...event, stepId: 'a', type: 'step.started' };
    const tx = createTransaction(documents, 'table').update({ pk: 'RUN#run', sk: 'STEP#a' }, { set: { status: 'running' }, condition: '#status = :queued', values: { ':queued': 'queued' } }).recorded({ pk: 'RUN#run', sk: 'EVENT#2' }, kept);

    expect(await tx.commit()).toEqual([{ key: { pk: 'RUN#run', sk: 'EVENT#2' }, event: kept, publish: false }]);
    expect(sent).toEqual([{ name: 'UpdateCommand', input: expect.objectContaining({ TableName: 'table', Key: { pk: 'RUN#run', sk: 'STEP#a' }, ConditionExpression: '#status = :queued' }) }]);

    const lost = Object.assign(new Error('lost'), { name: 'ConditionalCheckFailedException' });
    const alone = createTransaction(failingWith(lost), 'table').update({ pk: 'a', sk: 'b' }, { set: { x: 1 }, condition: '#x = :y', values: { ':y': 0 } });
    await expect(alone.commit()).rejects.toBeInstanceOf(ConditionFailedError);
  });

  it('passes any other failure through unchanged', async () => {
    const throttled = Object.assign(new Error('slow down'), { name: 'ProvisionedThroughputExceededException' });
    const tx = createTransaction(failingWith(throttled), 'table').event({ pk: 'RUN#run', sk: 'EVENT#1' }, event);

    await expect(tx.commit()).rejects.toBe(throttled);
  });

  it('writes each event with its state change and returns it for publishing', async () => {
    const sent: unknown[] = [];
    const documents = { send: async (command: { input: unknown }) => { sent.push(command.input); return {}; } } as unknown as DynamoDBDocumentClient;
    const tx = createTransaction(documents, 'table').update({ pk: 'RUN#run', sk: 'STEP#a' }, { set: { status: 'queued' } }).event({ pk: 'RUN#run', sk: 'EVENT#1' }, event);

    const events = await tx.commit();

    expect(events).toEqual([{ key: { pk: 'RUN#run', sk: 'EVENT#1' }, event }]);
    expect(JSON.stringify(sent)).toContain('"outboxPk":"PENDING"');
    expect((sent[0] as { TransactItems: unknown[] }).TransactItems).toHaveLength(2);
  });
});
