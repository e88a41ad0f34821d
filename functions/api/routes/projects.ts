import { z } from 'zod';
import { NotFoundError } from '#shared/domain/errors';
import { webhookProviderNames } from '#shared/webhook-providers/registry';
import { createProjectBody, projectIdParam, projectSettingsPatch, webhookSecretBody } from '#shared/schemas/projects';
import { createdProjectResponse, projectPageResponse, projectResponse, projectSettingsResponse, webhookSecretResponse } from '#shared/schemas/responses';
import { pageQuery } from '#shared/schemas/runs';
import { assertReviewer } from '#shared/executors/registry';
import { reviewedOutputName } from '#shared/domain/quality-gates';
import { generateWebhookSecret } from '#shared/store/webhook-secrets';
import { operation, type Operation } from '../operation';
import type { ApiDeps } from './deps';

export const projectPath = z.strictObject({ projectId: projectIdParam });

/** Projects, their settings and their webhook secrets. */
export const projectOperations = ({ projects, outbox, webhookSecrets, engine }: ApiDeps): Operation[] => [
  operation({
    operationId: 'createProject',
    method: 'POST',
    path: '/v1/projects',
    summary: 'Create a project and its first admin token (installation admin only)',
    tag: 'projects',
    access: 'installation',
    body: { schema: createProjectBody, required: true },
    responses: { 201: { description: 'Created; the admin token is shown this once', schema: createdProjectResponse } },
    handler: async ({ body, principal }) => {
      const created = await projects.create({ name: body.name, actor: principal.actor });
      await outbox.publish(created.events);
      return { status: 201, body: { ...created.project, adminToken: { id: created.tokenRecord.tokenId, role: 'admin', token: created.token } } };
    },
  }),
  operation({
    operationId: 'listProjects',
    method: 'GET',
    path: '/v1/projects',
    summary: "The installation's projects, oldest first (installation admin only)",
    tag: 'projects',
    access: 'installation',
    query: pageQuery(),
    responses: { 200: { description: 'A page of projects', schema: projectPageResponse } },
    handler: async ({ query }) => {
      const page = await projects.list(query);
      return { status: 200, body: { items: page.items, ...(page.cursor ? { cursor: page.cursor } : {}) } };
    },
  }),
  operation({
    operationId: 'getProject',
    method: 'GET',
    path: '/v1/projects/{projectId}',
    summary: 'A project with its settings',
    tag: 'projects',
    access: { project: 'viewer' },
    params: projectPath,
    responses: { 200: { description: 'The project', schema: projectResponse } },
    handler: async ({ params }) => {
      const project = await projects.get(params.projectId);
      if (!project) throw new NotFoundError('Project');
      return { status: 200, body: project };
    },
  }),
  operation({
    operationId: 'updateProjectSettings',
    method: 'PATCH',
    path: '/v1/projects/{projectId}/settings',
    summary: 'Change some of the project settings (auto-QA on CI, complete on merge, private agent ranges, budgets, the default quality gate)',
    tag: 'projects',
    access: { project: 'admin' },
    params: projectPath,
    body: { schema: projectSettingsPatch, required: true },
    responses: { 200: { description: 'All settings, after the change', schema: projectSettingsResponse } },
    handler: async ({ params, body }) => {
      // The default gate's reviewer is checked as a step's would be; it sees the reviewed output as `dependencies.output`.
      if (body.qa) assertReviewer(engine.stepKinds, body.qa.reviewer, [reviewedOutputName], 'body.qa.reviewer');
      const settings = await projects.updateSettings(params.projectId, body);
      if (!settings) throw new NotFoundError('Project');
      return { status: 200, body: settings };
    },
  }),
  operation({
    operationId: 'setWebhookSecret',
    method: 'PUT',
    path: '/v1/projects/{projectId}/webhook-secrets/{provider}',
    summary: "Set (or generate) a provider's webhook secret; the previous one stays valid until the next rotation",
    tag: 'webhooks',
    access: { project: 'admin' },
    params: projectPath.extend({ provider: z.enum(webhookProviderNames) }),
    body: { schema: webhookSecretBody.default({}), required: false },
    responses: { 200: { description: 'The secret, shown this once', schema: webhookSecretResponse } },
    handler: async ({ params, body }) => {
      if (!(await projects.get(params.projectId))) throw new NotFoundError('Project');
      const secret = body.secret ?? generateWebhookSecret();
      const rotated = await webhookSecrets.rotate(params.projectId, params.provider, secret);
      // Shown this once; afterwards it is only ever read sealed, by the webhook receiver.
      return { status: 200, body: { provider: params.provider, secret, ...rotated } };
    },
  }),
];
