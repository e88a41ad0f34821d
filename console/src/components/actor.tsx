import { can, useSession } from '../context';

/**
 * Who did something, as a person reads it. The API names a token for every reader (`actorName`:
 * the token's name; the id itself only to admins, docs/ARCHITECTURE.md "Who did it"); the
 * signed-in token is "you". Baton's own actors (worker, sweeper, webhook:github, schedule:sch_…,
 * installation) are already words.
 */
export function useActorName(): (actor: string, name?: string) => string {
  const { whoami } = useSession();
  const ownTokenId = whoami.kind === 'project' ? whoami.tokenId : undefined;
  return (actor, name) => {
    if (ownTokenId && actor === ownTokenId) return name ? `${name} (you)` : 'you';
    return name ?? actor;
  };
}

/** An actor's name; admins see the token id it stands for on hover. */
export function Actor({ actor, name }: { actor: string; name?: string | undefined }) {
  const { role } = useSession();
  const nameOf = useActorName();
  const shown = nameOf(actor, name);
  return (
    <span className="actor" title={shown !== actor && can(role, 'admin') ? actor : undefined} data-actor={actor}>
      {shown}
    </span>
  );
}
