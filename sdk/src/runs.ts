import { unwrap, type BatonClient } from './client';
import { BatonTimeoutError } from './errors';
import { sleep } from './sleep';
import type { CreateRunBody, Event, RunDetail, RunStatus, StepDetail } from './types';

/** A run in one of these statuses is over. */
export const finalRunStatuses: readonly RunStatus[] = ['completed', 'failed', 'cancelled'];

/**
 * Whether a run has settled: it is over, or it waits for someone (blocked: retry or cancel;
 * paused: resume; a step in needs_qa: approve, reject or a webhook). A run created with
 * `start: false` stays `pending`, which is not settled: it waits for `actions/start`.
 */
export const isSettled = (run: RunDetail): boolean =>
  finalRunStatuses.includes(run.status) || run.status === 'blocked' || run.status === 'paused' || (run.steps.byStatus.needs_qa ?? 0) > 0;

export interface WaitOptions {
  /** Give up after this long with a BatonTimeoutError carrying the last run seen. Default 5 minutes. */
  timeoutMs?: number;
  /** When to stop waiting. Default: `isSettled`. */
  until?: (run: RunDetail) => boolean;
  /** The first pause between polls; it grows by `backoffFactor` up to `maxIntervalMs`. Defaults 250 ms, ×1.5, 5 s. */
  initialIntervalMs?: number;
  backoffFactor?: number;
  maxIntervalMs?: number;
  /** Called with every run read (progress display). */
  onPoll?: (run: RunDetail) => void;
  signal?: AbortSignal;
}

/** Reads the run until `until` holds (by default: over or waiting for someone), polling with backoff. */
export async function waitForRun(client: BatonClient, runId: string, options: WaitOptions = {}): Promise<RunDetail> {
  const { signal } = options;
  return pollUntil(
    () => unwrap(client.GET('/v1/runs/{runId}', { params: { path: { runId } }, ...(signal ? { signal } : {}) })),
    { ...options, until: options.until ?? isSettled },
    (run, timeoutMs) => `Run ${runId} is still ${run.status} after ${timeoutMs} ms`,
  );
}

export interface StepWaitOptions extends Omit<WaitOptions, 'until' | 'onPoll'> {
  /** When to stop waiting, e.g. `(step) => step.status === 'needs_qa'`. */
  until: (step: StepDetail) => boolean;
  onPoll?: (step: StepDetail) => void;
}

/**
 * Reads one step of a run until `until` holds, polling with backoff like `waitForRun`: e.g. an
 * approval step reaching `needs_qa` before it is approved.
 */
export async function waitForStep(client: BatonClient, runId: string, stepId: string, options: StepWaitOptions): Promise<StepDetail> {
  const { signal } = options;
  return pollUntil(
    () => unwrap(client.GET('/v1/runs/{runId}/steps/{stepId}', { params: { path: { runId, stepId } }, ...(signal ? { signal } : {}) })),
    options,
    (step, timeoutMs) => `Step ${stepId} of run ${runId} is still ${step.status} after ${timeoutMs} ms`,
  );
}

/** Reads until `until` holds or the time is up, pausing between reads with backoff. */
async function pollUntil<T>(
  read: () => Promise<T>,
  { timeoutMs = 300_000, until, initialIntervalMs = 250, backoffFactor = 1.5, maxIntervalMs = 5_000, onPoll, signal }: Omit<WaitOptions, 'until' | 'onPoll'> & { until: (value: T) => boolean; onPoll?: (value: T) => void },
  describe: (last: T, timeoutMs: number) => string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let interval = initialIntervalMs;
  for (;;) {
    signal?.throwIfAborted();
    const value = await read();
    onPoll?.(value);
    if (until(value)) return value;
    const left = deadline - Date.now();
    if (left <= 0) throw new BatonTimeoutError(describe(value, timeoutMs), value);
    await sleep(Math.min(interval, left), signal);
    interval = Math.min(interval * backoffFactor, maxIntervalMs);
  }
}

/**
 * Creates a run and waits for it (see `waitForRun`). With an `idempotencyKey`, calling again
 * after a lost answer waits for the same run instead of starting another.
 */
export async function createRunAndWait(
  client: BatonClient,
  { projectId, idempotencyKey, ...body }: CreateRunBody & { projectId: string; idempotencyKey?: string },
  options: WaitOptions = {},
): Promise<RunDetail> {
  const run = await unwrap(
    client.POST('/v1/projects/{projectId}/runs', {
      params: { path: { projectId }, header: idempotencyKey ? { 'idempotency-key': idempotencyKey } : {} },
      body,
    }),
  );
  return waitForRun(client, run.id, options);
}

export interface RunEventsOptions {
  /** Oldest first (default) or newest first. */
  order?: 'asc' | 'desc';
  /** Start after this event id (in the listing's order), e.g. the last one already shown. */
  after?: string;
  /** Events per request (the API allows up to 500). Default 100. */
  pageSize?: number;
  /**
   * Keep reading new events as they are written (oldest first only), polling every
   * `pollIntervalMs` (default 1 s), until the run is over (one more read after its final event
   * catches the stragglers) or `signal` aborts.
   */
  follow?: boolean;
  pollIntervalMs?: number;
  signal?: AbortSignal;
}

const finalRunEvents = new Set(finalRunStatuses.map((status) => `run.${status}`));
/**
 * Event ids are ULIDs made by different writers, whose clocks and commits are not in step: an
 * event may be committed just after a later-numbered one was read. Following re-reads the last
 * few seconds and skips what it has already yielded, so such an event is not missed.
 */
const followLookbackMs = 5_000;

/** A run's events, page by page; with `follow`, also those written afterwards. */
export async function* runEvents(client: BatonClient, runId: string, options: RunEventsOptions = {}): AsyncGenerator<Event, void, undefined> {
  const { order = 'asc', pageSize = 100, follow = false, pollIntervalMs = 1_000, signal } = options;
  if (follow && order !== 'asc') throw new Error('runEvents: follow reads oldest first (order "asc")');
  const readAll = async function* (after: string | undefined): AsyncGenerator<Event, void, undefined> {
    let cursor: string | undefined;
    do {
      signal?.throwIfAborted();
      const query = { order, limit: pageSize, ...(cursor ? { cursor } : after ? { after } : {}) };
      const page = await unwrap(client.GET('/v1/runs/{runId}/events', { params: { path: { runId }, query }, ...(signal ? { signal } : {}) }));
      yield* page.items;
      cursor = page.cursor;
    } while (cursor);
  };
  if (!follow) {
    yield* readAll(options.after);
    return;
  }
  const seen = new Map<string, number>();
  let after = options.after;
  let finalSeenAt: number | undefined;
  for (;;) {
    let newest: Event | undefined;
    for await (const event of readAll(after)) {
      newest = event;
      if (seen.has(event.id)) continue;
      seen.set(event.id, ulidTime(event.id));
      if (finalRunEvents.has(event.type)) finalSeenAt ??= Date.now();
      yield event;
    }
    if (finalSeenAt !== undefined && Date.now() - finalSeenAt >= pollIntervalMs) return;
    if (newest) {
      const from = ulidTime(newest.id) - followLookbackMs;
      after = ulidFromTime(from);
      for (const [id, time] of seen) if (time < from) seen.delete(id);
    }
    await sleep(pollIntervalMs, signal);
  }
}

const crockford = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** The millisecond time a ULID starts with (its first 10 characters); 0 for other ids. */
function ulidTime(id: string): number {
  if (!/^[0-9A-HJKMNP-TV-Z]{26}$/i.test(id)) return 0;
  let time = 0;
  for (const char of id.slice(0, 10).toUpperCase()) time = time * 32 + crockford.indexOf(char);
  return time;
}

/** The smallest ULID of a millisecond time: every event of that time or later sorts after it. */
function ulidFromTime(time: number): string {
  let encoded = '';
  let rest = Math.max(0, Math.floor(time));
  for (let index = 0; index < 10; index += 1) {
    encoded = crockford[rest % 32]! + encoded;
    rest = Math.floor(rest / 32);
  }
  return `${encoded}${'0'.repeat(16)}`;
}
