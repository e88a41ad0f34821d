import { GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { keys } from './keys';

/** The last good agent reply of an http step with `cache`, with the ETag it came with. */
export interface CachedReply {
  etag: string;
  /** The reply's body (the agent JSON), as received. */
  text: string;
  /** When it was stored or last revalidated (a 304): its age counts from here. */
  storedAt: string;
}

/** Replies above this are not cached: an item stays well under DynamoDB's 400 KB. */
export const maxCachedReplyBytes = 300 * 1024;
/** How long an entry outlives its ttlSeconds, so a later call can still revalidate it with If-None-Match. */
const revalidateForSeconds = 7 * 24 * 3600;

export interface HttpCache {
  get(projectId: string, hash: string): Promise<CachedReply | undefined>;
  put(projectId: string, hash: string, reply: CachedReply, ttlSeconds: number): Promise<void>;
}

/** Cached agent replies in the table: one item per project and hash of URL and body, removed by TTL. */
export const createHttpCache = ({ documents, tableName }: { documents: DynamoDBDocumentClient; tableName: string }): HttpCache => ({
  async get(projectId, hash) {
    const { Item } = await documents.send(new GetCommand({ TableName: tableName, Key: keys.httpCache(projectId, hash) }));
    if (!Item || typeof Item.etag !== 'string' || typeof Item.text !== 'string' || typeof Item.storedAt !== 'string') return undefined;
    return { etag: Item.etag, text: Item.text, storedAt: Item.storedAt };
  },
  async put(projectId, hash, reply, ttlSeconds) {
    if (Buffer.byteLength(reply.text) > maxCachedReplyBytes) return;
    const expiresAt = Math.floor(Date.parse(reply.storedAt) / 1000) + ttlSeconds + revalidateForSeconds;
    await documents.send(new PutCommand({ TableName: tableName, Item: { ...keys.httpCache(projectId, hash), type: 'httpCache', ...reply, expiresAt } }));
  },
});
