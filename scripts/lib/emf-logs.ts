import { CloudWatchLogsClient, DescribeLogGroupsCommand, FilterLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { batonMetrics } from '#shared/domain/metrics';

/** One CloudWatch embedded-metric-format document a function printed, with its log group. */
export interface EmfLine {
  logGroup: string;
  /** When the function wrote it (the log event's timestamp, epoch ms). */
  timestamp: number;
  document: Record<string, unknown> & { _aws: { CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string; Unit: string }[] }[] } };
  /** The EMF document as printed. */
  raw: string;
  /** What CloudWatch Logs ingests for the line: its log event's UTF-8 bytes plus 26 bytes of event metadata. */
  ingestedBytes: number;
}

/** CloudWatch Logs counts each log event as its message's UTF-8 bytes plus 26 bytes (PutLogEvents' and ingestion's accounting). */
export const logEventOverheadBytes = 26;

/** The bytes CloudWatch Logs ingests for one log event of this message. */
export const ingestedBytesOf = (message: string): number => Buffer.byteLength(message, 'utf8') + logEventOverheadBytes;

/** The EMF document a log event carries, or undefined (not EMF, or cut by the log: CloudWatch would not read it either). */
export function emfLineOf(logGroup: string, timestamp: number, message: string): EmfLine | undefined {
  const start = message.indexOf('{"_aws"');
  if (start < 0) return undefined;
  const raw = message.slice(start).trim();
  try {
    return { logGroup, timestamp, document: JSON.parse(raw) as EmfLine['document'], raw, ingestedBytes: ingestedBytesOf(message) };
  } catch {
    return undefined;
  }
}

/**
 * The EMF lines the stage's functions wrote to their log groups between `since` and `until`
 * (epoch ms): what CloudWatch turns into Baton's metrics. The emulator keeps each function's
 * output in CloudWatch Logs (its own log only shows the output of direct Invoke calls). The
 * functions' log groups are the stacks' own (`…/Baton-<stage>-Engine/StepWorkerFunctionLogs…`).
 */
export async function readEmfLines(logs: CloudWatchLogsClient, stage: string, since: number, until?: number): Promise<EmfLine[]> {
  const groups: string[] = [];
  let groupToken: string | undefined;
  do {
    const page = await logs.send(new DescribeLogGroupsCommand({ ...(groupToken ? { nextToken: groupToken } : {}) }));
    for (const { logGroupName } of page.logGroups ?? []) if (logGroupName?.includes(`Baton-${stage}-`) && /Function/.test(logGroupName)) groups.push(logGroupName);
    groupToken = page.nextToken;
  } while (groupToken);

  const lines: EmfLine[] = [];
  for (const logGroupName of groups) {
    let nextToken: string | undefined;
    do {
      const page = await logs.send(new FilterLogEventsCommand({ logGroupName, startTime: since, ...(until !== undefined ? { endTime: until } : {}), ...(nextToken ? { nextToken } : {}) }));
      for (const { message, timestamp } of page.events ?? []) {
        const line = message ? emfLineOf(logGroupName, timestamp ?? 0, message) : undefined;
        if (line) lines.push(line);
      }
      nextToken = page.nextToken;
    } while (nextToken);
  }
  return lines;
}

/** The lines that carry metric `name` in namespace Baton. */
export const withMetric = (lines: EmfLine[], name: string): EmfLine[] =>
  lines.filter(({ document }) => document._aws.CloudWatchMetrics.some((directive) => directive.Namespace === 'Baton' && directive.Metrics.some((metric) => metric.Name === name)));

/** A count metric's total over the lines (each line holds the invocation's sum, or a list when Powertools split it). */
export const countOf = (lines: EmfLine[], name: string): number =>
  withMetric(lines, name).reduce((sum, { document }) => {
    const value = document[name];
    const values = Array.isArray(value) ? value : [value];
    return sum + values.reduce<number>((total, point) => total + (typeof point === 'number' ? point : 0), 0);
  }, 0);

/**
 * Whether a line carries Baton's metrics (the catalogue of shared/domain/metrics.ts: steps, runs,
 * API, webhooks) rather than a function's AWS usage (AwsCalls, DynamoDBWriteUnits, … by service).
 */
export const isCatalogueLine = ({ document }: EmfLine): boolean =>
  document._aws.CloudWatchMetrics.some((directive) => directive.Namespace === 'Baton' && directive.Metrics.some((metric) => metric.Name in batonMetrics));
