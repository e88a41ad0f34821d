import { describe, expect, it, vi } from 'vitest';
import { RetryableStepError } from '#shared/domain/step-errors';
import { createCrashExecutor } from '#shared/executors/crash';
import type { StepContext } from '#shared/executors/types';
import { stepContext } from '#test/fixtures/step-context';

const context = (attempt: number): StepContext => stepContext({ stepId: 'fragile', attempt, idempotencyKey: 'run_1:fragile:1' });

describe('crash executor', () => {
  it('kills its worker on attempts before crashUntilAttempt, never completing them', async () => {
    const kill = vi.fn();
    const executor = createCrashExecutor(kill);

    await expect(executor.run({ crashUntilAttempt: 3 }, context(1))).rejects.toBeInstanceOf(RetryableStepError);
    await expect(executor.run({ crashUntilAttempt: 3 }, context(2))).rejects.toBeInstanceOf(RetryableStepError);

    expect(kill).toHaveBeenCalledTimes(2);
  });

  it('completes from attempt crashUntilAttempt on, saying which attempt survived', async () => {
    const kill = vi.fn();
    const executor = createCrashExecutor(kill);

    const outcome = await executor.run({ crashUntilAttempt: 3 }, context(3));

    expect(outcome).toEqual({ status: 'completed', output: { survivedAttempt: 3, idempotencyKey: 'run_1:fragile:1' } });
    expect(kill).not.toHaveBeenCalled();
  });

  it('accepts only a whole, non-negative crashUntilAttempt', () => {
    const { input } = createCrashExecutor(vi.fn());

    expect(input.safeParse({ crashUntilAttempt: 0 }).success).toBe(true);
    expect(input.safeParse({ crashUntilAttempt: -1 }).success).toBe(false);
    expect(input.safeParse({ crashUntilAttempt: 1.5 }).success).toBe(false);
    expect(input.safeParse({ crashUntilAttempt: 1, extra: true }).success).toBe(false);
  });
});
