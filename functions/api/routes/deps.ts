import type { EngineDeps } from '#shared/engine/context';
import type { StepKindRegistry } from '#shared/executors/registry';
import type { Schedules } from '#shared/store/schedules';
import type { Triggers } from '#shared/store/triggers';
import type { Principal } from '#shared/middleware/principal';
import type { ArtifactStore } from '#shared/store/artifacts';
import type { EventOutbox } from '#shared/store/event-outbox';
import type { FeedbackStore } from '#shared/engine/feedback';
import type { ProjectSecretStore } from '#shared/store/project-secrets';
import type { ProjectStore } from '#shared/store/projects';
import type { RunStore } from '#shared/store/runs';
import type { ProjectCounterStore } from '#shared/store/project-counters';
import type { RunUsageRecorder } from '#shared/store/run-usage';
import type { WebhookSecretStore } from '#shared/store/webhook-secrets';
import type { WorkflowStore } from '#shared/store/workflows';
import type { RateLimit, RateLimiter } from '#shared/store/rate-limiter';
import type { QueueAdmin } from '#shared/clients/queue-admin';

/** Everything the API's operations use; the Lambda passes real clients, unit tests fakes. */
export interface ApiDeps {
  stage: string;
  projects: ProjectStore;
  outbox: EventOutbox;
  authenticate: (authorization: string | undefined) => Promise<Principal>;
  workflows: WorkflowStore;
  /** The engine, with every step kind's validation half (workflows, a retry's new inputs); the API runs no step. */
  engine: EngineDeps & { stepKinds: StepKindRegistry };
  /** Runs, steps and events as the API lists them (the engine reads through its own store port). */
  runs: RunStore;
  artifacts: ArtifactStore;
  /** Feedback on steps and its averages per workflow version. */
  feedback: FeedbackStore;
  /** Adds what a request spent to its run's usage (shared/store/run-usage.ts). */
  runUsage: RunUsageRecorder;
  /** The projects' operating counters: added to by every metered invocation, read by the Prometheus endpoint. */
  projectCounters: ProjectCounterStore;
  webhookSecrets: WebhookSecretStore;
  /** Project secrets: the API encrypts and lists them, never decrypts. */
  secrets: ProjectSecretStore;
  schedules: Schedules;
  /** Triggers: their records and EventBridge rules. */
  triggers: Triggers;
  /** The installation's queues (counts, peeks, redrives): installation admin routes. */
  queues: QueueAdmin;
  /** Per-token request rates; absent in tests that do not exercise them. */
  rateLimiter?: RateLimiter;
  /** The rate a token gets when it was created without its own. */
  defaultRateLimit: RateLimit;
  /** Check every response against its declared schema (local stage, tests). */
  checkResponses: boolean;
}
