import type { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { GetCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { usageFromItem } from '#shared/clients/usage-meter';
import { keys } from '#shared/store/keys';
import type { StackInfo } from '../stack';
import { countOf, isCatalogueLine, readEmfLines, type EmfLine } from '../emf-logs';
import { countRequests, logOffset, readLogSince, subtractCounts, totalOf } from './emulator-log';
import type { CaseMeasurement, EmfMeasurement } from './report';
import type { BenchShape } from './shapes';

const finalStatuses = new Set(['completed', 'blocked', 'failed', 'cancelled']);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface CaseTarget {
  info: StackInfo;
  projectId: string;
  token: string;
  /** A DynamoDB client outside Baton's meter: the bench reads the run's status with it (and counts each read). */
  documents: DynamoDBDocumentClient;
  logPath: string;
  pollMs: number;
  /** Reads the functions' EMF lines (Baton's metrics) from the emulator's CloudWatch Logs. */
  logs: CloudWatchLogsClient;
}

async function call<T>(target: CaseTarget, method: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(`${target.info.apiUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${target.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text.slice(0, 500)}`);
  return JSON.parse(text) as T;
}

/** Saves a workflow in the bench project; returns its id. */
export const saveWorkflow = async (target: CaseTarget, body: unknown): Promise<string> =>
  (await call<{ id: string }>(target, 'POST', `/v1/projects/${target.projectId}/workflows`, body)).id;

interface RunDetail {
  id: string;
  status: string;
  createdAt: string;
  finishedAt?: string;
  usage: Record<string, unknown> & { perExecutedStep?: { steps: number } };
}

/**
 * Waits until the emulator's log has had no new request for `quietMs` (the last invocation's
 * trailing publish and marks land after the run item says completed), at most `maxMs`.
 */
async function settle(logPath: string, offset: number, quietMs: number, maxMs: number): Promise<void> {
  const until = Date.now() + maxMs;
  let last = -1;
  let quietSince = Date.now();
  while (Date.now() < until) {
    const count = totalOf(countRequests(readLogSince(logPath, offset)));
    if (count !== last) {
      last = count;
      quietSince = Date.now();
    } else if (Date.now() - quietSince >= quietMs) {
      return;
    }
    await sleep(250);
  }
}

/**
 * The EMF lines printed between `since` and now, once the run's StepsCompleted add up to its
 * steps (a function's output reaches its log group after the invocation; at most `maxMs`): every
 * function's but the sweeper's, whose lines are one a sweep whatever runs. Baton's metrics
 * (the catalogue) apart from the functions' AWS usage metrics.
 */
async function emfOfRun(target: CaseTarget, since: number, steps: number, maxMs: number): Promise<EmfMeasurement> {
  const until = Date.now() + maxMs;
  for (;;) {
    const lines = (await readEmfLines(target.logs, target.info.stage, since)).filter(({ logGroup }) => !/Sweeper/.test(logGroup));
    const stepsCompleted = countOf(lines, 'StepsCompleted');
    if (stepsCompleted >= steps || Date.now() > until) {
      const sizeOf = (of: EmfLine[]) => ({ lines: of.length, ingestedBytes: of.reduce((sum, line) => sum + line.ingestedBytes, 0) });
      return { stepsCompleted, catalogue: sizeOf(lines.filter(isCatalogueLine)), usage: sizeOf(lines.filter((line) => !isCatalogueLine(line))) };
    }
    await sleep(1_000);
  }
}

/**
 * Runs one workflow to its end and measures it: wall time from the run's createdAt to its
 * finishedAt (the engine's own clock), the meter's usage from the run, and the requests the
 * emulator logged meanwhile, less the bench's own status reads.
 */
export async function runCase(target: CaseTarget, shape: BenchShape, size: number, workflowId: string, timeoutMs = 1_800_000): Promise<CaseMeasurement> {
  const offset = logOffset(target.logPath);
  const began = Date.now();
  const { id: runId } = await call<{ id: string }>(target, 'POST', `/v1/projects/${target.projectId}/runs`, { workflowId, tags: { bench: `${shape}-${size}` } });
  let polls = 0;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    polls += 1;
    const { Item } = await target.documents.send(new GetCommand({ TableName: target.info.tableName, Key: keys.run(runId), ProjectionExpression: '#status', ExpressionAttributeNames: { '#status': 'status' } }));
    if (finalStatuses.has(String(Item?.status))) break;
    if (Date.now() > deadline) throw new Error(`run ${runId} (${shape}-${size}) did not finish in ${timeoutMs / 1000} s`);
    await sleep(target.pollMs);
  }
  await settle(target.logPath, offset, 2_000, 30_000);
  const emulatorRequests = subtractCounts(countRequests(readLogSince(target.logPath, offset)), { DynamoDB: polls });

  const run = await call<RunDetail>(target, 'GET', `/v1/runs/${runId}`);
  const wallSeconds = (Date.parse(run.finishedAt ?? new Date().toISOString()) - Date.parse(run.createdAt)) / 1000;
  const steps = run.usage.perExecutedStep?.steps ?? size;
  return {
    shape,
    size,
    runId,
    status: run.status,
    steps,
    wallSeconds,
    usage: usageFromItem(run.usage),
    emulatorRequests,
    emf: await emfOfRun(target, began, steps, 30_000),
  };
}
