import { UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { keys } from './keys';

const isConditionFailure = (error: unknown) => (error as Error).name === 'ConditionalCheckFailedException';

interface Waiting {
  stepIds: string[];
  resolve: (allDone: boolean) => void;
  reject: (error: Error) => void;
}

/**
 * Counts finished sinks out of their run's sink buckets (shared/domain/sink-buckets.ts): one
 * UpdateItem `DELETE pending :ids` on the bucket, and, when that leaves it empty, one on the run
 * item taking the bucket off `openSinkBuckets`. Both are set removals, so a repeat (a redelivery
 * recounting its sink) changes nothing. Sinks finished within `gatherMs` of each other in one
 * instance (the records of one invocation run in parallel) share the bucket's write; every
 * caller hears whether the run's last bucket is now empty.
 */
export function createSinkBucketWriter({ documents, tableName, gatherMs = 10 }: { documents: DynamoDBDocumentClient; tableName: string; gatherMs?: number }) {
  const waiting = new Map<string, Waiting[]>();

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

  return (runId: string, bucket: number, stepIds: string[]): Promise<boolean> =>
    new Promise<boolean>((resolve, reject) => {
      const key = `${runId}#${bucket}`;
      const callers = waiting.get(key);
      if (callers) {
        callers.push({ stepIds, resolve, reject });
        return;
      }
      waiting.set(key, [{ stepIds, resolve, reject }]);
      setTimeout(() => {
        const gathered = waiting.get(key) ?? [];
        waiting.delete(key);
        write(runId, bucket, [...new Set(gathered.flatMap((caller) => caller.stepIds))]).then(
          (allDone) => gathered.forEach((caller) => caller.resolve(allDone)),
          (error: Error) => gathered.forEach((caller) => caller.reject(error)),
        );
      }, gatherMs);
    });
}
