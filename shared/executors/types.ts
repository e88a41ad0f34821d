import type { z } from 'zod';
import type { LlmUsageRecord } from '#shared/domain/llm-usage';
import type { SecretRef } from '#shared/domain/secrets';
import type { ProjectSettings } from '#shared/schemas/projects';

/** What an executor is told about the step attempt it performs. */
export interface StepContext {
  projectId: string;
  runId: string;
  stepId: string;
  attempt: number;
  /**
   * Executions of this step so far (1 for the first); only a person's retry with a new input
   * (or a re-run) raises it. Every attempt of one execution shares it.
   */
  generation: number;
  /**
   * `runId:stepId:generation`: the same for every attempt of one execution (DESIGN §3.2), so an
   * agent that did the work but lost its reply recognises the retry. Send it with every side effect.
   */
  idempotencyKey: string;
  /** The run's input, as given at run creation. */
  runInput: unknown;
  /** Outputs of the step's direct dependencies, by step id (large ones already fetched from S3). */
  dependencyOutputs: Record<string, unknown>;
  /** Milliseconds the attempt may still take before it counts as timed out. */
  deadlineMs: number;
  /** True on the local stage: loopback and private targets are allowed (test agents live there). */
  allowPrivateTargets: boolean;
  /** The project's settings, read by the worker (cached for about 30 s, so a change applies within that). */
  projectSettings: ProjectSettings;
  /**
   * The value of a project secret, resolved inside the worker at the moment of the call. Never
   * log it, put it in an output, an event or an error message.
   */
  resolveSecret(ref: SecretRef): Promise<string>;
  /** Where an agent that answers "pending" reports later (kinds that can wait for a callback only). */
  callback?: { url: string; heartbeatUrl: string };
  signal: AbortSignal;
}

export interface StepArtifact {
  name: string;
  contentType: string;
  body: string | Uint8Array;
}

/** One model call (defined with the rules that price and sum it). */
export type { LlmUsageRecord } from '#shared/domain/llm-usage';

export interface StepUsage {
  tokens?: { input?: number; output?: number };
  costUsd?: number;
  /** One record per model call (llm steps, agents that report their calls). */
  llm?: LlmUsageRecord[];
  /** http steps with `cache`: whether the reply came from the cache (a fresh entry or a 304) or from a full call. */
  cache?: { hits: number; misses: number };
}

/**
 * What an executor may return:
 * - `completed`: the step is done, with its output (and optional artifacts and usage);
 * - `waiting`: the step waits for something outside (an approval, a webhook); it is completed
 *   or failed later by an action, not by the worker;
 * - `pending`: an agent accepted the work and will report through `context.callback`; the step
 *   holds no Lambda meanwhile.
 * Failures are thrown as StepError (shared/domain/step-errors.ts).
 */
export type StepOutcome =
  | { status: 'completed'; output: unknown; artifacts?: StepArtifact[]; usage?: StepUsage }
  | { status: 'waiting'; reason: string }
  | { status: 'pending'; usage?: StepUsage };

/**
 * What validating a step of one kind needs: its input schema and the checks the schema cannot
 * make. Light on purpose (zod and pure rules): every function that validates workflows loads it.
 */
export interface StepKind<Input = unknown> {
  kind: string;
  input: z.ZodType<Input>;
  /**
   * Checks what the input schema alone cannot, against the rest of the step (e.g. that a template
   * refers only to the step's dependencies); returns the first problem with its path in the input.
   */
  checkStep?(input: Input, step: { dependsOn: string[] }): { path: Array<string | number>; message: string } | undefined;
}

/**
 * One step kind that can run: a plugin. Its input schema is checked when a workflow is created;
 * `run` (with whatever clients it needs) is loaded by the step worker only.
 */
export interface Executor<Input = unknown> extends StepKind<Input> {
  run(input: Input, context: StepContext): Promise<StepOutcome>;
  /**
   * The kind never looks at `context.dependencyOutputs`: the worker does not read the
   * dependencies' items for it (an eventually consistent read per dependency per step, the
   * biggest read of a noop chain: docs/ARCHITECTURE.md, "Reads per step") and passes `{}`.
   */
  ignoresDependencyOutputs?: boolean;
}
