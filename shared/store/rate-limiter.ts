import { UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { RateLimitedError } from '#shared/domain/errors';

export interface RateLimit {
  perSecond: number;
  burst: number;
}

/**
 * Per-token request rates, shared by every API Lambda instance: GCRA (the token bucket stated
 * as one "theoretical arrival time" per token) in DynamoDB. An allowed request costs one
 * conditional write (two when the bucket is partly used); a refused one adds no state.
 * Hand-written because no maintained library does a distributed bucket on DynamoDB in one write.
 */
export const createRateLimiter = ({ documents, tableName, now = () => Date.now() }: { documents: DynamoDBDocumentClient; tableName: string; now?: () => number }) => ({
  /** Takes one request from the token's bucket, or throws RateLimitedError with the wait. */
  async take(tokenKey: string, { perSecond, burst }: RateLimit): Promise<void> {
    const at = now();
    const interval = 1000 / perSecond;
    const Key = { pk: `RATELIMIT#${tokenKey}`, sk: 'BUCKET' };
    // Idle for a whole bucket's worth of time: the item can go.
    const expiresAt = Math.ceil((at + burst * interval) / 1000) + 60;
    try {
      // An empty (or full) bucket: the arrival time restarts from now.
      await documents.send(
        new UpdateCommand({
          TableName: tableName,
          Key,
          UpdateExpression: 'SET tat = :next, expiresAt = :expires',
          ConditionExpression: 'attribute_not_exists(tat) OR tat <= :now',
          ExpressionAttributeValues: { ':next': at + interval, ':now': at, ':expires': expiresAt },
        }),
      );
      return;
    } catch (error) {
      if ((error as Error).name !== 'ConditionalCheckFailedException') throw error;
    }
    try {
      // Requests ahead of the refill: allowed while they stay within the burst.
      await documents.send(
        new UpdateCommand({
          TableName: tableName,
          Key,
          UpdateExpression: 'SET tat = tat + :interval, expiresAt = :expires',
          ConditionExpression: 'tat <= :limit',
          ExpressionAttributeValues: { ':interval': interval, ':limit': at + (burst - 1) * interval, ':expires': expiresAt },
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
    } catch (error) {
      if ((error as Error).name !== 'ConditionalCheckFailedException') throw error;
      // The old item comes back raw (the document client does not unmarshall errors).
      const raw = (error as { Item?: { tat?: unknown } }).Item?.tat;
      const tat = Number(raw && typeof raw === 'object' && 'N' in raw ? (raw as { N: string }).N : raw);
      // The first moment the next request fits: tat + interval - burst * interval.
      const waitMs = Number.isFinite(tat) ? tat - (burst - 1) * interval - at : interval;
      throw new RateLimitedError(Math.max(1, Math.ceil(waitMs / 1000)));
    }
  },
});

export type RateLimiter = ReturnType<typeof createRateLimiter>;
