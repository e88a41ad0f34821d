import type { Context } from 'aws-lambda';
import { z } from 'zod';
import { ApiError, NotFoundError, ValidationError } from '#shared/domain/errors';
import { illFormedPath } from '#shared/domain/json-limits';
import type { Role } from '#shared/domain/tokens';
import { json, parseWith, type HttpEvent, type HttpResult } from '#shared/middleware/http';
import { requireInstallationAdmin, requireProjectAccess, type Principal } from '#shared/middleware/principal';
import type { RunRecord } from '#shared/store/runs';

/**
 * One API operation, declared once: who may call it, the schemas of its path, query, headers
 * and body, the schema of each response, and the handler. The router runs the checks in a fixed
 * order (authenticate → path → access → headers, query, body → handler), and the OpenAPI
 * document is generated from the same declarations (functions/api/openapi.ts).
 */
export type Access =
  /** No token (only /health). */
  | 'public'
  /** Any valid token. */
  | 'token'
  /** The installation admin token only. */
  | 'installation'
  /** A token of the project in the path with at least this role (or the installation token). */
  | { project: Role }
  /** A token of the run's project with at least this role; the run is loaded for the handler. */
  | { run: Role };

type Shape = z.ZodObject;

export interface ResponseSpec {
  description: string;
  /** JSON body schema; absent for an empty body (204). With `contentType`, the schema of a text body. */
  schema?: z.ZodType;
  /** A body that is not JSON (e.g. Prometheus' text format): the handler's string is sent as it is, with this content type. Errors stay JSON. */
  contentType?: string;
  headers?: Record<string, string>;
}

export interface OperationInput<P extends Shape, Q extends Shape, H extends Shape, B extends z.ZodType> {
  params: z.infer<P>;
  query: z.infer<Q>;
  headers: z.infer<H>;
  body: z.infer<B>;
  /** Who is calling (not set for public operations). */
  principal: Principal;
  /** The run of a `{run: role}` operation. */
  run: RunRecord;
  event: HttpEvent;
  context: Context;
}

export interface Operation<P extends Shape = Shape, Q extends Shape = Shape, H extends Shape = Shape, B extends z.ZodType = z.ZodType> {
  operationId: string;
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  summary: string;
  tag: string;
  access: Access;
  params?: P;
  query?: Q;
  headers?: H;
  /** A JSON body, validated by `schema`; `text` lists other content types the handler reads itself (CSV, YAML). */
  body?: {
    schema: B;
    required: boolean;
    /** Other content types; `structured` ones (YAML) carry the same document as the JSON schema describes. */
    text?: { contentType: string; description: string; structured?: boolean }[];
    /** Parses the body itself (with its own error messages) instead of `schema`, which then only documents it. */
    parse?: (raw: unknown, event: HttpEvent) => z.infer<B>;
  };
  /** Success responses and the errors specific to it (the common ones are added for every operation). */
  responses: Record<number, ResponseSpec>;
  handler: (input: OperationInput<P, Q, H, B>) => Promise<{ status: number; body?: unknown; headers?: Record<string, string> }>;
}

/** Declares an operation with its types inferred from its schemas. */
export const operation = <P extends Shape = z.ZodObject<Record<never, never>>, Q extends Shape = z.ZodObject<Record<never, never>>, H extends Shape = z.ZodObject<Record<never, never>>, B extends z.ZodType = z.ZodUndefined>(
  spec: Operation<P, Q, H, B>,
): Operation => spec;

export interface OperationDeps {
  authenticate: (authorization: string | undefined) => Promise<Principal>;
  getRun: (runId: string) => Promise<RunRecord | undefined>;
  /** Check every response against its declared schema (local stage and tests): a mismatch is a 500. */
  checkResponses: boolean;
}

const emptyObject = z.strictObject({});

/** The handler middy's router calls for one operation. */
export function operationHandler(op: Operation, deps: OperationDeps) {
  return async (event: HttpEvent, context: Context): Promise<HttpResult> => {
    // Public operations never read the principal.
    const principal = op.access === 'public' ? (undefined as unknown as Principal) : await deps.authenticate(event.headers.authorization);
    const params = parseWith(op.params ?? emptyObject, event.pathParameters ?? {}, 'path') as Record<string, unknown>;
    let run: RunRecord | undefined;
    if (op.access === 'installation') requireInstallationAdmin(principal);
    else if (typeof op.access === 'object' && 'project' in op.access) requireProjectAccess(principal, params.projectId as string, op.access.project);
    else if (typeof op.access === 'object' && 'run' in op.access) {
      run = await deps.getRun(params.runId as string);
      if (!run) throw new NotFoundError('Run');
      requireProjectAccess(principal, run.projectId, op.access.run);
    }
    for (const [where, value] of [['query', event.queryStringParameters], ['body', event.body]] as const) {
      const bad = illFormedPath(value, where);
      if (bad) throw new ValidationError(`${bad}: not well-formed Unicode (a lone surrogate)`, bad);
    }
    const headers = op.headers ? parseWith(op.headers, event.headers, 'header') : {};
    const query = parseWith(op.query ?? emptyObject, event.queryStringParameters ?? {}, 'query');
    const body = op.body ? parseBody(op, event) : parseWith(z.undefined({ error: 'this operation takes no body' }), event.body ?? undefined, 'body');
    const result = await op.handler({ params, query, headers, body, principal, run: run!, event, context });
    if (deps.checkResponses) checkResponse(op, result);
    if (result.body === undefined) return { statusCode: result.status, ...(result.headers ? { headers: result.headers } : {}) };
    const contentType = op.responses[result.status]?.contentType;
    if (contentType) return { statusCode: result.status, headers: { 'content-type': contentType, ...result.headers }, body: result.body as string };
    const response = json(result.status, result.body);
    return { ...response, headers: { ...response.headers, ...result.headers } };
  };
}

function parseBody(op: Operation, event: HttpEvent): unknown {
  const spec = op.body!;
  // JSON `null` is a body (and invalid for every operation), not an absent one.
  const empty = event.body === undefined || event.body === '';
  if (empty) {
    if (spec.required) throw new ValidationError('body: required', 'body');
    return parseWith(spec.schema, undefined, 'body');
  }
  let raw: unknown = event.body;
  if (typeof raw === 'string') {
    // Text bodies (CSV, YAML) reach the parser as they came, decoded from API Gateway's base64.
    if (!spec.text?.length) throw new ValidationError('body: send JSON, with content-type: application/json', 'body');
    raw = event.isBase64Encoded ? Buffer.from(raw, 'base64').toString('utf8') : raw;
  }
  return spec.parse ? spec.parse(raw, event) : parseWith(spec.schema, raw, 'body');
}

class ResponseContractError extends ApiError {
  override name = 'ResponseContractError';
}

function checkResponse(op: Operation, result: { status: number; body?: unknown }): void {
  const spec = op.responses[result.status];
  if (!spec) throw new ResponseContractError(500, 'response_contract', `${op.operationId} answered ${result.status}, which it does not declare`);
  if (!spec.schema) return;
  const checked = spec.schema.safeParse(result.body);
  if (!checked.success) {
    const issue = checked.error.issues[0];
    throw new ResponseContractError(500, 'response_contract', `${op.operationId} ${result.status}: ${issue?.path.join('.') ?? ''} ${issue?.message ?? ''}`);
  }
}
