import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { engineClient } from '../helpers/engine';
import { resetData } from '../helpers/reset';
import { useTestAgent } from '../helpers/test-agent';

const testAgent = useTestAgent({ beforeAll, afterAll });
beforeEach(resetData);

/** The local stage's limit for a running kind (infra/stage.ts, localTiming.maxStepTimeoutSeconds). */
const localMaxStepTimeoutSeconds = 15;

describe('timeouts true to the platform', () => {
  it('times out an attempt whose agent hangs past timeoutSeconds (TIMEOUT, retryable) and completes on attempt 2', async () => {
    const client = await engineClient();
    const name = `hang-${Date.now()}`;
    const workflowId = await client.workflow({
      name: 'hangs-once',
      steps: [
        {
          id: 'call',
          kind: 'http',
          input: { url: `${testAgent().url}/hang/${name}?times=1&ms=30000` },
          timeoutSeconds: 2,
          retry: { maxAttempts: 3, backoffBaseSeconds: 1, backoffCapSeconds: 1, jitter: 'none' },
        },
      ],
    });

    const { id } = await client.run(workflowId);
    const run = await client.waitFor(id, ['completed', 'blocked'], 60_000);
    const step = await client.step(id, 'call');
    const events = await client.events(id);
    const calls = testAgent().requests.filter((request) => request.path.includes(name));

    expect(run.status).toBe('completed');
    expect(step).toMatchObject({ status: 'completed', attempt: 2, output: { attempts: 2 } });
    const retrying = events.filter((event) => event.type === 'step.retrying');
    expect(retrying).toHaveLength(1);
    expect(retrying[0]!.detail).toMatchObject({ attempt: 1, code: 'TIMEOUT' });
    expect(String(retrying[0]!.detail.error)).toMatch(/timed out after 2s/);
    // The first call was cut at about 2 s, far short of the agent's 30 s hang.
    expect(calls).toHaveLength(2);
    expect(calls[1]!.at - calls[0]!.at).toBeGreaterThanOrEqual(2_000);
    expect(calls[1]!.at - calls[0]!.at).toBeLessThan(20_000);
  });

  it('refuses a running step\'s timeoutSeconds beyond what the stage honours with a 400 naming the field and the limit', async () => {
    const client = await engineClient();

    const tooLong = await client
      .workflow({
        name: 'too-long',
        steps: [
          { id: 'ok', kind: 'http', input: { url: `${testAgent().url}/ok` }, timeoutSeconds: localMaxStepTimeoutSeconds },
          { id: 'slow', kind: 'http', input: { url: `${testAgent().url}/ok` }, timeoutSeconds: localMaxStepTimeoutSeconds + 1 },
        ],
      })
      .catch((error: unknown) => error);
    const fits = await client.workflow({ name: 'fits', steps: [{ id: 'ok', kind: 'http', input: { url: `${testAgent().url}/ok` }, timeoutSeconds: localMaxStepTimeoutSeconds }] });
    const gate = await client.workflow({ name: 'month-gate', steps: [{ id: 'review', kind: 'approval', timeoutSeconds: 30 * 86_400 }] });

    expect(tooLong).toMatchObject({ status: 400, code: 'validation_error', field: 'body.steps[1].timeoutSeconds', message: expect.stringContaining(`at most ${localMaxStepTimeoutSeconds}`) });
    expect(fits).toMatch(/^wf_/);
    expect(gate).toMatch(/^wf_/);
  });
});
