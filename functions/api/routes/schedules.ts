import { NotFoundError } from '#shared/domain/errors';
import { scheduleListResponse, scheduleResponse } from '#shared/schemas/responses';
import { createScheduleBody, scheduleActionParam, scheduleIdParam } from '#shared/schemas/schedules';
import { operation, type Operation } from '../operation';
import type { ApiDeps } from './deps';
import { projectPath } from './projects';

const schedulePath = projectPath.extend({ scheduleId: scheduleIdParam });

/** Timed starts of a workflow through EventBridge Scheduler. */
export const scheduleOperations = ({ workflows, schedules }: ApiDeps): Operation[] => [
  operation({
    operationId: 'createSchedule',
    method: 'POST',
    path: '/v1/projects/{projectId}/schedules',
    summary: 'Start runs of a workflow on a rate, a cron expression or once at a time',
    tag: 'schedules',
    access: { project: 'editor' },
    params: projectPath,
    body: { schema: createScheduleBody, required: true },
    responses: { 201: { description: 'Created', schema: scheduleResponse }, 409: { description: "Over the project's schedule quota (delete one first)" } },
    handler: async ({ params, body }) => {
      if (!(await workflows.get(params.projectId, body.workflowId, body.version))) throw new NotFoundError('Workflow');
      return { status: 201, body: await schedules.create(params.projectId, body) };
    },
  }),
  operation({
    operationId: 'listSchedules',
    method: 'GET',
    path: '/v1/projects/{projectId}/schedules',
    summary: "The project's schedules",
    tag: 'schedules',
    access: { project: 'viewer' },
    params: projectPath,
    responses: { 200: { description: 'Schedules', schema: scheduleListResponse } },
    handler: async ({ params }) => ({ status: 200, body: { items: await schedules.list(params.projectId) } }),
  }),
  operation({
    operationId: 'deleteSchedule',
    method: 'DELETE',
    path: '/v1/projects/{projectId}/schedules/{scheduleId}',
    summary: 'Delete a schedule: it fires no more',
    tag: 'schedules',
    access: { project: 'editor' },
    params: schedulePath,
    responses: { 204: { description: 'Deleted' } },
    handler: async ({ params }) => {
      if (!(await schedules.get(params.projectId, params.scheduleId))) throw new NotFoundError('Schedule');
      await schedules.delete(params.projectId, params.scheduleId);
      return { status: 204 };
    },
  }),
  operation({
    operationId: 'scheduleAction',
    method: 'POST',
    path: '/v1/projects/{projectId}/schedules/{scheduleId}/actions/{action}',
    summary: 'pause or resume a schedule',
    tag: 'schedules',
    access: { project: 'editor' },
    params: schedulePath.extend({ action: scheduleActionParam }),
    responses: { 200: { description: 'The schedule after the action', schema: scheduleResponse } },
    handler: async ({ params }) => {
      const schedule = await schedules.get(params.projectId, params.scheduleId);
      if (!schedule) throw new NotFoundError('Schedule');
      return { status: 200, body: await schedules.setState(schedule, params.action === 'pause' ? 'DISABLED' : 'ENABLED') };
    },
  }),
];
