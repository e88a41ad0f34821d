import type { EngineDeps } from '#shared/engine/context';
import type { Schedules } from '#shared/engine/schedules';
import type { Principal } from '#shared/middleware/principal';
import type { EventOutbox } from '#shared/store/event-outbox';
import type { ProjectSecretStore } from '#shared/store/project-secrets';
import type { ProjectStore } from '#shared/store/projects';
import type { WebhookSecretStore } from '#shared/store/webhook-secrets';
import type { WorkflowStore } from '#shared/store/workflows';
import type { RateLimit, RateLimiter } from '#shared/store/rate-limiter';

/** Everything the API's operations use; the Lambda passes real clients, unit tests fakes. */
export interface ApiDeps {
  stage: string;
  projects: ProjectStore;
  outbox: EventOutbox;
  authenticate: (authorization: string | undefined) => Promise<Principal>;
  workflows: WorkflowStore;
  engine: EngineDeps;
  webhookSecrets: WebhookSecretStore;
  /** Project secrets: the API encrypts and lists them, never decrypts. */
  secrets: ProjectSecretStore;
  schedules: Schedules;
  /** Per-token request rates; absent in tests that do not exercise them. */
  rateLimiter?: RateLimiter;
  /** The rate a token gets when it was created without its own. */
  defaultRateLimit: RateLimit;
  /** Check every response against its declared schema (local stage, tests). */
  checkResponses: boolean;
}
