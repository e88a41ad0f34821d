import type { NormalizedDelivery } from '#shared/domain/webhook-deliveries';

/** Request headers as API Gateway hands them over (names in lower case). */
export type WebhookHeaders = Record<string, string | undefined>;

/** Whether a delivery's signature holds, and if not, why (for the 401 and the security log). */
export type WebhookVerdict = { ok: true } | { ok: false; reason: string };

/**
 * One webhook sender (GitHub, GitLab, …): everything Baton knows about its deliveries in one
 * place. The receiver calls these in order: `verify` on the raw body (nothing is read before it
 * passes), `deliveryId` to deduplicate, `normalize` to keep what routing needs.
 */
export interface WebhookProvider<Name extends string = string> {
  /** The path segment of `POST /v1/webhooks/{provider}/{projectId}` and the webhook secret's name. */
  name: Name;
  /** The sender's unique id of this delivery (its retries repeat it), or undefined when absent. */
  deliveryId(headers: WebhookHeaders): string | undefined;
  /**
   * Checks the signature against the raw body exactly as received, accepting any of `secrets`
   * (two during a rotation). Pure and constant-time.
   */
  verify(raw: Buffer, headers: WebhookHeaders, secrets: string[], now?: Date): WebhookVerdict;
  /** The delivery as Baton routes it (repository, branch, CI status, PR/MR, correlation key). */
  normalize(delivery: { deliveryId: string; headers: WebhookHeaders; payload: unknown }): NormalizedDelivery;
}
