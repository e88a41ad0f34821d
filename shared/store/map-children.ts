import { BatchWriteCommand, type BatchWriteCommandInput, type BatchWriteCommandOutput, GetCommand, QueryCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { mapChildId, mapChunkCount, mapChunkIndexes } from '#shared/domain/map-step';
import type { MapChunk, MapRecord, MapStore } from '#shared/engine/map-store';
import type { EventToWrite } from '#shared/engine/store';
import { keys } from './keys';
import { queryPrefix } from './query';
import { toStep, type StepRecord } from './runs';
import { historyEntry } from './step-history';
import { writeTransaction } from './transaction';

/**
 * Map steps on DynamoDB (docs/ARCHITECTURE.md, "Map steps"): the map's record `RUN#r / MAP#<map>`
 * (counts and settings, the open chunks as a number set), a counter per chunk of 100 children
 * `RUN#r / MAP#<map>#CHUNK#<k>` (pending and failed indexes as string sets, about 700 bytes at
 * most), and each child's whole step item `RUN#r / STEP#<map>[<index, 6 digits>]`, so a prefix
 * query pages the children in item order. Counting is idempotent set arithmetic, as sink buckets are.
 */
const mapKey = (runId: string, mapId: string) => ({ pk: `RUN#${runId}`, sk: `MAP#${mapId}` });
const chunkKey = (runId: string, mapId: string, chunk: number) => ({ pk: `RUN#${runId}`, sk: `MAP#${mapId}#CHUNK#${String(chunk).padStart(4, '0')}` });
const numbers = (set: unknown): number[] => [...((set as Set<string> | undefined) ?? [])].map(Number).sort((a, b) => a - b);
const stringSet = (indexes: number[]) => new Set(indexes.map(String));
const lostCondition = (error: unknown) => (error as Error).name === 'ConditionalCheckFailedException';

export function createDynamoMapStore({ documents, tableName, stepItem }: { documents: DynamoDBDocumentClient; tableName: string; stepItem: (step: StepRecord) => Record<string, unknown> }): MapStore {
  const update = async (input: Omit<ConstructorParameters<typeof UpdateCommand>[0], 'TableName'>): Promise<Record<string, unknown> | false> => {
    try {
      return (await documents.send(new UpdateCommand({ TableName: tableName, ...input }))).Attributes ?? {};
    } catch (error) {
      if (lostCondition(error)) return false;
      throw error;
    }
  };
  const toMap = (item: Record<string, unknown>): MapRecord => {
    const { pk: _pk, sk: _sk, openChunks, templateJson, ...rest } = item;
    const open = [...((openChunks as Set<number> | undefined) ?? [])].sort((a, b) => a - b);
    return { ...(rest as unknown as MapRecord), template: JSON.parse(templateJson as string) as MapRecord['template'], ...(open.length ? { openChunks: open } : {}) };
  };

  return {
    async getMap(runId, mapId) {
      const { Item } = await documents.send(new GetCommand({ TableName: tableName, Key: mapKey(runId, mapId), ConsistentRead: true }));
      return Item ? toMap(Item) : undefined;
    },

    async createMap(map) {
      const chunks = mapChunkCount(map.count);
      const puts = Array.from({ length: chunks }, (_, chunk) => ({ PutRequest: { Item: { ...chunkKey(map.runId, map.mapId, chunk), pending: stringSet(mapChunkIndexes(chunk, map.count)) } } }));
      // Counters first: until the record commits nothing counts against them (a rewrite is the same).
      for (let start = 0; start < puts.length; start += 25) {
        let request: NonNullable<BatchWriteCommandInput['RequestItems']>[string] | undefined = puts.slice(start, start + 25);
        while (request?.length) {
          const response: BatchWriteCommandOutput = await documents.send(new BatchWriteCommand({ RequestItems: { [tableName]: request } }));
          request = response.UnprocessedItems?.[tableName];
        }
      }
      // The template as JSON text: its input is free-form (json-attribute.ts says why).
      const { openChunks: _open, template, ...fields } = map;
      const record = { ...fields, templateJson: JSON.stringify(template) };
      const open = Array.from({ length: chunks }, (_, chunk) => chunk);
      return (
        (await update({
          Key: mapKey(map.runId, map.mapId),
          UpdateExpression: `SET ${Object.keys(record).map((name) => `#${name} = :${name}`).join(', ')}${open.length ? ', openChunks = :open' : ''}`,
          ConditionExpression: 'attribute_not_exists(pk)',
          ExpressionAttributeNames: Object.fromEntries(Object.keys(record).map((name) => [`#${name}`, name])),
          ExpressionAttributeValues: { ...Object.fromEntries(Object.entries(record).map(([name, value]) => [`:${name}`, value])), ...(open.length ? { ':open': new Set(open) } : {}) },
        })) !== false
      );
    },

    putChild: (child: StepRecord, queued: EventToWrite) =>
      writeTransaction(documents, tableName, (tx) => {
        const item = queued.publish || queued.inFeed ? stepItem(child) : { ...stepItem(child), history: [historyEntry(queued.event)] };
        tx.put(item as { pk: string; sk: string }, 'attribute_not_exists(pk)');
        const key = keys.runEvent(child.runId, queued.event.id);
        if (queued.publish || queued.inFeed) tx.event(key, queued.event, queued.publish);
        else tx.recorded(key, queued.event);
      }),

    async finishChild(runId, mapId, chunk, index, failed) {
      const attributes = await update({
        Key: chunkKey(runId, mapId, chunk),
        UpdateExpression: failed ? 'DELETE pending :index ADD failed :index' : 'DELETE pending :index, failed :index',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: { ':index': new Set([String(index)]) },
        ReturnValues: 'ALL_NEW',
      });
      return attributes !== false && attributes.pending === undefined;
    },

    async closeChunk(runId, mapId, chunk) {
      const attributes = await update({ Key: mapKey(runId, mapId), UpdateExpression: 'DELETE openChunks :chunk', ConditionExpression: 'attribute_exists(pk)', ExpressionAttributeValues: { ':chunk': new Set([chunk]) }, ReturnValues: 'ALL_NEW' });
      return attributes !== false && attributes.openChunks === undefined;
    },

    async chunks(runId, mapId): Promise<MapChunk[]> {
      const items = await queryPrefix(documents, tableName, `RUN#${runId}`, `MAP#${mapId}#CHUNK#`);
      return items.map((item) => ({ chunk: Number((item.sk as string).split('#CHUNK#')[1]), pending: numbers(item.pending), failed: numbers(item.failed) }));
    },

    async openRound(runId, mapId, round, reopen) {
      for (const { chunk, failed } of reopen) {
        if (failed.length) await update({ Key: chunkKey(runId, mapId, chunk), UpdateExpression: 'SET pending = :failed', ExpressionAttributeValues: { ':failed': stringSet(failed) } });
      }
      const open = reopen.filter((chunk) => chunk.failed.length).map((chunk) => chunk.chunk);
      return (
        (await update({
          Key: mapKey(runId, mapId),
          UpdateExpression: `SET #round = :round, #state = :running${open.length ? ', openChunks = :open' : ''}`,
          ConditionExpression: '#round = :previous',
          ExpressionAttributeNames: { '#round': 'round', '#state': 'state' },
          ExpressionAttributeValues: { ':round': round, ':previous': round - 1, ':running': 'running', ...(open.length ? { ':open': new Set(open) } : {}) },
        })) !== false
      );
    },

    async closeMap(runId, mapId, round) {
      const written = await update({ Key: mapKey(runId, mapId), UpdateExpression: 'SET #state = :done', ConditionExpression: '#round = :round', ExpressionAttributeNames: { '#round': 'round', '#state': 'state' }, ExpressionAttributeValues: { ':round': round, ':done': 'done' } });
      return written !== false;
    },

    async awaitChildren(runId, stepId, attempt) {
      const written = await update({
        Key: { pk: `RUN#${runId}`, sk: `STEP#${stepId}` },
        UpdateExpression: 'SET waitingFor = :children REMOVE leaseUntil',
        ConditionExpression: '#status = :running AND #attempt = :attempt',
        ExpressionAttributeNames: { '#status': 'status', '#attempt': 'attempt' },
        ExpressionAttributeValues: { ':children': 'children', ':running': 'running', ':attempt': attempt },
      });
      return written !== false;
    },

    async children(runId, mapId, { limit, from = 0 }) {
      const page = await documents.send(
        new QueryCommand({
          TableName: tableName,
          KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
          ExpressionAttributeValues: { ':pk': `RUN#${runId}`, ':from': `STEP#${mapChildId(mapId, from)}`, ':to': `STEP#${mapId}[999999]` },
          Limit: limit + 1,
        }),
      );
      const items = (page.Items ?? []).map(toStep);
      const more = items.length > limit ? items[limit]!.mapItem?.index : undefined;
      return { items: items.slice(0, limit), ...(more !== undefined ? { next: more } : {}) };
    },
  };
}
