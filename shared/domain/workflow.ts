import { z } from 'zod';

/**
 * Workflow definitions: the StepSpec every step is declared with, and the workflow body the API
 * accepts (JSON or YAML). Pure schema; DAG checks live in dag.ts.
 */
export const stepIdPattern = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export const retryPolicy = z.strictObject({
  /** Total attempts, the first included. */
  maxAttempts: z.number().int().min(1).max(20).default(3),
  backoffBaseSeconds: z.number().min(0).max(900).default(1),
  backoffCapSeconds: z.number().min(0).max(900).default(60),
  jitter: z.enum(['full', 'none']).default('full'),
});
export type RetryPolicy = z.infer<typeof retryPolicy>;
export const defaultRetryPolicy: RetryPolicy = retryPolicy.parse({});

export const stepSpec = z.strictObject({
  id: z.string().regex(stepIdPattern, 'must be 1-64 letters, digits, "_", "." or "-", starting with a letter or digit'),
  kind: z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/, 'must be an executor kind such as noop, http or approval'),
  input: z.unknown().optional(),
  dependsOn: z.array(z.string()).max(100).default([]),
  retry: retryPolicy.optional(),
  timeoutSeconds: z.number().int().min(1).max(900).optional(),
  /** ISO-8601 instant before which the step is not dispatched (plan CSV date gating). */
  notBefore: z.iso.datetime({ offset: true }).optional(),
  /** Already done when the run is created (plan CSV status `Done`): recorded completed, never run. */
  done: z.boolean().optional(),
  /** Free-form labels carried from imports (plan CSV theme, deliverable…); shown, never interpreted. */
  labels: z.record(z.string(), z.string()).optional(),
});
export type StepSpec = z.infer<typeof stepSpec>;

export const maxStepsPerWorkflow = 1000;

export const workflowBody = z.strictObject({
  name: z.string().trim().min(1, 'must not be empty').max(100),
  description: z.string().max(1000).optional(),
  steps: z.array(stepSpec).min(1, 'must have at least one step').max(maxStepsPerWorkflow),
});
export type WorkflowBody = z.infer<typeof workflowBody>;
