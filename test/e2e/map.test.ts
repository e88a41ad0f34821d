import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unwrap } from '#sdk';
import { aws } from '../helpers/aws';
import { engineClient } from '../helpers/engine';
import { eventually } from '../helpers/poll';

/**
 * Map steps (issue 13 §1) on the deployed stack: items from an agent step (an http step against a
 * loopback server, its 10,000 items stored in S3 as its output is over 4 KB), the children's window,
 * the tolerance, a retry of the failed items only, the results in S3 in item order, and bad input.
 */

/** A loopback agent: `/items?n=N` lists N items; `/work` does one item, slowly, failing the first time for items marked `fail`. */
function startAgent() {
  const seen = new Map<number, number>();
  let inFlight = 0;
  let peak = 0;
  const server: Server = createServer((request, response) => {
    let text = '';
    request.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
    request.on('end', () => {
      const url = new URL(request.url ?? '/', 'http://127.0.0.1');
      const reply = (json: unknown) => {
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end(JSON.stringify(json));
      };
      if (url.pathname === '/items') {
        const n = Number(url.searchParams.get('n'));
        return reply({ ok: true, data: { page: { items: Array.from({ length: n }, (_, index) => ({ n: index, name: `item-${index}` })) } } });
      }
      const { input } = JSON.parse(text) as { input: { index: number; fail?: boolean; slowMs?: number } };
      const times = (seen.get(input.index) ?? 0) + 1;
      seen.set(input.index, times);
      inFlight += 1;
      peak = Math.max(peak, inFlight);
      setTimeout(() => {
        inFlight -= 1;
        if (input.fail && times === 1) reply({ ok: false, error: `item ${input.index} failed (injected)`, code: 'INJECTED' });
        else reply({ ok: true, data: { index: input.index, times } });
      }, input.slowMs ?? 40);
    });
  });
  return {
    server,
    seen,
    peak: () => peak,
    async listen() {
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    },
  };
}

const agent = startAgent();
let url = '';
let client: Awaited<ReturnType<typeof engineClient>>;

beforeAll(async () => {
  url = await agent.listen();
  client = await engineClient('map');
});
afterAll(async () => {
  await new Promise((resolve) => agent.server.close(resolve));
});

const readResults = async (resultsUrl: string) => {
  const [, bucket, key] = /^s3:\/\/([^/]+)\/(.+)$/.exec(resultsUrl)!;
  const object = await aws.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return (await object.Body!.transformToString('utf8'))
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { index: number; status: string; output?: unknown; error?: { code?: string } });
};

const allChildren = async (runId: string, stepId: string, limit = 500) => {
  const children: { id: string; index: number; status: string; startedAt?: string; finishedAt?: string; attempt: number }[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await unwrap(client.baton.GET('/v1/runs/{runId}/steps/{stepId}/children', { params: { path: { runId, stepId }, query: { limit, ...(cursor ? { cursor } : {}) } } }));
    children.push(...page.items);
    cursor = page.cursor;
    pages += 1;
  } while (cursor);
  return { children, pages };
};

/** The most children running at once, from their start and finish times. */
const peakOverlap = (children: { startedAt?: string; finishedAt?: string }[]) => {
  const edges = children.flatMap((child) => [
    { at: Date.parse(child.startedAt!), delta: 1 },
    { at: Date.parse(child.finishedAt!), delta: -1 },
  ]);
  // A finish before a start at the same instant: the two did not overlap.
  edges.sort((a, b) => a.at - b.at || a.delta - b.delta);
  let running = 0;
  let peak = 0;
  for (const edge of edges) peak = Math.max(peak, (running += edge.delta));
  return peak;
};

const mapOf = (items: unknown, rest: Record<string, unknown> = {}) => ({ id: 'm', kind: 'map', input: { items, step: { kind: 'noop', input: '{{item}}' }, ...rest } });

describe('map steps', () => {
  it('refuses bad map input with a 400 naming the field', async () => {
    const cases: [Record<string, unknown>[], string][] = [
      [[mapOf('not a list')], 'body.steps[0].input.items'],
      [[{ id: 'a', kind: 'noop' }, { ...mapOf([1, 2]), dependsOn: ['a'], input: { ...mapOf([1, 2]).input, from: 'a' } }], 'body.steps[1].input.from'],
      [[mapOf([1], { maxConcurrency: 0 })], 'body.steps[0].input.maxConcurrency'],
      [[mapOf(Array.from({ length: 10_001 }, () => 0))], 'body.steps[0].input.items'],
      [[mapOf([1], { toleratedFailurePercentage: 101 })], 'body.steps[0].input.toleratedFailurePercentage'],
      [[mapOf([1], { toleratedFailurePercentage: -1 })], 'body.steps[0].input.toleratedFailurePercentage'],
      [[mapOf({ from: 'elsewhere', path: '$' })], 'body.steps[0].input.items.from'],
      [[{ id: 'm', kind: 'map', input: { items: [1], step: { kind: 'nosuchkind' } } }], 'body.steps[0].input.step.kind'],
    ];
    for (const [steps, field] of cases) {
      const { error, response } = await client.baton.POST('/v1/projects/{projectId}/workflows', { params: { path: { projectId: client.projectId } }, body: { name: 'bad-map', steps } as never });
      expect(response.status, field).toBe(400);
      expect((error as { error: { field?: string } }).error.field).toBe(field);
    }
  });

  it('runs at most maxConcurrency children at once and completes within its tolerated failures, results in item order', async () => {
    const count = 200;
    const workflowId = await client.workflow({
      name: 'map-window',
      steps: [
        { id: 'm', kind: 'map', input: { items: Array.from({ length: count }, (_, index) => ({ index, fail: index % 20 === 7 })), maxConcurrency: 20, toleratedFailurePercentage: 10, step: { kind: 'http', input: { url: `${url}/work`, body: '{{item}}' }, retry: { maxAttempts: 1 } } } },
        { id: 'after', kind: 'noop', dependsOn: ['m'] },
      ],
    });
    const run = await client.run(workflowId);
    const done = await client.waitFor(run.id, ['completed', 'blocked', 'failed'], 300_000);
    expect(done.status).toBe('completed');
    const map = await client.step(run.id, 'm');
    const output = map.output as { count: number; succeeded: number; failed: number; resultsUrl: string };
    expect(output).toMatchObject({ count, succeeded: 190, failed: 10 });
    const lines = await readResults(output.resultsUrl);
    expect(lines.map((line) => line.index)).toEqual(Array.from({ length: count }, (_, index) => index));
    expect(lines.filter((line) => line.status === 'failed').map((line) => line.index)).toEqual(Array.from({ length: 10 }, (_, k) => k * 20 + 7));
    expect(lines[3]).toMatchObject({ status: 'succeeded', output: { index: 3, times: 1 } });

    const { children, pages } = await allChildren(run.id, 'm', 50);
    expect(pages).toBe(4);
    expect(children.map((child) => child.index)).toEqual(Array.from({ length: count }, (_, index) => index));
    const peak = peakOverlap(children);
    expect(peak).toBeLessThanOrEqual(20);
    expect(agent.peak()).toBeLessThanOrEqual(20);
    console.log(`map window: ${count} children, at most ${peak} running at once by their start/finish times, ${agent.peak()} at the agent`);
    expect(done.steps.children).toEqual({ total: count, done: count, succeeded: 190, failed: 10 });
  }, 320_000);

  it('over its tolerance blocks the run; a retry runs the failed items only', async () => {
    const count = 100;
    const offset = 1000;
    const workflowId = await client.workflow({
      name: 'map-retry',
      steps: [
        { id: 'm', kind: 'map', input: { items: Array.from({ length: count }, (_, index) => ({ index: offset + index, fail: index % 20 === 3 })), maxConcurrency: 10, toleratedFailurePercentage: 2, step: { kind: 'http', input: { url: `${url}/work`, body: '{{item}}' }, retry: { maxAttempts: 1 } } } },
        { id: 'after', kind: 'noop', dependsOn: ['m'] },
      ],
    });
    const run = await client.run(workflowId);
    const blocked = await client.waitFor(run.id, ['completed', 'blocked', 'failed'], 300_000);
    expect(blocked.status).toBe('blocked');
    const failedMap = await client.step(run.id, 'm');
    expect(failedMap.status).toBe('failed');
    expect(failedMap.error).toMatchObject({ code: 'MAP_TOLERANCE_EXCEEDED' });
    expect((await client.step(run.id, 'after')).status).toBe('pending');

    await unwrap(client.baton.POST('/v1/runs/{runId}/actions/retry', { params: { path: { runId: run.id } } }));
    const done = await client.waitFor(run.id, ['completed', 'blocked', 'failed'], 300_000);
    expect(done.status).toBe('completed');
    expect((await client.step(run.id, 'm')).output).toMatchObject({ count, succeeded: count, failed: 0 });
    const failing = Array.from({ length: 5 }, (_, k) => k * 20 + 3);
    // The agent saw each failing item twice and every other item once.
    for (let index = 0; index < count; index += 1) expect(agent.seen.get(offset + index), `item ${index}`).toBe(failing.includes(index) ? 2 : 1);
    // The children's events say the same: a retry was requested for the failed ones only, each started twice.
    const events = await client.events(run.id);
    const retried = events.filter((event) => event.type === 'step.retry_requested' && event.stepId?.startsWith('m[')).map((event) => event.stepId);
    expect(retried.sort()).toEqual(failing.map((index) => `m[${String(index).padStart(6, '0')}]`));
    const { children } = await allChildren(run.id, 'm');
    expect(children.filter((child) => child.attempt === 2).map((child) => child.index)).toEqual(failing);
  }, 620_000);

  it('pausing the run holds its map\'s children, resume finishes them; cancelling it cancels them', async () => {
    const count = 40;
    const workflowFor = (offset: number) =>
      client.workflow({
        name: `map-hold-${offset}`,
        steps: [{ id: 'm', kind: 'map', input: { items: Array.from({ length: count }, (_, index) => ({ index: offset + index, slowMs: 500 })), maxConcurrency: 4, step: { kind: 'http', input: { url: `${url}/work`, body: '{{item}}' } } } }],
      });
    const seenOf = (offset: number) => Array.from({ length: count }, (_, index) => agent.seen.get(offset + index) ?? 0);
    const childrenDone = async (runId: string, atLeast: number) =>
      eventually(`${atLeast} children done`, async () => {
        const done = (await client.getRun(runId)).steps.children?.done ?? 0;
        return done >= atLeast ? done : undefined;
      }, { timeoutMs: 120_000, intervalMs: 300 });

    // Pause: children running finish, no other starts (the window's next ones are held), resume runs the rest once each.
    const paused = await client.run(await workflowFor(2000));
    await childrenDone(paused.id, 4);
    await unwrap(client.baton.POST('/v1/runs/{runId}/actions/{action}', { params: { path: { runId: paused.id, action: 'pause' } } }));
    const settled = await eventually('no child running in the paused run', async () => {
      const { children } = await allChildren(paused.id, 'm');
      return children.some((child) => child.status === 'running') ? undefined : children;
    }, { timeoutMs: 60_000, intervalMs: 300 });
    const pausedAt = Date.parse((await client.events(paused.id)).find((event) => event.type === 'run.paused')!.at);
    const whilePaused = { run: (await client.getRun(paused.id)).status, completed: settled.filter((child) => child.status === 'completed').length, agentCalls: seenOf(2000).reduce((sum, times) => sum + times, 0) };
    await unwrap(client.baton.POST('/v1/runs/{runId}/actions/{action}', { params: { path: { runId: paused.id, action: 'resume' } } }));
    const resumed = await client.waitFor(paused.id, ['completed', 'blocked', 'failed'], 300_000);
    const resumedAt = Date.parse((await client.events(paused.id)).find((event) => event.type === 'run.resumed')!.at);
    const startedWhilePaused = (await client.events(paused.id)).filter((event) => event.type === 'step.started' && Date.parse(event.at) > pausedAt + 1_000 && Date.parse(event.at) < resumedAt);

    expect(whilePaused.run).toBe('paused');
    expect(whilePaused.completed).toBeLessThan(count);
    // Every child the agent saw had finished: nothing started behind the pause.
    expect(whilePaused.agentCalls).toBe(whilePaused.completed);
    expect(startedWhilePaused).toEqual([]);
    expect(resumed.status).toBe('completed');
    expect(resumed.steps.children).toEqual({ total: count, done: count, succeeded: count, failed: 0 });
    expect(seenOf(2000)).toEqual(Array.from({ length: count }, () => 1));

    // Cancel: the run, its map step and every child not finished are cancelled; the rest never reach the agent.
    const cancelled = await client.run(await workflowFor(3000));
    await childrenDone(cancelled.id, 4);
    await unwrap(client.baton.POST('/v1/runs/{runId}/actions/{action}', { params: { path: { runId: cancelled.id, action: 'cancel' } } }));
    const ended = await eventually('the map and its children to end', async () => {
      const { children } = await allChildren(cancelled.id, 'm');
      const map = await client.step(cancelled.id, 'm');
      return map.status === 'cancelled' && children.every((child) => ['completed', 'cancelled'].includes(child.status)) ? children : undefined;
    }, { timeoutMs: 60_000, intervalMs: 300 });

    expect((await client.getRun(cancelled.id)).status).toBe('cancelled');
    expect(ended.filter((child) => child.status === 'cancelled').length).toBeGreaterThan(0);
    expect(seenOf(3000).filter((times) => times > 0).length).toBeLessThan(count);
    expect(seenOf(3000).reduce((sum, times) => sum + times, 0)).toBe(ended.filter((child) => child.status === 'completed').length + ended.filter((child) => child.status === 'cancelled' && child.attempt > 0).length);
  }, 620_000);

  it('maps 10,000 items produced by an agent step (its output in S3) and reports wall time and cost per item', async () => {
    const count = 10_000;
    const workflowId = await client.workflow({
      name: 'map-10k',
      steps: [
        { id: 'list', kind: 'http', input: { url: `${url}/items?n=${count}` } },
        { id: 'm', kind: 'map', dependsOn: ['list'], input: { items: { from: 'list', path: '$.page.items' }, maxConcurrency: 1000, step: { kind: 'noop', input: { name: '{{item.name}}', at: '{{index}}' } } } },
      ],
    });
    const run = await client.run(workflowId);
    // Polled with eventually (which rides out an overloaded emulator's 502s): on two shared cores this takes 20-30 minutes.
    const done = await eventually('the 10,000-item map to finish', async () => {
      const view = await client.getRun(run.id);
      return ['completed', 'blocked', 'failed'].includes(view.status) ? view : undefined;
    }, { timeoutMs: 2_700_000, intervalMs: 5000 });
    expect(done.status).toBe('completed');
    const list = await client.step(run.id, 'list');
    expect(list.outputUrl).toBeTruthy();
    const output = (await client.step(run.id, 'm')).output as { count: number; succeeded: number; failed: number; resultsUrl: string };
    expect(output).toMatchObject({ count, succeeded: count, failed: 0 });
    const lines = await readResults(output.resultsUrl);
    expect(lines.length).toBe(count);
    lines.forEach((line, index) => expect(line).toEqual({ index, status: 'succeeded', output: { name: `item-${index}`, at: index } }));
    // Usage lands after the run completes (the last invocation's remainder): read it once it settles.
    const view = await client.getRun(run.id);
    const wallSeconds = (Date.parse(view.finishedAt!) - Date.parse(view.startedAt!)) / 1000;
    const usd = view.usage.cost.totalUsd as number;
    const computeUsd = view.usage.lambdaCompute?.usd ?? 0;
    console.log(`map-10k: wall ${wallSeconds.toFixed(1)} s, ${(count / wallSeconds).toFixed(1)} items/s, cost $${usd.toFixed(6)} = $${((usd / count) * 1e6).toFixed(3)} per million items (requests), Lambda compute $${computeUsd.toFixed(6)} = $${((computeUsd / count) * 1e6).toFixed(3)} per million items; breakdown ${JSON.stringify(view.usage.cost)}`);
    expect(view.steps.children).toEqual({ total: count, done: count, succeeded: count, failed: 0 });
  }, 2_800_000);
});
