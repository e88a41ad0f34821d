import { BatonApiError, unwrap, type BatonClient, type RunStatus } from '#sdk';
import { TransportError } from './errors';
import { progressOf, type RunProgress } from './format';
import { ownSteps } from './step-lists';
import type { ProgressDisplay } from './progress';

/** Where watching stops: the run is over, or blocked until someone retries or cancels it. */
export const endStatuses: readonly RunStatus[] = ['completed', 'blocked', 'failed', 'cancelled'];

export interface WatchOptions {
  intervalMs: number;
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  now: () => number;
  signal?: AbortSignal;
  /** Consecutive failed polls (network, 429, 5xx) tolerated before giving up. */
  maxFailures?: number;
}

/**
 * Polls a run and its steps until it stops moving, showing each state on `display`. A paused
 * run or a step waiting for approval keeps the watch going (it says so): they end by someone's
 * action. Passing blips (the network, 429, 5xx) are retried, a few in a row at most.
 */
export async function watchRun(client: BatonClient, runId: string, display: ProgressDisplay, options: WatchOptions): Promise<RunProgress> {
  const { intervalMs, sleep, now, signal, maxFailures = 5 } = options;
  let failures = 0;
  try {
    for (;;) {
      let progress: RunProgress;
      try {
        const [run, steps] = await Promise.all([unwrap(client.GET('/v1/runs/{runId}', { params: { path: { runId } } })), ownSteps(client, runId)]);
        progress = progressOf(run, steps, now());
        failures = 0;
      } catch (error) {
        failures += 1;
        if (!passing(error) || failures > maxFailures) throw error;
        await sleep(error instanceof BatonApiError && error.retryAfter ? error.retryAfter * 1000 : intervalMs * 2 ** failures, signal);
        continue;
      }
      display.update(progress);
      if (endStatuses.includes(progress.status)) {
        display.finish(progress);
        return progress;
      }
      await sleep(intervalMs, signal);
    }
  } catch (error) {
    display.abort();
    throw error;
  }
}

const passing = (error: unknown) => error instanceof TransportError || (error instanceof BatonApiError && (error.status === 429 || error.status >= 500));
