import { ulid } from 'ulid';
import { describe, expect, it } from 'vitest';
import { BatonApiError, BatonTimeoutError, collect, createClient, createRunAndWait, paginate, runEvents, unwrap, waitForRun, waitForStep } from '#sdk';
import { baseUrl, event, fakeApi, runDetail } from './fake-api';

const runId = 'run_01jdtest0000000000000000000';
const projectId = 'prj_01jdtest0000000000000000000';

describe('createClient', () => {
  it('sends the token as a bearer and calls the contract paths under the base URL', async () => {
    const api = fakeApi({ 'GET /v1/whoami': () => ({ body: { kind: 'installation', role: 'admin' } }) });
    const client = createClient({ baseUrl: `${baseUrl}/`, token: 'btn_secret', fetch: api.fetch });

    const me = await unwrap(client.GET('/v1/whoami'));

    expect(me).toEqual({ kind: 'installation', role: 'admin' });
    expect(api.seen[0]!.path).toBe('/v1/whoami');
    expect(api.seen[0]!.headers.get('authorization')).toBe('Bearer btn_secret');
  });

  it("turns an error answer into a BatonApiError carrying the API's code, field and request id", async () => {
    const api = fakeApi({
      [`POST /v1/projects/${projectId}/runs`]: () => ({
        status: 400,
        body: { error: { code: 'validation_error', message: 'body.workflowId: must be a workflow id (wf_…)', field: 'body.workflowId', requestId: 'req-1' } },
      }),
    });
    const client = createClient({ baseUrl, token: 't', fetch: api.fetch });

    const error = await unwrap(client.POST('/v1/projects/{projectId}/runs', { params: { path: { projectId } }, body: { workflowId: 'nope' } })).catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(BatonApiError);
    expect(error).toMatchObject({ status: 400, code: 'validation_error', field: 'body.workflowId', requestId: 'req-1' });
    expect((error as Error).message).toContain('must be a workflow id');
  });

  it('keeps what it can of an answer that is not a Baton error (status, request id header, Retry-After)', async () => {
    const api = fakeApi({
      'GET /v1/whoami': () => ({ status: 429, body: 'Too Many Requests', headers: { 'x-request-id': 'req-2', 'retry-after': '3' } }),
      'DELETE /v1/projects/p/tokens/t': () => ({ status: 503 }),
    });
    const client = createClient({ baseUrl, fetch: api.fetch });

    const limited = await unwrap(client.GET('/v1/whoami')).catch((caught: unknown) => caught);
    const empty = await unwrap(client.DELETE('/v1/projects/{projectId}/tokens/{tokenId}', { params: { path: { projectId: 'p', tokenId: 't' } } })).catch((caught: unknown) => caught);

    expect(limited).toMatchObject({ status: 429, code: 'http_429', requestId: 'req-2', retryAfter: 3, message: expect.stringContaining('Too Many Requests') });
    expect(empty).toBeInstanceOf(BatonApiError);
    expect(empty).toMatchObject({ status: 503, code: 'http_503' });
  });
});

describe('waitForRun and createRunAndWait', () => {
  it('creates the run with its Idempotency-Key and polls with growing pauses until it settles', async () => {
    const statuses = ['running', 'running', 'running', 'completed'];
    const api = fakeApi({
      [`POST /v1/projects/${projectId}/runs`]: () => ({ status: 201, body: runDetail('running') }),
      [`GET /v1/runs/${runId}`]: (_request, call) => ({ body: runDetail(statuses[call]!) }),
    });
    const client = createClient({ baseUrl, token: 't', fetch: api.fetch });
    const polled: string[] = [];

    const run = await createRunAndWait(client, { projectId, workflowId: 'wf_x', input: { a: 1 }, idempotencyKey: 'key-1' }, { initialIntervalMs: 5, backoffFactor: 2, onPoll: (seen) => polled.push(seen.status) });

    expect(run.status).toBe('completed');
    expect(polled).toEqual(statuses);
    const [create] = api.seen;
    expect(create).toMatchObject({ method: 'POST', body: { workflowId: 'wf_x', input: { a: 1 } } });
    expect(create!.headers.get('idempotency-key')).toBe('key-1');
  });

  it('stops at a waiting run: blocked, paused, or a step waiting in needs_qa', async () => {
    for (const [status, byStatus] of [['blocked', {}], ['paused', {}], ['running', { needs_qa: 1, completed: 1 }]] as const) {
      const api = fakeApi({ [`GET /v1/runs/${runId}`]: () => ({ body: runDetail(status, byStatus) }) });
      const run = await waitForRun(createClient({ baseUrl, fetch: api.fetch }), runId, { initialIntervalMs: 1 });
      expect(run.status).toBe(status);
      expect(api.seen).toHaveLength(1);
    }
  });

  it('gives up after its timeout with the last run it saw', async () => {
    const api = fakeApi({ [`GET /v1/runs/${runId}`]: () => ({ body: runDetail('running') }) });
    const started = Date.now();

    const error = await waitForRun(createClient({ baseUrl, fetch: api.fetch }), runId, { timeoutMs: 60, initialIntervalMs: 10 }).catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(BatonTimeoutError);
    expect((error as BatonTimeoutError).last).toMatchObject({ status: 'running' });
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(api.seen.length).toBeGreaterThan(1);
  });

  it('waits for a condition of its own, and stops on abort', async () => {
    const api = fakeApi({ [`GET /v1/runs/${runId}`]: (_request, call) => ({ body: runDetail(call < 2 ? 'pending' : 'running') }) });
    const client = createClient({ baseUrl, fetch: api.fetch });

    const started = await waitForRun(client, runId, { until: (run) => run.status === 'running', initialIntervalMs: 1 });
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('stop')), 20);
    const aborted = await waitForRun(client, runId, { until: () => false, initialIntervalMs: 5, signal: controller.signal }).catch((caught: unknown) => caught);

    expect(started.status).toBe('running');
    expect(aborted).toMatchObject({ message: 'stop' });
  });

  it('passes an API error through', async () => {
    const api = fakeApi({});
    const error = await waitForRun(createClient({ baseUrl, fetch: api.fetch }), runId).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ status: 404, code: 'not_found' });
  });
});

describe('waitForStep', () => {
  const step = (status: string) => ({ runId, id: 'review', kind: 'approval', status, attempt: 1, generation: 1, dependsOn: [], artifacts: [] });

  it("reads one step until its condition holds, and gives up with the last step seen", async () => {
    const statuses = ['queued', 'running', 'needs_qa'];
    const api = fakeApi({ [`GET /v1/runs/${runId}/steps/review`]: (_request, call) => ({ body: step(statuses[Math.min(call, 2)]!) }) });
    const client = createClient({ baseUrl, fetch: api.fetch });

    const waiting = await waitForStep(client, runId, 'review', { until: (seen) => seen.status === 'needs_qa', initialIntervalMs: 1 });
    const late = await waitForStep(client, runId, 'review', { until: (seen) => seen.status === 'completed', timeoutMs: 30, initialIntervalMs: 5 }).catch((caught: unknown) => caught);

    expect(waiting.status).toBe('needs_qa');
    expect(api.seen.slice(0, 3).map((request) => request.path)).toEqual(Array(3).fill(`/v1/runs/${runId}/steps/review`));
    expect(late).toBeInstanceOf(BatonTimeoutError);
    expect(late).toMatchObject({ message: expect.stringContaining('Step review of run'), last: { status: 'needs_qa' } });
  });
});

describe('paginate', () => {
  it('follows the cursor through every page and stops at the last', async () => {
    const pages: Record<string, { items: { id: string }[]; cursor?: string }> = {
      first: { items: [{ id: 'a' }, { id: 'b' }], cursor: 'c1' },
      c1: { items: [{ id: 'c' }], cursor: 'c2' },
      c2: { items: [{ id: 'd' }] },
    };
    const api = fakeApi({ [`GET /v1/projects/${projectId}/runs`]: (request) => ({ body: pages[request.query.cursor ?? 'first'] }) });
    const client = createClient({ baseUrl, fetch: api.fetch });
    const list = (cursor: string | undefined) => unwrap(client.GET('/v1/projects/{projectId}/runs', { params: { path: { projectId }, query: { status: 'running', cursor } } }));

    const all = await collect(paginate(list));
    const two = await collect(paginate(list, { limit: 2 }));

    expect(all.map((run) => run.id)).toEqual(['a', 'b', 'c', 'd']);
    expect(api.seen.slice(0, 3).map((request) => request.query)).toEqual([{ status: 'running' }, { status: 'running', cursor: 'c1' }, { status: 'running', cursor: 'c2' }]);
    expect(two.map((run) => run.id)).toEqual(['a', 'b']);
    expect(api.seen).toHaveLength(4);
  });
});

describe('runEvents', () => {
  it("reads a run's events page by page in the order asked", async () => {
    const api = fakeApi({
      [`GET /v1/runs/${runId}/events`]: (request) => ({
        body: request.query.cursor ? { items: [event('E3')] } : { items: [event('E1'), event('E2')], cursor: 'next' },
      }),
    });

    const events = await collect(runEvents(createClient({ baseUrl, fetch: api.fetch }), runId, { order: 'desc', pageSize: 2 }));

    expect(events.map((seen) => seen.id)).toEqual(['E1', 'E2', 'E3']);
    expect(api.seen.map((request) => request.query)).toEqual([{ order: 'desc', limit: '2' }, { order: 'desc', limit: '2', cursor: 'next' }]);
  });

  it('follows new events after the last one seen, yields each once, and ends after the run is over', async () => {
    const now = Date.now();
    const ids = [ulid(now - 2000), ulid(now - 1000), ulid(now - 500), ulid(now)];
    // The history grows while it is followed; a late commit of an older id (ids[2]) appears too.
    const history = [
      [event(ids[0]!, 'run.started'), event(ids[1]!)],
      [event(ids[0]!, 'run.started'), event(ids[1]!), event(ids[3]!, 'step.completed')],
      [event(ids[0]!, 'run.started'), event(ids[1]!), event(ids[2]!, 'step.late'), event(ids[3]!), event(ulid(now + 1), 'run.completed')],
    ];
    let reads = 0;
    const api = fakeApi({
      [`GET /v1/runs/${runId}/events`]: (request) => {
        const all = history[Math.min(reads++, history.length - 1)]!;
        return { body: { items: all.filter((seen) => !request.query.after || seen.id > request.query.after) } };
      },
    });

    const events = await collect(runEvents(createClient({ baseUrl, fetch: api.fetch }), runId, { follow: true, pollIntervalMs: 5 }));

    expect(events.map((seen) => seen.type)).toEqual(['run.started', 'step.completed', 'step.completed', 'step.late', 'run.completed']);
    expect(new Set(events.map((seen) => seen.id)).size).toBe(events.length);
    expect(api.seen[0]!.query.after).toBeUndefined();
    expect(api.seen[1]!.query.after).toMatch(/^[0-9A-Z]{26}$/);
  });

  it('refuses to follow newest first', async () => {
    const api = fakeApi({});
    await expect(collect(runEvents(createClient({ baseUrl, fetch: api.fetch }), runId, { follow: true, order: 'desc' }))).rejects.toThrow(/asc/);
  });
});
