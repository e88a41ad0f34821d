import { NotFoundError } from '#shared/domain/errors';
import { createTokenBody, tokenIdParam } from '#shared/schemas/projects';
import { createdTokenResponse, tokenListResponse, tokenResponse } from '#shared/schemas/responses';
import type { TokenRecord } from '#shared/store/projects';
import { operation, type Operation } from '../operation';
import type { ApiDeps } from './deps';
import { projectPath } from './projects';

/** A token as the API shows it: never the token itself (nor its hash). */
const tokenView = (record: TokenRecord) => ({
  id: record.tokenId,
  name: record.name,
  role: record.role,
  createdAt: record.createdAt,
  ...(record.rateLimit ? { rateLimit: record.rateLimit } : {}),
  ...(record.revokedAt ? { revokedAt: record.revokedAt } : {}),
});

/** Project tokens: created (shown once), listed, revoked; admin only. */
export const tokenOperations = ({ projects, outbox, defaultRateLimit }: ApiDeps): Operation[] => [
  operation({
    operationId: 'createToken',
    method: 'POST',
    path: '/v1/projects/{projectId}/tokens',
    summary: 'Create a project token with a role (viewer, editor, admin); the token is shown once',
    tag: 'tokens',
    access: { project: 'admin' },
    params: projectPath,
    body: { schema: createTokenBody, required: true },
    responses: { 201: { description: 'Created; keep the token, it is stored only as a hash', schema: createdTokenResponse } },
    handler: async ({ params, body, principal }) => {
      if (!(await projects.get(params.projectId))) throw new NotFoundError('Project');
      const created = await projects.createToken({ projectId: params.projectId, name: body.name, role: body.role, ...(body.rateLimit ? { rateLimit: body.rateLimit } : {}), actor: principal.actor });
      await outbox.publish(created.events);
      return { status: 201, body: { ...tokenView(created.record), rateLimit: created.record.rateLimit ?? defaultRateLimit, token: created.token } };
    },
  }),
  operation({
    operationId: 'listTokens',
    method: 'GET',
    path: '/v1/projects/{projectId}/tokens',
    summary: "The project's tokens, active and revoked, without their secrets",
    tag: 'tokens',
    access: { project: 'admin' },
    params: projectPath,
    responses: { 200: { description: 'Tokens, oldest first', schema: tokenListResponse } },
    handler: async ({ params }) => ({ status: 200, body: { items: (await projects.listTokens(params.projectId)).map(tokenView) } }),
  }),
  operation({
    operationId: 'revokeToken',
    method: 'DELETE',
    path: '/v1/projects/{projectId}/tokens/{tokenId}',
    summary: 'Revoke a token: the next request with it is refused',
    tag: 'tokens',
    access: { project: 'admin' },
    params: projectPath.extend({ tokenId: tokenIdParam }),
    responses: { 200: { description: 'The token, revoked (revoking twice changes nothing)', schema: tokenResponse } },
    handler: async ({ params, principal }) => {
      const revoked = await projects.revokeToken({ projectId: params.projectId, tokenId: params.tokenId, actor: principal.actor });
      if (!revoked) throw new NotFoundError('Token');
      await outbox.publish(revoked.events);
      return { status: 200, body: tokenView(revoked.record) };
    },
  }),
];
