import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backoffSeconds, decideRetry, maxRetryDelaySeconds, parseRetryAfter } from '#shared/domain/retry';
import { NonRetryableStepError, RetryableStepError } from '#shared/domain/step-errors';
import { retryPolicy, type RetryPolicy } from '#shared/domain/workflow';

const policies = fc.record({
  maxAttempts: fc.integer({ min: 1, max: 20 }),
  backoffBaseSeconds: fc.double({ min: 0, max: 900, noNaN: true }),
  backoffCapSeconds: fc.double({ min: 0, max: 900, noNaN: true }),
  jitter: fc.constantFrom('full' as const, 'none' as const),
});
const attempts = fc.integer({ min: 1, max: 1000 });
// Math.random's range: [0, 1).
const randoms = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });

const policy = (overrides: Partial<RetryPolicy> = {}): RetryPolicy => retryPolicy.parse(overrides);

describe('backoffSeconds', () => {
  it('doubles from the base until the cap when jitter is off', () => {
    const steady = policy({ backoffBaseSeconds: 2, backoffCapSeconds: 30, jitter: 'none' });

    const delays = [1, 2, 3, 4, 5, 6].map((attempt) => backoffSeconds(steady, attempt));

    expect(delays).toEqual([2, 4, 8, 16, 30, 30]);
  });

  it('spreads the delay uniformly between zero and the capped backoff with full jitter', () => {
    const jittered = policy({ backoffBaseSeconds: 2, backoffCapSeconds: 30, jitter: 'full' });

    expect(backoffSeconds(jittered, 3, () => 0)).toBe(0);
    expect(backoffSeconds(jittered, 3, () => 0.5)).toBe(4);
    expect(backoffSeconds(jittered, 10, () => 0.5)).toBe(15);
  });

  it('always stays within [0, cap], even after very many attempts', () => {
    fc.assert(
      fc.property(policies, attempts, randoms, (anyPolicy, attempt, random) => {
        const delay = backoffSeconds(anyPolicy, attempt, () => random);

        expect(delay).toBeGreaterThanOrEqual(0);
        expect(delay).toBeLessThanOrEqual(anyPolicy.backoffCapSeconds);
      }),
    );
  });
});

describe('parseRetryAfter', () => {
  const now = new Date('2025-06-01T12:00:00Z');

  it('reads delta-seconds', () => {
    expect(parseRetryAfter('120', now)).toBe(120);
    expect(parseRetryAfter(' 0 ', now)).toBe(0);
  });

  it('reads an HTTP-date as the seconds until then, never negative', () => {
    expect(parseRetryAfter('Sun, 01 Jun 2025 12:00:30 GMT', now)).toBe(30);
    expect(parseRetryAfter('Sun, 01 Jun 2025 11:00:00 GMT', now)).toBe(0);
  });

  it('ignores an absent or unreadable header', () => {
    for (const value of [undefined, null, '', 'soon', '-5', '1.5', 'Sun, 99 Foo 2025']) {
      expect(parseRetryAfter(value, now)).toBeUndefined();
    }
  });

  it('never answers a negative or fractional number of seconds', () => {
    fc.assert(
      fc.property(fc.string(), (value) => {
        const seconds = parseRetryAfter(value, now);

        if (seconds !== undefined) expect(Number.isInteger(seconds) && seconds >= 0).toBe(true);
      }),
    );
  });
});

describe('decideRetry', () => {
  const throttled = (retryAfterSeconds?: number) =>
    new RetryableStepError('agent answered 429', { status: 429, ...(retryAfterSeconds === undefined ? {} : { retryAfterSeconds }) });

  it('retries a retryable failure while attempts remain', () => {
    const decision = decideRetry(policy({ maxAttempts: 3, jitter: 'none', backoffBaseSeconds: 1 }), 2, throttled());

    expect(decision).toEqual({ retry: true, delaySeconds: 2 });
  });

  it('never retries a non-retryable failure, and says why', () => {
    const decision = decideRetry(policy(), 1, new NonRetryableStepError('agent answered 400: bad input'));

    expect(decision).toEqual({ retry: false, reason: expect.stringContaining('agent answered 400: bad input') });
  });

  it('never retries after the last attempt', () => {
    fc.assert(
      fc.property(policies, fc.integer({ min: 0, max: 50 }), randoms, (anyPolicy, extra, random) => {
        const decision = decideRetry(anyPolicy, anyPolicy.maxAttempts + extra, throttled(), () => random);

        expect(decision.retry).toBe(false);
      }),
    );
  });

  it('waits at least as long as Retry-After asks', () => {
    const decision = decideRetry(policy({ jitter: 'none', backoffBaseSeconds: 1 }), 1, throttled(45));

    expect(decision).toEqual({ retry: true, delaySeconds: 45 });
  });

  it('keeps every delay within [0, 900], the longest SQS can hold a message back', () => {
    fc.assert(
      fc.property(policies, attempts, randoms, fc.option(fc.integer({ min: 0, max: 100_000 }), { nil: undefined }), (anyPolicy, attempt, random, retryAfter) => {
        const decision = decideRetry(anyPolicy, attempt, throttled(retryAfter), () => random);

        if (decision.retry) {
          expect(decision.delaySeconds).toBeGreaterThanOrEqual(Math.min(retryAfter ?? 0, maxRetryDelaySeconds));
          expect(decision.delaySeconds).toBeGreaterThanOrEqual(0);
          expect(decision.delaySeconds).toBeLessThanOrEqual(maxRetryDelaySeconds);
        }
      }),
    );
  });
});
