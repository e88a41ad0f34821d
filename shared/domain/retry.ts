import type { StepError } from '#shared/domain/step-errors';
import type { RetryPolicy } from '#shared/domain/workflow';

/**
 * Retry decisions for failed step attempts (DESIGN §3 invariant 5): retry only what may succeed
 * later, back off exponentially with jitter, and honour the target's Retry-After.
 */

/**
 * The longest delay a retry can be scheduled with: retries are re-enqueued on SQS with
 * DelaySeconds, whose maximum is 900 seconds (15 minutes).
 */
export const maxRetryDelaySeconds = 900;

/** Doubling beyond this is pointless (every cap is ≤ 900 s) and would overflow to Infinity. */
const maxDoublings = 30;

/** Delay before the retry that follows failed attempt `attempt` (1-based): `base·2^(attempt-1)`, capped, optionally fully jittered. */
export const backoffSeconds = (policy: RetryPolicy, attempt: number, random: () => number = Math.random): number => {
  const doublings = Math.min(Math.max(Math.floor(attempt) - 1, 0), maxDoublings);
  const capped = Math.min(policy.backoffBaseSeconds * 2 ** doublings, policy.backoffCapSeconds);
  if (policy.jitter === 'none') return capped;
  // Full jitter spreads retries of many steps failing together (AWS Architecture Blog, "Exponential Backoff And Jitter").
  return clamp(random() * capped, 0, capped);
};

const deltaSeconds = /^\d+$/;
// HTTP-dates (IMF-fixdate, RFC 850, asctime) all start with a day name; checking it keeps
// Date.parse's leniency from turning junk such as "1.5" into a date.
const httpDate = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*,?\s/;

/** Seconds to wait according to a Retry-After header (delta-seconds or HTTP-date); never negative, undefined when absent or unreadable. */
export const parseRetryAfter = (value: string | null | undefined, now: Date): number | undefined => {
  const text = value?.trim();
  if (!text) return undefined;
  if (deltaSeconds.test(text)) return Number(text);
  if (!httpDate.test(text)) return undefined;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, Math.ceil((at - now.getTime()) / 1000));
};

export type RetryDecision = { retry: true; delaySeconds: number } | { retry: false; reason: string };

/**
 * Whether a step whose attempt `attempt` failed with `error` is tried again, and after how long.
 * The delay may be fractional: round it up when it becomes an SQS DelaySeconds.
 */
export const decideRetry = (
  policy: RetryPolicy,
  attempt: number,
  error: StepError,
  random: () => number = Math.random,
): RetryDecision => {
  if (!error.retryable) return { retry: false, reason: `not retryable: ${error.message}` };
  if (attempt >= policy.maxAttempts) {
    return { retry: false, reason: `gave up after ${attempt} of ${policy.maxAttempts} attempts: ${error.message}` };
  }
  // The target knows best when it can take more work: never retry sooner than it asked.
  const asked = error.details.retryAfterSeconds;
  const delay = Math.max(backoffSeconds(policy, attempt, random), asked !== undefined && asked > 0 ? asked : 0);
  return { retry: true, delaySeconds: Math.min(delay, maxRetryDelaySeconds) };
};

const clamp = (value: number, min: number, max: number): number => Math.min(Math.max(value, min), max);
