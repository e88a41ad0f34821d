import { randomBytes } from 'node:crypto';
import type { BatchGetCommandInput, DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { workflowBody, type StepSpec } from '#shared/domain/workflow';
import { createDefinitionCache } from '#shared/store/definition-cache';
import { mergedPage, pageOfIds } from '#shared/store/step-pages';
import { cutIntoParts, packedVersion, partBytes, stepsOfVersion } from '#shared/store/workflow-parts';

/** Bigger runs (docs/ARCHITECTURE.md "Bigger runs"): the pure parts of paging, the definition cache and versions in parts. */

describe('pageOfIds', () => {
  const ids = Array.from({ length: 25 }, (_, index) => `s-${String(index).padStart(3, '0')}`);

  it('walks every id once, in order, a page at a time', () => {
    const seen: string[] = [];
    let after: string | undefined;
    let pages = 0;
    for (;;) {
      const page = pageOfIds(ids, after, 10);
      seen.push(...page.ids);
      pages += 1;
      if (!page.more) break;
      after = page.ids.at(-1);
    }

    expect(seen).toEqual(ids);
    expect(pages).toBe(3);
  });

  it('starts after a position that is not an id (a step that no longer sorts there) and says when nothing follows', () => {
    expect(pageOfIds(ids, 's-0045', 3)).toEqual({ ids: ['s-005', 's-006', 's-007'], more: true });
    expect(pageOfIds(ids, 's-024', 3)).toEqual({ ids: [], more: false });
    expect(pageOfIds(ids, undefined, 25)).toEqual({ ids, more: false });
  });
});

describe('mergedPage', () => {
  const defined = ['a', 'c', 'e', 'g'];

  it('lays the items a query read (a planner\'s steps exist only as items) over the defined ids, in order', () => {
    expect(mergedPage(defined, undefined, ['b', 'c'], undefined, 3)).toEqual({ ids: ['a', 'b', 'c'], more: true });
    expect(mergedPage(defined, 'c', ['f'], undefined, 10)).toEqual({ ids: ['e', 'f', 'g'], more: false });
  });

  it('stops where the query stopped: nothing past its last item is known yet', () => {
    // The query hit its limit (or 1 MB) at "c": "e" and "g" wait for the next page.
    expect(mergedPage(defined, undefined, ['a', 'c'], 'c', 10)).toEqual({ ids: ['a', 'c'], more: true });
    expect(mergedPage(defined, 'c', ['g'], undefined, 10)).toEqual({ ids: ['e', 'g'], more: false });
  });

  it('walks a run whose steps are all items, defined or planned, each once', () => {
    const items = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];
    const seen: string[] = [];
    let after: string | undefined;
    for (let pages = 0; pages < 10; pages += 1) {
      const read = items.filter((id) => after === undefined || id > after).slice(0, 3);
      const page = mergedPage(defined, after, read, read.length === 3 ? read.at(-1) : undefined, 3);
      seen.push(...page.ids);
      if (!page.more) break;
      after = page.ids.at(-1);
    }

    expect(seen).toEqual(items);
  });
});

describe('createDefinitionCache', () => {
  const sized = (size: number) => ({ size });

  it('keeps runs until their steps pass the bound, dropping the oldest first and never the newest', async () => {
    const cache = createDefinitionCache<{ size: number }>({ maxSteps: 25_000 });
    let loads = 0;
    const load = (size: number) => async () => {
      loads += 1;
      return sized(size);
    };

    await cache.get('a', load(10_000));
    await cache.get('b', load(10_000));
    await cache.get('a', load(10_000));
    expect(loads).toBe(2);
    await cache.get('c', load(10_000));
    await Promise.resolve();

    expect(cache.cachedSteps).toBe(20_000);
    expect(cache.size).toBe(2);
    await cache.get('b', load(10_000));
    expect(loads).toBe(3);
    await cache.get('huge', load(100_000));
    await Promise.resolve();
    expect(cache.size).toBe(1);
    expect(cache.cachedSteps).toBe(100_000);
  });

  it('forgets a failed load, so the next read tries again', async () => {
    const cache = createDefinitionCache<{ size: number }>();
    await expect(cache.get('a', async () => Promise.reject(new Error('throttled')))).rejects.toThrow('throttled');
    await Promise.resolve();

    expect(await cache.get('a', async () => sized(3))).toEqual(sized(3));
  });
});

describe('workflow versions in parts', () => {
  /** Steps whose inputs do not compress (random text): 10,000 of them are far over one item. */
  const noisySteps = (count: number): StepSpec[] =>
    workflowBody.parse({ name: 'big', steps: Array.from({ length: count }, (_, index) => ({ id: `s-${index}`, kind: 'noop', input: { noise: randomBytes(48).toString('base64') }, dependsOn: index ? [`s-${index - 1}`] : [] })) }).steps;

  /** A table answering BatchGetItem for the part items, leaving the first key unprocessed once. */
  const partTable = (items: Record<string, unknown>[]) => {
    const byKey = new Map(items.map((item) => [`${item.pk as string}|${item.sk as string}`, item]));
    let leftOnce = true;
    const requests: number[] = [];
    const documents = {
      send: async ({ input }: { input: BatchGetCommandInput }) => {
        const keys = input.RequestItems!.t!.Keys as { pk: string; sk: string }[];
        requests.push(keys.length);
        const left = leftOnce ? keys.slice(0, 1) : [];
        leftOnce = false;
        const answered = keys.slice(left.length);
        return { Responses: { t: answered.flatMap((key) => byKey.get(`${key.pk}|${key.sk}`) ?? []) }, ...(left.length ? { UnprocessedKeys: { t: { Keys: left } } } : {}) };
      },
    } as unknown as DynamoDBDocumentClient;
    return { documents, requests };
  };

  it('keeps a small version on its item, in one part', () => {
    const steps = noisySteps(10);
    const packed = packedVersion('p', 'wf', 1, steps);

    expect(packed.parts).toEqual([]);
    expect(packed.attributes).not.toHaveProperty('stepParts');
  });

  it('cuts a 10,000-step version over the item limit into parts under it, and reads it back whole', async () => {
    const steps = noisySteps(10_000);
    const packed = packedVersion('p', 'wf', 3, steps);
    const item = { pk: 'PROJECT#p', sk: 'WORKFLOW#wf#V#000003', projectId: 'p', workflowId: 'wf', version: 3, ...packed.attributes };
    const { documents, requests } = partTable(packed.parts);

    const read = await stepsOfVersion(documents, 't', item);

    expect(packed.parts.length).toBeGreaterThan(0);
    expect(packed.attributes.stepParts).toBe(packed.parts.length + 1);
    for (const part of [packed.attributes.stepsGz, ...packed.parts.map((entry) => entry.gz)]) expect(part.length).toBeLessThanOrEqual(partBytes);
    expect(packed.parts.map((part) => part.sk)).toEqual(packed.parts.map((_, index) => `WFPART#wf#V#000003#${String(index + 1).padStart(2, '0')}`));
    expect(read).toEqual(steps);
    // The unprocessed key asked again.
    expect(requests.length).toBe(2);
  });

  it('fails loudly when a part is missing rather than reading a truncated version', async () => {
    const packed = packedVersion('p', 'wf', 1, noisySteps(10_000));
    const item = { projectId: 'p', workflowId: 'wf', version: 1, ...packed.attributes };
    const { documents } = partTable(packed.parts.slice(1));

    await expect(stepsOfVersion(documents, 't', item)).rejects.toThrow(/part WFPART#wf#V#000001#01 is missing/);
  });

  it('cuts exactly at the part size', () => {
    expect(cutIntoParts(new Uint8Array(10), 4).map((part) => part.length)).toEqual([4, 4, 2]);
    expect(cutIntoParts(new Uint8Array(0), 4).map((part) => part.length)).toEqual([0]);
  });
});
