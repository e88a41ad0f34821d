/**
 * Baton's own metrics, defined once: the engine and the functions record them through a
 * MetricsRecorder (EngineDeps.metrics), the Powertools adapter writes them as CloudWatch EMF
 * (shared/middleware/baton-metrics.ts), the dashboard graphs them (infra/stacks/operations-stack.ts)
 * and README "Operating Baton" lists them. Dimensions are low-cardinality only: `stage` on every
 * line, plus at most one of these (a step kind, a reason code, a status class, a provider); never a
 * run, step or project id, which would make every run a custom metric of its own.
 */
export type MetricDimension = 'kind' | 'reason' | 'statusClass' | 'provider';

export interface MetricDefinition {
  unit: 'Count' | 'Milliseconds';
  /** The dimension besides `stage` (none: the stage's total). */
  dimension?: MetricDimension;
  /** What one data point means (README's table). */
  meaning: string;
}

export const batonMetrics = {
  StepsStarted: { unit: 'Count', dimension: 'kind', meaning: 'A step attempt was claimed and started (takeovers included).' },
  StepsCompleted: { unit: 'Count', dimension: 'kind', meaning: 'A step completed (by its worker, a callback, an approval or a review).' },
  StepsFailed: { unit: 'Count', dimension: 'kind', meaning: 'A step failed for good (no retry left, a rejection, a dead letter, a timeout past its deadline).' },
  StepsRetried: { unit: 'Count', dimension: 'kind', meaning: 'A failed attempt was queued again with its backoff.' },
  StepsDeadLettered: { unit: 'Count', dimension: 'kind', meaning: 'A step message reached the step DLQ (the worker crashed or timed out at every delivery); kind `unknown` when its step is gone.' },
  StepDuration: { unit: 'Milliseconds', dimension: 'kind', meaning: 'From an attempt\'s claim to its outcome recorded, in the worker (a callback\'s wait not included).' },
  QueueLag: { unit: 'Milliseconds', meaning: 'From the send of a step message (SQS SentTimestamp) to the claim it led to: first attempts of steps not held by a time gate (retries\' backoff and delays are not lag).' },
  RunsCompleted: { unit: 'Count', meaning: 'A run completed.' },
  RunsBlocked: { unit: 'Count', dimension: 'reason', meaning: 'A run was blocked; reason is the code (STEP_FAILED, DEAD_LETTERED, TIMEOUT, BUDGET_EXCEEDED, MAX_STEPS, …).' },
  CallbacksTimedOut: { unit: 'Count', dimension: 'reason', meaning: 'An agent\'s callback (reason callback) or its heartbeat (reason heartbeat) did not come in time.' },
  BudgetEvents: { unit: 'Count', dimension: 'reason', meaning: 'A budget warned (reason warning: a threshold crossed) or held its run (reason exceeded).' },
  WebhooksAccepted: { unit: 'Count', dimension: 'provider', meaning: 'A signed webhook delivery was accepted (duplicates included, answered 200).' },
  WebhookRefused: { unit: 'Count', dimension: 'reason', meaning: 'A webhook delivery was refused: webhook_signature_refused (401) or webhook_unknown_project (404). A security event.' },
  ApiRequests: { unit: 'Count', dimension: 'statusClass', meaning: 'An API request answered, by status class (2xx, 3xx, 4xx, 5xx).' },
  ApiLatency: { unit: 'Milliseconds', dimension: 'statusClass', meaning: 'How long the API function took to answer a request, by status class.' },
} as const satisfies Record<string, MetricDefinition>;

export type BatonMetricName = keyof typeof batonMetrics;

/** The dimension value a metric takes (none for a stage total). */
type DimensionOf<Name extends BatonMetricName> = (typeof batonMetrics)[Name] extends { dimension: infer D extends MetricDimension } ? { [K in D]: string } : undefined;

/**
 * The engine's metrics port: one data point, aggregated per invocation by the adapter (counts
 * summed, durations kept as values) and written once when the invocation ends.
 */
export interface MetricsRecorder {
  add<Name extends BatonMetricName>(name: Name, dimensions: DimensionOf<Name>, value?: number): void;
}

/** Records nothing (scripts). */
export const noMetrics: MetricsRecorder = { add: () => undefined };

/** The status class of an HTTP status (`2xx` … `5xx`). */
export const statusClassOf = (status: number): string => `${Math.floor(status / 100)}xx`;

/**
 * The codes Baton itself gives a failure or a stop (an agent's own error code is its business,
 * and unbounded): RunsBlocked's `reason` is one of these, or STEP_FAILED.
 */
const batonReasons = new Set([
  'TIMEOUT', 'NO_PROGRESS', 'NETWORK_ERROR', 'INVALID_INPUT', 'MAX_EXECUTED_STEPS', 'MAX_DURATION', 'ABORTED', 'WORKFLOW_NOT_FOUND', 'WORKER_LOST',
  'UNKNOWN_KIND', 'THROTTLED', 'TEMPLATE_MISSING_VALUE', 'TARGET_NOT_ALLOWED', 'SECRET_NOT_FOUND', 'SECRETS_UNAVAILABLE', 'REJECTED', 'QA_BELOW_THRESHOLD',
  'MAP_TOLERANCE_EXCEEDED', 'MAP_NOT_EXECUTABLE', 'LOOP_LIMIT', 'LLM_SCHEMA_MISMATCH', 'LLM_INVALID_JSON', 'LLM_BAD_REPLY', 'LAMBDA_UNAVAILABLE',
  'INVOKE_REFUSED', 'INVALID_REPLY', 'INVALID_PLAN', 'HEARTBEAT_TIMEOUT', 'FUNCTION_NOT_FOUND', 'FUNCTION_NOT_ALLOWED', 'DEAD_LETTERED',
  'DEADLINE_EXCEEDED', 'CI_FAILED', 'CHILD_RUN_FAILED', 'CALLBACK_UNSUPPORTED', 'CALLBACK_TIMEOUT', 'BUDGET_EXCEEDED',
]);

/** A blocked run's `reason` dimension: Baton's code, else STEP_FAILED (an agent's code, or none). */
export const blockReasonOf = (code: string | undefined): string => (code && batonReasons.has(code) ? code : 'STEP_FAILED');
