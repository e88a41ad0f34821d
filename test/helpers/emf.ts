import { CloudWatchLogsClient, DescribeLogGroupsCommand, FilterLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { stack } from './stack';

/** One CloudWatch embedded-metric-format document a function printed, with its log group. */
export interface EmfLine {
  logGroup: string;
  document: Record<string, unknown> & { _aws: { CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string; Unit: string }[] }[] } };
  raw: string;
}

const logs = new CloudWatchLogsClient({
  endpoint: stack.endpoint,
  region: stack.region,
  credentials: { accessKeyId: process.env.AWS_ACCESS_KEY_ID ?? 'test', secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY ?? 'test' },
});

/**
 * The EMF lines the stage's functions wrote to their log groups since `since` (ms): what
 * CloudWatch turns into metrics. The emulator keeps each function's output in CloudWatch Logs
 * (`.baton/emulator.log` only shows the output of direct Invoke calls).
 */
export async function emfLinesSince(since: number): Promise<EmfLine[]> {
  // The functions' log groups are the stacks' own (`…/Baton-<stage>-Engine/StepWorkerFunctionLogs…`).
  const groups = await logs.send(new DescribeLogGroupsCommand({}));
  const lines: EmfLine[] = [];
  for (const { logGroupName } of (groups.logGroups ?? []).filter(({ logGroupName }) => logGroupName?.includes(`Baton-${stack.stage}-`) && /Function/.test(logGroupName))) {
    let nextToken: string | undefined;
    do {
      const page = await logs.send(new FilterLogEventsCommand({ logGroupName, startTime: since, ...(nextToken ? { nextToken } : {}) }));
      for (const { message } of page.events ?? []) {
        const start = message?.indexOf('{"_aws"') ?? -1;
        if (start < 0) continue;
        try {
          lines.push({ logGroup: logGroupName!, document: JSON.parse(message!.slice(start).trim()) as EmfLine['document'], raw: message!.slice(start).trim() });
        } catch {
          // Not one JSON document (cut by the log): not a metric CloudWatch would read either.
        }
      }
      nextToken = page.nextToken;
    } while (nextToken);
  }
  return lines;
}

/** The lines that carry metric `name` in namespace Baton. */
export const withMetric = (lines: EmfLine[], name: string) =>
  lines.filter(({ document }) => document._aws.CloudWatchMetrics.some((directive) => directive.Namespace === 'Baton' && directive.Metrics.some((metric) => metric.Name === name)));
