import type { Principal } from '#shared/middleware/principal';
import type { ProjectStore } from '#shared/store/projects';

/** What the API shows of who acted: `actor` as the reader may see it, and the token's name. */
export type Named<T> = T & { actorName?: string };

/** Token events whose detail names a token by its id. */
const tokenEvents = new Set(['token.created', 'token.revoked']);

/** Admins manage tokens by id (revoke); the installation admin is above every project. */
const seesTokenIds = (principal: Principal) => principal.kind === 'installation' || principal.role === 'admin';

/**
 * Names the tokens that acted, for whoever reads (issue 11 leftover, docs/ARCHITECTURE.md "Who
 * did it"): every reader gets `actorName`, the token's name; a token's id stays in `actor` for
 * admins (who revoke tokens by it) and for the token itself, and reads `token` for viewers and
 * editors, who have no use for another token's id. Token events lose their detail's `tokenId` the
 * same way (the name stays). Baton's own actors (worker, sweeper, installation, webhook:…) are
 * words already and pass unchanged. One read of the project's tokens, only when a token acted.
 */
export async function nameActors<T extends object>(
  items: T[],
  { principal, projectId, projects }: { principal: Principal; projectId: string; projects: Pick<ProjectStore, 'listTokens'> },
): Promise<Named<T>[]> {
  // Events come from the store as plain records, feedback as its own type: both have these fields.
  const fields = (item: T) => item as { actor?: unknown; type?: unknown; detail?: Record<string, unknown> };
  const actorOf = (item: T) => (typeof fields(item).actor === 'string' ? (fields(item).actor as string) : '');
  const typeOf = (item: T) => (typeof fields(item).type === 'string' ? (fields(item).type as string) : '');
  const mentionsToken = (item: T) => actorOf(item).startsWith('tok_') || tokenEvents.has(typeOf(item));
  if (!items.some(mentionsToken)) return items;
  const names = new Map((await projects.listTokens(projectId)).map((token) => [token.tokenId, token.name]));
  const own = principal.kind === 'project' ? principal.tokenId : undefined;
  const showIds = seesTokenIds(principal);
  return items.map((item) => {
    if (!mentionsToken(item)) return item;
    let named: Named<T> = item;
    const actor = actorOf(item);
    if (actor.startsWith('tok_')) {
      const name = names.get(actor);
      named = { ...named, ...(name !== undefined ? { actorName: name } : {}), ...(showIds || actor === own ? {} : { actor: 'token' }) };
    }
    const detail = fields(item).detail;
    if (!showIds && tokenEvents.has(typeOf(item)) && detail && typeof detail.tokenId === 'string') {
      const { tokenId, ...rest } = detail;
      const name = names.get(tokenId);
      named = { ...named, detail: { ...rest, ...(rest.name === undefined && name !== undefined ? { name } : {}) } };
    }
    return named;
  });
}
