import { UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { keys } from './keys';

const isConditionFailure = (error: unknown) => (error as Error).name === 'ConditionalCheckFailedException';

interface Waiting {
  stepIds: string[];
  resolve: (allDone: boolean) => void;
  reject: (error: Error) => void;
}

/** The sinks of one bucket waiting for their write. */
interface Gathered {
  runId: string;
  bucket: number;
  callers: Waiting[];
}

/**
 * Counts finished sinks out of their run's sink buckets (shared/domain/sink-buckets.ts): one
 * UpdateItem `DELETE pending :ids` on the bucket, and, when that leaves it empty, one on the run
 * item taking the bucket off `openSinkBuckets`. Both are set removals, so a repeat (a redelivery
 * recounting its sink) changes nothing. Sinks finished within `gatherMs` of each other in one
 * instance (the records of one invocation run in parallel) share the bucket's write; every
 * caller hears whether the run's last bucket is now empty.
 *
 * `inFlight` (the step worker's: its records being processed now) gathers per invocation instead:
 * the writes go as soon as every record in flight is waiting for one, since no other sink can
 * come from this invocation then (a batch of fan leaves: one write per bucket it touches), and
 * `gatherMs` only bounds the wait of a sink whose neighbours still run their steps.
 */
export function createSinkBucketWriter({ documents, tableName, gatherMs = 10, inFlight }: { documents: DynamoDBDocumentClient; tableName: string; gatherMs?: number; inFlight?: () => number }) {
  const waiting = new Map<string, Gathered>();
  const timers = new Map<string, ReturnType<typeof setTimeout>>();

  /** True when the run has no open bucket left after this write; false for a bucket or run that does not exist. */
  const write = async (runId: string, bucket: number, stepIds: string[]): Promise<boolean> => {
    try {
      const emptied = await documents.send(
        new UpdateCommand({
          TableName: tableName,
          Key: keys.sinkBucket(runId, bucket),
          UpdateExpression: 'DELETE #pending :ids',
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeNames: { '#pending': 'pending' },
          ExpressionAttributeValues: { ':ids': new Set(stepIds) },
          ReturnValues: 'ALL_NEW',
        }),
      );
      if (emptied.Attributes?.pending) return false;
      const run = await documents.send(
        new UpdateCommand({
          TableName: tableName,
          Key: keys.run(runId),
          UpdateExpression: 'DELETE #open :bucket',
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeNames: { '#open': 'openSinkBuckets' },
          ExpressionAttributeValues: { ':bucket': new Set([String(bucket)]) },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return !run.Attributes?.openSinkBuckets;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  };

  const flush = (key: string) => {
    clearTimeout(timers.get(key));
    timers.delete(key);
    const gathered = waiting.get(key);
    waiting.delete(key);
    if (!gathered) return;
    write(gathered.runId, gathered.bucket, [...new Set(gathered.callers.flatMap((caller) => caller.stepIds))]).then(
      (allDone) => gathered.callers.forEach((caller) => caller.resolve(allDone)),
      (error: Error) => gathered.callers.forEach((caller) => caller.reject(error)),
    );
  };
  const waiters = () => [...waiting.values()].reduce((sum, gathered) => sum + gathered.callers.length, 0);

  return (runId: string, bucket: number, stepIds: string[]): Promise<boolean> =>
    new Promise<boolean>((resolve, reject) => {
      const key = `${runId}#${bucket}`;
      const gathered = waiting.get(key) ?? { runId, bucket, callers: [] };
      gathered.callers.push({ stepIds, resolve, reject });
      waiting.set(key, gathered);
      if (!timers.has(key)) timers.set(key, setTimeout(() => flush(key), gatherMs));
      // Every record in flight waits for a sink write: nothing else will come, write them all now.
      if (inFlight && waiters() >= inFlight()) [...waiting.keys()].forEach(flush);
    });
}
