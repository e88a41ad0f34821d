import { ForbiddenError, NotFoundError, UnauthorizedError } from '#shared/domain/errors';
import { bearerToken, roleAllows, tokensEqual, type Role } from '#shared/domain/tokens';
import type { TokenRecord } from '#shared/store/projects';
import type { RateLimit } from '#shared/store/rate-limiter';

/** Who is calling: the installation admin (created at deploy) or a project-scoped token. */
export type Principal =
  | { kind: 'installation'; actor: 'installation' }
  | { kind: 'project'; actor: string; projectId: string; role: Role; tokenId: string; rateLimit?: RateLimit };

export interface AuthenticatorDeps {
  /** The installation admin token; fetched (and cached) from Secrets Manager by the caller. */
  installationToken: () => Promise<string>;
  findActiveToken: (token: string) => Promise<TokenRecord | undefined>;
}

export const createAuthenticator = ({ installationToken, findActiveToken }: AuthenticatorDeps) =>
  async function authenticate(authorization: string | undefined): Promise<Principal> {
    const token = bearerToken(authorization);
    if (!token) throw new UnauthorizedError();
    const record = await findActiveToken(token);
    if (record) {
      return { kind: 'project', actor: record.tokenId, projectId: record.projectId, role: record.role, tokenId: record.tokenId, ...(record.rateLimit ? { rateLimit: record.rateLimit } : {}) };
    }
    if (tokensEqual(token, await installationToken())) return { kind: 'installation', actor: 'installation' };
    throw new UnauthorizedError();
  };

/**
 * Checks that the principal may act on a project with at least `role`. Another project's
 * objects answer 404, exactly as if they did not exist, so ids of other tenants never leak.
 */
export const requireProjectAccess = (principal: Principal, projectId: string, role: Role): void => {
  if (principal.kind === 'installation') return;
  if (principal.projectId !== projectId) throw new NotFoundError('Project');
  if (!roleAllows(principal.role, role)) throw new ForbiddenError(`This needs the ${role} role; the token has ${principal.role}`);
};

export const requireInstallationAdmin = (principal: Principal): void => {
  if (principal.kind !== 'installation') throw new ForbiddenError('This needs the installation admin token');
};
