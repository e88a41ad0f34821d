import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export const roles = ['viewer', 'editor', 'admin'] as const;
export type Role = (typeof roles)[number];

const rank: Record<Role, number> = { viewer: 0, editor: 1, admin: 2 };

/** True when a token of role `held` may do what needs role `needed`. */
export const roleAllows = (held: Role, needed: Role): boolean => rank[held] >= rank[needed];

/** Project tokens look like `btn_<43 base64url chars>`: 256 random bits, recognisable in logs and secret scanners. */
export const tokenPrefix = 'btn_';

export const generateToken = (): string => tokenPrefix + randomBytes(32).toString('base64url');

/** Tokens are stored only as this digest; the plain token is shown once, at creation. */
export const hashToken = (token: string): string => createHash('sha256').update(token, 'utf8').digest('hex');

/** Constant-time comparison of two tokens (via their digests, so lengths never leak). */
export const tokensEqual = (a: string, b: string): boolean =>
  timingSafeEqual(Buffer.from(hashToken(a), 'hex'), Buffer.from(hashToken(b), 'hex'));

/**
 * Extracts the token from an `Authorization: Bearer <token>` header, or undefined when absent or
 * malformed. Any visible ASCII is accepted (not only RFC 6750's token68) so that a generated
 * installation secret with punctuation still works; length is bounded to refuse junk early.
 */
export const bearerToken = (header: string | undefined): string | undefined => {
  const match = /^Bearer ([\x21-\x7e]{16,512})$/i.exec(header?.trim() ?? '');
  return match?.[1];
};
