import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local agent that behaves like a real one on a bad day, and does the right thing about it:
 * it deduplicates by `X-Idempotency-Key`, as the http executor's contract asks (README, `http`).
 *
 * The first request for a key, at random (a seeded generator), either
 * - applies the effect and answers 200 with its result;
 * - applies the effect, then answers 503 (the work is done, the reply is lost);
 * - answers 429 with Retry-After, applying nothing (the next request for the key draws again);
 * - applies the effect, then hangs past the caller's timeout (until the caller hangs up).
 * A request for a key whose effect was applied answers 200 with the stored result and applies
 * nothing: the retry is recognised. Effects are counted per key, so "applied exactly once" can
 * be checked; with a per-attempt key, every fault after an applied effect would apply it again.
 */
export interface FaultAgent {
  /** Base URL (`http://127.0.0.1:<port>`); every path is the same agent. */
  url: string;
  /** How often each key's effect was applied (1 is right; more is a duplicate effect). */
  effects: Map<string, number>;
  /** The stored result of each applied effect: what the step's output should be. */
  results: Map<string, EffectResult>;
  /** Every request, in arrival order. */
  requests: FaultAgentRequest[];
  counts(): FaultAgentCounts;
  close(): Promise<void>;
}

export interface FaultRates {
  /** Share of first requests that apply the effect and answer 503. */
  serviceUnavailable: number;
  /** Share of first requests answered 429 with Retry-After, without applying. */
  throttled: number;
  /** Share of first requests that apply the effect and hang. */
  hang: number;
}

export const defaultFaultRates: FaultRates = { serviceUnavailable: 0.15, throttled: 0.1, hang: 0.1 };

export interface EffectResult {
  /** Which effect this was, in the order the agent applied them (1, 2, …). */
  effect: number;
  key: string;
  /** The attempt that applied it (from X-Baton-Attempt). */
  appliedOnAttempt: number | undefined;
}

export type FaultAgentReply = 'ok' | 'serviceUnavailable' | 'throttled' | 'hang' | 'replayed' | 'noKey';

export interface FaultAgentRequest {
  key: string | undefined;
  attempt: number | undefined;
  reply: FaultAgentReply;
  at: number;
}

export interface FaultAgentCounts {
  requests: number;
  /** Effects applied in all (a key applied twice counts twice). */
  effectsApplied: number;
  /** Keys whose effect was applied more than once. */
  appliedTwice: number;
  serviceUnavailable: number;
  throttled: number;
  hangs: number;
  /** Requests answered from the store: retries the agent recognised by their key. */
  replayed: number;
  /** Keys the agent saw on more than one request. */
  repeatedKeys: number;
}

export interface FaultAgentOptions {
  seed?: number;
  rates?: FaultRates;
  retryAfterSeconds?: number;
  /** The longest a hanging reply waits for its caller to give up. */
  maxHangMs?: number;
  host?: string;
}

/** mulberry32: a small, fast generator; the same seed gives the same sequence of draws. */
export const seededRandom = (seed: number): (() => number) => {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
};

export async function startFaultAgent({ seed = 1, rates = defaultFaultRates, retryAfterSeconds = 1, maxHangMs = 60_000, host = '127.0.0.1' }: FaultAgentOptions = {}): Promise<FaultAgent> {
  const random = seededRandom(seed);
  const effects = new Map<string, number>();
  const results = new Map<string, EffectResult>();
  const requests: FaultAgentRequest[] = [];
  let applied = 0;

  const apply = (key: string, attempt: number | undefined): EffectResult => {
    effects.set(key, (effects.get(key) ?? 0) + 1);
    const result = { effect: ++applied, key, appliedOnAttempt: attempt };
    results.set(key, result);
    return result;
  };

  const draw = (): Exclude<FaultAgentReply, 'replayed' | 'noKey'> => {
    const value = random();
    if (value < rates.serviceUnavailable) return 'serviceUnavailable';
    if (value < rates.serviceUnavailable + rates.throttled) return 'throttled';
    if (value < rates.serviceUnavailable + rates.throttled + rates.hang) return 'hang';
    return 'ok';
  };

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    for await (const _chunk of request) {
      // The body is not needed: the key says which work this is.
    }
    const key = header(request, 'x-idempotency-key');
    const attemptHeader = header(request, 'x-baton-attempt');
    const attempt = attemptHeader === undefined ? undefined : Number(attemptHeader);
    const record = (reply: FaultAgentReply) => requests.push({ key, attempt, reply, at: Date.now() });
    if (key === undefined) {
      record('noKey');
      return send(response, 400, { ok: false, error: 'X-Idempotency-Key is required', code: 'NO_KEY' });
    }
    // Everything from here to the reply's choice is synchronous: two requests for one key
    // cannot both find it unapplied.
    const stored = results.get(key);
    if (stored) {
      record('replayed');
      return send(response, 200, { ok: true, data: stored });
    }
    const reply = draw();
    record(reply);
    switch (reply) {
      case 'throttled':
        return send(response, 429, { ok: false, error: 'slow down' }, { 'retry-after': String(retryAfterSeconds) });
      case 'serviceUnavailable':
        apply(key, attempt);
        return send(response, 503, { ok: false, error: 'the work was done but the reply was lost' });
      case 'hang':
        apply(key, attempt);
        await hangUp(response, maxHangMs);
        return send(response, 504, { ok: false, error: 'hung' });
      case 'ok':
        return send(response, 200, { ok: true, data: apply(key, attempt) });
    }
  };

  const server = createServer((request, response) => {
    void handle(request, response).catch((error: unknown) => send(response, 500, { ok: false, error: String(error) }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://${host}:${port}`,
    effects,
    results,
    requests,
    counts() {
      const seen = new Map<string, number>();
      for (const { key } of requests) if (key !== undefined) seen.set(key, (seen.get(key) ?? 0) + 1);
      const replies = (reply: FaultAgentReply) => requests.filter((request) => request.reply === reply).length;
      return {
        requests: requests.length,
        effectsApplied: [...effects.values()].reduce((sum, count) => sum + count, 0),
        appliedTwice: [...effects.values()].filter((count) => count > 1).length,
        serviceUnavailable: replies('serviceUnavailable'),
        throttled: replies('throttled'),
        hangs: replies('hang'),
        replayed: replies('replayed'),
        repeatedKeys: [...seen.values()].filter((count) => count > 1).length,
      };
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

const header = (request: IncomingMessage, name: string): string | undefined => {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
};

/** Waits until the caller closes the connection (its timeout), or `maxMs` at most. */
const hangUp = (response: ServerResponse, maxMs: number): Promise<void> =>
  new Promise((resolve) => {
    const timer = setTimeout(resolve, maxMs);
    response.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });

function send(response: ServerResponse, status: number, json: unknown, headers: Record<string, string> = {}): void {
  if (response.headersSent || response.destroyed) return;
  response.writeHead(status, { 'content-type': 'application/json', ...headers });
  response.end(JSON.stringify(json));
}
