/**
 * What Baton keeps of a webhook delivery, whatever sent it: enough to route it (repository,
 * branch, CI status, PR/MR) without reading provider payloads anywhere else. Each provider
 * (`shared/webhook-providers/`) turns its own payloads into this shape.
 */
export interface NormalizedDelivery {
  /** The provider's name in the registry (`github`, `gitlab`, `generic`, …). */
  provider: string;
  deliveryId: string;
  event: string;
  repository?: string;
  branch?: string;
  sha?: string;
  pullRequest?: number;
  ciStatus?: 'success' | 'failure' | 'pending';
  merged?: boolean;
  /** What happened to the event's subject (`opened`, `closed`, `completed`…), when the event says (trigger filters). */
  action?: string;
  url?: string;
  /** A sender-chosen correlation key (generic deliveries). */
  key?: string;
}

// Readers for untrusted payloads, shared by the providers: a wrong type reads as absent.
type Json = Record<string, unknown>;
export const objectIn = (value: unknown): Json => (value && typeof value === 'object' && !Array.isArray(value) ? (value as Json) : {});
export const textIn = (value: unknown): string | undefined => (typeof value === 'string' && value ? value : undefined);
export const numberIn = (value: unknown): number | undefined => (typeof value === 'number' && Number.isFinite(value) ? value : undefined);
export const branchOf = (ref: unknown) => textIn(ref)?.replace(/^refs\/heads\//, '');

/** A CI conclusion or status in any provider's words, as success, failure or pending. */
export const ciStatusOf = (value: unknown): NormalizedDelivery['ciStatus'] => {
  const status = textIn(value);
  if (!status) return undefined;
  if (status === 'success') return 'success';
  if (['failure', 'failed', 'timed_out', 'cancelled', 'canceled', 'action_required'].includes(status)) return 'failure';
  return 'pending';
};

/** The delivery without its absent fields (it is stored and published as it is). */
export const compactDelivery = (delivery: NormalizedDelivery): NormalizedDelivery =>
  Object.fromEntries(Object.entries(delivery).filter(([, value]) => value !== undefined)) as unknown as NormalizedDelivery;

/**
 * The key a repository is matched by: lower case, as hosts treat `Acme/App` and `acme/app` as
 * one repository (run mappings, `branchRunsPrefix`, do the same). Branches keep their case:
 * git's branch names are case-sensitive.
 */
export const repositoryKey = (repository: string): string => repository.toLowerCase();

/**
 * The correlation keys a delivery satisfies, most specific first: a `webhook` step waiting on
 * any of them is completed by it.
 */
export function correlationKeys(delivery: NormalizedDelivery): string[] {
  const keys: string[] = [];
  if (delivery.key) keys.push(`key:${delivery.key}`);
  if (delivery.repository) {
    // Steps filed before repositories were matched without case kept the name as written:
    // their exact-case keys are looked up too, so they still complete.
    const names = [...new Set([repositoryKey(delivery.repository), delivery.repository])];
    if (delivery.branch) keys.push(...names.map((name) => `${delivery.provider}:${name}:${delivery.branch}`));
    keys.push(...names.map((name) => `${delivery.provider}:${name}:*`));
  }
  return keys;
}
