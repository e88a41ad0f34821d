import { z } from 'zod';
import type { Executor } from '#shared/executors/types';

/** `noop`: completes at once with its input as output (tests, demos, plan steps with nothing to run). */
export const noopExecutor: Executor = {
  kind: 'noop',
  input: z.unknown(),
  ignoresDependencyOutputs: true,
  async run(input) {
    return { status: 'completed', output: input ?? null };
  },
};
