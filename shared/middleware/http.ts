import middy, { type MiddlewareObj } from '@middy/core';
import httpCors from '@middy/http-cors';
import httpHeaderNormalizer from '@middy/http-header-normalizer';
import httpJsonBodyParser from '@middy/http-json-body-parser';
import httpSecurityHeaders from '@middy/http-security-headers';
import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { z } from 'zod';
import { ApiError, PayloadTooLargeError, ValidationError } from '#shared/domain/errors';
import { callerRequestId, withCorrelation } from './correlation';
import { traceHandler } from './tracer';
import { statusClassOf } from '#shared/domain/metrics';
import { publishMetrics, type InvocationMetrics } from './baton-metrics';

export type HttpEvent = APIGatewayProxyEventV2 & { body: unknown };
export type HttpResult = APIGatewayProxyStructuredResultV2;

export const json = (statusCode: number, body: unknown): HttpResult => ({
  statusCode,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

/** The one error body every 4xx/5xx carries. */
export interface ErrorBody {
  error: { code: string; message: string; field?: string; requestId: string };
}

/**
 * The request's id: the caller's own `x-request-id` when it sent a usable one (so a client can
 * follow its request into the run's logs with an id it chose), else API Gateway's.
 */
const requestIdOf = (event: APIGatewayProxyEventV2 | undefined, context: Context): string =>
  callerRequestId(event?.headers?.['x-request-id']) ?? event?.requestContext?.requestId ?? context.awsRequestId;

/** Validates a value against a schema; the first problem becomes a 400 naming the field. */
export const parseWith = <T extends z.ZodType>(schema: T, value: unknown, where = 'body'): z.infer<T> => {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const path = [where, ...(issue?.path ?? [])].join('.');
  throw new ValidationError(`${path}: ${issue?.message ?? 'invalid'}`, path);
};

/**
 * Turns every error into the one JSON error shape. ApiErrors and middy's exposed HTTP errors
 * keep their status and message; anything else is logged and answered with a bare 500.
 * Written here rather than @middy/http-error-handler because that one answers in plain text.
 */
const jsonErrors = (logger: Logger): MiddlewareObj<APIGatewayProxyEventV2, HttpResult> => ({
  onError: async (request) => {
    const { error } = request;
    const requestId = requestIdOf(request.event, request.context);
    let status = 500;
    let body: ErrorBody['error'] = { code: 'internal_error', message: 'Internal error', requestId };
    if (error instanceof ApiError) {
      status = error.status;
      body = { code: error.code, message: error.message, requestId, ...(error.field ? { field: error.field } : {}) };
    } else if (isExposedHttpError(error)) {
      status = error.statusCode;
      body = { code: status === 404 ? 'not_found' : 'bad_request', message: error.message, requestId };
      if (status === 422 || status === 415) {
        status = 400;
        body = { code: 'validation_error', message: `body: ${error.message}`, field: 'body', requestId };
      }
    }
    if (status >= 500) logger.error('request failed', { error });
    else logger.info('request refused', { status, code: body.code, field: body.field });
    request.response = json(status, { error: body } satisfies ErrorBody);
    if (error instanceof ApiError) request.response.headers = { ...request.response.headers, ...error.headers };
  },
});

const isExposedHttpError = (error: unknown): error is Error & { statusCode: number } =>
  error instanceof Error &&
  typeof (error as { statusCode?: unknown }).statusCode === 'number' &&
  (error as { expose?: boolean }).expose === true;

/** Every response names the request it answers, so a user can quote it in a bug report. */
const requestIdHeader = (): MiddlewareObj<APIGatewayProxyEventV2, HttpResult> => {
  const stamp = (request: { event: APIGatewayProxyEventV2; context: Context; response: HttpResult | null }) => {
    if (!request.response) return;
    request.response.headers = { ...request.response.headers, 'x-request-id': requestIdOf(request.event, request.context) };
  };
  return { after: async (request) => stamp(request), onError: async (request) => stamp(request) };
};

/**
 * The largest request body accepted: a 10,000-step workflow or plan CSV (a generated 10,000-day
 * plan is 1.4 MB of CSV). Below Lambda's 6 MB invocation payload even when API Gateway hands the
 * body over base64-encoded (4/3 of it).
 */
export const defaultMaxBodyBytes = 4 * 1024 * 1024;

/** Refuses an oversized body with 413 before anything parses it. */
const bodySizeLimit = (maxBytes: number): MiddlewareObj<APIGatewayProxyEventV2, HttpResult> => ({
  before: async ({ event }) => {
    if (!event.body) return;
    const bytes = event.isBase64Encoded ? Math.floor((event.body.length * 3) / 4) : Buffer.byteLength(event.body, 'utf8');
    if (bytes > maxBytes) throw new PayloadTooLargeError(maxBytes);
  },
});

/** ApiRequests and ApiLatency by status class: the answer as it leaves (errors mapped), timed from the request's arrival in the function. */
const requestMetrics = (metrics: InvocationMetrics, now = Date.now): MiddlewareObj<APIGatewayProxyEventV2, HttpResult> => {
  let began = 0;
  const record = ({ response }: { response: HttpResult | null }) => {
    const statusClass = statusClassOf(response?.statusCode ?? 500);
    metrics.add('ApiRequests', { statusClass });
    metrics.add('ApiLatency', { statusClass }, now() - began);
  };
  return { before: async () => void (began = now()), after: async (request) => record(request), onError: async (request) => record(request) };
};

export interface HttpStackOptions {
  logger: Logger;
  /** The function's metrics: ApiRequests and ApiLatency per request, and everything recorded, published as the request ends. */
  metrics?: InvocationMetrics;
  corsOrigins: string[];
  /** Bodies above this many bytes are refused with 413 (default defaultMaxBodyBytes). */
  maxBodyBytes?: number;
  /** Parse JSON bodies (default). Off where the raw bytes matter, e.g. signed webhooks. */
  parseJson?: boolean;
}

/**
 * The HTTP middleware stack, attached in one fixed order: observability, header and body
 * parsing, response headers, and the error mapper last (so it runs first on error and the
 * header middlewares still decorate the error response).
 */
export const httpStack = (
  handler: (event: APIGatewayProxyEventV2, context: Context) => Promise<HttpResult>,
  { logger, corsOrigins, parseJson = true, maxBodyBytes = defaultMaxBodyBytes, metrics }: HttpStackOptions,
) => {
  const stack = middy<APIGatewayProxyEventV2, HttpResult>().use(traceHandler());
  // Early, so their after/onError run late: the request counted with its final status, then every metric published.
  if (metrics) stack.use(publishMetrics(metrics)).use(requestMetrics(metrics));
  // Response decorators first: on error, middy runs onError from the last attached backwards, so
  // jsonErrors (last) builds the response and these still add their headers to it.
  stack
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(httpSecurityHeaders())
    .use(httpCors({ origins: corsOrigins, credentials: false }))
    .use(requestIdHeader())
    .use(jsonErrors(logger))
    .use(httpHeaderNormalizer())
    .use(bodySizeLimit(maxBodyBytes));
  if (parseJson) stack.use(httpJsonBodyParser({ disableContentTypeError: true }));
  // The request id on every line the handler logs and on every step message it sends.
  return stack.handler((event, context) => withCorrelation({ requestId: requestIdOf(event, context) }, () => handler(event, context)));
};
