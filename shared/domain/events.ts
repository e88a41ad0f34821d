/**
 * Lifecycle events: the append-only history of what happened, and what Baton publishes on its
 * EventBridge bus (source `baton`, detail-type = `type`). Every state change writes one in the
 * same DynamoDB transaction; publishing happens after commit (see store/event-outbox.ts).
 */
export const eventSource = 'baton';

export interface LifecycleEvent {
  /** ULID: orders the history and deduplicates re-publication. */
  id: string;
  type: string;
  projectId: string;
  runId?: string;
  stepId?: string;
  /** ISO-8601 time of the change. */
  at: string;
  /** Who caused it: a token id, `installation`, `system`, or a webhook delivery. */
  actor: string;
  detail: Record<string, unknown>;
}

/**
 * Which events go to the bus: run- and project-level ones always; step-level ones (`step.*`,
 * the bulk of them) only for projects that subscribe to them (`settings.publishStepEvents`).
 * Every event is stored and listed by the history API either way.
 */
export const isPublishedOnBus = (type: string, publishStepEvents: boolean | undefined): boolean => !type.startsWith('step.') || publishStepEvents === true;

/** The step events a person acts on (a gate waiting, a step failed, a retry or a re-run asked for): always in the project feed. */
export const stepEventsAlwaysInFeed: readonly string[] = ['step.needs_qa', 'step.failed', 'step.retry_requested', 'step.rerun_requested'];

/**
 * Which events the project feed lists (`GET /v1/projects/{projectId}/events`): every event on the
 * bus, and the step events a person acts on. Such an event keeps an item of its own with a feed
 * entry; every other step event lives only in its step's `history` (in its run's history, not in
 * the feed): a feed entry per step event would cost more write units than a step's whole budget.
 */
export const isInProjectFeed = (type: string, publishStepEvents: boolean | undefined): boolean =>
  isPublishedOnBus(type, publishStepEvents) || stepEventsAlwaysInFeed.includes(type);
