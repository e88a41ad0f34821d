import type { BatchGetCommandInput, DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { createGatheredReads, type ItemKey } from '#shared/store/gathered-reads';

type Request = BatchGetCommandInput['RequestItems'];

/** A table of items by key answering BatchGetItem as DynamoDB does; `unprocessed` keys are left for a second request once each, `failing` pks fail their request. */
function itemTable(items: Record<string, unknown>[], { unprocessed = [] as string[], failing = [] as string[] } = {}) {
  const byId = new Map(items.map((item) => [`${item.pk as string}|${item.sk as string}`, item]));
  const requests: Request[] = [];
  const leftOnce = new Set(unprocessed);
  const documents = {
    send: async ({ input }: { input: BatchGetCommandInput }) => {
      requests.push(input.RequestItems);
      const { Keys, ConsistentRead } = input.RequestItems!.t!;
      const keys = Keys as ItemKey[];
      if (keys.some((key) => failing.includes(key.pk))) throw Object.assign(new Error('Throughput exceeded'), { name: 'ProvisionedThroughputExceededException' });
      const left = keys.filter((key) => leftOnce.delete(`${key.pk}|${key.sk}`));
      const answered = keys.filter((key) => !left.includes(key));
      return {
        Responses: { t: answered.flatMap((key) => byId.get(`${key.pk}|${key.sk}`) ?? []).map((item) => structuredClone(item)) },
        ...(left.length ? { UnprocessedKeys: { t: { Keys: left, ConsistentRead } } } : {}),
      };
    },
  } as unknown as DynamoDBDocumentClient;
  return { documents, requests };
}

const run = { pk: 'RUN#r', sk: 'META', status: 'running', tags: { team: 'a' } };
const step = (id: string) => ({ pk: 'RUN#r', sk: `STEP#${id}`, status: 'queued' });

describe('gathered reads', () => {
  it('sends the reads asked for in the same turn as one request, each key once, and answers every caller in its own order', async () => {
    const { documents, requests } = itemTable([run, step('a'), step('b')]);
    const read = createGatheredReads({ documents, tableName: 't' });

    const [first, second, missing] = await Promise.all([
      read([{ pk: 'RUN#r', sk: 'META' }, { pk: 'RUN#r', sk: 'STEP#a' }], true),
      read([{ pk: 'RUN#r', sk: 'STEP#b' }, { pk: 'RUN#r', sk: 'META' }], true),
      read([{ pk: 'RUN#r', sk: 'STEP#none' }], true),
    ]);

    expect(requests).toHaveLength(1);
    expect(requests[0]!.t!.Keys).toEqual([{ pk: 'RUN#r', sk: 'META' }, { pk: 'RUN#r', sk: 'STEP#a' }, { pk: 'RUN#r', sk: 'STEP#b' }, { pk: 'RUN#r', sk: 'STEP#none' }]);
    expect(requests[0]!.t!.ConsistentRead).toBe(true);
    expect(first).toEqual([run, step('a')]);
    expect(second).toEqual([step('b'), run]);
    expect(missing).toEqual([undefined]);
    // Each caller has its own copy of an item read for two.
    expect(second[1]).not.toBe(first[0]);
    (first[0] as { tags: Record<string, string> }).tags.team = 'changed';
    expect(second[1]).toEqual(run);
  });

  it('keeps strongly and eventually consistent reads apart, and reads asked for in a later turn in a request of their own', async () => {
    const { documents, requests } = itemTable([run, step('a')]);
    const read = createGatheredReads({ documents, tableName: 't' });

    await Promise.all([read([{ pk: 'RUN#r', sk: 'STEP#a' }], true), read([{ pk: 'RUN#r', sk: 'STEP#a' }], false)]);
    expect(await read([{ pk: 'RUN#r', sk: 'META' }], true)).toEqual([run]);

    expect(requests.map((request) => request!.t!.ConsistentRead)).toEqual([true, false, true]);
  });

  it('splits more than 100 distinct keys into requests of 100 and asks again for the keys left unprocessed', async () => {
    const steps = Array.from({ length: 150 }, (_, index) => step(String(index).padStart(3, '0')));
    const { documents, requests } = itemTable(steps, { unprocessed: ['RUN#r|STEP#007'] });
    const read = createGatheredReads({ documents, tableName: 't' });

    const items = await read(steps.map(({ pk, sk }) => ({ pk, sk })), false);

    expect(items).toEqual(steps);
    expect(requests.map((request) => request!.t!.Keys!.length).sort((a, b) => a - b)).toEqual([1, 50, 100]);
  });

  it('rejects only the callers who asked for a key of a failed request', async () => {
    const { documents } = itemTable([run, step('a'), { pk: 'RUN#other', sk: 'META' }], { failing: ['RUN#other'] });
    const read = createGatheredReads({ documents, tableName: 't' });
    const many = Array.from({ length: 100 }, (_, index) => ({ pk: 'RUN#r', sk: `STEP#x${index}` }));

    const [failed, ok] = await Promise.allSettled([read([...many.slice(0, 99), { pk: 'RUN#other', sk: 'META' }], true), read([{ pk: 'RUN#r', sk: 'STEP#a' }], true)]);

    expect(failed).toMatchObject({ status: 'rejected', reason: { name: 'ProvisionedThroughputExceededException' } });
    expect(ok).toEqual({ status: 'fulfilled', value: [step('a')] });
  });

  it('answers an empty ask at once, without a request', async () => {
    const { documents, requests } = itemTable([]);
    expect(await createGatheredReads({ documents, tableName: 't' })([], true)).toEqual([]);
    expect(requests).toHaveLength(0);
  });
});
