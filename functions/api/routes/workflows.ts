import { z } from 'zod';
import { NotFoundError, ValidationError } from '#shared/domain/errors';
import { parsePlanCsv } from '#shared/domain/plan-csv';
import { assertCallbackSettings, assertStepTimeouts, workflowBody } from '#shared/domain/workflow';
import { formatIssuePath, parseWorkflowDefinition } from '#shared/domain/workflow-definition';
import type { Principal } from '#shared/middleware/principal';
import { importQuery, pageQuery, workflowIdParam, workflowQuery } from '#shared/schemas/runs';
import { savedWorkflowResponse, workflowPageResponse, workflowResponse } from '#shared/schemas/responses';
import type { WorkflowStore } from '#shared/store/workflows';
import { operation, type Operation } from '../operation';
import type { ApiDeps } from './deps';
import { projectPath } from './projects';
import { assertSecretsExist, secretReferences } from './secrets';

/** Workflows: versions saved from JSON or YAML, or imported from a plan CSV. */
export const workflowOperations = ({ workflows, outbox, engine, secrets }: ApiDeps): Operation[] => {
  const save = async (projectId: string, principal: Principal, body: Parameters<WorkflowStore['save']>[0]['body']) => {
    engine.stepKinds.validateInputs(body.steps);
    assertStepTimeouts(body.steps, engine.maxStepTimeoutSeconds);
    assertCallbackSettings(body.steps);
    const references = secretReferences(body.steps.map((step, index) => [index, step.input]), (index, path) => formatIssuePath(['steps', index, 'input', ...path]));
    await assertSecretsExist(secrets, projectId, references);
    const saved = await workflows.save({ projectId, body, actor: principal.actor });
    await outbox.publish(saved.events);
    return saved.workflow;
  };
  return [
    operation({
      operationId: 'saveWorkflow',
      method: 'POST',
      path: '/v1/projects/{projectId}/workflows',
      summary: 'Save a workflow (JSON or YAML); the same name adds a version',
      tag: 'workflows',
      access: { project: 'editor' },
      params: projectPath,
      body: {
        schema: workflowBody,
        required: true,
        text: [{ contentType: 'application/yaml', description: 'The same definition in YAML', structured: true }],
        parse: (raw, event) => parseWorkflowDefinition(raw as string | object, event.headers['content-type']),
      },
      responses: { 201: { description: 'Saved', schema: savedWorkflowResponse } },
      handler: async ({ params, body, principal }) => {
        const workflow = await save(params.projectId, principal, body);
        return { status: 201, body: { id: workflow.id, name: workflow.name, version: workflow.version, steps: workflow.steps.length } };
      },
    }),
    operation({
      operationId: 'listWorkflows',
      method: 'GET',
      path: '/v1/projects/{projectId}/workflows',
      summary: "The project's workflows by name, each with its latest version and step count",
      tag: 'workflows',
      access: { project: 'viewer' },
      params: projectPath,
      query: pageQuery(),
      responses: { 200: { description: 'A page of workflows', schema: workflowPageResponse } },
      handler: async ({ params, query }) => {
        const page = await workflows.list(params.projectId, query);
        return { status: 200, body: { items: page.items, ...(page.cursor ? { cursor: page.cursor } : {}) } };
      },
    }),
    operation({
      operationId: 'importPlan',
      method: 'POST',
      path: '/v1/projects/{projectId}/workflows/import',
      summary: 'Import a plan CSV (Day, Date, Theme, …, Dependencies) as a workflow',
      tag: 'workflows',
      access: { project: 'editor' },
      params: projectPath,
      query: importQuery,
      body: {
        schema: z.string(),
        required: true,
        text: [{ contentType: 'text/csv', description: 'The plan, one row per step' }],
        parse: (raw) => {
          if (typeof raw !== 'string') throw new ValidationError('body: send the plan as text/csv', 'body');
          return raw;
        },
      },
      responses: { 201: { description: 'Imported', schema: savedWorkflowResponse } },
      handler: async ({ params, query, body, principal }) => {
        const plan = parsePlanCsv(body, { ...(query.name ? { name: query.name } : {}), ...(query.kind ? { kind: query.kind } : {}), dateGating: query.dateGating ?? false });
        const workflow = await save(params.projectId, principal, { name: plan.name, steps: plan.steps });
        return { status: 201, body: { id: workflow.id, name: workflow.name, version: workflow.version, steps: workflow.steps.length } };
      },
    }),
    operation({
      operationId: 'getWorkflow',
      method: 'GET',
      path: '/v1/projects/{projectId}/workflows/{workflowId}',
      summary: 'A workflow version (the latest by default)',
      tag: 'workflows',
      access: { project: 'viewer' },
      params: projectPath.extend({ workflowId: workflowIdParam }),
      query: workflowQuery,
      responses: { 200: { description: 'The workflow', schema: workflowResponse } },
      handler: async ({ params, query }) => {
        const workflow = await workflows.get(params.projectId, params.workflowId, query.version);
        if (!workflow) throw new NotFoundError('Workflow');
        return { status: 200, body: workflow };
      },
    }),
  ];
};
