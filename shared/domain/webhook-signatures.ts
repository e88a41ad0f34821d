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

/**
 * Baton's generic form, for any other sender: `X-Baton-Signature: t=<unix seconds>,v1=<hex
 * HMAC-SHA256 of "t.body">`, with the same replay window as the signed GitLab form.
 */
export function verifyGenericSignature(
  rawBody: string | Buffer,
  header: string | undefined,
  secrets: string[],
  { now = new Date(), toleranceSeconds = 300 }: { now?: Date; toleranceSeconds?: number } = {},
): SignedCheck {
  const parts = Object.fromEntries((header ?? '').split(',').map((part) => part.trim().split('=', 2) as [string, string]));
  const timestamp = parts.t;
  const given = parts.v1;
  if (!timestamp || !/^\d{1,12}$/.test(timestamp) || !given || !/^[0-9a-f]{64}$/i.test(given)) return { ok: false, reason: 'missing' };
  if (Math.abs(now.getTime() / 1000 - Number(timestamp)) > toleranceSeconds) return { ok: false, reason: 'stale' };
  const payload = Buffer.concat([Buffer.from(`${timestamp}.`, 'utf8'), Buffer.isBuffer(rawBody) ? rawBody : Buffer.from(rawBody, 'utf8')]);
  const expectedFor = (secret: string) => createHmac('sha256', secret).update(payload).digest();
  const candidate = Buffer.from(given, 'hex');
  return secrets.some((secret) => safeEqual(expectedFor(secret), candidate)) ? { ok: true } : { ok: false, reason: 'mismatch' };
}

/** Builds the generic signature header (for senders written in TypeScript, and for tests). */
export const signGeneric = (rawBody: string, secret: string, at = new Date()): string => {
  const timestamp = Math.floor(at.getTime() / 1000);
  return `t=${timestamp},v1=${createHmac('sha256', secret).update(`${timestamp}.${rawBody}`).digest('hex')}`;
};
