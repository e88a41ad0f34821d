import { createHash } from 'node:crypto';
import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP, type LookupFunction } from 'node:net';
import { Agent, fetch as undiciFetch } from 'undici';
import { createAddressPolicy } from '#shared/domain/addresses';
import type { LlmPrices } from '#shared/domain/llm-prices';
import { parseRetryAfter } from '#shared/domain/retry';
import type { SecretRef } from '#shared/domain/secrets';
import { NonRetryableStepError, RetryableStepError, StepError } from '#shared/domain/step-errors';
import { readBoundedText } from '#shared/executors/read-bounded-text';
import { agentReplyOutcome, agentRequest, clip, parseAgentReplyText } from '#shared/executors/agent-reply';
import { httpKind, maxTimeoutSeconds, type HttpInput } from '#shared/executors/http-input';
import type { Executor, StepContext, StepOutcome } from '#shared/executors/types';
import type { CachedReply, HttpCache } from '#shared/store/http-cache';

/**
 * `http`: calls an agent endpoint with the step's input and turns its reply into a step outcome.
 * Failures are classified for the retry policy (DESIGN §3.5): 429, 5xx, timeouts and network
 * errors are retryable; other 4xx, refusals and malformed replies are not.
 */

/** Re-exported for the executor's tests (the schema lives in the kind's validation half, http-input.ts). */
export { httpInput, type HttpInput } from '#shared/executors/http-input';

/** Re-exported for callers that classify addresses (the ranges live in shared/domain/addresses.ts). */
export { nonPublicAddressKind } from '#shared/domain/addresses';

export type ResolveHost = (hostname: string) => Promise<Array<{ address: string; family: number }>>;

/** What the executor calls `fetch` with: undici's, so its own dispatcher (and lookup) opens the socket. */
export type HttpFetch = (url: URL, init: NonNullable<Parameters<typeof undiciFetch>[1]>) => Promise<Response>;

/** Dependencies of the http executor; tests replace them. */
export interface HttpExecutorDeps {
  /** The DNS lookup the connection uses (and the only one: the address checked is the address connected to). */
  resolveHost?: ResolveHost;
  fetch?: HttpFetch;
  now?: () => Date;
  /** Replies above this are refused rather than buffered into the worker's memory. */
  maxReplyBytes?: number;
  /** Where replies of steps with `cache` are kept; without it, `cache` is ignored. */
  cache?: HttpCache;
}

const defaultMaxReplyBytes = 10 * 1024 * 1024;

const resolveWithDns: ResolveHost = (hostname) => dnsLookup(hostname, { all: true });

/** Builds the http executor. */
export const createHttpExecutor = ({
  resolveHost = resolveWithDns,
  fetch: fetchImpl = undiciFetch,
  now = () => new Date(),
  maxReplyBytes = defaultMaxReplyBytes,
  cache,
}: HttpExecutorDeps = {}): Executor<HttpInput> => {
  const dispatchers = createDispatchers(resolveHost);
  return {
    ...httpKind,
    async run(input, context) {
      const target = new URL(input.url);
      // Resolved here, at the moment of the call, and kept out of every message that follows.
      const credentials = await resolveCredentials(input, context);
      const call = describeCall(target, credentials.values);
      const guard = context.allowPrivateTargets ? undefined : context.projectSettings.allowPrivateAgents;
      // A literal address is connected to as it is (no lookup runs): check it here.
      if (guard && isIP(call.host)) assertAllowed(call.host, call.host, createAddressPolicy(guard), call.url);

      const cacheKey = cache && input.cache ? cacheKeyOf(input) : undefined;
      const cached = cacheKey ? await cache!.get(context.projectId, cacheKey) : undefined;
      if (cached && input.cache && now().getTime() - Date.parse(cached.storedAt) < input.cache.ttlSeconds * 1000) {
        return cachedOutcome(cached, call, now(), context.projectSettings.llmPrices);
      }

      const timeoutSeconds = Math.min(input.timeoutSeconds ?? maxTimeoutSeconds, maxTimeoutSeconds);
      const timeoutMs = Math.max(0, Math.floor(Math.min(timeoutSeconds * 1000, context.deadlineMs)));
      const timeout = AbortSignal.timeout(timeoutMs);
      const signal = AbortSignal.any([context.signal, timeout]);
      try {
        const response = await fetchImpl(target, {
          method: input.method,
          headers: { ...Object.fromEntries(requestHeaders(credentials, context)), ...(cached ? { 'if-none-match': cached.etag } : {}) },
          body: JSON.stringify(agentRequest(input.body, context)),
          signal,
          // A redirect could point anywhere: never follow one.
          redirect: 'manual',
          dispatcher: dispatchers.get(guard),
        });
        const text = await readBoundedText(response, maxReplyBytes, { who: `agent at ${call.host}`, url: call.url });
        if (cached && cacheKey && input.cache && response.status === 304) {
          // Still current: the stored reply stands, and its age starts again.
          await cache!.put(context.projectId, cacheKey, { ...cached, storedAt: now().toISOString() }, input.cache.ttlSeconds);
          return cachedOutcome(cached, call, now(), context.projectSettings.llmPrices);
        }
        const outcome = outcomeOf(response, text, call, now(), context.projectSettings.llmPrices);
        if (!cacheKey || !input.cache || outcome.status !== 'completed') return outcome;
        const etag = response.headers.get('etag');
        if (etag) await cache!.put(context.projectId, cacheKey, { etag, text: call.redactJson(text), storedAt: now().toISOString() }, input.cache.ttlSeconds);
        return { ...outcome, usage: { ...outcome.usage, cache: { hits: 0, misses: 1 } } };
      } catch (error) {
        throw failureOf(error, call, { timedOut: timeout.aborted, aborted: context.signal.aborted, timeoutMs });
      }
    },
  };
};

/**
 * The dispatchers calls go through. Unguarded (local stage): undici's defaults. Guarded: an
 * undici Agent whose connections resolve names with a lookup that refuses any address the
 * project's policy refuses, at connect time, on the very answer the socket then uses: no second
 * DNS query a rebinding server could answer differently. One Agent per allow-list (kept, so
 * warm invocations reuse connections; a kept connection stays on the address it was checked for).
 */
export const createDispatchers = (resolveHost: ResolveHost) => {
  const agents = new Map<string, Agent>();
  const unguarded = new Agent();
  return {
    get(allowed: readonly string[] | undefined): Agent {
      if (!allowed) return unguarded;
      const key = JSON.stringify(allowed);
      let agent = agents.get(key);
      if (!agent) {
        if (agents.size >= 50) agents.clear();
        agent = new Agent({ connect: { lookup: guardedLookup(resolveHost, createAddressPolicy(allowed)) } });
        agents.set(key, agent);
      }
      return agent;
    },
  };
};

/** A `net.connect` lookup that resolves once and refuses when any address fails the policy. */
const guardedLookup = (resolveHost: ResolveHost, refusedKind: (address: string) => string | undefined): LookupFunction =>
  (hostname, options, callback) => {
    const host = hostname.replace(/^\[(.*)\]$/, '$1');
    resolveHost(host).then(
      (addresses) => {
        try {
          for (const { address } of addresses) assertAllowed(host, address, refusedKind);
        } catch (error) {
          callback(error as Error, '', 0);
          return;
        }
        const [first] = addresses;
        if (!first) {
          callback(new RetryableStepError(`could not resolve agent host ${host}: no address`), '', 0);
          return;
        }
        if (options.all) callback(null, addresses);
        else callback(null, first.address, first.family);
      },
      (error: unknown) => {
        // DNS failures are often transient (EAI_AGAIN, an agent whose record is being created).
        callback(new RetryableStepError(`could not resolve agent host ${host}: ${errorCode(error)}`, {}, { cause: error }), '', 0);
      },
    );
  };

/** Refuses an address the project's policy does not allow: not retryable, naming host and address. */
export const assertAllowed = (host: string, address: string, refusedKind: (address: string) => string | undefined, url?: string): void => {
  const kind = refusedKind(address);
  if (!kind) return;
  const resolved = address === host ? '' : ` (resolves to ${address})`;
  throw new NonRetryableStepError(
    `refusing to call ${host}${resolved}: ${kind} addresses are not allowed for this project (settings.allowPrivateAgents)`,
    { code: 'TARGET_NOT_ALLOWED', ...(url ? { url } : {}) },
  );
};

/** The cache entry of a call: SHA-256 of method, URL and body (the project is in the item's key). */
const cacheKeyOf = (input: HttpInput): string =>
  createHash('sha256').update(JSON.stringify([input.method, input.url, input.body ?? null])).digest('hex');

/** A reply reused from the cache: the agent's answer as stored, with nothing spent but a hit. */
const cachedOutcome = (cached: CachedReply, call: CallDescription, at: Date, prices: LlmPrices): StepOutcome => {
  const details = { status: 200, url: call.url };
  const outcome = agentReplyOutcome(parseAgentReplyText(cached.text, details), { who: `agent at ${call.host}`, details, redact: call.redact, prices, now: at });
  if (outcome.status !== 'completed') return outcome;
  const { usage: _spentThen, ...rest } = outcome;
  return { ...rest, usage: { cache: { hits: 1, misses: 0 } } };
};

/** The http executor with real DNS and fetch. */
export const httpExecutor = createHttpExecutor();

/** What error messages may say about the call, and how to keep the credentials out of them. */
interface CallDescription {
  host: string;
  /** Origin and path only: query strings may carry secrets. */
  url: string;
  redact: (text: string) => string;
  /** The same for JSON text, where a value appears with JSON's escapes. */
  redactJson: (text: string) => string;
}

const describeCall = (target: URL, secrets: string[]): CallDescription => {
  // Longest first, so a secret that contains another is replaced whole.
  const values = [...new Set(secrets)].filter(Boolean).sort((a, b) => b.length - a.length);
  const replaceAll = (text: string, forms: string[]) => forms.reduce((redacted, form) => redacted.replaceAll(form, '[redacted]'), text);
  const jsonForms = values.map((value) => JSON.stringify(value).slice(1, -1));
  return {
    host: target.hostname.replace(/^\[(.*)\]$/, '$1'),
    url: `${target.origin}${target.pathname}`,
    redact: (text) => replaceAll(text, values),
    redactJson: (text) => replaceAll(text, jsonForms),
  };
};

/** The request's headers with every secret reference resolved, and the values resolved (to redact). */
interface ResolvedCredentials {
  headers: Record<string, string>;
  bearerToken?: string;
  values: string[];
}

const resolveCredentials = async (input: HttpInput, context: StepContext): Promise<ResolvedCredentials> => {
  const values: string[] = [];
  const resolve = async (ref: SecretRef) => {
    const value = await context.resolveSecret(ref);
    values.push(value);
    return value;
  };
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(input.headers ?? {})) headers[name] = typeof value === 'string' ? value : await resolve(value);
  const bearerToken = input.bearerToken ? await resolve(input.bearerToken) : undefined;
  for (const [name, value] of Object.entries(headers)) {
    // A secret is stored as given: one with a line break cannot be a header value.
    if (/[\r\n\0]/.test(value)) throw new NonRetryableStepError(`header ${name}: its secret holds a line break, which no header value may`, { code: 'INVALID_INPUT' });
  }
  if (bearerToken !== undefined && /[\r\n\0]/.test(bearerToken)) {
    throw new NonRetryableStepError('bearerToken: its secret holds a line break, which no header value may', { code: 'INVALID_INPUT' });
  }
  return { headers, ...(bearerToken === undefined ? {} : { bearerToken }), values };
};

const requestHeaders = (credentials: ResolvedCredentials, context: StepContext): Headers => {
  const headers = new Headers(credentials.headers);
  headers.set('content-type', 'application/json');
  headers.set('accept', 'application/json');
  // One key for every attempt of an execution, so an agent recognises a retry of work it did.
  headers.set('x-idempotency-key', context.idempotencyKey);
  headers.set('x-baton-attempt', String(context.attempt));
  if (credentials.bearerToken) headers.set('authorization', `Bearer ${credentials.bearerToken}`);
  return headers;
};


const outcomeOf = (response: Response, text: string, call: CallDescription, now: Date, prices: LlmPrices): StepOutcome => {
  const { status } = response;
  // 202 Accepted: the agent took the work and will report through its callback URL.
  if (status === 202) return { status: 'pending' };
  if (status >= 200 && status < 300) {
    const details = { status, url: call.url };
    // An agent that echoes its credentials must not put them in the step's output for viewers to read.
    return agentReplyOutcome(parseAgentReplyText(call.redactJson(text), details), { who: `agent at ${call.host}`, details, redact: call.redact, prices, now });
  }
  const said = agentErrorOf(text);
  const because = said.error ? `: ${clip(call.redact(said.error))}` : '';
  const details = { status, url: call.url, ...(said.code ? { code: said.code } : {}) };
  if (status === 429 || status >= 500) {
    const retryAfterSeconds = parseRetryAfter(response.headers.get('retry-after'), now);
    throw new RetryableStepError(`agent at ${call.host} answered ${status}${because}`, {
      ...details,
      ...(retryAfterSeconds === undefined ? {} : { retryAfterSeconds }),
    });
  }
  if (status >= 300 && status < 400) {
    throw new NonRetryableStepError(`agent at ${call.host} answered ${status} (a redirect); redirects are not followed`, details);
  }
  throw new NonRetryableStepError(`agent at ${call.host} answered ${status}${because}`, details);
};

/** Error bodies of non-2xx replies are read leniently: any `error`/`code` strings help the user. */
const agentErrorOf = (text: string): { error?: string; code?: string } => {
  try {
    const json: unknown = JSON.parse(text);
    if (typeof json !== 'object' || json === null) return {};
    const { error, code } = json as Record<string, unknown>;
    return { ...(typeof error === 'string' ? { error } : {}), ...(typeof code === 'string' ? { code } : {}) };
  } catch {
    return text.trim() ? { error: text.trim() } : {};
  }
};

/** Maps a thrown error (ours, a timeout, an abort or a network failure) to a classified StepError. */
const failureOf = (
  error: unknown,
  call: CallDescription,
  { timedOut, aborted, timeoutMs }: { timedOut: boolean; aborted: boolean; timeoutMs: number },
): StepError => {
  if (error instanceof StepError) return error;
  // Refusals and DNS failures of the guarded lookup arrive as the cause of fetch's TypeError.
  const refusal = causeChain(error).find((cause): cause is StepError => cause instanceof StepError);
  if (refusal) {
    const Kind = refusal.retryable ? RetryableStepError : NonRetryableStepError;
    return new Kind(refusal.message, { ...refusal.details, url: call.url }, { cause: refusal });
  }
  if (timedOut) {
    return new RetryableStepError(`agent at ${call.host} timed out after ${timeoutMs / 1000}s`, { code: 'TIMEOUT', url: call.url }, { cause: error });
  }
  if (aborted) {
    return new RetryableStepError(`call to agent at ${call.host} was aborted`, { code: 'ABORTED', url: call.url }, { cause: error });
  }
  return new RetryableStepError(
    `could not reach agent at ${call.host}: ${call.redact(errorCode(error))}`,
    { code: 'NETWORK_ERROR', url: call.url },
    { cause: error },
  );
};

/** An error and its causes, outermost first (bounded: causes can form a cycle). */
export const causeChain = (error: unknown): unknown[] => {
  const chain: unknown[] = [];
  for (let current = error; current !== undefined && chain.length < 10; current = current instanceof Error ? current.cause : undefined) chain.push(current);
  return chain;
};

/** The most telling short description of a low-level error: its errno code when it has one. */
const errorCode = (error: unknown): string => {
  const inner = error instanceof Error && error.cause instanceof Error ? error.cause : error;
  if (inner instanceof Error) {
    const { code } = inner as Error & { code?: unknown };
    return typeof code === 'string' ? code : inner.message;
  }
  return String(inner);
};
