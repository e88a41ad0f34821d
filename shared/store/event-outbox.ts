import { PutEventsCommand, type EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { BatchWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { eventSource, type LifecycleEvent } from '#shared/domain/events';
import { listingsIndex, outboxIndex } from './keys';

type Key = { pk: string; sk: string };
/** `publish: false`: kept in the history only, never put on the bus (see isPublishedOnBus). */
export type CommittedEvent = { key: Key; event: LifecycleEvent; publish?: boolean };

/**
 * An event's attributes, each time it is written: filed in its project's feed (gsi2, keys only:
 * one small index entry per event, and the publication mark's rewrite leaves it unchanged).
 */
const eventAttributes = (key: Key, event: LifecycleEvent) => ({
  ...key,
  ...event,
  eventId: event.id,
  [listingsIndex.partitionKey]: listingsIndex.feed(event.projectId),
  [listingsIndex.sortKey]: event.id,
});

/**
 * An event as it is written in the same transaction as the state change it records: in the
 * outbox until published, or, when it is not for the bus, never in it (no publication, no mark).
 */
export const eventItem = (key: Key, event: LifecycleEvent, publish = true) => ({
  ...eventAttributes(key, event),
  ...(publish ? { outboxPk: outboxIndex.pending } : {}),
});

/** The attributes of an event item that are storage, not the event (left out when events are read). */
export const eventStorageAttributes = ['pk', 'sk', 'outboxPk', 'eventId', listingsIndex.partitionKey, listingsIndex.sortKey] as const;

export interface EventOutboxDeps {
  documents: DynamoDBDocumentClient;
  bus: EventBridgeClient;
  tableName: string;
  busName: string;
}

/**
 * Publishes committed events and marks the ones the bus accepted. An event the bus refuses
 * stays pending in the outbox index and is republished later (at least once, dedupe by id).
 */
export const createEventOutbox = ({ documents, bus, tableName, busName }: EventOutboxDeps) => {
  /**
   * Rewrites the accepted events without their outbox key, 25 to a call: a put of the whole
   * event (known here) is one request for many events, where an update would be one per event.
   */
  const markPublished = async (events: CommittedEvent[]) => {
    const publishedAt = new Date().toISOString();
    for (let start = 0; start < events.length; start += 25) {
      let request: Record<string, { PutRequest: { Item: Record<string, unknown> } }[]> | undefined = {
        [tableName]: events.slice(start, start + 25).map(({ key, event }) => ({
          PutRequest: { Item: { ...eventAttributes(key, event), publishedAt } },
        })),
      };
      while (request && (request[tableName]?.length ?? 0) > 0) {
        const response = await documents.send(new BatchWriteCommand({ RequestItems: request }));
        request = response.UnprocessedItems as typeof request;
      }
    }
  };

  return {
    /**
     * Publishes events (10 to a PutEvents call) and marks the accepted ones, together with any
     * `alsoMark` published earlier without marking; returns the accepted events.
     * With `mark: false` the caller marks them later (one write for several publications).
     * Events not for the bus (`publish: false`) are skipped: they are stored, never in the outbox.
     */
    async publish(committed: CommittedEvent[], { mark = true, alsoMark = [] }: { mark?: boolean; alsoMark?: CommittedEvent[] } = {}): Promise<CommittedEvent[]> {
      const events = committed.filter((event) => event.publish !== false);
      const accepted: CommittedEvent[] = [];
      for (let start = 0; start < events.length; start += 10) {
        const batch = events.slice(start, start + 10);
        const result = await bus.send(
          new PutEventsCommand({
            Entries: batch.map(({ event }) => ({
              EventBusName: busName,
              Source: eventSource,
              DetailType: event.type,
              Time: new Date(event.at),
              Detail: JSON.stringify(event),
            })),
          }),
        );
        accepted.push(...batch.filter((_, index) => !result.Entries?.[index]?.ErrorCode));
      }
      if (mark && (alsoMark.length || accepted.length)) await markPublished([...alsoMark, ...accepted]);
      return accepted;
    },
  };
};

export type EventOutbox = ReturnType<typeof createEventOutbox>;
