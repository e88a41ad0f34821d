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
