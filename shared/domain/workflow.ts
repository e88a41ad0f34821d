import { z } from 'zod';
import { budget, estimate } from './budgets';
import { concurrency, priority, rate } from './capacity';
import { ValidationError } from './errors';
import { boundedJson } from './json-limits';
import { loopSpec } from './loops';
import { qaPolicy } from './quality-gates';
import { callbackKinds, defaultCallbackTimeoutSeconds, maxCallbackTimeoutSeconds } from './callbacks';
import { text } from './text';

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

/**
 * Kinds whose step waits in needs_qa for someone or something: their `timeoutSeconds` is how
 * long they may wait (a deadline the sweeper enforces), not how long they may run.
 */
export const waitingKinds: readonly string[] = ['approval', 'webhook'];
/** The longest a waiting kind may wait. */
export const maxWaitSeconds = 30 * 24 * 3600;

export const stepSpec = z.strictObject({
  id: z.string().regex(stepIdPattern, 'must be 1-64 letters, digits, "_", "." or "-", starting with a letter or digit'),
  kind: z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/, 'must be an executor kind such as noop, http or approval'),
  /** At most 32 KB of JSON: larger data belongs in an artifact or the run's input. */
  input: boundedJson(32 * 1024).optional(),
  dependsOn: z.array(z.string()).max(100).default([]),
  retry: retryPolicy.optional(),
  /**
   * Running kinds: seconds per attempt, at most what one worker invocation of the deployed stage
   * can honour (checked against the stage: assertStepTimeouts). Waiting kinds: how long the wait
   * may last (up to 30 days).
   */
  timeoutSeconds: z.number().int().min(1).max(maxWaitSeconds).optional(),
  /**
   * What a failure for good (the last attempt, a rejection, a dead letter) does: `fail` (the
   * default) blocks the run; `continue` makes the step optional: it ends failed, its dependents
   * run with `dependencies.<id> = {failed: true, error}`, and the run completes `degraded`.
   */
  onFailure: z.enum(['fail', 'continue']).optional(),
  /** http and lambda steps whose agent answers "pending": how long to wait for its callback (default 1 day, up to 30 days). */
  callbackTimeoutSeconds: z.number().int().min(1).max(maxCallbackTimeoutSeconds).optional(),
  /** With it, a pending agent must POST its heartbeat URL at least this often, or the attempt times out (and is retried). */
  heartbeatSeconds: z.number().int().min(1).max(maxCallbackTimeoutSeconds).optional(),
  /** ISO-8601 instant before which the step is not dispatched (plan CSV date gating). */
  notBefore: z.iso.datetime({ offset: true }).optional(),
  /** Already done when the run is created (plan CSV status `Done`): recorded completed, never run. */
  done: z.boolean().optional(),
  /** Free-form labels carried from imports (plan CSV theme, deliverable…); shown, never interpreted. */
  labels: z.record(z.string(), z.string()).optional(),
  /** This step's own budget, over all its attempts (README "Budgets"). */
  budget: budget.optional(),
  /** What an agent step (http, lambda) may spend at most in one attempt: its worst case under strict budgets. */
  estimate: estimate.optional(),
  /** A quality gate after execution (README "Quality gates"): a reviewer scores the output; below the threshold `onBelow` decides. */
  qa: qaPolicy.optional(),
  /** At most `limit` steps with this key run at once across the project's runs (README "Fair capacity"). */
  concurrency: concurrency.optional(),
  /** At most `perSecond` starts a second of steps with this key across the project's runs (README "Fair capacity"). */
  rate: rate.optional(),
  /** Overrides the run's priority for this step when it waits for a slot. */
  priority: priority.optional(),
  /** A bounded loop ending at this step (README "Loops"): its body runs again until `until` holds, at most `maxIterations` times. */
  loop: loopSpec.optional(),
});
export type StepSpec = z.infer<typeof stepSpec>;

/**
 * Refuses a running kind's `timeoutSeconds` beyond `maxRunSeconds`, the stage's limit (one worker
 * invocation, less its lease margin and start-up): 400 naming `<where>[i].timeoutSeconds`.
 */
export function assertStepTimeouts(steps: readonly Pick<StepSpec, 'kind' | 'timeoutSeconds'>[], maxRunSeconds: number, where = 'body.steps'): void {
  steps.forEach((step, index) => {
    if (step.timeoutSeconds === undefined || step.timeoutSeconds <= maxRunSeconds || waitingKinds.includes(step.kind)) return;
    const field = `${where}[${index}].timeoutSeconds`;
    throw new ValidationError(
      `${field} must be at most ${maxRunSeconds} for a ${step.kind} step on this deployment (an attempt runs within one worker invocation); only ${waitingKinds.join(' and ')} steps may wait longer (up to ${maxWaitSeconds} s)`,
      field,
    );
  });
}

/**
 * Refuses callback settings on a kind whose agent cannot answer "pending", and a heartbeat
 * interval longer than the whole wait: 400 naming `<where>[i].<field>`.
 */
export function assertCallbackSettings(steps: readonly Pick<StepSpec, 'kind' | 'callbackTimeoutSeconds' | 'heartbeatSeconds'>[], where = 'body.steps'): void {
  steps.forEach((step, index) => {
    for (const name of ['callbackTimeoutSeconds', 'heartbeatSeconds'] as const) {
      if (step[name] !== undefined && !callbackKinds.includes(step.kind)) {
        const field = `${where}[${index}].${name}`;
        throw new ValidationError(`${field}: only ${callbackKinds.join(' and ')} steps wait for callbacks`, field);
      }
    }
    if (step.heartbeatSeconds !== undefined && step.heartbeatSeconds > (step.callbackTimeoutSeconds ?? defaultCallbackTimeoutSeconds)) {
      const field = `${where}[${index}].heartbeatSeconds`;
      throw new ValidationError(`${field} must not exceed callbackTimeoutSeconds (${step.callbackTimeoutSeconds ?? defaultCallbackTimeoutSeconds} s)`, field);
    }
  });
}

/** A workflow holds at most this many steps (issue 13 §6: 10,000 static steps; docs/ARCHITECTURE.md "Bigger runs"). */
export const maxStepsPerWorkflow = 10_000;

export const workflowBody = z.strictObject({
  name: text(1, 100),
  description: text(0, 1000).optional(),
  steps: z.array(stepSpec).min(1, 'must have at least one step').max(maxStepsPerWorkflow),
});
export type WorkflowBody = z.infer<typeof workflowBody>;
