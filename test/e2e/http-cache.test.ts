import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { engineClient } from '../helpers/engine';
import { eventually } from '../helpers/poll';
import { resetData } from '../helpers/reset';
import { useTestAgent } from '../helpers/test-agent';

const testAgent = useTestAgent({ beforeAll, afterAll });
beforeEach(resetData);

const ttlSeconds = 3;

describe('http steps with cache: {ttlSeconds}', () => {
  it('misses and stores, then hits without a call within the ttl, then revalidates with If-None-Match and counts the 304 as a hit', async () => {
    const client = await engineClient();
    const name = `cached-${Date.now()}`;
    const workflowId = await client.workflow({
      name: 'cached',
      steps: [{ id: 'fetch', kind: 'http', input: { url: `${testAgent().url}/etag/${name}?v=v1`, body: { q: 'otters' }, cache: { ttlSeconds } } }],
    });
    const calls = () => testAgent().requests.filter((request) => request.path.includes(name));
    const runOnce = async () => {
      const { id } = await client.run(workflowId);
      const run = await client.waitFor(id, ['completed', 'blocked']);
      return { run, step: await client.step(id, 'fetch') };
    };

    const first = await runOnce();
    const afterFirst = calls().length;
    const second = await runOnce();
    const afterSecond = calls().length;
    const storedAt = Date.now();
    // Past the ttl: the next call revalidates.
    await eventually('the cache entry to be older than its ttl', async () => (Date.now() - storedAt > ttlSeconds * 1000 ? true : undefined), { timeoutMs: 10_000 });
    const third = await runOnce();

    expect(first.run.status).toBe('completed');
    expect(first.step.output).toEqual({ version: '"v1"', served: 1 });
    expect(first.run.usage.cache).toEqual({ hits: 0, misses: 1 });
    expect(afterFirst).toBe(1);
    expect(calls()[0]!.ifNoneMatch).toBeUndefined();

    expect(second.run.status).toBe('completed');
    expect(second.step.output).toEqual({ version: '"v1"', served: 1 });
    expect(second.run.usage.cache).toEqual({ hits: 1, misses: 0 });
    expect(afterSecond).toBe(1);

    expect(third.run.status).toBe('completed');
    expect(calls()).toHaveLength(2);
    expect(calls()[1]!.ifNoneMatch).toBe('"v1"');
    expect(third.step.output).toEqual({ version: '"v1"', served: 1 });
    expect(third.run.usage.cache).toEqual({ hits: 1, misses: 0 });
  });
});
