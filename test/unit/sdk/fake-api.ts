/**
 * A fake of the API for the SDK's unit tests: a fetch that answers from a table of handlers by
 * method and path, and records every request it was given.
 */
export interface Seen {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: Headers;
  body: unknown;
}

type Handler = (request: Seen, call: number) => { status?: number; body?: unknown; headers?: Record<string, string> } | Promise<{ status?: number; body?: unknown; headers?: Record<string, string> }>;

export const baseUrl = 'https://api.example.test/stage';

export function fakeApi(routes: Record<string, Handler>) {
  const seen: Seen[] = [];
  const calls = new Map<string, number>();
  const fetch = async (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    const path = url.pathname.slice(new URL(baseUrl).pathname.length);
    const text = await request.text();
    const entry: Seen = { method: request.method, path, query: Object.fromEntries(url.searchParams), headers: request.headers, body: text ? JSON.parse(text) : undefined };
    seen.push(entry);
    const key = `${request.method} ${path}`;
    const handler = routes[key];
    if (!handler) return new Response(JSON.stringify({ error: { code: 'not_found', message: `no fake for ${key}`, requestId: 'req-fake' } }), { status: 404, headers: { 'content-type': 'application/json' } });
    const call = calls.get(key) ?? 0;
    calls.set(key, call + 1);
    const { status = 200, body, headers = {} } = await handler(entry, call);
    return new Response(body === undefined ? null : typeof body === 'string' ? body : JSON.stringify(body), {
      status,
      headers: { ...(typeof body === 'object' ? { 'content-type': 'application/json' } : {}), ...headers },
    });
  };
  return { fetch, seen };
}

export const runDetail = (status: string, byStatus: Record<string, number> = {}) => ({
  id: 'run_01jdtest0000000000000000000',
  projectId: 'prj_01jdtest0000000000000000000',
  workflowId: 'wf_01jdtest00000000000000000000',
  workflowName: 'hello',
  workflowVersion: 1,
  status,
  createdAt: '2026-11-30T08:00:00.000Z',
  steps: { total: 2, byStatus },
  usage: { cost: {}, agentUsage: {} },
});

export const event = (id: string, type = 'step.completed') => ({ id, type, projectId: 'prj_1', runId: 'run_1', at: '2026-11-30T08:00:00.000Z', actor: 'system', detail: {} });
