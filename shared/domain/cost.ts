// Type-only: the usage shape is defined next to the meter that fills it; nothing of the SDK comes along.
import type { Usage } from '#shared/clients/usage-meter';

/** USD per billing unit, one field per line of the estimate. */
export interface Prices {
  dynamodbWriteRequestUnit: number;
  dynamodbReadRequestUnit: number;
  sqsRequest: number;
  eventBridgeEvent: number;
  /** S3 PUT, COPY, POST and LIST requests. */
  s3WriteRequest: number;
  /** S3 GET and every other request that is not free. */
  s3ReadRequest: number;
  lambdaRequest: number;
  secretsManagerCall: number;
  kmsRequest: number;
  /** Lambda duration on arm64 (Baton's functions), per GB-second: reported beside the estimate, never in it. */
  lambdaArm64GbSecond: number;
  /** CloudWatch Logs ingestion (standard class), per GB: Baton's metrics are EMF log lines. Reported beside the estimate, never in it. */
  cloudWatchLogsIngestedGb: number;
}

/**
 * us-east-1 on-demand list prices at the time of writing; the free tier is ignored, so the estimate
 * is what the usage would cost an account that has used it up.
 */
export const defaultPrices: Readonly<Prices> = Object.freeze({
  // DynamoDB on-demand: $0.625 per million write request units. Transactional writes already report
  // twice the units, so no extra factor here.
  dynamodbWriteRequestUnit: 0.625 / 1_000_000,
  // DynamoDB on-demand: $0.125 per million read request units (transactional reads likewise doubled).
  dynamodbReadRequestUnit: 0.125 / 1_000_000,
  // SQS standard queue: $0.40 per million requests (a request is each started 64 KB of payload).
  sqsRequest: 0.4 / 1_000_000,
  // EventBridge custom events: $1.00 per million events published (each started 64 KB is one event).
  eventBridgeEvent: 1 / 1_000_000,
  // S3 Standard: $0.005 per 1,000 PUT, COPY, POST or LIST requests.
  s3WriteRequest: 0.005 / 1_000,
  // S3 Standard: $0.0004 per 1,000 GET, SELECT and other requests.
  s3ReadRequest: 0.0004 / 1_000,
  // Lambda: $0.20 per million requests (duration is not metered here).
  lambdaRequest: 0.2 / 1_000_000,
  // Secrets Manager: $0.05 per 10,000 API calls (the monthly per-secret fee is not per run).
  secretsManagerCall: 0.05 / 10_000,
  // KMS: $0.03 per 10,000 symmetric requests (project secrets: Encrypt on set, Decrypt in the worker).
  kmsRequest: 0.03 / 10_000,
  // Lambda duration, arm64, first tier: $0.0000133334 per GB-second (x86: $0.0000166667).
  lambdaArm64GbSecond: 0.0000133334,
  // CloudWatch Logs ingestion, standard log class: $0.50 per GB (EMF lines are priced as logs;
  // the metrics they create are billed per metric and month, not per line).
  cloudWatchLogsIngestedGb: 0.5,
});

/**
 * Baton's own Lambda compute of a usage (handler time × memory, `Usage.lambdaGbSeconds`) at the
 * arm64 list price. Kept apart from `estimateCostUsd`: issue 11 reports it beside the request cost.
 */
export const estimateComputeUsd = (usage: Usage, prices: Prices = defaultPrices): { handlerMs: number; gbSeconds: number; usd: number; usdPerGbSecond: number } => {
  const gbSeconds = usage.lambdaGbSeconds ?? 0;
  return { handlerMs: usage.lambdaComputeMs ?? 0, gbSeconds, usd: gbSeconds * prices.lambdaArm64GbSecond, usdPerGbSecond: prices.lambdaArm64GbSecond };
};

/** How S3 bills an operation: the PUT/LIST tier, the GET tier, or free (DELETE and CANCEL). */
const s3Tier = (operation: string): 'write' | 'read' | 'free' => {
  if (/^(Delete|Abort)/.test(operation)) return 'free';
  if (/^(Put|Post|Copy|List|Create|Upload|Complete)/.test(operation)) return 'write';
  return 'read';
};

/** Calls to one service (only the operations `include` accepts), read from `Service.Operation` keys. */
const callsTo = (usage: Usage, service: string, include: (operation: string) => boolean = () => true): number =>
  Object.entries(usage.calls).reduce((sum, [key, count]) => {
    const [callService, operation = ''] = key.split('.', 2);
    return callService === service && include(operation) ? sum + count : sum;
  }, 0);

/**
 * Estimated cost in USD of a usage, with the line items that make it up. DynamoDB, SQS and
 * EventBridge are priced by the units they bill, not by call count; unpriced services count zero.
 */
export const estimateCostUsd = (usage: Usage, prices: Prices = defaultPrices): { totalUsd: number; breakdown: Record<string, number> } => {
  const breakdown: Record<string, number> = {
    dynamodbWrites: usage.dynamodb.writeUnits * prices.dynamodbWriteRequestUnit,
    dynamodbReads: usage.dynamodb.readUnits * prices.dynamodbReadRequestUnit,
    sqsRequests: usage.sqsBillableRequests * prices.sqsRequest,
    eventBridgeEvents: usage.eventsPublished * prices.eventBridgeEvent,
    s3WriteRequests: callsTo(usage, 'S3', (operation) => s3Tier(operation) === 'write') * prices.s3WriteRequest,
    s3ReadRequests: callsTo(usage, 'S3', (operation) => s3Tier(operation) === 'read') * prices.s3ReadRequest,
    lambdaRequests: (usage.lambdaInvocations ?? 0) * prices.lambdaRequest,
    secretsManagerCalls: callsTo(usage, 'SecretsManager') * prices.secretsManagerCall,
    kmsRequests: callsTo(usage, 'KMS') * prices.kmsRequest,
  };
  const totalUsd = Object.values(breakdown).reduce((sum, usd) => sum + usd, 0);
  return { totalUsd, breakdown };
};
