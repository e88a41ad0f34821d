import { z } from 'zod';
import type { Executor } from '#shared/executors/types';

export const waitInput = z
  .strictObject({
    /** Wait this long after the step is released (its dependencies done). */
    seconds: z.number().int().min(1).max(366 * 24 * 3600).optional(),
    /** Or until this instant. */
    until: z.iso.datetime({ offset: true }).optional(),
  })
  .refine((input) => (input.seconds === undefined) !== (input.until === undefined), { message: 'give exactly one of seconds or until' });
export type WaitInput = z.infer<typeof waitInput>;

/**
 * When a released `wait` step may run: the engine stores it as the step's not-before time, so
 * the waiting happens in the queue (short waits) or the timers index (long ones), never in a
 * sleeping Lambda. Undefined when the input is not a valid wait.
 */
export const waitNotBefore = (input: unknown, releasedAt: Date): string | undefined => {
  const parsed = waitInput.safeParse(input);
  if (!parsed.success) return undefined;
  if (parsed.data.until) return new Date(parsed.data.until).toISOString();
  return new Date(releasedAt.getTime() + parsed.data.seconds! * 1000).toISOString();
};

/** `wait`: by the time it runs its time has come (the engine held it until then); completes at once. */
export const waitExecutor: Executor<WaitInput> = {
  kind: 'wait',
  input: waitInput,
  ignoresDependencyOutputs: true,
  async run(_input, context) {
    return { status: 'completed', output: { waitedUntil: new Date().toISOString(), attempt: context.attempt } };
  },
};
