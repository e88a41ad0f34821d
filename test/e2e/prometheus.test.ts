import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unwrap } from '#sdk';
import { createProjectCounterStore } from '#shared/store/project-counters';
import { ensurePrometheusClientInstalled, parsePrometheusText, type ParsedFamily } from '../../scripts/lib/prometheus-parser';
import { engineClient, type EngineClient } from '../helpers/engine';
import { createEngineTable, deleteEngineTable } from '../helpers/engine-table';
import { eventually } from '../helpers/poll';
import { describeProjectCounterContract } from '../helpers/project-counters-contract';
import { stack } from '../helpers/stack';
import { useTestAgent } from '../helpers/test-agent';

/**
 * The Prometheus endpoint (issue 14 §6) on the deployed stack: a fresh project runs 3 runs that
 * complete (a noop step, then an `llm` step on the emulator's Bedrock) and 1 that blocks (an agent
 * answering 404); the endpoint's text is read by prometheus_client's own parser (pinned, in .venv)
 * and its counters must equal what those runs did, as their run views report it.
 */
const testAgent = useTestAgent({ beforeAll, afterAll });
const haiku = 'anthropic.claude-3-haiku-20240307-v1:0';

// Raw fetch: the SDK parses JSON, and this body is Prometheus text.
const scrape = async (projectId: string, token: string) => {
  const response = await fetch(`${stack.apiUrl}/v1/projects/${projectId}/metrics`, { headers: { authorization: `Bearer ${token}` } });
  return { status: response.status, contentType: response.headers.get('content-type'), text: await response.text() };
};

/** A sample's value by its name and labels (as the parser reads them). */
const sampleOf = (families: ParsedFamily[], name: string, labels: Record<string, string> = {}): number | undefined =>
  families.flatMap((family) => family.samples).find((sample) => sample.name === name && JSON.stringify(sample.labels) === JSON.stringify(labels))?.value;

describe('the Prometheus endpoint of a project (GET /v1/projects/{projectId}/metrics)', () => {
  let client: EngineClient;
  beforeAll(async () => {
    ensurePrometheusClientInstalled();
    client = await engineClient('prometheus');
  }, 120_000);

  it('parses with prometheus_client and counts exactly the runs, steps and tokens the project made', async () => {
    const { projectId } = client;
    // A monthly budget in force (warn: it only watches), so the month's ledger records the spend.
    await unwrap(client.baton.PATCH('/v1/projects/{projectId}/settings', { params: { path: { projectId } }, body: { budgets: { monthly: { usd: 100, mode: 'warn' } } } }));
    const good = await client.workflow({
      name: 'ask',
      steps: [
        { id: 'prepare', kind: 'noop' },
        { id: 'ask', kind: 'llm', dependsOn: ['prepare'], input: { provider: 'bedrock', model: haiku, prompt: 'Name three otters, one line each.', maxTokens: 100 } },
      ],
    });
    const bad = await client.workflow({ name: 'refused', steps: [{ id: 'call', kind: 'http', input: { url: `${testAgent().url}/status/404` } }] });

    const runs = await Promise.all([client.run(good), client.run(good), client.run(good), client.run(bad)]);
    const finished = await Promise.all(runs.map((run) => client.waitFor(run.id, ['completed', 'blocked'])));
    expect(finished.map((run) => run.status)).toEqual(['completed', 'completed', 'completed', 'blocked']);
    const views = await Promise.all(runs.map((run) => client.getRun(run.id)));
    const calls = views.flatMap((view) => Object.values(view.usage.llm ?? {}));
    const expected = {
      input: calls.reduce((sum, model) => sum + model.inputTokens, 0),
      output: calls.reduce((sum, model) => sum + model.outputTokens, 0),
      usd: calls.reduce((sum, model) => sum + model.costUsd, 0),
    };
    expect(expected.input).toBeGreaterThan(0);

    // The last invocation of each run adds its counters as it ends, just after the run's status: poll until they are in.
    const families = await eventually(
      'the counters of every run',
      async () => {
        const { text } = await scrape(projectId, client.token);
        const parsed = parsePrometheusText(text);
        return sampleOf(parsed, 'baton_runs_total', { status: 'completed' }) === 3 && sampleOf(parsed, 'baton_steps_total', { status: 'completed' }) === 6 ? parsed : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 500 },
    );

    expect(Object.fromEntries(families.map((family) => [family.name, family.type]))).toEqual({
      baton_runs: 'counter',
      baton_steps: 'counter',
      baton_tokens: 'counter',
      baton_usage_usd: 'counter',
      baton_aws_cost_usd: 'counter',
      baton_lambda_compute_usd: 'counter',
      baton_budget_spend_usd: 'gauge',
      baton_budget_spend_tokens: 'gauge',
      baton_budget_limit_usd: 'gauge',
    });
    const runsBy = (status: string) => sampleOf(families, 'baton_runs_total', { status });
    const stepsBy = (status: string) => sampleOf(families, 'baton_steps_total', { status });
    // 4 runs created and started; 3 completed, 1 blocked by its failed step.
    expect([runsBy('pending'), runsBy('running'), runsBy('completed'), runsBy('blocked'), runsBy('paused'), runsBy('cancelled')]).toEqual([4, 4, 3, 1, 0, 0]);
    // 7 steps queued and started once each (no retry: a 404 is not retryable); 6 completed, 1 failed.
    expect([stepsBy('queued'), stepsBy('running'), stepsBy('completed'), stepsBy('failed'), stepsBy('needs_qa'), stepsBy('skipped')]).toEqual([7, 7, 6, 1, 0, 0]);
    // Tokens and USD: exactly what the three llm steps' usage records say.
    expect(sampleOf(families, 'baton_tokens_total', { direction: 'input' })).toBe(expected.input);
    expect(sampleOf(families, 'baton_tokens_total', { direction: 'output' })).toBe(expected.output);
    expect(sampleOf(families, 'baton_usage_usd_total')).toBeCloseTo(expected.usd, 9);
    // This month's ledger settled the same spend; the budget's limit beside it.
    const period = new Date().toISOString().slice(0, 7);
    expect(sampleOf(families, 'baton_budget_spend_usd', { period })).toBeCloseTo(expected.usd, 9);
    expect(sampleOf(families, 'baton_budget_spend_tokens', { period })).toBe(expected.input + expected.output);
    expect(sampleOf(families, 'baton_budget_limit_usd', { period })).toBe(100);
    // AWS cost: the run views' request cost summed, give or take the remainders still being added.
    const runViewsUsd = views.reduce((sum, view) => sum + (view.usage.cost as { totalUsd: number }).totalUsd, 0);
    const awsCost = sampleOf(families, 'baton_aws_cost_usd_total')!;
    expect(awsCost).toBeGreaterThan(runViewsUsd * 0.75);
    expect(awsCost).toBeLessThan(runViewsUsd * 1.25);
    expect(sampleOf(families, 'baton_lambda_compute_usd_total')).toBeGreaterThan(0);
  }, 180_000);

  it("answers in the text format for a viewer, 404 for an unknown project or another project's token, and JSON errors", async () => {
    const { projectId } = client;
    const viewer = await unwrap(client.baton.POST('/v1/projects/{projectId}/tokens', { params: { path: { projectId } }, body: { name: 'scraper', role: 'viewer' } }));
    const other = await engineClient('prometheus-other');

    const read = await scrape(projectId, viewer.token);
    expect(read.status).toBe(200);
    expect(read.contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(parsePrometheusText(read.text).length).toBeGreaterThan(0);

    const unknown = await scrape('prj_00000000000000000000000000', client.token);
    const foreign = await scrape(projectId, other.token);
    for (const refused of [unknown, foreign]) {
      expect(refused.status).toBe(404);
      expect(refused.contentType).toContain('application/json');
      expect((JSON.parse(refused.text) as { error: { code: string } }).error.code).toBe('not_found');
    }
    // A project with nothing run yet: every series present, at zero.
    const empty = parsePrometheusText((await scrape(other.projectId, other.token)).text);
    expect(sampleOf(empty, 'baton_runs_total', { status: 'completed' })).toBe(0);
    expect(sampleOf(empty, 'baton_tokens_total', { direction: 'input' })).toBe(0);
  }, 60_000);
});

// The DynamoDB adapter of the counters against their contract, on a throwaway table of the emulator.
const tableClient = new DynamoDBClient({ endpoint: stack.endpoint, region: stack.region, credentials: { accessKeyId: process.env.AWS_ACCESS_KEY_ID ?? 'test', secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY ?? 'test' } });
const documents = DynamoDBDocumentClient.from(tableClient, { marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false } });
const tableName = `baton-counters-contract-${Date.now()}`;
describe('project counters on DynamoDB', () => {
  beforeAll(() => createEngineTable(tableClient, tableName));
  afterAll(() => deleteEngineTable(tableClient, tableName));
  describeProjectCounterContract('DynamoDB', () => createProjectCounterStore({ documents, tableName }));
});
