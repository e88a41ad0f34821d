import { z } from 'zod';

/**
 * A big run's start, done in the background (shared/engine/start-job.ts): queue its roots a
 * batch at a time (`queue`, the run still pending), then move it and send their messages a batch
 * at a time (`send`); `after` is the last root id the previous job got to.
 */
export const startJob = z.strictObject({
  actor: z.string().min(1),
  phase: z.enum(['queue', 'send']),
  after: z.string().min(1).optional(),
});
export type StartJob = z.infer<typeof startJob>;

/** The step id a start job's message carries: no step can have it (step ids start with a letter or digit). */
export const startJobStepId = '@start';

/**
 * The step queue's message: "try to run attempt `attempt + 1` of this step"; with `start`, a
 * step of its run's background start instead (stepId `@start`).
 */
export const stepMessage = z.strictObject({
  runId: z.string().min(1),
  stepId: z.string().min(1),
  /** Attempts already started when the message was sent; the claim expects exactly this. */
  attempt: z.number().int().min(0),
  start: startJob.optional(),
  /**
   * The `x-request-id` of the API request that started or acted on the run, carried from step to
   * step (shared/clients/step-dispatcher.ts stamps it): the correlation id of the step's log lines.
   */
  requestId: z.string().min(1).max(128).optional(),
});
export type StepMessage = z.infer<typeof stepMessage>;

/**
 * The keys of a step message's log lines and trace: its run and step, the attempt it runs (the
 * one its step events name: attempts already started + 1) and the request that caused it.
 */
export const stepMessageCorrelation = (message: StepMessage) => ({
  runId: message.runId,
  stepId: message.stepId,
  attempt: message.attempt + 1,
  ...(message.requestId ? { requestId: message.requestId } : {}),
});
