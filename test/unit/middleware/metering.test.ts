import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { type Usage } from '#shared/clients/usage-meter';
import { chargeRemainderTo, createMetering } from '#shared/middleware/metering';
import { silentLogger } from '../../helpers/fakes';
import { meteredTable } from '../../helpers/metered-table';

const documents = meteredTable();
const write = (units: number) => documents.send(new PutCommand({ TableName: 't', Item: { pk: 'x', sk: 'y', units } }));

describe('metering an invocation', () => {
  it('charges what a route spent to the run it names, in equal shares when it names several', async () => {
    const added: [string, Usage][] = [];
    const metering = createMetering({ service: 'test', logger: silentLogger(), runUsage: async (runId, usage) => void added.push([runId, usage]) });

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
    const metering = createMetering({ service: 'test', logger: silentLogger(), runUsage: async () => Promise.reject(new Error('throttled')) });

    expect(() => chargeRemainderTo(['run_a'])).not.toThrow();
    await expect(
      metering.invocation(async () => {
        await write(1);
        chargeRemainderTo(['run_a']);
        return 'done';
      }),
    ).resolves.toBe('done');
  });
});
