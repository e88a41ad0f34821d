import { OpenAPIRegistry, OpenApiGeneratorV31, type ResponseConfig, type RouteConfig } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { errorResponse } from '#shared/schemas/responses';
import type { Operation } from './operation';

const errorContent = { 'application/json': { schema: errorResponse } };
const requestIdHeader = { 'x-request-id': { description: 'The request id, also in every error body', schema: { type: 'string' as const } } };

/**
 * The errors every operation may answer besides its own, by what it takes: a token (401, 429),
 * a role (403), a resource in the path (404), any input (400), a body (413).
 */
function commonErrors(op: Operation): Record<number, ResponseConfig> {
  const errors: Record<number, ResponseConfig> = {};
  const error = (description: string, headers?: ResponseConfig['headers']): ResponseConfig => ({ description, content: errorContent, headers: { ...requestIdHeader, ...headers } });
  const takesInput = Boolean(op.params || op.query || op.headers || op.body) || op.access !== 'public';
  if (takesInput) errors[400] = error('Invalid input: `error.field` names where, `error.message` says what');
  if (op.access !== 'public') {
    errors[401] = error('Missing, malformed, unknown or revoked token');
    errors[429] = error('Over the token\'s request rate', { 'retry-after': { description: 'Seconds to wait', schema: { type: 'integer' } } });
  }
  if (op.access === 'installation' || typeof op.access === 'object') errors[403] = error('The token\'s role does not allow this');
  if (op.params) errors[404] = error('Not found (or another project\'s)');
  if (op.body) errors[413] = error('Body too large');
  return errors;
}

/** The OpenAPI 3.1 document of the operations, generated from their zod schemas. */
export function buildOpenApiDocument(operations: Operation[], { serverUrl }: { serverUrl?: string } = {}) {
  const registry = new OpenAPIRegistry();
  const bearer = registry.registerComponent('securitySchemes', 'bearer', {
    type: 'http',
    scheme: 'bearer',
    description: 'A project token (btn_…) or the installation admin token',
  });
  for (const op of operations) {
    const request: RouteConfig['request'] = {};
    if (op.params) request.params = op.params;
    if (op.query) request.query = op.query;
    if (op.headers) request.headers = op.headers;
    if (op.body) {
      request.body = {
        required: op.body.required,
        content: {
          ...(op.body.schema instanceof z.ZodString ? {} : { 'application/json': { schema: op.body.schema } }),
          ...Object.fromEntries(
            (op.body.text ?? []).map(({ contentType, description, structured }) => [contentType, { schema: structured ? op.body!.schema : z.string().min(1).meta({ description }) }]),
          ),
        },
      };
    }
    const responses: Record<number, ResponseConfig> = { ...commonErrors(op) };
    for (const [status, spec] of Object.entries(op.responses)) {
      responses[Number(status)] = {
        description: spec.description,
        headers: requestIdHeader,
        ...(spec.schema ? { content: { [spec.contentType ?? 'application/json']: { schema: spec.schema } } } : Number(status) >= 400 ? { content: errorContent } : {}),
      };
    }
    registry.registerPath({
      operationId: op.operationId,
      method: op.method.toLowerCase() as RouteConfig['method'],
      path: op.path,
      summary: op.summary,
      tags: [op.tag],
      ...(op.access === 'public' ? { security: [] } : { security: [{ [bearer.name]: [] }] }),
      request,
      responses,
    });
  }
  return new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: '3.1.0',
    info: {
      title: 'Baton API',
      version: '1',
      description: 'Serverless workflow orchestration for AI-agent work: projects, tokens, workflows, runs, steps, schedules. Webhook endpoints (/v1/webhooks/{provider}/{projectId}) are signed by their senders and not part of this contract.',
    },
    ...(serverUrl ? { servers: [{ url: serverUrl }] } : {}),
  });
}
