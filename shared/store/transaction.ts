import { DeleteCommand, PutCommand, TransactWriteCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { LifecycleEvent } from '#shared/domain/events';
import { eventItem, type CommittedEvent } from './event-outbox';

type Key = { pk: string; sk: string };
type TransactItem = NonNullable<ConstructorParameters<typeof TransactWriteCommand>[0]['TransactItems']>[number];

/** A conditional write lost: the item was not in the state the write expected. */
export class ConditionFailedError extends Error {
  override name = 'ConditionFailedError';
}

export interface UpdateSpec {
  /** Attributes to set, by name. */
  set?: Record<string, unknown>;
  /** Attributes to set only where the item has none (an item born by this write gets them). */
  setIfMissing?: Record<string, unknown>;
  /** Numbers to count down by one, starting from the given value where the item has none yet. */
  countDown?: Record<string, number>;
  /** Numbers to move by `by`, starting from `from` where the item has none yet. */
  shift?: Record<string, { from: number; by: number }>;
  /** Items to append to lists (created when missing), by name. */
  append?: Record<string, unknown[]>;
  /** Numbers to add (negative to subtract) or string sets to extend, by name. */
  add?: Record<string, unknown>;
  /** String sets to shrink, by name. */
  delete?: Record<string, unknown>;
  remove?: string[];
  /** Condition in DynamoDB syntax; refer to attributes as `#name` and to values as `:name`. */
  condition?: string;
  values?: Record<string, unknown>;
}

/** Builds an UpdateItem's expressions; every `#name` used anywhere maps to the attribute `name`. */
export function updateExpression(spec: UpdateSpec) {
  const names: Record<string, string> = {};
  const values: Record<string, unknown> = { ...spec.values };
  const name = (attribute: string) => {
    names[`#${attribute}`] = attribute;
    return `#${attribute}`;
  };
  const clauses: string[] = [];
  const set = Object.entries(spec.set ?? {}).map(([attribute, value]) => {
    values[`:set_${attribute}`] = value;
    return `${name(attribute)} = :set_${attribute}`;
  });
  for (const [attribute, value] of Object.entries(spec.setIfMissing ?? {})) {
    values[`:sim_${attribute}`] = value;
    set.push(`${name(attribute)} = if_not_exists(${name(attribute)}, :sim_${attribute})`);
  }
  for (const [attribute, from] of Object.entries(spec.countDown ?? {})) {
    values[`:cd_${attribute}`] = from;
    values[':cd_one'] = 1;
    set.push(`${name(attribute)} = if_not_exists(${name(attribute)}, :cd_${attribute}) - :cd_one`);
  }
  for (const [attribute, { from, by }] of Object.entries(spec.shift ?? {})) {
    values[`:sh_${attribute}`] = from;
    values[`:shby_${attribute}`] = by;
    set.push(`${name(attribute)} = if_not_exists(${name(attribute)}, :sh_${attribute}) + :shby_${attribute}`);
  }
  for (const [attribute, items] of Object.entries(spec.append ?? {})) {
    if (items.length === 0) continue;
    values[`:app_${attribute}`] = items;
    values[':app_empty'] = [];
    set.push(`${name(attribute)} = list_append(if_not_exists(${name(attribute)}, :app_empty), :app_${attribute})`);
  }
  if (set.length) clauses.push(`SET ${set.join(', ')}`);
  const add = Object.entries(spec.add ?? {}).map(([attribute, value]) => {
    values[`:add_${attribute}`] = value;
    return `${name(attribute)} :add_${attribute}`;
  });
  if (add.length) clauses.push(`ADD ${add.join(', ')}`);
  const del = Object.entries(spec.delete ?? {}).map(([attribute, value]) => {
    values[`:del_${attribute}`] = value;
    return `${name(attribute)} :del_${attribute}`;
  });
  if (del.length) clauses.push(`DELETE ${del.join(', ')}`);
  if (spec.remove?.length) clauses.push(`REMOVE ${spec.remove.map(name).join(', ')}`);
  for (const match of (spec.condition ?? '').matchAll(/#(\w+)/g)) name(match[1]!);
  return {
    UpdateExpression: clauses.join(' '),
    ...(spec.condition ? { ConditionExpression: spec.condition } : {}),
    ExpressionAttributeNames: names,
    ...(Object.keys(values).length ? { ExpressionAttributeValues: values } : {}),
  };
}

/**
 * One DynamoDB transaction: state changes and the events that record them commit together or
 * not at all (DESIGN invariant 4). A lost condition surfaces as ConditionFailedError.
 */
export function createTransaction(documents: DynamoDBDocumentClient, tableName: string) {
  const items: TransactItem[] = [];
  const events: CommittedEvent[] = [];
  const tx = {
    update(key: Key, spec: UpdateSpec) {
      items.push({ Update: { TableName: tableName, Key: key, ...updateExpression(spec) } });
      return tx;
    },
    put(item: Key & Record<string, unknown>, condition?: string, values?: Record<string, unknown>) {
      items.push({ Put: { TableName: tableName, Item: item, ...(condition ? { ConditionExpression: condition } : {}), ...(values ? { ExpressionAttributeValues: values } : {}) } });
      return tx;
    },
    delete(key: Key, condition?: string) {
      items.push({ Delete: { TableName: tableName, Key: key, ...(condition ? { ConditionExpression: condition } : {}) } });
      return tx;
    },
    /** Writes an event with the change; `publish: false` keeps it off the bus (history only). */
    event(key: Key, event: LifecycleEvent, publish = true) {
      items.push({ Put: { TableName: tableName, Item: eventItem(key, event, publish) } });
      events.push({ key, event, ...(publish ? {} : { publish: false }) });
      return tx;
    },
    /**
     * An event kept on the item whose change it records (a step's `history`, written by the
     * caller's update of that item): no item of its own, never on the bus; returned like the others.
     */
    recorded(key: Key, event: LifecycleEvent) {
      events.push({ key, event, publish: false });
      return tx;
    },
    get size() {
      return items.length;
    },
    /**
     * Commits; returns the events written, for publishing after commit. A change of one item is
     * one conditional write, not a transaction: atomic all the same, at half the write units.
     */
    async commit() {
      if (items.length === 0) return events;
      try {
        if (items.length === 1) await sendSingle(documents, items[0]!);
        else await documents.send(new TransactWriteCommand({ TransactItems: items }));
      } catch (error) {
        const reasons = (error as { CancellationReasons?: { Code?: string }[] }).CancellationReasons ?? [];
        const lost =
          (error as Error).name === 'ConditionalCheckFailedException' ||
          ((error as Error).name === 'TransactionCanceledException' && reasons.some((reason) => reason.Code === 'ConditionalCheckFailed'));
        if (lost) throw new ConditionFailedError('A conditional write lost: the item changed meanwhile', { cause: error });
        throw error;
      }
      return events;
    },
  };
  return tx;
}

/** A transaction's only item, sent as the single write it is. */
async function sendSingle(documents: DynamoDBDocumentClient, item: TransactItem): Promise<void> {
  if (item.Update) await documents.send(new UpdateCommand(item.Update as ConstructorParameters<typeof UpdateCommand>[0]));
  else if (item.Put) await documents.send(new PutCommand(item.Put as ConstructorParameters<typeof PutCommand>[0]));
  else if (item.Delete) await documents.send(new DeleteCommand(item.Delete as ConstructorParameters<typeof DeleteCommand>[0]));
  else throw new Error('a transaction item of an unknown kind');
}

export type Transaction = ReturnType<typeof createTransaction>;

/** Commits a transaction built by `build`: won with its events (for the caller to publish), or lost when a condition failed. */
export async function writeTransaction(
  documents: DynamoDBDocumentClient,
  tableName: string,
  build: (tx: Transaction) => void,
): Promise<{ won: true; events: Awaited<ReturnType<Transaction['commit']>> } | { won: false }> {
  const tx = createTransaction(documents, tableName);
  build(tx);
  try {
    return { won: true, events: await tx.commit() };
  } catch (error) {
    if (error instanceof ConditionFailedError) return { won: false };
    throw error;
  }
}
