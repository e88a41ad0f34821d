import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { readEmfLines, type EmfLine } from '../../scripts/lib/emf-logs';
import { stack } from './stack';

export { withMetric, type EmfLine } from '../../scripts/lib/emf-logs';

const logs = new CloudWatchLogsClient({
  endpoint: stack.endpoint,
  region: stack.region,
  credentials: { accessKeyId: process.env.AWS_ACCESS_KEY_ID ?? 'test', secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY ?? 'test' },
});

/** The EMF lines the deployed stage's functions wrote since `since` (ms): scripts/lib/emf-logs.ts. */
export const emfLinesSince = (since: number): Promise<EmfLine[]> => readEmfLines(logs, stack.stage, since);
