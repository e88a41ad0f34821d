import type { LlmUsageRecord } from './llm-usage';

/** What a step error says beyond its message (all safe to show: never a credential). */
export interface StepErrorDetails {
  code?: string;
  status?: number;
  retryAfterSeconds?: number;
  url?: string;
}

/**
 * How a step attempt failed, which decides what happens next: a retryable failure is tried
 * again with backoff while attempts remain; a non-retryable one fails the step at once.
 */
export class StepError extends Error {
  override name = 'StepError';
  /** Model calls the failed attempt made anyway (they were paid for): recorded with the failure. */
  readonly llmUsage: LlmUsageRecord[];
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly details: StepErrorDetails = {},
    options?: StepErrorOptions,
  ) {
    super(message, options);
    this.llmUsage = options?.llmUsage ?? [];
  }
}

export interface StepErrorOptions {
  cause?: unknown;
  llmUsage?: LlmUsageRecord[];
}

/** Throttles, 5xx, timeouts, network errors: try again later. */
export class RetryableStepError extends StepError {
  override name = 'RetryableStepError';
  constructor(message: string, details: StepError['details'] = {}, options?: StepErrorOptions) {
    super(message, true, details, options);
  }
}

/** Validation errors, 4xx, explicit refusals: retrying cannot help. */
export class NonRetryableStepError extends StepError {
  override name = 'NonRetryableStepError';
  constructor(message: string, details: StepError['details'] = {}, options?: StepErrorOptions) {
    super(message, false, details, options);
  }
}

/** Anything thrown that is not a StepError is treated as retryable (an unexpected crash). */
export const classify = (error: unknown): StepError =>
  error instanceof StepError
    ? error
    : new RetryableStepError(error instanceof Error ? error.message : String(error), {}, { cause: error });
