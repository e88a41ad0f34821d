import type { DynamoDBDocumentClient, UpdateCommandInput } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { sinkBuckets } from '#shared/domain/sink-buckets';
import { createSinkBucketWriter } from '#shared/store/sink-buckets';

/** A table holding one run with its buckets, applying the writer's set removals as DynamoDB does. */
function bucketTable(buckets: Record<number, string[]>) {
  const items = new Map<string, Set<string>>(Object.entries(buckets).map(([bucket, ids]) => [`SINKS#${bucket}`, new Set(ids)]));
  const open = new Set(Object.keys(buckets));
  const updates: UpdateCommandInput[] = [];
  const documents = {
    send: async ({ input }: { input: UpdateCommandInput }) => {
      updates.push(input);
      const sk = (input.Key as { sk: string }).sk;
      const values = input.ExpressionAttributeValues as Record<string, Set<string>>;
      if (sk === 'META') {
        for (const bucket of values[':bucket']!) open.delete(bucket);
        return { Attributes: open.size ? { openSinkBuckets: new Set(open) } : {} };
      }
      const pending = items.get(sk);
      if (!pending) throw Object.assign(new Error('The conditional request failed'), { name: 'ConditionalCheckFailedException' });
      for (const id of values[':ids']!) pending.delete(id);
      return { Attributes: pending.size ? { pending: new Set(pending) } : {} };
    },
  } as unknown as DynamoDBDocumentClient;
  return { documents, updates, open };
}

describe('sink buckets', () => {
  it('cuts the sinks, in workflow order, into buckets of about 600 bytes of ids (an item under 1 KB), neighbours together', () => {
    const ids = Array.from({ length: 1000 }, (_, index) => `leaf-${String(index).padStart(4, '0')}`);
    const buckets = sinkBuckets(ids);

    expect(buckets).toHaveLength(17);
    expect(buckets.flat()).toEqual(ids);
    expect(buckets[0]).toEqual(ids.slice(0, 60));
    expect(Math.max(...buckets.map((bucket) => bucket.join(' ').length))).toBeLessThanOrEqual(600);
    expect(sinkBuckets([])).toEqual([]);
    expect(sinkBuckets(['only'])).toEqual([['only']]);
  });

  it('removes the sinks finished within the gathering window with one write, and tells every caller when the last bucket emptied', async () => {
    const { documents, updates } = bucketTable({ 0: ['a', 'b', 'c'], 1: ['d'] });
    const finishSinks = createSinkBucketWriter({ documents, tableName: 't', gatherMs: 5 });

    const first = await Promise.all([finishSinks('run_1', 0, ['a']), finishSinks('run_1', 0, ['b'])]);
    expect(first).toEqual([false, false]);
    expect(updates).toHaveLength(1);
    expect(updates[0]).toMatchObject({ Key: { pk: 'RUN#run_1', sk: 'SINKS#0' }, UpdateExpression: 'DELETE #pending :ids', ExpressionAttributeValues: { ':ids': new Set(['a', 'b']) } });

    // The write that empties a bucket takes it off the run; only the last one leaves the run without open buckets.
    expect(await finishSinks('run_1', 0, ['c'])).toBe(false);
    expect(updates.at(-1)).toMatchObject({ Key: { pk: 'RUN#run_1', sk: 'META' }, UpdateExpression: 'DELETE #open :bucket', ExpressionAttributeValues: { ':bucket': new Set(['0']) } });
    expect(await finishSinks('run_1', 1, ['d'])).toBe(true);
    // A redelivered sink's recount repeats the removals and finds the run done again.
    expect(await finishSinks('run_1', 1, ['d'])).toBe(true);
  });

  it("gathers the step worker's sinks per invocation: one write per bucket once every record in flight waits for one", async () => {
    const { documents, updates } = bucketTable({ 0: ['a', 'b', 'c', 'z'], 1: ['d'] });
    let inFlight = 4;
    const finishSinks = createSinkBucketWriter({ documents, tableName: 't', gatherMs: 60_000, inFlight: () => inFlight });

    // Three of the four records finished their sinks; the fourth is still running its step: no write yet.
    const early = [finishSinks('run_1', 0, ['a']), finishSinks('run_1', 1, ['d']), finishSinks('run_1', 0, ['b'])];
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(updates).toHaveLength(0);
    // The last one arrives: every record waits, so each bucket is written once, at once.
    const last = finishSinks('run_1', 0, ['c']);
    expect(await Promise.all([...early, last])).toEqual([false, false, false, false]);
    expect(updates.filter((update) => (update.Key as { sk: string }).sk.startsWith('SINKS#')).map((update) => [update.Key, update.ExpressionAttributeValues])).toEqual([
      [{ pk: 'RUN#run_1', sk: 'SINKS#0' }, { ':ids': new Set(['a', 'b', 'c']) }],
      [{ pk: 'RUN#run_1', sk: 'SINKS#1' }, { ':ids': new Set(['d']) }],
    ]);
    // A record that finished elsewhere leaves one in flight: its sink is written on its own at once.
    inFlight = 1;
    expect(await finishSinks('run_1', 0, ['z'])).toBe(true);
  });

  it('writes a waiting sink after gatherMs when the other records in flight never come to theirs', async () => {
    const { documents, updates } = bucketTable({ 0: ['a', 'b'] });
    const finishSinks = createSinkBucketWriter({ documents, tableName: 't', gatherMs: 5, inFlight: () => 2 });

    expect(await finishSinks('run_1', 0, ['a'])).toBe(false);
    expect(updates).toHaveLength(1);
  });

  it('answers false for a bucket that does not exist (a deleted run)', async () => {
    const { documents } = bucketTable({});
    expect(await createSinkBucketWriter({ documents, tableName: 't', gatherMs: 1 })('run_gone', 3, ['x'])).toBe(false);
  });
});
