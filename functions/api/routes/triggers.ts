import { NotFoundError, ValidationError } from '#shared/domain/errors';
import { triggerListResponse, triggerResponse } from '#shared/schemas/responses';
import { createTriggerBody, triggerActionParam, triggerIdParam } from '#shared/schemas/triggers';
import { operation, type Operation } from '../operation';
import type { ApiDeps } from './deps';
import { projectPath } from './projects';

const triggerPath = projectPath.extend({ triggerId: triggerIdParam });

/** Runs started by events: webhook deliveries and EventBridge events (shared/engine/triggers.ts). */
export const triggerOperations = ({ workflows, triggers }: ApiDeps): Operation[] => [
  operation({
    operationId: 'createTrigger',
    method: 'POST',
    path: '/v1/projects/{projectId}/triggers',
    summary: 'Start runs of a workflow from webhook deliveries or EventBridge events',
    tag: 'triggers',
    access: { project: 'editor' },
    params: projectPath,
    body: { schema: createTriggerBody, required: true },
    responses: { 201: { description: 'Created', schema: triggerResponse }, 409: { description: "Over the project's trigger quota (delete one first)" } },
    handler: async ({ params, body }) => {
      // A trigger that can never start anything is refused now rather than failing at each event.
      if (!(await workflows.get(params.projectId, body.workflowId, body.version))) {
        throw new ValidationError(`body.${body.version ? 'version' : 'workflowId'}: no such workflow${body.version ? ' version' : ''} in this project`, body.version ? 'body.version' : 'body.workflowId');
      }
      return { status: 201, body: await triggers.create(params.projectId, body) };
    },
  }),
  operation({
    operationId: 'listTriggers',
    method: 'GET',
    path: '/v1/projects/{projectId}/triggers',
    summary: "The project's triggers",
    tag: 'triggers',
    access: { project: 'viewer' },
    params: projectPath,
    responses: { 200: { description: 'Triggers', schema: triggerListResponse } },
    handler: async ({ params }) => ({ status: 200, body: { items: await triggers.list(params.projectId) } }),
  }),
  operation({
    operationId: 'deleteTrigger',
    method: 'DELETE',
    path: '/v1/projects/{projectId}/triggers/{triggerId}',
    summary: 'Delete a trigger (and its EventBridge rule): it starts nothing more',
    tag: 'triggers',
    access: { project: 'editor' },
    params: triggerPath,
    responses: { 204: { description: 'Deleted' } },
    handler: async ({ params }) => {
      const trigger = await triggers.get(params.projectId, params.triggerId);
      if (!trigger) throw new NotFoundError('Trigger');
      await triggers.delete(trigger);
      return { status: 204 };
    },
  }),
  operation({
    operationId: 'triggerAction',
    method: 'POST',
    path: '/v1/projects/{projectId}/triggers/{triggerId}/actions/{action}',
    summary: 'pause or resume a trigger (a paused trigger starts nothing)',
    tag: 'triggers',
    access: { project: 'editor' },
    params: triggerPath.extend({ action: triggerActionParam }),
    responses: { 200: { description: 'The trigger after the action', schema: triggerResponse } },
    handler: async ({ params }) => {
      const trigger = await triggers.get(params.projectId, params.triggerId);
      if (!trigger) throw new NotFoundError('Trigger');
      return { status: 200, body: await triggers.setState(trigger, params.action === 'pause' ? 'DISABLED' : 'ENABLED') };
    },
  }),
];
