import { z } from 'zod';
import { RetryableStepError } from '#shared/domain/step-errors';
import type { Executor } from '#shared/executors/types';

/**
 * TEST-ONLY `crash`: kills the worker process mid-step on early attempts, to prove that a worker
 * dying between claim and outcome loses nothing (stale lease → redelivery → DLQ when it keeps
 * dying). The registry offers it only when test kinds are asked for.
 */
const crashInput = z.strictObject({
  /** Attempts numbered below this crash the worker; this attempt and later ones complete. */
  crashUntilAttempt: z.number().int().min(0),
});
export type CrashInput = z.infer<typeof crashInput>;

/** Kills the current process the way an out-of-memory or a Lambda timeout would: no cleanup, no outcome. */
export const killOwnProcess = (): void => {
  process.kill(process.pid, 'SIGKILL');
};

/** Builds the crash executor; `kill` is injectable so unit tests survive it. */
export const createCrashExecutor = (kill: () => void = killOwnProcess): Executor<CrashInput> => ({
  kind: 'crash',
  input: crashInput,
  async run({ crashUntilAttempt }, context) {
    if (context.attempt < crashUntilAttempt) {
      kill();
      // Reached only when the kill was replaced (unit tests): the attempt must still not complete.
      throw new RetryableStepError(`crash executor killed its worker on attempt ${context.attempt}`);
    }
    // The key shows that a takeover after a crash is the same execution (DESIGN §3.2).
    return { status: 'completed', output: { survivedAttempt: context.attempt, idempotencyKey: context.idempotencyKey } };
  },
});

export const crashExecutor = createCrashExecutor();
