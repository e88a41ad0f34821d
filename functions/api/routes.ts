import httpRouterHandler from '@middy/http-router';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { meterUsage } from '#shared/clients/usage-meter';
import { NotFoundError, ValidationError } from '#shared/domain/errors';
import { parsePlanCsv } from '#shared/domain/plan-csv';
import { parseWorkflowDefinition } from '#shared/domain/workflow-definition';
import type { EngineDeps } from '#shared/engine/context';
import { createRun, runAction, stepAction } from '#shared/engine/run-actions';
import { httpStack, json, parseWith, type HttpEvent, type HttpResult, type HttpStackOptions } from '#shared/middleware/http';
import { requireInstallationAdmin, requireProjectAccess, type Principal } from '#shared/middleware/principal';
import { createProjectBody, projectIdParam, projectSettingsPatch, webhookSecretBody } from '#shared/schemas/projects';
import {
  createRunBody,
  idempotencyKeyHeader,
  importQuery,
  listEventsQuery,
  listRunsQuery,
  runActionBody,
  runActionParam,
  runIdParam,
  stepActionBody,
  stepActionParam,
  stepIdParam,
  workflowIdParam,
  workflowQuery,
} from '#shared/schemas/runs';
import type { EventOutbox } from '#shared/store/event-outbox';
import type { ProjectStore } from '#shared/store/projects';
import type { WorkflowStore } from '#shared/store/workflows';
import type { Schedules } from '#shared/engine/schedules';
import { createScheduleBody, scheduleActionParam, scheduleIdParam } from '#shared/schemas/schedules';
import { generateWebhookSecret, type WebhookSecretStore } from '#shared/store/webhook-secrets';
import { webhookProviders } from '#shared/domain/webhook-deliveries';
import { z } from 'zod';
import { runView, stepDetail, stepSummary } from './views';

export interface ApiDeps {
  stage: string;
  projects: ProjectStore;
  outbox: EventOutbox;
  authenticate: (authorization: string | undefined) => Promise<Principal>;
  workflows: WorkflowStore;
  engine: EngineDeps;
  webhookSecrets: WebhookSecretStore;
  schedules: Schedules;
}

type RouteHandler = (event: HttpEvent, context: Context) => Promise<HttpResult>;
export interface Route {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  handler: RouteHandler;
}

const param = (event: HttpEvent, name: string) => event.pathParameters?.[name];

/** The raw text of a non-JSON body (YAML, CSV), decoding API Gateway's base64 when it used it. */
const textBody = (event: HttpEvent): string => {
  if (typeof event.body !== 'string') return '';
  return event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
};

/** The HTTP routes of the API Lambda; each authenticated route resolves its principal first. */
export const createRoutes = (deps: ApiDeps): Route[] => {
  const { stage, projects, outbox, authenticate, workflows, engine, webhookSecrets, schedules } = deps;
  const authenticated =
    (handler: (event: HttpEvent, principal: Principal) => Promise<HttpResult>): RouteHandler =>
    async (event) => handler(event, await authenticate(event.headers.authorization));

  const projectOf = (event: HttpEvent) => parseWith(projectIdParam, param(event, 'projectId'), 'path.projectId');

  /** The run named in the path, if the principal may see it with `role` (another project's run is 404). */
  const loadRun = async (event: HttpEvent, principal: Principal, role: 'viewer' | 'editor') => {
    const runId = parseWith(runIdParam, param(event, 'runId'), 'path.runId');
    const run = await engine.runs.getRun(runId, true);
    if (!run) throw new NotFoundError('Run');
    requireProjectAccess(principal, run.projectId, role);
    return run;
  };

  const saveWorkflow = async (projectId: string, principal: Principal, body: Parameters<WorkflowStore['save']>[0]['body']) => {
    engine.executors.validateInputs(body.steps);
    const saved = await workflows.save({ projectId, body, actor: principal.actor });
    await outbox.publish(saved.events);
    return saved.workflow;
  };

  return [
    { method: 'GET', path: '/health', handler: async () => json(200, { status: 'ok', stage }) },
    {
      method: 'GET',
      path: '/v1/whoami',
      handler: authenticated(async (_event, principal) =>
        json(
          200,
          principal.kind === 'installation'
            ? { kind: 'installation', role: 'admin' }
            : { kind: 'project', projectId: principal.projectId, role: principal.role, tokenId: principal.tokenId },
        ),
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
        return json(201, { ...created.project, adminToken: { id: created.tokenRecord.tokenId, role: created.tokenRecord.role, token: created.token } });
      }),
    },
    {
      method: 'GET',
      path: '/v1/projects/{projectId}',
      handler: authenticated(async (event, principal) => {
        const projectId = projectOf(event);
        requireProjectAccess(principal, projectId, 'viewer');
        const project = await projects.get(projectId);
        if (!project) throw new NotFoundError('Project');
        return json(200, project);
      }),
    },
    {
      method: 'PATCH',
      path: '/v1/projects/{projectId}/settings',
      handler: authenticated(async (event, principal) => {
        const projectId = projectOf(event);
        requireProjectAccess(principal, projectId, 'admin');
        const patch = parseWith(projectSettingsPatch, event.body ?? {});
        const settings = await projects.updateSettings(projectId, patch);
        if (!settings) throw new NotFoundError('Project');
        return json(200, settings);
      }),
    },
    {
      method: 'PUT',
      path: '/v1/projects/{projectId}/webhook-secrets/{provider}',
      handler: authenticated(async (event, principal) => {
        const projectId = projectOf(event);
        requireProjectAccess(principal, projectId, 'admin');
        const provider = parseWith(z.enum(webhookProviders), param(event, 'provider'), 'path.provider');
        const body = parseWith(webhookSecretBody, event.body ?? {});
        if (!(await projects.get(projectId))) throw new NotFoundError('Project');
        const secret = body.secret ?? generateWebhookSecret();
        const rotated = await webhookSecrets.rotate(projectId, provider, secret);
        // Shown this once; afterwards it is only ever read sealed, by the webhook receiver.
        return json(200, { provider, secret, ...rotated });
      }),
    },
    {
      method: 'POST',
      path: '/v1/projects/{projectId}/workflows',
      handler: authenticated(async (event, principal) => {
        const projectId = projectOf(event);
        requireProjectAccess(principal, projectId, 'editor');
        const raw = typeof event.body === 'string' ? textBody(event) : event.body && typeof event.body === 'object' ? event.body : '';
        const body = parseWorkflowDefinition(raw, event.headers['content-type']);
        const workflow = await saveWorkflow(projectId, principal, body);
        return json(201, { id: workflow.id, name: workflow.name, version: workflow.version, steps: workflow.steps.length });
      }),
    },
    {
      method: 'POST',
      path: '/v1/projects/{projectId}/workflows/import',
      handler: authenticated(async (event, principal) => {
        const projectId = projectOf(event);
        requireProjectAccess(principal, projectId, 'editor');
        const query = parseWith(importQuery, event.queryStringParameters ?? {}, 'query');
        if (typeof event.body !== 'string') throw new ValidationError('body: send the plan as text/csv', 'body');
        const plan = parsePlanCsv(textBody(event), { ...(query.name ? { name: query.name } : {}), ...(query.kind ? { kind: query.kind } : {}), dateGating: query.dateGating ?? false });
        const workflow = await saveWorkflow(projectId, principal, { name: plan.name, steps: plan.steps });
        return json(201, { id: workflow.id, name: workflow.name, version: workflow.version, steps: workflow.steps.length });
      }),
    },
    {
      method: 'GET',
      path: '/v1/projects/{projectId}/workflows/{workflowId}',
      handler: authenticated(async (event, principal) => {
        const projectId = projectOf(event);
        requireProjectAccess(principal, projectId, 'viewer');
        const workflowId = parseWith(workflowIdParam, param(event, 'workflowId'), 'path.workflowId');
        const { version } = parseWith(workflowQuery, event.queryStringParameters ?? {}, 'query');
        const workflow = await workflows.get(projectId, workflowId, version);
        if (!workflow) throw new NotFoundError('Workflow');
        return json(200, workflow);
      }),
    },
    {
      method: 'POST',
      path: '/v1/projects/{projectId}/runs',
      handler: authenticated(async (event, principal) => {
        const projectId = projectOf(event);
        requireProjectAccess(principal, projectId, 'editor');
        const body = parseWith(createRunBody, event.body ?? {});
        const idempotencyKey = parseWith(idempotencyKeyHeader, event.headers['idempotency-key'], 'header.Idempotency-Key');
        const workflow = await workflows.get(projectId, body.workflowId, body.version);
        if (!workflow) throw new NotFoundError(body.version ? `Workflow ${body.workflowId} version ${body.version}` : 'Workflow');
        const { run, created } = await createRun(engine, {
          projectId,
          workflow,
          ...(body.input !== undefined ? { input: body.input } : {}),
          ...(body.git ? { git: body.git } : {}),
          ...(idempotencyKey ? { idempotencyKey } : {}),
          actor: principal.actor,
          start: body.start,
        });
        const response = json(201, runView(run, undefined));
        return created ? response : { ...response, headers: { ...response.headers, 'idempotent-replayed': 'true' } };
      }),
    },
    {
      method: 'GET',
      path: '/v1/projects/{projectId}/runs',
      handler: authenticated(async (event, principal) => {
        const projectId = projectOf(event);
        requireProjectAccess(principal, projectId, 'viewer');
        const query = parseWith(listRunsQuery, event.queryStringParameters ?? {}, 'query');
        const page = await engine.runs.listRuns(projectId, query);
        return json(200, { items: page.items.map((run) => runView(run, undefined)), ...(page.cursor ? { cursor: page.cursor } : {}) });
      }),
    },
    {
      method: 'POST',
      path: '/v1/projects/{projectId}/schedules',
      handler: authenticated(async (event, principal) => {
        const projectId = projectOf(event);
        requireProjectAccess(principal, projectId, 'editor');
        const body = parseWith(createScheduleBody, event.body ?? {});
        if (!(await workflows.get(projectId, body.workflowId, body.version))) throw new NotFoundError('Workflow');
        return json(201, await schedules.create(projectId, body));
      }),
    },
    {
      method: 'GET',
      path: '/v1/projects/{projectId}/schedules',
      handler: authenticated(async (event, principal) => {
        const projectId = projectOf(event);
        requireProjectAccess(principal, projectId, 'viewer');
        return json(200, { items: await schedules.list(projectId) });
      }),
    },
    {
      method: 'DELETE',
      path: '/v1/projects/{projectId}/schedules/{scheduleId}',
      handler: authenticated(async (event, principal) => {
        const projectId = projectOf(event);
        requireProjectAccess(principal, projectId, 'editor');
        const scheduleId = parseWith(scheduleIdParam, param(event, 'scheduleId'), 'path.scheduleId');
        if (!(await schedules.get(projectId, scheduleId))) throw new NotFoundError('Schedule');
        await schedules.delete(projectId, scheduleId);
        return { statusCode: 204 };
      }),
    },
    {
      method: 'POST',
      path: '/v1/projects/{projectId}/schedules/{scheduleId}/actions/{action}',
      handler: authenticated(async (event, principal) => {
        const projectId = projectOf(event);
        requireProjectAccess(principal, projectId, 'editor');
        const scheduleId = parseWith(scheduleIdParam, param(event, 'scheduleId'), 'path.scheduleId');
        const action = parseWith(scheduleActionParam, param(event, 'action'), 'path.action');
        const schedule = await schedules.get(projectId, scheduleId);
        if (!schedule) throw new NotFoundError('Schedule');
        return json(200, await schedules.setState(schedule, action === 'pause' ? 'DISABLED' : 'ENABLED'));
      }),
    },
    {
      method: 'GET',
      path: '/v1/runs/{runId}',
      handler: authenticated(async (event, principal) => {
        const run = await loadRun(event, principal, 'viewer');
        return json(200, runView(run, await engine.runs.listSteps(run.id)));
      }),
    },
    {
      method: 'POST',
      path: '/v1/runs/{runId}/actions/{action}',
      handler: authenticated(async (event, principal) => {
        const action = parseWith(runActionParam, param(event, 'action'), 'path.action');
        const run = await loadRun(event, principal, 'editor');
        const body = parseWith(runActionBody, event.body ?? undefined);
        const updated = await runAction(engine, run, action, principal.actor, body);
        return json(200, runView(updated, undefined));
      }),
    },
    {
      method: 'GET',
      path: '/v1/runs/{runId}/steps',
      handler: authenticated(async (event, principal) => {
        const run = await loadRun(event, principal, 'viewer');
        return json(200, { items: (await engine.runs.listSteps(run.id)).map(stepSummary) });
      }),
    },
    {
      method: 'GET',
      path: '/v1/runs/{runId}/steps/{stepId}',
      handler: authenticated(async (event, principal) => {
        const run = await loadRun(event, principal, 'viewer');
        const stepId = parseWith(stepIdParam, param(event, 'stepId'), 'path.stepId');
        const step = await engine.runs.getStep(run.id, stepId, true);
        if (!step) throw new NotFoundError('Step');
        return json(200, await stepDetail(step, engine.artifacts));
      }),
    },
    {
      method: 'POST',
      path: '/v1/runs/{runId}/steps/{stepId}/actions/{action}',
      handler: authenticated(async (event, principal) => {
        const action = parseWith(stepActionParam, param(event, 'action'), 'path.action');
        const run = await loadRun(event, principal, 'editor');
        const stepId = parseWith(stepIdParam, param(event, 'stepId'), 'path.stepId');
        const body = parseWith(stepActionBody, event.body ?? undefined);
        const step = await engine.runs.getStep(run.id, stepId, true);
        if (!step) throw new NotFoundError('Step');
        const updated = await stepAction(engine, run, step, action, principal.actor, body);
        return json(200, await stepDetail(updated, engine.artifacts));
      }),
    },
    {
      method: 'GET',
      path: '/v1/runs/{runId}/events',
      handler: authenticated(async (event, principal) => {
        const run = await loadRun(event, principal, 'viewer');
        const query = parseWith(listEventsQuery, event.queryStringParameters ?? {}, 'query');
        const page = await engine.runs.listEvents(run.id, query);
        return json(200, { items: page.items, ...(page.cursor ? { cursor: page.cursor } : {}) });
      }),
    },
  ];
};

/** The API Lambda's handler: the routes behind middy's router, inside the HTTP middleware stack. */
export const createApiHandler = (deps: ApiDeps, options: HttpStackOptions) => {
  const router = httpRouterHandler<APIGatewayProxyEventV2, HttpResult>({
    routes: createRoutes(deps).map((route) => ({ ...route, handler: route.handler as (event: APIGatewayProxyEventV2, context: Context) => Promise<HttpResult> })),
    notFoundResponse: ({ method, path }) => {
      throw new NotFoundError(`Route ${method} ${path}`);
    },
  });
  // Every request is metered so writes made anyway (run creation) can carry what it cost.
  return httpStack(async (event, context) => (await meterUsage(async () => router(event, context))).result, options);
};
