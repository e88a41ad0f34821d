import { afterEach, describe, expect, it } from 'vitest';
import { seededRandom, startFaultAgent, type FaultAgent, type FaultRates } from '../../../scripts/lib/fault-agent';

let agent: FaultAgent | undefined;
afterEach(async () => {
  await agent?.close();
  agent = undefined;
});

const only = (fault: keyof FaultRates): FaultRates => ({ serviceUnavailable: 0, throttled: 0, hang: 0, [fault]: 1 });

const call = async (key: string, attempt: number, timeoutMs = 2_000) => {
  const response = await fetch(`${agent!.url}/effects`, {
    method: 'POST',
    headers: { 'x-idempotency-key': key, 'x-baton-attempt': String(attempt), 'content-type': 'application/json' },
    body: '{}',
    signal: AbortSignal.timeout(timeoutMs),
  });
  return { status: response.status, retryAfter: response.headers.get('retry-after'), body: (await response.json()) as { ok: boolean; data?: unknown } };
};

describe('the fault scenario agent', () => {
  it('applies the effect, loses the reply (503), then answers the retry under the same key from its store', async () => {
    agent = await startFaultAgent({ rates: only('serviceUnavailable') });

    const first = await call('run_1:a:1', 1);
    const retry = await call('run_1:a:1', 2);

    expect(first.status).toBe(503);
    expect(retry).toMatchObject({ status: 200, body: { ok: true, data: { effect: 1, key: 'run_1:a:1', appliedOnAttempt: 1 } } });
    expect(agent.effects).toEqual(new Map([['run_1:a:1', 1]]));
    expect(agent.counts()).toMatchObject({ requests: 2, effectsApplied: 1, appliedTwice: 0, serviceUnavailable: 1, replayed: 1, repeatedKeys: 1 });
  });

  it('applies again for a new key: a per-attempt key would duplicate the effect', async () => {
    agent = await startFaultAgent({ rates: only('serviceUnavailable') });

    await call('run_1:a:1', 1);
    await call('run_1:a:2', 2);

    expect(agent.counts()).toMatchObject({ effectsApplied: 2, appliedTwice: 0, serviceUnavailable: 2, replayed: 0 });
  });

  it('throttles with Retry-After without applying anything', async () => {
    agent = await startFaultAgent({ rates: only('throttled'), retryAfterSeconds: 3 });

    const reply = await call('run_1:a:1', 1);

    expect(reply).toMatchObject({ status: 429, retryAfter: '3' });
    expect(agent.counts()).toMatchObject({ effectsApplied: 0, throttled: 1 });
  });

  it('applies the effect and hangs until the caller gives up; the retry finds the result', async () => {
    agent = await startFaultAgent({ rates: only('hang') });

    await expect(call('run_1:a:1', 1, 300)).rejects.toThrow();
    const retry = await call('run_1:a:1', 2);

    expect(retry).toMatchObject({ status: 200, body: { data: { effect: 1, appliedOnAttempt: 1 } } });
    expect(agent.counts()).toMatchObject({ effectsApplied: 1, hangs: 1, replayed: 1 });
  });

  it('draws the same faults from the same seed', () => {
    const draws = (seed: number) => Array.from({ length: 5 }, seededRandom(seed));

    expect(draws(7)).toEqual(draws(7));
    expect(draws(7)).not.toEqual(draws(8));
    expect(draws(7).every((value) => value >= 0 && value < 1)).toBe(true);
  });
});
