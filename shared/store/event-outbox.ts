import { PutEventsCommand, type EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { eventSource, type LifecycleEvent } from '#shared/domain/events';
import { outboxIndex } from './keys';

/** An event as it is written in the same transaction as the state change it records. */
export const eventItem = (key: { pk: string; sk: string }, event: LifecycleEvent) => ({
  ...key,
  ...event,
  eventId: event.id,
  outboxPk: outboxIndex.pending,
});

export interface EventOutboxDeps {
  documents: DynamoDBDocumentClient;
  bus: EventBridgeClient;
  tableName: string;
  busName: string;
}

/**
 * Publishes committed events and marks the ones the bus accepted. An event the bus refuses
 * stays pending in the outbox index and is republished later (at least once, dedupe by id).
 * Returns the ids that were published.
 */
export const createEventOutbox = ({ documents, bus, tableName, busName }: EventOutboxDeps) => ({
  async publish(events: { key: { pk: string; sk: string }; event: LifecycleEvent }[]): Promise<string[]> {
    const published: string[] = [];
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
      const accepted = batch.filter((_, index) => !result.Entries?.[index]?.ErrorCode);
      await Promise.all(
        accepted.map(({ key }) =>
          documents.send(
            new UpdateCommand({
              TableName: tableName,
              Key: key,
              UpdateExpression: 'REMOVE outboxPk SET publishedAt = :now',
              ConditionExpression: 'attribute_exists(pk)',
              ExpressionAttributeValues: { ':now': new Date().toISOString() },
            }),
          ),
        ),
      );
      published.push(...accepted.map(({ event }) => event.id));
    }
    return published;
  },
});

export type EventOutbox = ReturnType<typeof createEventOutbox>;
