import type { DynamoDBDocumentClient, UpdateCommandInput } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { emptyUsage, type Usage } from '#shared/clients/usage-meter';
import { createRunUsageRecorder } from '#shared/store/run-usage';

/** A document client that records each UpdateItem and answers with the given outcome. */
function recordingTable(answer: (input: UpdateCommandInput, index: number) => object | Error) {
  const updates: UpdateCommandInput[] = [];
  const documents = {
    send: async (command: { input: UpdateCommandInput }) => {
      updates.push(command.input);
      const outcome = answer(command.input, updates.length - 1);
      if (outcome instanceof Error) throw outcome;
      return outcome;
    },
  } as unknown as DynamoDBDocumentClient;
  return { documents, updates };
}

const conditionFailed = () => Object.assign(new Error('The conditional request failed'), { name: 'ConditionalCheckFailedException' });

const spent: Usage = { ...emptyUsage(), calls: { 'DynamoDB.TransactWriteItems': 1, 'SQS.SendMessage': 1 }, dynamodb: { readUnits: 0.5, writeUnits: 4 }, sqsBillableRequests: 1 };

/** The values an update adds, by the attribute path they go to. */
const addedByPath = (input: UpdateCommandInput): Record<string, number> => {
  const names = input.ExpressionAttributeNames ?? {};
  const values = input.ExpressionAttributeValues ?? {};
  const clauses = (input.UpdateExpression ?? '').replace(/^ADD /, '').split(', ');
  return Object.fromEntries(
    clauses.map((clause) => {
      const [path, value] = clause.split(' ') as [string, string];
      return [path.split('.').map((part) => names[part] ?? part).join('.'), values[value] as number];
    }),
  );
};

describe('run usage recorder', () => {
  it("adds the usage to the run's usage item (not the run item, which has an index copy) in one UpdateItem, and charges that write to the run too", async () => {
    const { documents, updates } = recordingTable(() => ({ ConsumedCapacity: { CapacityUnits: 2 } }));
    const record = createRunUsageRecorder({ documents, tableName: 'baton' });

    await record('run_1', spent);
    await record('run_1', spent);

    expect(updates).toHaveLength(2);
    expect(updates[0]?.Key).toEqual({ pk: 'RUN#run_1', sk: 'USAGE' });
    expect(addedByPath(updates[0]!)).toEqual({
      'usage.dynamodb.readUnits': 0.5,
      'usage.dynamodb.writeUnits': 5,
      'usage.sqsBillableRequests': 1,
      'usage.eventsPublished': 0,
      'usage.calls.DynamoDB.TransactWriteItems': 1,
      'usage.calls.SQS.SendMessage': 1,
      'usage.calls.DynamoDB.UpdateItem': 1,
    });
    // The first write to this run consumed 2 units (a larger run item): the next charges that.
    expect(addedByPath(updates[1]!)['usage.dynamodb.writeUnits']).toBe(6);
  });

  it('adds to the run item for a run from before the usage item, starts its usage there when it has none, and leaves a missing run alone', async () => {
    const legacy = recordingTable((_input, index) => (index === 0 ? conditionFailed() : {}));
    await createRunUsageRecorder({ documents: legacy.documents, tableName: 'baton' })('run_old', spent);
    expect(legacy.updates.map((update) => update.Key)).toEqual([
      { pk: 'RUN#run_old', sk: 'USAGE' },
      { pk: 'RUN#run_old', sk: 'META' },
    ]);
    expect(addedByPath(legacy.updates[1]!)['usage.dynamodb.writeUnits']).toBe(5);

    const { documents, updates } = recordingTable((_input, index) => (index < 2 ? conditionFailed() : {}));
    await createRunUsageRecorder({ documents, tableName: 'baton' })('run_1', spent);
    expect(updates[2]?.Key).toEqual({ pk: 'RUN#run_1', sk: 'META' });
    expect(updates[2]?.UpdateExpression).toBe('SET #usage = :usage');
    expect(updates[2]?.ConditionExpression).toBe('attribute_exists(pk) AND attribute_not_exists(#usage)');
    expect(updates[2]?.ExpressionAttributeValues?.[':usage']).toMatchObject({ dynamodb: { writeUnits: 5 }, calls: { 'DynamoDB.UpdateItem': 1 } });

    const gone = recordingTable(() => conditionFailed());
    await expect(createRunUsageRecorder({ documents: gone.documents, tableName: 'baton' })('run_gone', spent)).resolves.toBeUndefined();
    expect(gone.updates).toHaveLength(3);
  });

  it("adds Baton's Lambda compute (handler ms and GB-seconds) in the same write", async () => {
    const { documents, updates } = recordingTable(() => ({ ConsumedCapacity: { CapacityUnits: 1 } }));
    const record = createRunUsageRecorder({ documents, tableName: 'baton' });

    await record('run_c', { ...spent, lambdaComputeMs: 250, lambdaGbSeconds: 0.125 });

    expect(updates).toHaveLength(1);
    expect(addedByPath(updates[0]!)).toMatchObject({ 'usage.lambdaComputeMs': 250, 'usage.lambdaGbSeconds': 0.125 });
  });
});
