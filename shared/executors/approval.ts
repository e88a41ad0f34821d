import { z } from 'zod';
import type { Executor } from '#shared/executors/types';

const approvalInput = z
  .strictObject({
    /** Shown to whoever approves: what they are asked to check. */
    prompt: z.string().max(1000).optional(),
  })
  // A bare `{ kind: approval }` step is common: no input means no prompt.
  .default({});
export type ApprovalInput = z.infer<typeof approvalInput>;

/** `approval`: waits (in needs_qa) until someone approves or rejects the step through the API. */
export const approvalExecutor: Executor<ApprovalInput> = {
  kind: 'approval',
  input: approvalInput,
  ignoresDependencyOutputs: true,
  async run({ prompt }) {
    return { status: 'waiting', reason: prompt ? `awaiting approval: ${prompt}` : 'awaiting approval' };
  },
};
