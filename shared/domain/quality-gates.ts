import { z } from 'zod';
import { applyGuidance } from './guidance';
import { boundedJson } from './json-limits';

/**
 * Quality gates (issue 12 §2): after a step executes, a reviewer scores its output 0-100; at or
 * above the threshold the step completes, below it `onBelow` decides. Pure rules here: the
 * policy's schema, which policy a step is held to, how a score is read from a reviewer's output,
 * and the verdict. The lifecycle part is shared/engine/quality-gates.ts.
 */

/** The kinds a reviewer may be: the ones that can call a model or an agent and answer a score. */
export const reviewerKinds = ['llm', 'http', 'lambda'] as const;

/** Kinds that never execute work of their own to review (they wait, or only wait for time). */
export const ungatedKinds: readonly string[] = ['approval', 'webhook', 'wait'];

/** The kinds a project's default policy applies to: the ones that run agents or models ("auto QA after execution"). */
export const defaultGatedKinds: readonly string[] = ['llm', 'http', 'lambda'];

/** The dependency name under which a reviewer sees the output it reviews (`{{dependencies.output}}`). */
export const reviewedOutputName = 'output';

export const reviewerSpec = z.strictObject({
  kind: z.enum(reviewerKinds),
  /** The kind's input, as in a StepSpec; the reviewed output is its dependency `output` (and the step's own id). */
  input: boundedJson(32 * 1024).optional(),
  /** Seconds the reviewer may take (the stage's limit for running kinds applies). */
  timeoutSeconds: z.number().int().min(1).max(900).optional(),
});
export type ReviewerSpec = z.infer<typeof reviewerSpec>;

export const qaPolicy = z
  .strictObject({
    reviewer: z
      .union([z.literal('human'), reviewerSpec], { error: () => 'must be "human" or a step spec {kind, input, timeoutSeconds?} of kind llm, http or lambda' })
      .meta({ description: '"human" (a person scores or approves), or a step spec of kind llm, http or lambda whose output is {score: 0-100, comment}' }),
    threshold: z.number().int().min(0).max(100).default(60),
    onBelow: z.enum(['pause', 'retry', 'fail']).default('pause'),
    /** onBelow retry: how many times the step runs again with the reviewer's comment before it pauses for a person. */
    maxRetries: z.number().int().min(0).max(10).default(1),
  });
export type QaPolicy = z.infer<typeof qaPolicy>;

/** Where a gate is, kept on the step while it has one (the API shows it as `gate`). */
export interface GateState {
  policy: QaPolicy;
  /** The step's own `qa`, or the project's default. */
  from: 'step' | 'project';
  /**
   * `reviewing`: the automatic reviewer runs (or is due); `waiting`: a human reviewer's step waits
   * for a person; `paused`: scored below the threshold, waits for a person (approve, reject, re-run);
   * `retrying`: running again with the reviewer's comment.
   */
  state: 'reviewing' | 'waiting' | 'paused' | 'retrying';
  /** Bumped by every write of the gate: each write is conditional on the round it read. */
  round: number;
  /** QA retries used so far (onBelow retry). */
  retries: number;
  /** The latest review. */
  score?: number;
  comment?: string;
  /** Why the latest review gave no score (the reviewer failed or answered no score). */
  error?: string;
}

/** The policy a step is held to: its own, else the project's default for the kinds it covers; none for kinds that execute nothing. */
export const gatePolicyOf = (step: { kind: string; qa?: QaPolicy }, projectDefault: QaPolicy | undefined): { policy: QaPolicy; from: 'step' | 'project' } | undefined => {
  if (ungatedKinds.includes(step.kind)) return undefined;
  if (step.qa) return { policy: step.qa, from: 'step' };
  return projectDefault && defaultGatedKinds.includes(step.kind) ? { policy: projectDefault, from: 'project' } : undefined;
};

/** What a reviewer said: its score (a whole number 0-100) and comment. */
export interface Review {
  score: number;
  comment?: string;
}

const asReview = (value: unknown): Review | undefined => {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const { score, comment } = value as { score?: unknown; comment?: unknown };
  const number = typeof score === 'string' && /^\s*\d{1,3}(\.\d+)?\s*$/.test(score) ? Number(score) : score;
  if (typeof number !== 'number' || !Number.isFinite(number) || number < 0 || number > 100) return undefined;
  return { score: Math.round(number), ...(typeof comment === 'string' && comment ? { comment: comment.slice(0, 2000) } : {}) };
};

/**
 * The score in a reviewer's output: `{score, comment}` itself (lambda and http agents), an llm
 * step's `json`, or its `text` holding that JSON (possibly among other words) or a `score: 72`.
 * Undefined when none is there.
 */
export function reviewOf(output: unknown): Review | undefined {
  const direct = asReview(output);
  if (direct) return direct;
  if (output === null || typeof output !== 'object') return undefined;
  const { json, text } = output as { json?: unknown; text?: unknown };
  const fromJson = asReview(json);
  if (fromJson) return fromJson;
  if (typeof text !== 'string') return undefined;
  const object = text.match(/\{[\s\S]*\}/)?.[0];
  if (object) {
    try {
      const parsed = asReview(JSON.parse(object));
      if (parsed) return parsed;
    } catch {
      // Not JSON: look for "score: N" below.
    }
  }
  const labelled = text.match(/\bscore\b["']?\s*[:=]\s*(\d{1,3})\b/i);
  return labelled ? asReview({ score: Number(labelled[1]), comment: text.trim() }) : undefined;
}

export type Verdict = 'pass' | 'pause' | 'retry' | 'fail';

/**
 * What a score decides: at or above the threshold the step passes; below it `onBelow`, where a
 * `retry` whose retries are used up pauses for a person (who approves, rejects or re-runs it).
 */
export const verdictOf = (policy: QaPolicy, score: number, retriesUsed: number): Verdict => {
  if (score >= policy.threshold) return 'pass';
  if (policy.onBelow === 'retry') return retriesUsed < policy.maxRetries ? 'retry' : 'pause';
  return policy.onBelow;
};

/** The note a QA retry adds to the step's input (through its kind's guidance slot). */
export const reviewNote = (review: Review, policy: QaPolicy): string =>
  `the reviewer scored the previous output ${review.score}/100 (threshold ${policy.threshold})${review.comment ? `: ${review.comment}` : ''}`;

/** The step's input with the reviewer's comment added where its kind reads guidance; unchanged when it has no place for it. */
export const inputWithReview = (kind: string, input: unknown, note: string): { input: unknown; guided: boolean } => {
  const guided = applyGuidance(kind, input, note);
  return guided === undefined ? { input, guided: false } : { input: guided, guided: true };
};
