import { BatchGetCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

export type ItemKey = Record<string, unknown> & { pk: string; sk: string };
type Item = Record<string, unknown>;

/** DynamoDB takes at most 100 keys in one BatchGetItem request. */
const keysPerRequest = 100;

interface Waiting {
  keys: ItemKey[];
  resolve: (items: (Item | undefined)[]) => void;
  reject: (error: Error) => void;
}

const idOf = ({ pk, sk }: ItemKey): string => `${pk}\u0000${sk}`;

/** Reads items by key; answers them in the order asked, undefined where there is none. */
export type ReadItems = (keys: ItemKey[], consistent: boolean) => Promise<(Item | undefined)[]>;

/**
 * Item reads by key, gathered: what is asked for in the same turn of the event loop goes out in
 * one BatchGetItem per 100 distinct keys (strongly consistent reads apart from eventually
 * consistent ones, so nobody pays for a consistency it did not ask for). The records of one
 * invocation run in parallel and start together, so their reads of a step and of its run become
 * one request with the run read once, instead of one request per record: the emulator's and the
 * worker's time per step is mostly per AWS call (docs/ARCHITECTURE.md, "Throughput"). A read is
 * never answered from anything older than its own request (it waits for the turn to end, never
 * for an earlier request's answer), so what a caller reads is what a read of its own would have.
 * A key asked for twice is read once; every caller gets its own copy of the item. A request that
 * fails rejects only the callers who asked for one of its keys. The request runs in the first
 * caller's metering scope (as the gathered sends of the dispatcher do): the totals stay exact.
 */
export function createGatheredReads({ documents, tableName }: { documents: DynamoDBDocumentClient; tableName: string }): ReadItems {
  const waiting = new Map<boolean, Waiting[]>();

  const readChunk = async (keys: ItemKey[], consistent: boolean, found: Map<string, Item>): Promise<void> => {
    let request: Record<string, { Keys: Record<string, unknown>[]; ConsistentRead?: boolean }> | undefined = {
      [tableName]: { Keys: keys, ConsistentRead: consistent },
    };
    while (request && Object.keys(request).length > 0) {
      const response = await documents.send(new BatchGetCommand({ RequestItems: request }));
      for (const item of response.Responses?.[tableName] ?? []) found.set(idOf(item as ItemKey), item);
      request = response.UnprocessedKeys as typeof request;
    }
  };

  const flush = async (consistent: boolean, callers: Waiting[]): Promise<void> => {
    const distinct = new Map<string, ItemKey>();
    for (const caller of callers) for (const key of caller.keys) distinct.set(idOf(key), { pk: key.pk, sk: key.sk });
    const keys = [...distinct.values()];
    const found = new Map<string, Item>();
    const failed = new Map<string, Error>();
    const chunks: ItemKey[][] = [];
    for (let start = 0; start < keys.length; start += keysPerRequest) chunks.push(keys.slice(start, start + keysPerRequest));
    await Promise.all(
      chunks.map((chunk) =>
        readChunk(chunk, consistent, found).catch((error: unknown) => {
          for (const key of chunk) failed.set(idOf(key), error as Error);
        }),
      ),
    );
    const handedOut = new Set<string>();
    for (const caller of callers) {
      const error = caller.keys.map((key) => failed.get(idOf(key))).find(Boolean);
      if (error) {
        caller.reject(error);
        continue;
      }
      caller.resolve(
        caller.keys.map((key) => {
          const id = idOf(key);
          const item = found.get(id);
          if (!item) return undefined;
          // The first caller takes the item as read, any other one a copy: nobody sees another's changes.
          if (!handedOut.has(id)) {
            handedOut.add(id);
            return item;
          }
          return structuredClone(item);
        }),
      );
    }
  };

  return (keys, consistent) => {
    if (keys.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      const callers = waiting.get(consistent);
      if (callers) {
        callers.push({ keys, resolve, reject });
        return;
      }
      waiting.set(consistent, [{ keys, resolve, reject }]);
      setImmediate(() => {
        const gathered = waiting.get(consistent) ?? [];
        waiting.delete(consistent);
        flush(consistent, gathered).catch((error: unknown) => gathered.forEach((caller) => caller.reject(error as Error)));
      });
    });
  };
}
