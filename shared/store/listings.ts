import { QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { listingsIndex } from './keys';
import { decodeCursor, encodeCursor } from './cursor';

type Key = { pk: string; sk: string };

/**
 * One page of a listing in gsi2 (keys only, see keys.ts): the table keys filed under one
 * partition, in sort-key order (`newestFirst` reverses it), and the cursor for the next page. A
 * caller's cursor is accepted only if it is a key of this partition whose table key `isItemKey`
 * recognises (one of the items this listing holds), so a forged cursor cannot read elsewhere.
 * The items themselves are read with getInOrder (query.ts).
 */
export async function listingKeys(
  documents: DynamoDBDocumentClient,
  tableName: string,
  { partition, limit, cursor, newestFirst = false, isItemKey }: { partition: string; limit: number; cursor?: string; newestFirst?: boolean; isItemKey: (key: Record<string, unknown>) => boolean },
): Promise<{ keys: Key[]; cursor?: string }> {
  const response = await documents.send(
    new QueryCommand({
      TableName: tableName,
      IndexName: listingsIndex.name,
      KeyConditionExpression: '#pk = :pk',
      ExpressionAttributeNames: { '#pk': listingsIndex.partitionKey },
      ExpressionAttributeValues: { ':pk': partition },
      ...(newestFirst ? { ScanIndexForward: false } : {}),
      Limit: limit,
      ExclusiveStartKey: decodeCursor(
        cursor,
        (key) =>
          Object.keys(key).length === 4 && key[listingsIndex.partitionKey] === partition && typeof key[listingsIndex.sortKey] === 'string' &&
          typeof key.pk === 'string' && typeof key.sk === 'string' && isItemKey(key),
      ),
    }),
  );
  return { keys: (response.Items ?? []) as Key[], cursor: encodeCursor(response.LastEvaluatedKey) };
}
