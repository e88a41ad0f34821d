import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Webhook signature checks (pure: no I/O). Each takes the raw body exactly as received: a
 * re-serialised JSON body would not verify. Comparisons are constant-time, and a project may
 * have two secrets during a rotation, so each check accepts any of the given secrets.
 */

const safeEqual = (a: Buffer, b: Buffer): boolean => a.length === b.length && timingSafeEqual(a, b);

const hmac = (secret: string, payload: string | Buffer): Buffer => createHmac('sha256', secret).update(payload).digest();

/** GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`. */
export function verifyGithubSignature(rawBody: string | Buffer, header: string | undefined, secrets: string[]): boolean {
  const match = /^sha256=([0-9a-f]{64})$/i.exec(header?.trim() ?? '');
  if (!match) return false;
  const given = Buffer.from(match[1]!, 'hex');
  return secrets.some((secret) => safeEqual(hmac(secret, rawBody), given));
}

/** GitLab's plain form: the shared `X-Gitlab-Token`, compared in constant time. */
export function verifyGitlabToken(header: string | undefined, secrets: string[]): boolean {
  if (!header) return false;
  const given = Buffer.from(header, 'utf8');
  return secrets.some((secret) => safeEqual(Buffer.from(secret, 'utf8'), given));
}

export interface SignedDelivery {
  id: string | undefined;
  timestamp: string | undefined;
  signature: string | undefined;
}

export type SignedCheck = { ok: true } | { ok: false; reason: 'missing' | 'stale' | 'mismatch' };

/**
 * GitLab's signed form (Standard Webhooks): `webhook-id`, `webhook-timestamp` (Unix seconds)
 * and `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">` (several
 * space-separated signatures may be given). A timestamp outside the replay window is refused.
 */
export function verifySignedDelivery(
  rawBody: string | Buffer,
  delivery: SignedDelivery,
  secrets: string[],
  { now = new Date(), toleranceSeconds = 300 }: { now?: Date; toleranceSeconds?: number } = {},
): SignedCheck {
  const { id, timestamp, signature } = delivery;
  if (!id || !timestamp || !signature || !/^\d{1,12}$/.test(timestamp)) return { ok: false, reason: 'missing' };
  if (Math.abs(now.getTime() / 1000 - Number(timestamp)) > toleranceSeconds) return { ok: false, reason: 'stale' };
  const payload = Buffer.concat([Buffer.from(`${id}.${timestamp}.`, 'utf8'), Buffer.isBuffer(rawBody) ? rawBody : Buffer.from(rawBody, 'utf8')]);
  const given = signature
    .split(' ')
    .map((part) => /^v1,([A-Za-z0-9+/=]+)$/.exec(part)?.[1])
    .filter((value): value is string => Boolean(value))
    .map((value) => Buffer.from(value, 'base64'));
  const matches = secrets.some((secret) => {
    const key = secret.startsWith('whsec_') ? Buffer.from(secret.slice('whsec_'.length), 'base64') : Buffer.from(secret, 'utf8');
    const expected = createHmac('sha256', key).update(payload).digest();
    return given.some((candidate) => safeEqual(expected, candidate));
  });
  return matches ? { ok: true } : { ok: false, reason: 'mismatch' };
}
