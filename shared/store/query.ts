import { BatchGetCommand, QueryCommand, type DynamoDBDocumentClient, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';

/** Every item a query returns, following LastEvaluatedKey; at most `limit` when given. */
export async function queryAll(documents: DynamoDBDocumentClient, input: QueryCommandInput, limit = Number.POSITIVE_INFINITY): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const page = await documents.send(
      new QueryCommand({ ...input, ExclusiveStartKey: start, ...(Number.isFinite(limit) ? { Limit: limit - items.length } : {}) }),
    );
    items.push(...(page.Items ?? []));
    start = page.LastEvaluatedKey;
  } while (start && items.length < limit);
  return items;
}

/** The items of one partition whose sort key starts with `prefix`. */
export const queryPrefix = (documents: DynamoDBDocumentClient, tableName: string, pk: string, prefix: string) =>
  queryAll(documents, { TableName: tableName, KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)', ExpressionAttributeValues: { ':pk': pk, ':prefix': prefix } });

type Key = { pk: string; sk: string };

/**
 * The items of these keys, in the keys' order (100 to a BatchGetItem, unprocessed keys asked
 * again); a key without an item is left out. How a keys-only index listing gets its items.
 */
export async function getInOrder(documents: DynamoDBDocumentClient, tableName: string, itemKeys: Key[], consistent = false): Promise<Record<string, unknown>[]> {
  const found = new Map<string, Record<string, unknown>>();
  for (let start = 0; start < itemKeys.length; start += 100) {
    let request: Record<string, { Keys: Record<string, unknown>[]; ConsistentRead?: boolean }> | undefined = {
      [tableName]: { Keys: itemKeys.slice(start, start + 100).map(({ pk, sk }) => ({ pk, sk })), ConsistentRead: consistent },
    };
    let delay = 25;
    while (request && Object.keys(request).length > 0) {
      const response = await documents.send(new BatchGetCommand({ RequestItems: request }));
      for (const item of response.Responses?.[tableName] ?? []) found.set(`${item.pk as string}\n${item.sk as string}`, item);
      request = response.UnprocessedKeys as typeof request;
      if (request && Object.keys(request).length > 0) {
        await new Promise((resolve) => setTimeout(resolve, delay));
        delay = Math.min(delay * 2, 1000);
      }
    }
  }
  return itemKeys.flatMap(({ pk, sk }) => {
    const item = found.get(`${pk}\n${sk}`);
    return item ? [item] : [];
  });
}
