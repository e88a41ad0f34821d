/**
 * What Baton keeps of a webhook delivery, whatever sent it: enough to route it (repository,
 * branch, CI status, PR/MR) without reading provider payloads anywhere else.
 */
export const webhookProviders = ['github', 'gitlab', 'generic'] as const;
export type WebhookProvider = (typeof webhookProviders)[number];

export interface NormalizedDelivery {
  provider: WebhookProvider;
  deliveryId: string;
  event: string;
  repository?: string;
  branch?: string;
  sha?: string;
  pullRequest?: number;
  ciStatus?: 'success' | 'failure' | 'pending';
  merged?: boolean;
  url?: string;
  /** A sender-chosen correlation key (generic deliveries). */
  key?: string;
}

type Json = Record<string, unknown>;
const obj = (value: unknown): Json => (value && typeof value === 'object' && !Array.isArray(value) ? (value as Json) : {});
const str = (value: unknown): string | undefined => (typeof value === 'string' && value ? value : undefined);
const num = (value: unknown): number | undefined => (typeof value === 'number' && Number.isFinite(value) ? value : undefined);
const branchOf = (ref: unknown) => str(ref)?.replace(/^refs\/heads\//, '');

const ciStatus = (value: unknown): NormalizedDelivery['ciStatus'] => {
  const status = str(value);
  if (!status) return undefined;
  if (status === 'success') return 'success';
  if (['failure', 'failed', 'timed_out', 'cancelled', 'canceled', 'action_required'].includes(status)) return 'failure';
  return 'pending';
};

const compact = (delivery: NormalizedDelivery): NormalizedDelivery =>
  Object.fromEntries(Object.entries(delivery).filter(([, value]) => value !== undefined)) as unknown as NormalizedDelivery;

/** GitHub: workflow_run, check_suite, push and pull_request events. */
export function normalizeGithub(deliveryId: string, event: string, body: unknown): NormalizedDelivery {
  const payload = obj(body);
  const run = obj(payload.workflow_run);
  const suite = obj(payload.check_suite);
  const pr = obj(payload.pull_request);
  return compact({
    provider: 'github',
    deliveryId,
    event,
    repository: str(obj(payload.repository).full_name),
    branch: str(run.head_branch) ?? str(suite.head_branch) ?? str(obj(pr.head).ref) ?? branchOf(payload.ref),
    sha: str(run.head_sha) ?? str(suite.head_sha) ?? str(obj(pr.head).sha) ?? str(payload.after),
    pullRequest: num(pr.number),
    ciStatus: ciStatus(run.conclusion ?? suite.conclusion),
    merged: event === 'pull_request' ? payload.action === 'closed' && pr.merged === true : undefined,
    url: str(run.html_url) ?? str(suite.url) ?? str(pr.html_url),
  });
}

/** GitLab: pipeline, push and merge_request events. */
export function normalizeGitlab(deliveryId: string, body: unknown): NormalizedDelivery {
  const payload = obj(body);
  const attributes = obj(payload.object_attributes);
  const kind = str(payload.object_kind) ?? 'unknown';
  return compact({
    provider: 'gitlab',
    deliveryId,
    event: kind,
    repository: str(obj(payload.project).path_with_namespace),
    branch: kind === 'merge_request' ? str(attributes.source_branch) : (branchOf(attributes.ref) ?? branchOf(payload.ref)),
    sha: str(attributes.sha) ?? str(obj(attributes.last_commit).id) ?? str(payload.checkout_sha),
    pullRequest: kind === 'merge_request' ? num(attributes.iid) : undefined,
    ciStatus: kind === 'pipeline' ? ciStatus(attributes.status) : undefined,
    merged: kind === 'merge_request' ? attributes.state === 'merged' : undefined,
    url: str(attributes.url),
  });
}

/** Generic: the sender states the fields itself. */
export function normalizeGeneric(deliveryId: string, body: unknown): NormalizedDelivery {
  const payload = obj(body);
  return compact({
    provider: 'generic',
    deliveryId,
    event: str(payload.event) ?? 'generic',
    repository: str(payload.repository),
    branch: str(payload.branch),
    sha: str(payload.sha),
    ciStatus: ciStatus(payload.status),
    key: str(payload.key),
    url: str(payload.url),
  });
}

/**
 * The correlation keys a delivery satisfies, most specific first: a `webhook` step waiting on
 * any of them is completed by it.
 */
export function correlationKeys(delivery: NormalizedDelivery): string[] {
  const keys: string[] = [];
  if (delivery.key) keys.push(`key:${delivery.key}`);
  if (delivery.repository && delivery.branch) keys.push(`${delivery.provider}:${delivery.repository}:${delivery.branch}`);
  if (delivery.repository) keys.push(`${delivery.provider}:${delivery.repository}:*`);
  return keys;
}
