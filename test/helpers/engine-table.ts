import { CreateTableCommand, DeleteTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { listingsIndex, outboxIndex, timersIndex } from '#shared/store/keys';

/**
 * A throwaway engine table on the emulator, with the key schema and indexes infra/stacks/data-stack.ts
 * declares (the store contract test and scripts that run the DynamoDB adapter on their own table).
 */
export async function createEngineTable(client: DynamoDBClient, tableName: string): Promise<void> {
  const attribute = (name: string) => ({ AttributeName: name, AttributeType: 'S' as const });
  const index = (name: string, pk: string, sk: string, projection: 'ALL' | 'KEYS_ONLY' = 'ALL') => ({
    IndexName: name,
    KeySchema: [
      { AttributeName: pk, KeyType: 'HASH' as const },
      { AttributeName: sk, KeyType: 'RANGE' as const },
    ],
    Projection: { ProjectionType: projection },
  });
  await client.send(
    new CreateTableCommand({
      TableName: tableName,
      BillingMode: 'PAY_PER_REQUEST',
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      AttributeDefinitions: ['pk', 'sk', 'gsi1pk', 'gsi1sk', outboxIndex.partitionKey, outboxIndex.sortKey, timersIndex.partitionKey, timersIndex.sortKey, listingsIndex.partitionKey, listingsIndex.sortKey].map(attribute),
      GlobalSecondaryIndexes: [
        index('gsi1', 'gsi1pk', 'gsi1sk'),
        index(outboxIndex.name, outboxIndex.partitionKey, outboxIndex.sortKey),
        index(timersIndex.name, timersIndex.partitionKey, timersIndex.sortKey),
        index(listingsIndex.name, listingsIndex.partitionKey, listingsIndex.sortKey, 'KEYS_ONLY'),
      ],
    }),
  );
}

export async function deleteEngineTable(client: DynamoDBClient, tableName: string): Promise<void> {
  await client.send(new DeleteTableCommand({ TableName: tableName }));
}
