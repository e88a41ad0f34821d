import { closeSync, openSync, readSync, statSync } from 'node:fs';

/**
 * MiniStack logs every AWS request it routes, at DEBUG (`LOG_LEVEL=DEBUG`: `npm start`'s default,
 * `BATON_EMULATOR_LOG_LEVEL` otherwise), as
 *   `2026-11-30 10:59:01 DEBUG [ministack] POST / -> service=dynamodb region=us-east-1`
 * (ministack/app.py, `_dispatch_service_request`). That line is the emulator's own count of the
 * requests it served, independent of Baton's usage meter. It names the service, not the operation.
 */
const requestLine = /\[ministack\] [A-Z]+ \S+ -> service=([\w-]+) region=/;

/** Baton's meter names services by the SDK's service id; MiniStack by its routing name. */
const meterServiceNames: Record<string, string> = {
  dynamodb: 'DynamoDB',
  sqs: 'SQS',
  events: 'EventBridge',
  s3: 'S3',
  lambda: 'Lambda',
  secretsmanager: 'SecretsManager',
  kms: 'KMS',
  ssm: 'SSM',
  scheduler: 'Scheduler',
  'bedrock-runtime': 'BedrockRuntime',
  bedrock: 'BedrockRuntime',
  apigateway: 'ApiGateway',
  'execute-api': 'ApiGateway',
};

export const meterServiceName = (service: string): string => meterServiceNames[service] ?? service;

/** Requests by service (in the meter's names) in a piece of the emulator's log. */
export function countRequests(logText: string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const line of logText.split('\n')) {
    const match = requestLine.exec(line);
    if (!match) continue;
    const service = meterServiceName(match[1]!);
    counts[service] = (counts[service] ?? 0) + 1;
  }
  return counts;
}

/** Whether a log holds request lines at all (false: the emulator does not log at DEBUG). */
export const logsRequests = (logText: string): boolean => logText.split('\n').some((line) => requestLine.test(line));

/** `counts` less `minus` per service, never below zero; services left at zero are dropped. */
export function subtractCounts(counts: Record<string, number>, minus: Record<string, number>): Record<string, number> {
  const result: Record<string, number> = {};
  for (const [service, count] of Object.entries(counts)) {
    const rest = count - (minus[service] ?? 0);
    if (rest > 0) result[service] = rest;
  }
  return result;
}

export const totalOf = (counts: Record<string, number>): number => Object.values(counts).reduce((sum, count) => sum + count, 0);

/** Where the log ends now: read from here later to see only what happened since. */
export const logOffset = (path: string): number => statSync(path).size;

/** The log's text from `offset` to its current end. */
export function readLogSince(path: string, offset: number): string {
  const end = statSync(path).size;
  if (end <= offset) return '';
  const buffer = Buffer.alloc(end - offset);
  const fd = openSync(path, 'r');
  try {
    readSync(fd, buffer, 0, buffer.length, offset);
  } finally {
    closeSync(fd);
  }
  return buffer.toString('utf8');
}
