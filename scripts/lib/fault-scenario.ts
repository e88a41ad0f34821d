import { BatonApiError, createClient, unwrap, waitForRun } from '#sdk';
import { defaultFaultRates, startFaultAgent, type FaultAgentCounts, type FaultRates } from './fault-agent';

/**
 * The fault scenario of issue 9: runs of many `http` steps against a local agent that
 * deduplicates by X-Idempotency-Key and, at random, loses its reply after doing the work (503),
 * throttles (429 + Retry-After) or hangs past the step's timeout. Every run must complete and
 * every step's effect must be applied exactly once. Used by `npm run fault-scenario` and by
 * test/e2e/agent-faults.test.ts.
 */
export interface FaultScenarioOptions {
  apiUrl: string;
  /** The installation admin token: the scenario creates its own project. */
  installationToken: string;
  runs: number;
  stepsPerRun: number;
  seed?: number;
  rates?: FaultRates;
  /** Each step's timeoutSeconds: a hanging agent is cut after it. */
  stepTimeoutSeconds?: number;
  /** How long to wait for all runs. */
  timeoutMs?: number;
  log?: (line: string) => void;
}

export interface FaultScenarioStep {
  runId: string;
  stepId: string;
  status: string;
  attempt: number;
  generation: number;
  /** The key the agent saw for this step's execution. */
  key: string;
  /** How often the agent applied this step's effect. */
  effects: number;
  /** Whether the step's output is the agent's stored result of that effect. */
  outputMatchesEffect: boolean;
}

export interface FaultScenarioResult {
  runs: { id: string; status: string }[];
  steps: FaultScenarioStep[];
  agent: FaultAgentCounts;
  /** Attempts the engine made per key, as the agent saw them (X-Baton-Attempt), by key. */
  attemptsByKey: Map<string, number[]>;
  wallMs: number;
}

/** The retry policy every step gets: enough attempts that no fault exhausts them, short backoff. */
const retry = { maxAttempts: 10, backoffBaseSeconds: 1, backoffCapSeconds: 4, jitter: 'full' as const };

export async function runFaultScenario(options: FaultScenarioOptions): Promise<FaultScenarioResult> {
  const { apiUrl, installationToken, runs, stepsPerRun, seed = 1, rates = defaultFaultRates, stepTimeoutSeconds = 2, timeoutMs = 15 * 60_000, log = () => {} } = options;
  const agent = await startFaultAgent({ seed, rates });
  const started = Date.now();
  try {
    const installation = createClient({ baseUrl: apiUrl, token: installationToken });
    const project = await unwrap(installation.POST('/v1/projects', { body: { name: `fault-scenario-${seed}` } }));
    // Polling many runs and reading every step goes past the default per-token rate.
    const admin = createClient({ baseUrl: apiUrl, token: project.adminToken.token });
    const { token } = await unwrap(
      admin.POST('/v1/projects/{projectId}/tokens', {
        params: { path: { projectId: project.id } },
        body: { name: 'fault-scenario', role: 'editor', rateLimit: { perSecond: 200, burst: 400 } },
      }),
    );
    const client = createClient({ baseUrl: apiUrl, token });

    const stepIds = Array.from({ length: stepsPerRun }, (_, index) => `effect-${String(index + 1).padStart(3, '0')}`);
    const workflow = await unwrap(
      client.POST('/v1/projects/{projectId}/workflows', {
        params: { path: { projectId: project.id } },
        body: {
          name: 'agent-faults',
          steps: stepIds.map((id) => ({ id, kind: 'http', input: { url: `${agent.url}/effects`, body: { effect: id } }, retry, timeoutSeconds: stepTimeoutSeconds })),
        },
      }),
    );
    log(`${runs} runs × ${stepsPerRun} http steps against ${agent.url} (seed ${seed})`);
    const created = await Promise.all(
      Array.from({ length: runs }, (_, index) =>
        unwrap(
          client.POST('/v1/projects/{projectId}/runs', {
            params: { path: { projectId: project.id }, header: { 'idempotency-key': `fault-scenario-${seed}-${started}-${index}` } },
            body: { workflowId: workflow.id },
          }),
        ),
      ),
    );
    const settled = await Promise.all(
      created.map(async ({ id }) => {
        const run = await politely(() => waitForRun(client, id, { timeoutMs, maxIntervalMs: 1_000 }));
        log(`run ${id}: ${run.status} after ${((Date.now() - started) / 1000).toFixed(1)} s`);
        return { id, status: run.status };
      }),
    );
    const wallMs = Date.now() - started;

    const steps: FaultScenarioStep[] = [];
    for (const run of settled) {
      for (const stepId of stepIds) {
        const step = await politely(() => unwrap(client.GET('/v1/runs/{runId}/steps/{stepId}', { params: { path: { runId: run.id, stepId } } })));
        const key = `${run.id}:${stepId}:${step.generation}`;
        const result = agent.results.get(key);
        steps.push({
          runId: run.id,
          stepId,
          status: step.status,
          attempt: step.attempt,
          generation: step.generation,
          key,
          effects: agent.effects.get(key) ?? 0,
          outputMatchesEffect: result !== undefined && JSON.stringify(step.output) === JSON.stringify(result),
        });
      }
    }
    const attemptsByKey = new Map<string, number[]>();
    for (const { key, attempt } of agent.requests) {
      if (key !== undefined && attempt !== undefined) attemptsByKey.set(key, [...(attemptsByKey.get(key) ?? []), attempt]);
    }
    return { runs: settled, steps, agent: agent.counts(), attemptsByKey, wallMs };
  } finally {
    await agent.close();
  }
}

/** Calls again after the API's Retry-After when the token's rate is exceeded. */
async function politely<T>(call: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      return await call();
    } catch (error) {
      if (!(error instanceof BatonApiError) || error.status !== 429) throw error;
      await new Promise((resolve) => setTimeout(resolve, (error.retryAfter ?? 1) * 1000));
    }
  }
}

/** The scenario's counts, one per line, as `npm run fault-scenario` prints them. */
export function formatFaultScenario(result: FaultScenarioResult): string[] {
  const completedRuns = result.runs.filter((run) => run.status === 'completed').length;
  const completedSteps = result.steps.filter((step) => step.status === 'completed').length;
  const row = (label: string, value: string | number) => `  ${label.padEnd(28)} ${value}`;
  return [
    row('runs', `${result.runs.length} (${completedRuns} completed)`),
    row('steps', `${result.steps.length} (${completedSteps} completed)`),
    row('effects applied', `${result.agent.effectsApplied} (for ${result.steps.filter((step) => step.effects > 0).length} steps)`),
    row('effects applied twice', result.agent.appliedTwice),
    row('steps without their effect', result.steps.filter((step) => step.effects === 0).length),
    row('outputs = applied effect', `${result.steps.filter((step) => step.outputMatchesEffect).length}/${result.steps.length}`),
    row('503s (after the effect)', result.agent.serviceUnavailable),
    row('429s (Retry-After)', result.agent.throttled),
    row('hangs (after the effect)', result.agent.hangs),
    row('retries recognised by key', result.agent.replayed),
    row('requests', result.agent.requests),
    row('wall time', `${(result.wallMs / 1000).toFixed(1)} s`),
  ];
}

/** Whether the scenario held: every run completed, every step's effect applied exactly once. */
export const faultScenarioHeld = (result: FaultScenarioResult): boolean =>
  result.runs.every((run) => run.status === 'completed') && result.steps.every((step) => step.status === 'completed' && step.effects === 1 && step.outputMatchesEffect);
