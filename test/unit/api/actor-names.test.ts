import { describe, expect, it } from 'vitest';
import { nameActors } from '../../../functions/api/actor-names';
import type { Principal } from '#shared/middleware/principal';
import type { TokenRecord } from '#shared/store/projects';

const tokens: TokenRecord[] = [
  { tokenId: 'tok_editor', projectId: 'prj_1', role: 'editor', name: 'ci-bot', createdAt: '2026-11-30T00:00:00.000Z' },
  { tokenId: 'tok_viewer', projectId: 'prj_1', role: 'viewer', name: 'dashboard', createdAt: '2026-11-30T00:00:00.000Z' },
];
const projects = { listTokens: async () => tokens };
const reader = (role: 'viewer' | 'editor' | 'admin', tokenId = 'tok_viewer'): Principal => ({ kind: 'project', actor: tokenId, projectId: 'prj_1', role, tokenId });
const events = [
  { id: 'e1', type: 'step.completed', actor: 'tok_editor', detail: { comment: 'ok' } },
  { id: 'e2', type: 'step.started', actor: 'worker', detail: {} },
  { id: 'e3', type: 'token.created', actor: 'installation', detail: { tokenId: 'tok_viewer', role: 'viewer', name: 'dashboard' } },
  { id: 'e4', type: 'token.revoked', actor: 'tok_viewer', detail: { tokenId: 'tok_editor' } },
];

describe('who acted, as each reader sees it', () => {
  it("gives a viewer every token's name, never another token's id", async () => {
    const named = await nameActors(events, { principal: reader('viewer'), projectId: 'prj_1', projects });

    expect(named).toEqual([
      { id: 'e1', type: 'step.completed', actor: 'token', actorName: 'ci-bot', detail: { comment: 'ok' } },
      { id: 'e2', type: 'step.started', actor: 'worker', detail: {} },
      { id: 'e3', type: 'token.created', actor: 'installation', detail: { role: 'viewer', name: 'dashboard' } },
      // Its own token keeps its id (the console says "you"); the revoked token is named.
      { id: 'e4', type: 'token.revoked', actor: 'tok_viewer', actorName: 'dashboard', detail: { name: 'ci-bot' } },
    ]);
    expect(JSON.stringify(named)).not.toContain('tok_editor');
  });

  it('gives an editor the same as a viewer', async () => {
    const [first] = await nameActors(events, { principal: reader('editor', 'tok_other'), projectId: 'prj_1', projects });
    expect(first).toMatchObject({ actor: 'token', actorName: 'ci-bot' });
  });

  it('gives admins and the installation ids and names', async () => {
    for (const principal of [reader('admin', 'tok_admin'), { kind: 'installation', actor: 'installation' } as const]) {
      const named = await nameActors(events, { principal, projectId: 'prj_1', projects });
      expect(named[0]).toEqual({ ...events[0], actorName: 'ci-bot' });
      expect(named[2]).toEqual(events[2]);
      expect(named[3]).toEqual({ ...events[3], actorName: 'dashboard' });
    }
  });

  it('reads no token when no token acted', async () => {
    const refusing = { listTokens: async (): Promise<TokenRecord[]> => Promise.reject(new Error('not read')) };
    expect(await nameActors([events[1]!], { principal: reader('viewer'), projectId: 'prj_1', projects: refusing })).toEqual([events[1]]);
  });
});
