import { AsyncLocalStorage } from 'node:async_hooks';
import { estimateReadUnits } from '#shared/clients/read-units';
import type {
  HandlerExecutionContext,
  InitializeHandler,
  InitializeHandlerArguments,
  InitializeHandlerOutput,
  MetadataBearer,
  MiddlewareStack,
} from '@smithy/types';

/**
 * What Baton spent on AWS within one metering scope: calls by `Service.Operation`
 * (e.g. `DynamoDB.TransactWriteItems`) and the billing units those calls consumed.
 */
export interface Usage {
  calls: Record<string, number>;
  /** Capacity units as DynamoDB reported them; on-demand tables bill them as request units. */
  dynamodb: { readUnits: number; writeUnits: number };
  /** SQS bills one request per started 64 KB of payload of each call. */
  sqsBillableRequests: number;
  /** EventBridge bills one event per started 64 KB of each entry it accepted. */
  eventsPublished: number;
  lambdaInvocations?: number;
  /**
   * Baton's own Lambda compute: handler wall time (ms) of the invocations that did this work and
   * that time × the function's memory in GB-seconds (what Lambda bills as duration). Reported
   * beside the request cost, never in it (createMetering records it per invocation).
   */
  lambdaComputeMs?: number;
  lambdaGbSeconds?: number;
}

/** A Usage with nothing spent. */
export const emptyUsage = (): Usage => ({
  calls: {},
  dynamodb: { readUnits: 0, writeUnits: 0 },
  sqsBillableRequests: 0,
  eventsPublished: 0,
});

// Accumulates in place: scopes add to one object as calls finish, instead of rebuilding it per call.
const addInto = (target: Usage, source: Usage): Usage => {
  for (const [call, count] of Object.entries(source.calls)) target.calls[call] = (target.calls[call] ?? 0) + count;
  target.dynamodb.readUnits += source.dynamodb.readUnits;
  target.dynamodb.writeUnits += source.dynamodb.writeUnits;
  target.sqsBillableRequests += source.sqsBillableRequests;
  target.eventsPublished += source.eventsPublished;
  if (source.lambdaInvocations !== undefined) target.lambdaInvocations = (target.lambdaInvocations ?? 0) + source.lambdaInvocations;
  if (source.lambdaComputeMs !== undefined) target.lambdaComputeMs = (target.lambdaComputeMs ?? 0) + source.lambdaComputeMs;
  if (source.lambdaGbSeconds !== undefined) target.lambdaGbSeconds = (target.lambdaGbSeconds ?? 0) + source.lambdaGbSeconds;
  return target;
};

/** The sum of two usages, leaving both untouched. */
export const addUsage = (a: Usage, b: Usage): Usage => addInto(addInto(emptyUsage(), a), b);

/** What `later` spent beyond `earlier` (both totals of one scope); never negative. */
export const subtractUsage = (later: Usage, earlier: Usage): Usage => {
  const calls: Record<string, number> = {};
  for (const [name, count] of Object.entries(later.calls)) {
    const rest = count - (earlier.calls[name] ?? 0);
    if (rest > 0) calls[name] = rest;
  }
  const minus = (a: number, b: number) => Math.max(0, a - b);
  return {
    calls,
    dynamodb: { readUnits: minus(later.dynamodb.readUnits, earlier.dynamodb.readUnits), writeUnits: minus(later.dynamodb.writeUnits, earlier.dynamodb.writeUnits) },
    sqsBillableRequests: minus(later.sqsBillableRequests, earlier.sqsBillableRequests),
    eventsPublished: minus(later.eventsPublished, earlier.eventsPublished),
    ...(later.lambdaInvocations !== undefined ? { lambdaInvocations: minus(later.lambdaInvocations, earlier.lambdaInvocations ?? 0) } : {}),
    ...(later.lambdaComputeMs !== undefined ? { lambdaComputeMs: minus(later.lambdaComputeMs, earlier.lambdaComputeMs ?? 0) } : {}),
    ...(later.lambdaGbSeconds !== undefined ? { lambdaGbSeconds: minus(later.lambdaGbSeconds, earlier.lambdaGbSeconds ?? 0) } : {}),
  };
};

const asRecord = (value: unknown): Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};

// DynamoDB may hand numbers back as numbers, numeric strings or bigints depending on marshalling options.
const storedNumber = (value: unknown): number => {
  const parsed = typeof value === 'number' ? value : typeof value === 'string' || typeof value === 'bigint' ? Number(value) : Number.NaN;
  return Number.isFinite(parsed) && parsed > 0 ? parsed : 0;
};

/** Reads a Usage back from a stored item, treating anything missing or malformed as zero. */
export const usageFromItem = (value: unknown): Usage => {
  const item = asRecord(value);
  const dynamodb = asRecord(item.dynamodb);
  const calls: Record<string, number> = {};
  for (const [call, count] of Object.entries(asRecord(item.calls))) {
    const n = storedNumber(count);
    if (n > 0) calls[call] = n;
  }
  const usage: Usage = {
    calls,
    dynamodb: { readUnits: storedNumber(dynamodb.readUnits), writeUnits: storedNumber(dynamodb.writeUnits) },
    sqsBillableRequests: storedNumber(item.sqsBillableRequests),
    eventsPublished: storedNumber(item.eventsPublished),
  };
  const lambdaInvocations = storedNumber(item.lambdaInvocations);
  if (lambdaInvocations > 0) usage.lambdaInvocations = lambdaInvocations;
  const lambdaComputeMs = storedNumber(item.lambdaComputeMs);
  if (lambdaComputeMs > 0) usage.lambdaComputeMs = lambdaComputeMs;
  const lambdaGbSeconds = storedNumber(item.lambdaGbSeconds);
  if (lambdaGbSeconds > 0) usage.lambdaGbSeconds = lambdaGbSeconds;
  return usage;
};

// One store per async context, so records processed in parallel in one Lambda never share totals.
const scopes = new AsyncLocalStorage<Usage>();

/**
 * Runs `fn` in a metering scope and returns its result with the AWS usage it caused. A nested scope
 * also adds its totals to the enclosing one, so an outer total always includes everything beneath it.
 */
export const meterUsage = async <T>(fn: () => Promise<T>): Promise<{ result: T; usage: Usage }> => {
  const parent = scopes.getStore();
  const usage = emptyUsage();
  try {
    const result = await scopes.run(usage, fn);
    return { result, usage: addUsage(emptyUsage(), usage) };
  } finally {
    if (parent) addInto(parent, usage);
  }
};

/** A snapshot of the running totals of the active scope, or undefined outside any scope. */
export const currentUsage = (): Usage | undefined => {
  const usage = scopes.getStore();
  return usage ? addUsage(emptyUsage(), usage) : undefined;
};

const checkpoints = new WeakMap<Usage, Usage>();

/**
 * What the active scope spent since the previous call (or since it began), then marks this
 * point. Lets several records made in one scope (steps run one after another in one
 * invocation) each carry their own share, with nothing counted twice.
 */
export const usageSinceCheckpoint = (): Usage | undefined => {
  const live = scopes.getStore();
  if (!live) return undefined;
  const now = addUsage(emptyUsage(), live);
  const since = subtractUsage(now, checkpoints.get(live) ?? emptyUsage());
  checkpoints.set(live, now);
  return since;
};

// --- What each service bills for ---------------------------------------------------------------

const chunkBytes = 64 * 1024;

/** Billing units for a payload: one per started 64 KB chunk, and at least one. */
const billedChunks = (bytes: number): number => Math.max(1, Math.ceil(bytes / chunkBytes));

const utf8Bytes = (value: unknown): number => {
  if (typeof value === 'string') return Buffer.byteLength(value, 'utf8');
  if (value instanceof Uint8Array) return value.byteLength;
  return 0;
};

interface CallRecord {
  operation: string;
  input: Record<string, unknown>;
  /** Undefined when the call failed. */
  output: Record<string, unknown> | undefined;
  error: unknown;
}

/** How one service's calls turn into billing units; `prepare` may ask the service to report them. */
interface ServiceMeter {
  prepare?: (operation: string, input: Record<string, unknown>) => Record<string, unknown> | undefined;
  record: (usage: Usage, call: CallRecord) => void;
}

const dynamodbReads = new Set(['GetItem', 'Query', 'Scan', 'BatchGetItem', 'TransactGetItems']);
const dynamodbWrites = new Set(['PutItem', 'UpdateItem', 'DeleteItem', 'BatchWriteItem', 'TransactWriteItems']);
const dynamodbSingleItemWrites = new Set(['PutItem', 'UpdateItem', 'DeleteItem']);

const addConsumedCapacity = (usage: Usage, operation: string, entry: Record<string, unknown>): void => {
  const read = storedNumber(entry.ReadCapacityUnits);
  const write = storedNumber(entry.WriteCapacityUnits);
  // The split, when DynamoDB gives it, is exact; otherwise the total goes by the kind of operation.
  // A transaction's split may leave out its index writes (`CapacityUnits` holds them: MiniStack
  // says so, AWS's docs do not say otherwise): the rest of the total goes by the kind too.
  if (read > 0 || write > 0) {
    usage.dynamodb.readUnits += read;
    usage.dynamodb.writeUnits += write;
    const rest = storedNumber(entry.CapacityUnits) - read - write;
    if (rest > 0) usage.dynamodb[dynamodbReads.has(operation) ? 'readUnits' : 'writeUnits'] += rest;
  } else if (dynamodbReads.has(operation)) {
    usage.dynamodb.readUnits += storedNumber(entry.CapacityUnits);
  } else {
    usage.dynamodb.writeUnits += storedNumber(entry.CapacityUnits);
  }
};

const errorName = (error: unknown): string | undefined => (error instanceof Error ? error.name : undefined);

const dynamodbMeter: ServiceMeter = {
  prepare: (operation, input) =>
    (dynamodbReads.has(operation) || dynamodbWrites.has(operation)) && input.ReturnConsumedCapacity === undefined
      ? { ...input, ReturnConsumedCapacity: 'TOTAL' }
      : undefined,
  record: (usage, { operation, input, output, error }) => {
    const consumed = output?.ConsumedCapacity;
    const entries = Array.isArray(consumed) ? consumed : consumed === undefined ? [] : [consumed];
    for (const entry of entries) addConsumedCapacity(usage, operation, asRecord(entry));
    // A read that came back without the capacity it was asked for (an emulator's gap,
    // infra/emulator-gaps.ts): its units by DynamoDB's billing rules, from what it returned.
    if (output && consumed === undefined && input.ReturnConsumedCapacity !== 'NONE') usage.dynamodb.readUnits += estimateReadUnits(operation, input, output) ?? 0;
    // A failed condition still bills the write (at least one unit) but the error reports no capacity.
    if (errorName(error) === 'ConditionalCheckFailedException' && dynamodbSingleItemWrites.has(operation)) usage.dynamodb.writeUnits += 1;
  },
};

const sqsAttributesBytes = (attributes: unknown): number =>
  Object.entries(asRecord(attributes)).reduce((sum, [name, attribute]) => {
    const { DataType, StringValue, BinaryValue } = asRecord(attribute);
    return sum + utf8Bytes(name) + utf8Bytes(DataType) + utf8Bytes(StringValue) + utf8Bytes(BinaryValue);
  }, 0);

// Sent messages carry MessageBody, received ones Body; attributes count towards the size either way.
const sqsMessageBytes = (message: unknown): number => {
  const { MessageBody, Body, MessageAttributes } = asRecord(message);
  return utf8Bytes(MessageBody) + utf8Bytes(Body) + sqsAttributesBytes(MessageAttributes);
};

const sumOf = (items: unknown, size: (item: unknown) => number): number =>
  Array.isArray(items) ? items.reduce((sum: number, item: unknown) => sum + size(item), 0) : 0;

const sqsPayloadBytes = ({ operation, input, output }: CallRecord): number => {
  if (operation === 'SendMessage') return sqsMessageBytes(input);
  if (operation === 'SendMessageBatch') return sumOf(input.Entries, sqsMessageBytes);
  if (operation === 'ReceiveMessage') return sumOf(output?.Messages, sqsMessageBytes);
  return 0;
};

const sqsMeter: ServiceMeter = {
  record: (usage, call) => {
    usage.sqsBillableRequests += billedChunks(sqsPayloadBytes(call));
  },
};

// Entry size as EventBridge computes it for billing: a set Time counts 14 bytes, then the UTF-8 fields.
const eventEntryBytes = (entry: unknown): number => {
  const { Time, Source, DetailType, Detail, Resources } = asRecord(entry);
  return (Time === undefined ? 0 : 14) + utf8Bytes(Source) + utf8Bytes(DetailType) + utf8Bytes(Detail) + sumOf(Resources, utf8Bytes);
};

const eventBridgeMeter: ServiceMeter = {
  record: (usage, { operation, input, output }) => {
    if (operation !== 'PutEvents' || !output || !Array.isArray(input.Entries)) return;
    const results = Array.isArray(output.Entries) ? output.Entries : [];
    // Results line up with the entries sent; a rejected entry carries an ErrorCode and is not billed.
    input.Entries.forEach((entry: unknown, index) => {
      if (asRecord(results[index]).ErrorCode === undefined) usage.eventsPublished += billedChunks(eventEntryBytes(entry));
    });
  },
};

const lambdaMeter: ServiceMeter = {
  record: (usage, { operation, output }) => {
    if (output && operation.startsWith('Invoke')) usage.lambdaInvocations = (usage.lambdaInvocations ?? 0) + 1;
  },
};

const serviceMeters: Record<string, ServiceMeter | undefined> = {
  DynamoDB: dynamodbMeter,
  SQS: sqsMeter,
  EventBridge: eventBridgeMeter,
  Lambda: lambdaMeter,
};

// --- The middleware -----------------------------------------------------------------------------

/** The client shape the meter needs: its service id and its middleware stack. */
export interface MeterableClient {
  config: { serviceId?: string };
  middlewareStack: MiddlewareStack<object, MetadataBearer>;
}

const middlewareName = 'batonUsageMeter';

// Service ids may hold spaces ("Secrets Manager"); call keys read better without them.
const serviceName = (client: MeterableClient, context: HandlerExecutionContext): string =>
  (client.config.serviceId ?? context.clientName?.replace(/Client$/, '') ?? 'Unknown').replace(/\s+/g, '');

const operationName = (context: HandlerExecutionContext): string => context.commandName?.replace(/Command$/, '') ?? 'Unknown';

const meterCall =
  (client: MeterableClient) =>
  (next: InitializeHandler<object, MetadataBearer>, context: HandlerExecutionContext) =>
  async (args: InitializeHandlerArguments<object>): Promise<InitializeHandlerOutput<MetadataBearer>> => {
    const usage = scopes.getStore();
    if (!usage) return next(args);

    const service = serviceName(client, context);
    const operation = operationName(context);
    const key = `${service}.${operation}`;
    // Counted before sending, so a call that fails is still a call.
    usage.calls[key] = (usage.calls[key] ?? 0) + 1;

    const meter = serviceMeters[service];
    const input = args.input as Record<string, unknown>;
    const prepared = meter?.prepare?.(operation, input);
    let output: Record<string, unknown> | undefined;
    let error: unknown;
    try {
      const result = await next(prepared ? { ...args, input: prepared } : args);
      output = asRecord(result.output);
      return result;
    } catch (caught) {
      error = caught;
      throw caught;
    } finally {
      meter?.record(usage, { operation, input: prepared ?? input, output, error });
    }
  };

/**
 * Adds the usage meter to an SDK v3 client (idempotent). It records only inside `meterUsage`;
 * a document client shares its base client's stack, so metering either meters both.
 */
export const attachUsageMeter = <C extends MeterableClient>(client: C): C => {
  client.middlewareStack.add(meterCall(client), { step: 'initialize', priority: 'high', name: middlewareName, override: true });
  return client;
};
