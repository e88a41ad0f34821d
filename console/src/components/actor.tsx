import { useQuery } from '@tanstack/react-query';
import { useCallback } from 'react';
import { can, useSession } from '../context';

/**
 * Who did something, as a person reads it. Events name a token by its id (`tok_…`); the console
 * shows the token's name where it can read it (the token list is an admin's), "you" for the
 * signed-in token, and the id otherwise. Baton's own actors (worker, sweeper, webhook:github,
 * schedule:sch_…, installation) are already words.
 */
export function useActorName(): (actor: string) => string {
  const { api, projectId, role, whoami } = useSession();
  // The Admin page's query: one read serves both, refreshed when a token is created or revoked.
  const tokens = useQuery({ queryKey: ['tokens', projectId], queryFn: () => api.listTokens(projectId), enabled: can(role, 'admin'), retry: false, staleTime: 60_000 });
  const ownTokenId = whoami.kind === 'project' ? whoami.tokenId : undefined;
  const names = tokens.data;
  return useCallback(
    (actor: string) => {
      if (!actor.startsWith('tok_')) return actor;
      const name = names?.find((token) => token.id === actor)?.name;
      if (actor === ownTokenId) return name ? `${name} (you)` : 'you';
      return name ?? actor;
    },
    [names, ownTokenId],
  );
}

/** An actor's name, with the id it stands for on hover. */
export function Actor({ actor }: { actor: string }) {
  const nameOf = useActorName();
  const name = nameOf(actor);
  return (
    <span className="actor" title={name === actor ? undefined : actor} data-actor={actor}>
      {name}
    </span>
  );
}
