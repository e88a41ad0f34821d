import { ciStatusOf, compactDelivery, objectIn, textIn } from '#shared/domain/webhook-deliveries';
import { verifyGenericSignature } from '#shared/domain/webhook-signatures';
import type { WebhookProvider } from './types';

/**
 * Any other sender: `X-Baton-Delivery` ids, `X-Baton-Signature: t=…,v1=…` (HMAC of "t.body",
 * replay window), and a body that states the fields itself (event, repository, branch, sha,
 * status, key, url).
 */
export const genericProvider: WebhookProvider<'generic'> = {
  name: 'generic',
  deliveryId: (headers) => headers['x-baton-delivery'],
  verify(raw, headers, secrets, now) {
    const check = verifyGenericSignature(raw, headers['x-baton-signature'], secrets, now ? { now } : {});
    return check.ok ? check : { ok: false, reason: `X-Baton-Signature: ${check.reason}` };
  },
  normalize({ deliveryId, payload: body }) {
    const payload = objectIn(body);
    return compactDelivery({
      provider: 'generic',
      deliveryId,
      event: textIn(payload.event) ?? 'generic',
      repository: textIn(payload.repository),
      branch: textIn(payload.branch),
      sha: textIn(payload.sha),
      ciStatus: ciStatusOf(payload.status),
      key: textIn(payload.key),
      action: textIn(payload.action),
      url: textIn(payload.url),
    });
  },
};
