import { z } from 'zod';
import { boundedJson } from '#shared/domain/json-limits';
import type { StepKind } from '#shared/executors/types';

export const workflowStepInput = z.strictObject({
  /** A workflow of the same project. */
  workflowId: z.string().regex(/^wf_[0-9a-z]{26}$/, 'must be a workflow id (wf_…)'),
  /** The latest version when the child run is created, when absent. */
  version: z.number().int().min(1).max(1_000_000).optional(),
  /** The child run's input (what a run's input may be: at most 64 KB of JSON). */
  input: boundedJson(64 * 1024).optional(),
});
export type WorkflowStepInput = z.infer<typeof workflowStepInput>;

/**
 * `workflow` (a sub-workflow): starts a run of another workflow of the project and waits for it
 * without holding a Lambda, completing with the child's sink outputs or failing with its reason.
 * The validation half; the executor (shared/engine/sub-workflows.ts) is the step worker's.
 */
export const workflowKind: StepKind<WorkflowStepInput> = { kind: 'workflow', input: workflowStepInput };
