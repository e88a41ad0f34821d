import { branchOf, ciStatusOf, compactDelivery, numberIn, objectIn, textIn } from '#shared/domain/webhook-deliveries';
import { verifyGitlabToken, verifySignedDelivery } from '#shared/domain/webhook-signatures';
import type { WebhookProvider } from './types';

/**
 * GitLab: the signed form (Standard Webhooks: `webhook-id`, `webhook-timestamp`,
 * `webhook-signature`) when present, else the shared `X-Gitlab-Token`; pipeline, push and
 * merge_request events.
 */
export const gitlabProvider: WebhookProvider<'gitlab'> = {
  name: 'gitlab',
  deliveryId: (headers) => headers['webhook-id'] ?? headers['x-gitlab-event-uuid'],
  verify(raw, headers, secrets, now) {
    if (headers['webhook-signature']) {
      const check = verifySignedDelivery(raw, { id: headers['webhook-id'], timestamp: headers['webhook-timestamp'], signature: headers['webhook-signature'] }, secrets, now ? { now } : {});
      return check.ok ? check : { ok: false, reason: `signed form: ${check.reason}` };
    }
    return verifyGitlabToken(headers['x-gitlab-token'], secrets) ? { ok: true } : { ok: false, reason: 'bad or missing X-Gitlab-Token' };
  },
  normalize({ deliveryId, payload: body }) {
    const payload = objectIn(body);
    const attributes = objectIn(payload.object_attributes);
    const kind = textIn(payload.object_kind) ?? 'unknown';
    return compactDelivery({
      provider: 'gitlab',
      deliveryId,
      event: kind,
      repository: textIn(objectIn(payload.project).path_with_namespace),
      branch: kind === 'merge_request' ? textIn(attributes.source_branch) : (branchOf(attributes.ref) ?? branchOf(payload.ref)),
      sha: textIn(attributes.sha) ?? textIn(objectIn(attributes.last_commit).id) ?? textIn(payload.checkout_sha),
      pullRequest: kind === 'merge_request' ? numberIn(attributes.iid) : undefined,
      ciStatus: kind === 'pipeline' ? ciStatusOf(attributes.status) : undefined,
      merged: kind === 'merge_request' ? attributes.state === 'merged' : undefined,
      action: textIn(attributes.action),
      url: textIn(attributes.url),
    });
  },
};
