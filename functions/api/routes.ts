import httpRouterHandler from '@middy/http-router';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { MethodNotAllowedError, NotFoundError } from '#shared/domain/errors';
import { httpStack, type HttpEvent, type HttpResult, type HttpStackOptions } from '#shared/middleware/http';
import { createMetering } from '#shared/middleware/metering';
import type { Principal } from '#shared/middleware/principal';
import { buildOpenApiDocument } from './openapi';
import { operationHandler, type Operation } from './operation';
import { callbackOperations } from './routes/callbacks';
import { feedbackOperations } from './routes/feedback';
import { forkOperations } from './routes/forks';
import type { ApiDeps } from './routes/deps';
import { projectOperations } from './routes/projects';
import { mapChildrenOperations } from './routes/map-children';
import { metricsOperations } from './routes/metrics';
import { queueOperations } from './routes/queues';
import { runOperations } from './routes/runs';
import { scheduleOperations } from './routes/schedules';
import { secretOperations } from './routes/secrets';
import { systemOperations } from './routes/system';
import { tokenOperations } from './routes/tokens';
import { triggerOperations } from './routes/triggers';
import { workflowOperations } from './routes/workflows';

export type { ApiDeps } from './routes/deps';

/** Every operation of the API, in the order the OpenAPI document lists them. */
export function apiOperations(deps: ApiDeps): Operation[] {
  let document: unknown;
  const operations: Operation[] = [
    ...systemOperations(deps, () => (document ??= buildOpenApiDocument(operations))),
    ...projectOperations(deps),
    ...metricsOperations(deps),
    ...tokenOperations(deps),
    ...secretOperations(deps),
    ...workflowOperations(deps),
    ...mapChildrenOperations(deps),
    ...runOperations(deps),
    ...forkOperations(deps),
    ...feedbackOperations(deps),
    ...scheduleOperations(deps),
    ...triggerOperations(deps),
    ...callbackOperations(deps),
    ...queueOperations(deps),
  ];
  return operations;
}

/** `/v1/runs/{runId}` → a regex matching that path with any one segment per parameter. */
const pathPattern = (path: string) => new RegExp(`^${path.replace(/\{\w+\}/g, '[^/]+')}$`);

/** The API Lambda's handler: the operations behind middy's router, inside the HTTP middleware stack. */
export const createApiHandler = (deps: ApiDeps, options: HttpStackOptions) => {
  const { rateLimiter, defaultRateLimit } = deps;
  const authenticate = async (authorization: string | undefined): Promise<Principal> => {
    const principal = await deps.authenticate(authorization);
    await rateLimiter?.take(principal.kind === 'project' ? principal.tokenId : 'installation', (principal.kind === 'project' ? principal.rateLimit : undefined) ?? defaultRateLimit);
    return principal;
  };
  const operationDeps = { authenticate, getRun: (runId: string) => deps.runs.getRun(runId, true), checkResponses: deps.checkResponses };
  const operations = apiOperations(deps);
  const router = httpRouterHandler<APIGatewayProxyEventV2, HttpResult>({
    routes: operations.map((op) => ({
      method: op.method,
      path: op.path,
      handler: operationHandler(op, operationDeps) as unknown as (event: APIGatewayProxyEventV2, context: Context) => Promise<HttpResult>,
    })),
    // A path some operation matches never gets here: checkMethod has let it through or answered 405.
    notFoundResponse: ({ method, path }) => {
      throw new NotFoundError(`Route ${method} ${path}`);
    },
  });
  const patterns = operations.map((op) => ({ op, pattern: pathPattern(op.path), parameters: (op.path.match(/\{/g) ?? []).length }));
  /**
   * The most specific paths matching a request win (`/workflows/import` over `/workflows/{id}`):
   * a method none of them takes is a 405 naming the ones they do, even if a less specific path
   * would take it.
   */
  const checkMethod = (method: string, path: string) => {
    const matching = patterns.filter(({ pattern }) => pattern.test(path));
    if (matching.length === 0) return;
    const fewest = Math.min(...matching.map(({ parameters }) => parameters));
    const allowed = matching.filter(({ parameters }) => parameters === fewest).map(({ op }) => op.method);
    if (!allowed.includes(method as Operation['method'])) throw new MethodNotAllowedError(method, path, allowed);
  };
  // Every request is metered: run creation and the run and step actions charge what they cost
  // to their run (routes/runs.ts); the rest is in the api's usage metrics.
  const metering = createMetering({ service: 'api', logger: options.logger, runUsage: deps.runUsage, counters: deps.projectCounters });
  return httpStack(async (event, context) => {
    checkMethod(event.requestContext.http.method, event.rawPath);
    return metering.invocation(() => router(event as HttpEvent, context));
  }, options);
};
