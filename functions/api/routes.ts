import httpRouterHandler from '@middy/http-router';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { NotFoundError } from '#shared/domain/errors';
import { httpStack, json, parseWith, type HttpEvent, type HttpResult, type HttpStackOptions } from '#shared/middleware/http';
import { requireInstallationAdmin, requireProjectAccess, type Principal } from '#shared/middleware/principal';
import { createProjectBody, projectIdParam } from '#shared/schemas/projects';
import type { EventOutbox } from '#shared/store/event-outbox';
import type { ProjectStore } from '#shared/store/projects';

export interface ApiDeps {
  stage: string;
  projects: ProjectStore;
  outbox: EventOutbox;
  authenticate: (authorization: string | undefined) => Promise<Principal>;
}

type RouteHandler = (event: HttpEvent, context: Context) => Promise<HttpResult>;
export interface Route {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  handler: RouteHandler;
}

/** The HTTP routes of the API Lambda; each authenticated route resolves its principal first. */
export const createRoutes = ({ stage, projects, outbox, authenticate }: ApiDeps): Route[] => {
  const authenticated =
    (handler: (event: HttpEvent, principal: Principal) => Promise<HttpResult>): RouteHandler =>
    async (event) => handler(event, await authenticate(event.headers.authorization));

  return [
    {
      method: 'GET',
      path: '/health',
      handler: async () => json(200, { status: 'ok', stage }),
    },
    {
      method: 'GET',
      path: '/v1/whoami',
      handler: authenticated(async (_event, principal) =>
        json(200, principal.kind === 'installation'
          ? { kind: 'installation', role: 'admin' }
          : { kind: 'project', projectId: principal.projectId, role: principal.role, tokenId: principal.tokenId }),
      ),
    },
    {
      method: 'POST',
      path: '/v1/projects',
      handler: authenticated(async (event, principal) => {
        requireInstallationAdmin(principal);
        const body = parseWith(createProjectBody, event.body);
        const created = await projects.create({ name: body.name, actor: principal.actor });
        await outbox.publish(created.events);
        return json(201, {
          ...created.project,
          adminToken: { id: created.tokenRecord.tokenId, role: created.tokenRecord.role, token: created.token },
        });
      }),
    },
    {
      method: 'GET',
      path: '/v1/projects/{projectId}',
      handler: authenticated(async (event, principal) => {
        const projectId = parseWith(projectIdParam, event.pathParameters?.projectId, 'path.projectId');
        requireProjectAccess(principal, projectId, 'viewer');
        const project = await projects.get(projectId);
        if (!project) throw new NotFoundError('Project');
        return json(200, project);
      }),
    },
  ];
};

/** The API Lambda's handler: the routes behind middy's router, inside the HTTP middleware stack. */
export const createApiHandler = (deps: ApiDeps, options: HttpStackOptions) =>
  httpStack(
    httpRouterHandler<APIGatewayProxyEventV2, HttpResult>({
      routes: createRoutes(deps).map((route) => ({ ...route, handler: route.handler as (event: APIGatewayProxyEventV2, context: Context) => Promise<HttpResult> })),
      notFoundResponse: ({ method, path }) => {
        throw new NotFoundError(`Route ${method} ${path}`);
      },
    }),
    options,
  );
