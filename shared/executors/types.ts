import type { z } from 'zod';

/** What an executor is told about the step attempt it performs. */
export interface StepContext {
  projectId: string;
  runId: string;
  stepId: string;
  attempt: number;
  /** `runId:stepId:attempt`: send it with every side effect so a repeat can be recognised. */
  idempotencyKey: string;
  /** The run's input, as given at run creation. */
  runInput: unknown;
  /** Outputs of the step's direct dependencies, by step id (large ones already fetched from S3). */
  dependencyOutputs: Record<string, unknown>;
  /** Milliseconds the attempt may still take before it counts as timed out. */
  deadlineMs: number;
  /** True on the local stage: loopback and private targets are allowed (test agents live there). */
  allowPrivateTargets: boolean;
  signal: AbortSignal;
}

export interface StepArtifact {
  name: string;
  contentType: string;
  body: string | Uint8Array;
}

export interface StepUsage {
  tokens?: { input?: number; output?: number };
  costUsd?: number;
}

/**
 * What an executor may return:
 * - `completed`: the step is done, with its output (and optional artifacts and usage);
 * - `waiting`: the step waits for something outside (an approval, a webhook); it is completed
 *   or failed later by an action, not by the worker.
 * Failures are thrown as StepError (shared/domain/step-errors.ts).
 */
export type StepOutcome =
  | { status: 'completed'; output: unknown; artifacts?: StepArtifact[]; usage?: StepUsage }
  | { status: 'waiting'; reason: string };

/** One step kind: a plugin. Its input schema is checked when a workflow is created. */
export interface Executor<Input = unknown> {
  kind: string;
  input: z.ZodType<Input>;
  run(input: Input, context: StepContext): Promise<StepOutcome>;
}
