import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { unwrap } from '#sdk';
import { agentFunctionName, createAgentFunction, type AgentFunction } from '../helpers/agent-functions';
import { engineClient, type EngineClient } from '../helpers/engine';
import { eventually } from '../helpers/poll';
import { resetData } from '../helpers/reset';

/**
 * Quality gates on the deployed stack (issue 12 §2): reviewers are a Lambda function created in
 * the emulator and an OpenAI-compatible model server on 127.0.0.1 (the emulator's Bedrock answers
 * a fixed text with no score in it, which a gate pauses on: see the last test).
 */

/**
 * Scores an output 90 when it carries guidance (a guided re-run's or a QA retry's note), else 35
 * with a comment asking for sources; `passAt` in its payload lowers the bar for plain outputs.
 */
const reviewerSource = `
exports.handler = async (event) => {
  const reviewed = event.dependencies.output || {};
  const plain = Number((event.input || {}).plainScore || 35);
  if (typeof reviewed.guidance === 'string') return { score: 90, comment: 'sources named' };
  return { ok: true, data: { score: plain, comment: 'cite your sources' }, usage: { tokens: { input: 200, output: 20 }, costUsd: 0.003 } };
};
`;
const wordsSource = `exports.handler = async (event) => ({ words: String((event.input || {}).text || '').split(' ').length });`;

let reviewer: AgentFunction;
let words: AgentFunction;
let modelServer: Server;
let modelUrl: string;
const modelPrompts: string[] = [];

beforeAll(async () => {
  [reviewer, words] = await Promise.all([createAgentFunction(agentFunctionName('qa-review'), reviewerSource), createAgentFunction(agentFunctionName('qa-words'), wordsSource)]);
  // An OpenAI-compatible chat server that grades in JSON: it answers the score the prompt asks for.
  modelServer = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      const prompt = (JSON.parse(body) as { messages: { content: string }[] }).messages.map((message) => message.content).join('\n');
      modelPrompts.push(prompt);
      const score = Number(/grade it (\d+)/.exec(prompt)?.[1] ?? 50);
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ choices: [{ message: { role: 'assistant', content: JSON.stringify({ score, comment: `graded ${score}` }) }, finish_reason: 'stop' }], usage: { prompt_tokens: 40, completion_tokens: 12 } }));
    });
  });
  await new Promise<void>((resolve) => modelServer.listen(0, '127.0.0.1', resolve));
  modelUrl = `http://127.0.0.1:${(modelServer.address() as AddressInfo).port}/v1`;
}, 120_000);
afterAll(async () => {
  await Promise.all([reviewer, words].map((fn) => fn?.remove()));
  await new Promise((resolve) => modelServer?.close(resolve));
});
beforeEach(resetData);

const lambdaReviewer = (payload: Record<string, unknown> = {}) => ({ kind: 'lambda' as const, input: { function: reviewer.name, payload } });
/** Polls a step until its gate is in `state` (the step waits in needs_qa through several gate states). */
const gateReaches = (client: EngineClient, runId: string, stepId: string, state: string) =>
  eventually(`${stepId}'s gate to be ${state}`, async () => {
    const step = await client.step(runId, stepId);
    return step.gate?.state === state && step.status === 'needs_qa' ? step : undefined;
  }, { timeoutMs: 60_000, intervalMs: 300 });
const eventsOf = async (client: EngineClient, runId: string, type: string) => (await client.events(runId)).filter((event) => event.type === type);

describe('quality gates on the deployed engine', () => {
  it('pauses a step its reviewer scores below the threshold with feedback.critical; a guided re-run then passes and the run completes', async () => {
    const client = await engineClient('qa-pause');
    const workflowId = await client.workflow({
      name: 'gated',
      steps: [
        { id: 'draft', kind: 'noop', input: { text: 'otters are cute' }, qa: { reviewer: lambdaReviewer(), threshold: 60, onBelow: 'pause' } },
        { id: 'publish', kind: 'noop', dependsOn: ['draft'] },
      ],
    });
    const { id } = await client.run(workflowId);

    const draft = await gateReaches(client, id, 'draft', 'paused');
    expect(draft).toMatchObject({ status: 'needs_qa', gate: { state: 'paused', reviewer: 'lambda', threshold: 60, score: 35, comment: 'cite your sources' }, output: { text: 'otters are cute' } });
    expect((await client.step(id, 'publish')).status).toBe('pending');
    const critical = await eventsOf(client, id, 'feedback.critical');
    expect(critical).toHaveLength(1);
    expect(critical[0]).toMatchObject({ stepId: 'draft', detail: { score: 35, threshold: 60, verdict: 'pause' } });
    const feedback = await unwrap(client.baton.GET('/v1/runs/{runId}/steps/{stepId}/feedback', { params: { path: { runId: id, stepId: 'draft' } } }));
    expect(feedback.items.map((item) => [item.score, item.source, item.generation])).toEqual([[35, 'reviewer', 1]]);
    // It waits for a person: in the project's inbox.
    const inbox = await unwrap(client.baton.GET('/v1/projects/{projectId}/inbox', { params: { path: { projectId: client.projectId } } }));
    expect(inbox.items.map((item) => item.stepId)).toEqual(['draft']);
    // The reviewer's usage counts on the step and the run.
    expect((await client.getRun(id)).usage.agentUsage).toBeDefined();

    const rerun = await unwrap(client.baton.POST('/v1/runs/{runId}/steps/{stepId}/actions/rerun', { params: { path: { runId: id, stepId: 'draft' } }, body: { guidance: 'Name two sources.' } }));
    expect(rerun.step).toMatchObject({ id: 'draft', generation: 2 });
    const run = await client.waitFor(id, ['completed', 'blocked'], 60_000);
    expect(run.status, run.reason).toBe('completed');
    const passed = await client.step(id, 'draft');
    expect(passed).toMatchObject({ status: 'completed', generation: 2, guidance: 'Name two sources.', gate: { score: 90 }, output: { text: 'otters are cute', guidance: 'Name two sources.' } });
    expect((await client.step(id, 'publish')).status).toBe('completed');
    const scores = await unwrap(client.baton.GET('/v1/runs/{runId}/feedback', { params: { path: { runId: id } } }));
    expect(scores.items.map((item) => [item.stepId, item.score, item.generation])).toEqual([['draft', 35, 1], ['draft', 90, 2]]);
  });

  it('onBelow retry runs the step again with the reviewer\'s comment in its input, and passes', async () => {
    const client = await engineClient('qa-retry');
    const workflowId = await client.workflow({ name: 'retried', steps: [{ id: 'draft', kind: 'noop', input: { text: 'otters' }, qa: { reviewer: lambdaReviewer(), threshold: 60, onBelow: 'retry', maxRetries: 2 } }] });
    const { id } = await client.run(workflowId);
    const run = await client.waitFor(id, ['completed', 'blocked'], 60_000);
    expect(run.status, run.reason).toBe('completed');

    const draft = await client.step(id, 'draft');
    // The re-execution's input shows the comment; it is a new execution (generation 2) and scored 90.
    expect((draft.input as { guidance: string }).guidance).toContain('cite your sources');
    expect(draft).toMatchObject({ generation: 2, gate: { retries: 1, score: 90 } });
    const events = await client.events(id);
    const started = events.filter((event) => event.type === 'step.started' && event.stepId === 'draft');
    expect(started.map((event) => (event.detail as { generation: number }).generation)).toEqual([1, 2]);
    expect(events.filter((event) => event.type === 'feedback.critical').map((event) => (event.detail as { verdict: string }).verdict)).toEqual(['retry']);
  });

  it('onBelow fail fails the step and blocks the run', async () => {
    const client = await engineClient('qa-fail');
    const workflowId = await client.workflow({ name: 'strict', steps: [{ id: 'draft', kind: 'noop', input: { text: 'otters' }, qa: { reviewer: lambdaReviewer({ plainScore: 20 }), threshold: 50, onBelow: 'fail' } }] });
    const { id } = await client.run(workflowId);
    const run = await client.waitFor(id, ['completed', 'blocked'], 60_000);
    expect(run.status).toBe('blocked');
    expect(run.reason).toContain('quality gate: scored 20, below the threshold 50');
    expect(await client.step(id, 'draft')).toMatchObject({ status: 'failed', error: { code: 'QA_BELOW_THRESHOLD' }, gate: { score: 20 } });
    expect(await eventsOf(client, id, 'feedback.critical')).toHaveLength(1);
  });

  it('a human reviewer: the step waits for a person, whose feedback is listed and decides', async () => {
    const client = await engineClient('qa-human');
    const workflowId = await client.workflow({ name: 'human', steps: [{ id: 'draft', kind: 'noop', input: { text: 'otters' }, qa: { reviewer: 'human', threshold: 70 } }, { id: 'publish', kind: 'noop', dependsOn: ['draft'] }] });
    const { id } = await client.run(workflowId);
    const waiting = await client.waitForStep(id, 'draft', ['needs_qa'], 60_000);
    expect(waiting.gate).toMatchObject({ state: 'waiting', reviewer: 'human' });

    const give = (score: number, comment: string) => unwrap(client.baton.POST('/v1/runs/{runId}/steps/{stepId}/feedback', { params: { path: { runId: id, stepId: 'draft' } }, body: { score, comment } }));
    await give(82, 'reads well');
    const run = await client.waitFor(id, ['completed', 'blocked'], 60_000);
    expect(run.status).toBe('completed');
    expect(await client.step(id, 'draft')).toMatchObject({ status: 'completed', output: { text: 'otters' }, gate: { score: 82 } });
    const listed = await unwrap(client.baton.GET('/v1/runs/{runId}/feedback', { params: { path: { runId: id } } }));
    expect(listed.items.map((item) => [item.stepId, item.score, item.source, item.comment])).toEqual([['draft', 82, 'human', 'reads well']]);
  });

  it('applies the project default QA policy to agent steps that have none, with an llm reviewer on a model server', async () => {
    const client = await engineClient('qa-default');
    const { baton, projectId } = client;
    const llmReviewer = { kind: 'llm' as const, input: { provider: 'openai', baseUrl: modelUrl, model: 'grader', maxTokens: 100, prompt: 'Review {{dependencies.output}} and grade it 30' } };
    const settings = await unwrap(baton.PATCH('/v1/projects/{projectId}/settings', { params: { path: { projectId } }, body: { qa: { reviewer: llmReviewer, threshold: 60, onBelow: 'pause' }, allowPrivateAgents: ['127.0.0.0/8'] } }));
    expect(settings.qa).toMatchObject({ threshold: 60, onBelow: 'pause', maxRetries: 1 });

    const workflowId = await client.workflow({
      name: 'defaulted',
      steps: [
        { id: 'count', kind: 'lambda', input: { function: words.name, payload: { text: 'three little words' } } },
        { id: 'note', kind: 'noop', input: { text: 'not an agent' } },
      ],
    });
    const { id } = await client.run(workflowId);
    const note = await client.waitForStep(id, 'note', ['completed'], 60_000);
    expect(note.gate).toBeUndefined();
    const count = await gateReaches(client, id, 'count', 'paused');
    expect(count).toMatchObject({ status: 'needs_qa', output: { words: 3 }, gate: { from: 'project', reviewer: 'llm', state: 'paused', score: 30, comment: 'graded 30' } });
    // The reviewer's model call is on the step's usage records.
    expect(count.llmUsage.map((call) => call.model)).toEqual(['grader']);
    expect(modelPrompts.some((prompt) => prompt.includes('"words":3'))).toBe(true);

    // A person approves it: it completes with what it produced.
    await unwrap(baton.POST('/v1/runs/{runId}/steps/{stepId}/actions/{action}', { params: { path: { runId: id, stepId: 'count', action: 'approve' } }, body: {} }));
    const run = await client.waitFor(id, ['completed', 'blocked'], 60_000);
    expect(run.status).toBe('completed');
    expect((await client.step(id, 'count')).output).toEqual({ words: 3 });

    // Turned off: the next run's agent step completes unreviewed.
    await unwrap(baton.PATCH('/v1/projects/{projectId}/settings', { params: { path: { projectId } }, body: { qa: null } }));
  });

  it('refuses a bad quality gate with a 400 naming the field', async () => {
    const client = await engineClient('qa-bad');
    const save = (qa: unknown, kind = 'noop') =>
      client.baton.POST('/v1/projects/{projectId}/workflows', { params: { path: { projectId: client.projectId } }, body: { name: 'bad', steps: [{ id: 'a', kind, qa }] } as never });
    const cases: [unknown, string, string?][] = [
      [{ reviewer: 'human', threshold: 101 }, 'body.steps[0].qa.threshold'],
      [{ reviewer: { kind: 'noop' } }, 'body.steps[0].qa.reviewer'],
      [{ reviewer: 'human', maxRetries: -1 }, 'body.steps[0].qa.maxRetries'],
      [{ reviewer: 'human' }, 'body.steps[0].qa', 'approval'],
    ];
    for (const [qa, field, kind] of cases) {
      const answer = await save(qa, kind);
      expect(answer.response.status, field).toBe(400);
      expect(answer.error?.error.field).toBe(field);
    }
    const settings = await client.baton.PATCH('/v1/projects/{projectId}/settings', { params: { path: { projectId: client.projectId } }, body: { qa: { reviewer: { kind: 'lambda', input: {} } } } as never });
    expect(settings.response.status).toBe(400);
    expect(settings.error?.error.field).toBe('body.qa.reviewer.input.function');
  });
});
