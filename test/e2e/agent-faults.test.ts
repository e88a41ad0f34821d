import { beforeEach, describe, expect, it } from 'vitest';
import { runFaultScenario } from '../../scripts/lib/fault-scenario';
import { installationToken } from '../helpers/projects';
import { resetData } from '../helpers/reset';
import { stack } from '../helpers/stack';

beforeEach(resetData);

describe('an agent that fails after doing the work (issue 9 fault scenario)', () => {
  it('completes every run and applies every step effect exactly once, through 503s, 429s and hangs', async () => {
    // Prepare / Act: 3 runs × 30 http steps (2 s timeout, 10 attempts) against a deduplicating
    // agent that loses a reply after the effect (503), throttles (429) or hangs past the timeout.
    const result = await runFaultScenario({ apiUrl: stack.apiUrl, installationToken: await installationToken(), runs: 3, stepsPerRun: 30, seed: 7 });

    // Assess: nothing lost, nothing done twice.
    expect(result.runs.map((run) => run.status)).toEqual(['completed', 'completed', 'completed']);
    expect(result.steps).toHaveLength(90);
    expect(result.steps.filter((step) => step.status !== 'completed')).toEqual([]);
    expect(result.steps.filter((step) => step.effects !== 1).map((step) => [step.key, step.effects])).toEqual([]);
    // The output each step recorded is the agent's result of that one effect, whichever attempt got it.
    expect(result.steps.filter((step) => !step.outputMatchesEffect)).toEqual([]);
    expect(result.agent).toMatchObject({ effectsApplied: 90, appliedTwice: 0 });

    // The faults really happened, and the retries after an applied effect reached the agent
    // under the same key (the agent recognised them instead of applying again).
    expect(result.agent.serviceUnavailable).toBeGreaterThan(0);
    expect(result.agent.throttled).toBeGreaterThan(0);
    expect(result.agent.hangs).toBeGreaterThan(0);
    expect(result.agent.replayed).toBeGreaterThanOrEqual(result.agent.serviceUnavailable + result.agent.hangs);
    expect(result.agent.repeatedKeys).toBeGreaterThan(0);
    // One key per execution, the attempt beside it: a repeated key arrives with rising attempts.
    const repeated = [...result.attemptsByKey.values()].filter((attempts) => attempts.length > 1);
    expect(repeated.length).toBe(result.agent.repeatedKeys);
    for (const attempts of repeated) expect(attempts).toEqual([...attempts].sort((a, b) => a - b));
    expect(repeated.every((attempts) => new Set(attempts).size === attempts.length)).toBe(true);
    expect(result.steps.every((step) => step.generation === 1 && step.key.endsWith(':1'))).toBe(true);
  }, 240_000);
});
