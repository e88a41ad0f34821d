import { beforeEach, describe, expect, it } from 'vitest';
import type { SaveWorkflowBody } from '#sdk';
import { engineClient, type EngineClient, type RunView } from '../helpers/engine';
import { stepQueueDrained } from '../helpers/queues';
import { resetData } from '../helpers/reset';

beforeEach(resetData);

const size = 20;
const ids = Array.from({ length: size }, (_, index) => `s${String(index).padStart(2, '0')}`);
const chain = ids.map((id, index) => ({ id, kind: 'noop', ...(index > 0 ? { dependsOn: [ids[index - 1]!] } : {}) }));
const fan = ids.map((id, index) => ({ id, kind: 'noop', ...(index > 0 ? { dependsOn: [ids[0]!] } : {}) }));

async function completedRun(client: EngineClient, name: string, steps: SaveWorkflowBody['steps']): Promise<RunView> {
  const { id } = await client.run(await client.workflow({ name, steps }));
  await client.waitFor(id, ['completed', 'blocked'], 120_000);
  // Every invocation of the worker has returned: SQS deletes a message only then, and the usage
  // an invocation adds to its runs is written before it returns.
  await stepQueueDrained(60_000);
  return client.getRun(id);
}

describe('the usage meter on the deployed stack', () => {
  it('reports about the same write units per step for a chain and a fan of the same noop steps', async () => {
    const client = await engineClient();

    const chained = await completedRun(client, 'chain', chain);
    const fanned = await completedRun(client, 'fan', fan);

    expect(chained.status).toBe('completed');
    expect(fanned.status).toBe('completed');
    const chainUnits = chained.usage.perExecutedStep?.dynamodbWriteUnits ?? 0;
    const fanUnits = fanned.usage.perExecutedStep?.dynamodbWriteUnits ?? 0;
    console.log(`per executed step: chain ${JSON.stringify(chained.usage.perExecutedStep)}; fan ${JSON.stringify(fanned.usage.perExecutedStep)}`);
    expect(chainUnits).toBeGreaterThan(0);
    // The same work per step (a claim, an outcome, a release or a sink) in either shape: when the
    // last step of each invocation loses its final writes, a fan reports a fraction of a chain.
    expect(fanUnits / chainUnits).toBeGreaterThan(0.75);
    expect(fanUnits / chainUnits).toBeLessThan(1.33);

    // Baton's own Lambda compute (handler time × memory) is measured and reported beside the
    // request cost, not folded into it.
    console.log(`lambda compute: chain ${JSON.stringify(chained.usage.lambdaCompute)}; fan ${JSON.stringify(fanned.usage.lambdaCompute)}`);
    for (const run of [chained, fanned]) {
      const { cost, lambdaCompute = { handlerMs: 0, gbSeconds: 0, usd: 0, usdPerGbSecond: 0 } } = run.usage;
      expect(lambdaCompute.handlerMs).toBeGreaterThan(0);
      expect(lambdaCompute.gbSeconds).toBeGreaterThan(0);
      expect(lambdaCompute.usd).toBeCloseTo(lambdaCompute.gbSeconds * lambdaCompute.usdPerGbSecond, 12);
      const breakdown = cost.breakdown as Record<string, number>;
      expect(Object.values(breakdown).reduce((sum, usd) => sum + usd, 0)).toBeCloseTo(cost.totalUsd as number, 12);
      expect(Object.keys(breakdown).some((item) => /lambda(?!Requests)/i.test(item) && item !== 'lambdaRequests')).toBe(false);
    }
  }, 300_000);
});
