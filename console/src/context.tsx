import { createContext, useContext } from 'react';
import type { Api, Role, WhoAmI } from './api';

/** Who is signed in and how to reach the API; every page below the sign-in reads it. */
export interface Session {
  api: Api;
  apiUrl: string;
  whoami: WhoAmI;
  /** The project being looked at: the token's own, or the one an installation token picked. */
  projectId: string;
  role: Role;
  signOut: () => void;
  /** Back to the project picker (installation token only). */
  switchProject?: () => void;
}

export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error('useSession outside a signed-in console');
  return session;
}

const rank: Record<Role, number> = { viewer: 0, editor: 1, admin: 2 };

/** Whether the signed-in token's role allows something that needs `needed` (same rule as the API). */
export const can = (role: Role, needed: Role): boolean => rank[role] >= rank[needed];
