import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { addUsage, emptyUsage, subtractUsage, usageFromItem, type Usage } from '#shared/clients/usage-meter';
import { estimateComputeUsd, estimateCostUsd } from '#shared/domain/cost';
import { chargeRemainderTo, createMetering } from '#shared/middleware/metering';
import { countedEngineStore } from '#shared/store/counted-engine-store';
import { createMemoryEngineStore } from '#shared/store/memory-engine-store';
import { createMemoryProjectCounterStore } from '#shared/store/memory-project-counters';
import type { RunRecord } from '#shared/store/runs';
import { silentLogger } from '../../helpers/fakes';
import { meteredTable } from '../../helpers/metered-table';

const documents = meteredTable();
const write = (units: number) => documents.send(new PutCommand({ TableName: 't', Item: { pk: 'x', sk: 'y', units } }));

describe('metering an invocation', () => {
  it('charges what a route spent to the run it names, in equal shares when it names several', async () => {
    const added: [string, Usage][] = [];
    const metering = createMetering({ service: 'test', logger: silentLogger(), runUsage: async (runId, usage) => void added.push([runId, usage]), counters: createMemoryProjectCounterStore() });

    await metering.invocation(async () => {
      await write(3);
      chargeRemainderTo(['run_a']);
      await write(4);
      chargeRemainderTo(['run_a', 'run_b']);
      await write(5); // charged to nobody: the function's metrics only
    });

    const units = Object.fromEntries(added.map(([runId, usage]) => [runId, usage.dynamodb.writeUnits]));
    expect(units).toEqual({ run_a: 5, run_b: 2 });
  });

  it('never fails the work because the usage could not be written, and charges nothing outside an invocation', async () => {
    const metering = createMetering({ service: 'test', logger: silentLogger(), runUsage: async () => Promise.reject(new Error('throttled')), counters: createMemoryProjectCounterStore() });

    expect(() => chargeRemainderTo(['run_a'])).not.toThrow();
    await expect(
      metering.invocation(async () => {
        await write(1);
        chargeRemainderTo(['run_a']);
        return 'done';
      }),
    ).resolves.toBe('done');
  });

  it("records the handler's wall time × the function's memory and shares it equally among the runs it worked for", async () => {
    const added: [string, Usage][] = [];
    let clock = 1_000;
    const metering = createMetering({
      service: 'test',
      logger: silentLogger(),
      runUsage: async (runId, usage) => void added.push([runId, usage]),
      counters: createMemoryProjectCounterStore(),
      env: { AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '1024' },
      now: () => clock,
    });

    await metering.invocation(async () => {
      await write(1);
      chargeRemainderTo(['run_a', 'run_b']);
      clock += 400;
    });

    const byRun = Object.fromEntries(added.map(([runId, usage]) => [runId, [usage.lambdaComputeMs, usage.lambdaGbSeconds]]));
    // 400 ms at 1 GB = 0.4 GB-s, half to each run.
    expect(byRun).toEqual({ run_a: [200, 0.2], run_b: [200, 0.2] });
  });

  it('reports the compute beside the request cost, never in it, at the arm64 price per GB-second', () => {
    const usage: Usage = { ...emptyUsage(), dynamodb: { readUnits: 0, writeUnits: 2 }, lambdaComputeMs: 1_500, lambdaGbSeconds: 0.75 };

    const compute = estimateComputeUsd(usage);

    expect(compute).toEqual({ handlerMs: 1_500, gbSeconds: 0.75, usd: 0.75 * 0.0000133334, usdPerGbSecond: 0.0000133334 });
    expect(estimateCostUsd(usage).totalUsd).toBe(estimateCostUsd({ ...usage, lambdaComputeMs: 0, lambdaGbSeconds: 0 }).totalUsd);
  });

  it('adds, subtracts and reads back the compute fields like the other counters', () => {
    const a: Usage = { ...emptyUsage(), lambdaComputeMs: 100, lambdaGbSeconds: 0.1 };
    const b: Usage = { ...emptyUsage(), lambdaComputeMs: 50, lambdaGbSeconds: 0.05 };

    const sum = addUsage(a, b);

    expect([sum.lambdaComputeMs, sum.lambdaGbSeconds]).toEqual([150, expect.closeTo(0.15, 10)]);
    expect(subtractUsage(sum, a).lambdaComputeMs).toBe(50);
    expect(usageFromItem({ lambdaComputeMs: '150', lambdaGbSeconds: 0.15 })).toMatchObject({ lambdaComputeMs: 150, lambdaGbSeconds: 0.15 });
    expect(usageFromItem({}).lambdaGbSeconds).toBeUndefined();
  });
});

describe('the projects\' counters at the end of an invocation', () => {
  it('adds what the counted store tallied and the AWS spend of the runs charged, one addition per project', async () => {
    const counters = createMemoryProjectCounterStore();
    const additions: string[] = [];
    const metering = createMetering({ service: 'test', logger: silentLogger(), runUsage: async () => undefined, counters: {
        add: async (projectId, delta) => {
          additions.push(projectId);
          await counters.add(projectId, delta);
        },
      },
    });
    const store = countedEngineStore(createMemoryEngineStore().store);
    const run = { id: 'run_a', projectId: 'prj_a', status: 'pending' } as unknown as RunRecord;

    await metering.invocation(async () => {
      await store.createRun(run, { event: { event: { id: '01', type: 'run.created', projectId: 'prj_a', runId: 'run_a', at: '2026-12-01T00:00:00.000Z', actor: 't', detail: {} }, publish: true, inFeed: true } });
      await write(4);
      chargeRemainderTo(['run_a']);
    });

    expect(additions).toEqual(['prj_a']);
    const added = await counters.read('prj_a');
    expect(added.runs).toEqual({ pending: 1 });
    // The 4 write units, the counters' own write and the run's usage write (1 each, counted ahead), at $0.625 per million.
    expect(added.awsCostUsd).toBeCloseTo(6 * 0.625e-6, 12);
  });

  it('writes nothing when the invocation changed no project', async () => {
    const additions: string[] = [];
    const metering = createMetering({ service: 'test', logger: silentLogger(), runUsage: async () => undefined, counters: { add: async (projectId) => void additions.push(projectId) } });
    await metering.invocation(async () => write(1));
    expect(additions).toEqual([]);
  });
});
