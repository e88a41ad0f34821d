import { z } from 'zod';
import { healthResponse, whoamiResponse } from '#shared/schemas/responses';
import { operation, type Operation } from '../operation';
import type { ApiDeps } from './deps';

/** Health, who am I, and the API's own contract. */
export const systemOperations = ({ stage }: ApiDeps, openApiDocument: () => unknown): Operation[] => [
  operation({
    operationId: 'getHealth',
    method: 'GET',
    path: '/health',
    summary: 'Is the API up (no token needed)',
    tag: 'system',
    access: 'public',
    responses: { 200: { description: 'Up', schema: healthResponse } },
    handler: async () => ({ status: 200, body: { status: 'ok', stage } }),
  }),
  operation({
    operationId: 'getOpenApi',
    method: 'GET',
    path: '/v1/openapi.json',
    summary: 'This API as an OpenAPI 3.1 document (any valid token; the same file is docs/openapi.json)',
    tag: 'system',
    access: 'token',
    responses: { 200: { description: 'The OpenAPI document', schema: z.looseObject({ openapi: z.string() }) } },
    handler: async () => ({ status: 200, body: openApiDocument() }),
  }),
  operation({
    operationId: 'whoAmI',
    method: 'GET',
    path: '/v1/whoami',
    summary: 'What the token in use is',
    tag: 'system',
    access: 'token',
    responses: { 200: { description: 'The caller', schema: whoamiResponse } },
    handler: async ({ principal }) => ({
      status: 200,
      body:
        principal.kind === 'installation'
          ? { kind: 'installation', role: 'admin' }
          : { kind: 'project', projectId: principal.projectId, role: principal.role, tokenId: principal.tokenId },
    }),
  }),
];
