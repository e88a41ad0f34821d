import { z } from 'zod';
import { requestHash } from '#shared/domain/canonical-json';
import { NotFoundError } from '#shared/domain/errors';
import { budget } from '#shared/domain/budgets';
import { runBudgets, setRunBudget } from '#shared/engine/budgets';
import { runLimits } from '#shared/domain/limits';
import { runLimitsView, setRunLimits } from '#shared/engine/limits';
import { createRun } from '#shared/engine/create-run';
import { runAction, stepAction } from '#shared/engine/run-actions';
import { rerunStep } from '#shared/engine/rerun-step';
import { rerunBody, rerunResponse } from '#shared/schemas/rerun';
import { chargeRemainderTo } from '#shared/middleware/metering';
import {
  createRunBody,
  idempotencyKeyHeader,
  listEventsQuery,
  listRunsQuery,
  pageQuery,
  retryBody,
  runActionParam,
  runIdParam,
  stepActionBody,
  stepActionParam,
  stepIdParam,
  stepPageQuery,
} from '#shared/schemas/runs';
import { eventPageResponse, inboxPageResponse, runDetailResponse, runPageResponse, runResponse, stepDetailResponse, stepListResponse } from '#shared/schemas/responses';
import { nameActors } from '../actor-names';
import { operation, type Operation } from '../operation';
import { inboxItem, runView, stepDetail, stepSummary } from '../views';
import { mapProgress } from './map-children';
import { actOnChildren, childRunOf } from '#shared/engine/sub-workflows';
import type { ApiDeps } from './deps';
import { projectPath } from './projects';
import { assertSecretsExist, secretReferences } from './secrets';

const runPath = z.strictObject({ runId: runIdParam });
const stepPath = runPath.extend({ stepId: stepIdParam });
const conflict = { 409: { description: "The run's or step's status does not allow this action" } };

/** Runs, their steps and their history. */
export const runOperations = ({ workflows, engine, secrets, runs, artifacts, projects }: ApiDeps): Operation[] => [
  operation({
    operationId: 'createRun',
    method: 'POST',
    path: '/v1/projects/{projectId}/runs',
    summary: 'Start a run of a workflow version (idempotent with an Idempotency-Key)',
    tag: 'runs',
    access: { project: 'editor' },
    params: projectPath,
    headers: z.looseObject({ 'idempotency-key': idempotencyKeyHeader }),
    body: { schema: createRunBody, required: true },
    responses: {
      201: { description: 'Created (or, with a known Idempotency-Key and the same body, the run created the first time, marked Idempotent-Replayed: true)', schema: runResponse },
      422: { description: 'The Idempotency-Key was already used with a different body (`error.field`: `header.idempotency-key`, `error.code`: `idempotency_key_reused`)' },
    },
    handler: async ({ params, headers, body, principal }) => {
      const workflow = await workflows.get(params.projectId, body.workflowId, body.version);
      if (!workflow) throw new NotFoundError(body.version ? `Workflow ${body.workflowId} version ${body.version}` : 'Workflow');
      const idempotencyKey = headers['idempotency-key'];
      const { run, created } = await createRun(engine, {
        projectId: params.projectId,
        workflow,
        ...(body.input !== undefined ? { input: body.input } : {}),
        ...(body.git ? { git: body.git } : {}),
        ...(body.tags ? { tags: body.tags } : {}),
        ...(body.budget ? { budget: body.budget } : {}),
        ...(body.limits ? { limits: body.limits } : {}),
        ...(body.priority ? { priority: body.priority } : {}),
        // The parsed body with its keys sorted: the same request however its JSON was spelled.
        ...(idempotencyKey ? { idempotencyKey, requestHash: requestHash(body) } : {}),
        actor: principal.actor,
        start: body.start,
      });
      // The run item carries what its creation cost up to its write; that write and the start follow it.
      chargeRemainderTo([run.id]);
      return { status: 201, body: runView(run, undefined), ...(created ? {} : { headers: { 'idempotent-replayed': 'true' } }) };
    },
  }),
  operation({
    operationId: 'listRuns',
    method: 'GET',
    path: '/v1/projects/{projectId}/runs',
    summary: "The project's runs, newest first, by status, workflow, creation time (from, to) or tag (key:value)",
    tag: 'runs',
    access: { project: 'viewer' },
    params: projectPath,
    query: listRunsQuery,
    responses: { 200: { description: 'A page of runs', schema: runPageResponse } },
    handler: async ({ params, query }) => {
      const page = await runs.listRuns(params.projectId, query);
      return { status: 200, body: { items: page.items.map((run) => runView(run, undefined)), ...(page.cursor ? { cursor: page.cursor } : {}) } };
    },
  }),
  operation({
    operationId: 'listInbox',
    method: 'GET',
    path: '/v1/projects/{projectId}/inbox',
    summary: "The project's approval inbox: steps waiting in needs_qa across its runs, oldest first",
    tag: 'runs',
    access: { project: 'viewer' },
    params: projectPath,
    query: pageQuery(),
    responses: { 200: { description: 'A page of waiting steps', schema: inboxPageResponse } },
    handler: async ({ params, query }) => {
      const page = await runs.listInbox(params.projectId, query);
      return { status: 200, body: { items: page.items.map(inboxItem), ...(page.cursor ? { cursor: page.cursor } : {}) } };
    },
  }),
  operation({
    operationId: 'listProjectEvents',
    method: 'GET',
    path: '/v1/projects/{projectId}/events',
    summary:
      "The project's event feed, newest first: its own events, its runs' events, and the step events a person acts on (step.needs_qa, step.failed, step.retry_requested); every step event when the project's settings.publishStepEvents was on at the run's creation. A run's full history, every step event included, is GET /v1/runs/{runId}/events",
    tag: 'runs',
    access: { project: 'viewer' },
    params: projectPath,
    query: pageQuery(500, 100),
    responses: { 200: { description: 'A page of events, newest first', schema: eventPageResponse } },
    handler: async ({ params, query, principal }) => {
      const page = await runs.listProjectEvents(params.projectId, query);
      const items = await nameActors(page.items, { principal, projectId: params.projectId, projects });
      return { status: 200, body: { items, ...(page.cursor ? { cursor: page.cursor } : {}) } };
    },
  }),
  operation({
    operationId: 'getRun',
    method: 'GET',
    path: '/v1/runs/{runId}',
    summary: 'A run: status, reason, step counts, usage and estimated cost',
    tag: 'runs',
    access: { run: 'viewer' },
    params: runPath,
    responses: { 200: { description: 'The run', schema: runDetailResponse } },
    handler: async ({ run }) => {
      const [steps, usage] = await Promise.all([runs.listStepTotals(run.id), runs.getRunUsage(run.id)]);
      // A map's children are counted beside the run's own steps (its chunks' counters, not the children).
      const children = await mapProgress(engine, run.id, steps);
      return { status: 200, body: { ...runView(run, steps, usage, children), budgets: await runBudgets(engine, run, steps), limits: runLimitsView(run, steps) } };
    },
  }),
  operation({
    operationId: 'setRunBudget',
    method: 'PUT',
    path: '/v1/runs/{runId}/budget',
    summary: "Set a run's budget (tokens and/or USD, strict | warn | off); raise it, then resume a run blocked with BUDGET_EXCEEDED",
    tag: 'runs',
    access: { run: 'editor' },
    params: runPath,
    body: { schema: budget, required: true },
    responses: { 200: { description: 'The run, with its budgets', schema: runDetailResponse }, 409: { description: 'The run has ended' } },
    handler: async ({ run, body, principal }) => {
      await setRunBudget(engine, run, body, principal.actor);
      chargeRemainderTo([run.id]);
      const updated = (await runs.getRun(run.id, true)) ?? run;
      const [steps, usage] = await Promise.all([runs.listStepTotals(run.id), runs.getRunUsage(run.id)]);
      return { status: 200, body: { ...runView(updated, steps, usage), budgets: await runBudgets(engine, updated, steps), limits: runLimitsView(updated, steps) } };
    },
  }),
  operation({
    operationId: 'setRunLimits',
    method: 'PUT',
    path: '/v1/runs/{runId}/limits',
    summary: "Set a run's limits (maxExecutedSteps, maxDurationSeconds, noProgressAfter); raise them, then resume a run blocked with MAX_EXECUTED_STEPS or MAX_DURATION",
    tag: 'runs',
    access: { run: 'editor' },
    params: runPath,
    body: { schema: runLimits, required: true },
    responses: { 200: { description: 'The run, with its limits', schema: runDetailResponse }, 409: { description: 'The run has ended' } },
    handler: async ({ run, body, principal }) => {
      await setRunLimits(engine, run, body, principal.actor);
      chargeRemainderTo([run.id]);
      const updated = (await runs.getRun(run.id, true)) ?? run;
      const [steps, usage] = await Promise.all([runs.listStepTotals(run.id), runs.getRunUsage(run.id)]);
      return { status: 200, body: { ...runView(updated, steps, usage), budgets: await runBudgets(engine, updated, steps), limits: runLimitsView(updated, steps) } };
    },
  }),
  // Before the generic action: the router tries parameterized paths in order.
  operation({
    operationId: 'retryRun',
    method: 'POST',
    path: '/v1/runs/{runId}/actions/retry',
    summary: 'Retry a blocked run: its failed steps run again, optionally with new inputs',
    tag: 'runs',
    access: { run: 'editor' },
    params: runPath,
    body: { schema: retryBody, required: false },
    responses: { 200: { description: 'The run, running again', schema: runResponse }, ...conflict },
    handler: async ({ run, body, principal }) => {
      // New inputs may reference secrets too: checked as at workflow creation.
      const inputs = Object.entries(body?.steps ?? {}).filter(([, replacement]) => 'input' in replacement).map(([stepId, replacement]) => [stepId, replacement.input] as [string, unknown]);
      await assertSecretsExist(secrets, run.projectId, secretReferences(inputs, (stepId, path) => ['body', 'steps', stepId, 'input', ...path].join('.')));
      const retried = await runAction(engine, run, 'retry', principal.actor, body);
      chargeRemainderTo([run.id]);
      return { status: 200, body: runView(retried, undefined) };
    },
  }),
  operation({
    operationId: 'runAction',
    method: 'POST',
    path: '/v1/runs/{runId}/actions/{action}',
    summary: 'start, pause, resume or cancel a run',
    tag: 'runs',
    access: { run: 'editor' },
    params: runPath.extend({ action: runActionParam }),
    responses: { 200: { description: 'The run after the action', schema: runResponse }, ...conflict },
    handler: async ({ run, params, principal }) => {
      const updated = await runAction(engine, run, params.action, principal.actor);
      // A sub-workflow's child follows its parent (shared/engine/sub-workflows.ts).
      const children = params.action === 'cancel' || params.action === 'pause' || params.action === 'resume' ? await actOnChildren(engine, updated, params.action, principal.actor) : [];
      chargeRemainderTo([run.id, ...children]);
      return { status: 200, body: runView(updated, undefined) };
    },
  }),
  operation({
    operationId: 'listSteps',
    method: 'GET',
    path: '/v1/runs/{runId}/steps',
    summary: "The run's steps with status, attempt and error, in step-id order, a page at a time (`cursor` when more follow)",
    tag: 'runs',
    access: { run: 'viewer' },
    params: runPath,
    query: stepPageQuery,
    responses: { 200: { description: 'A page of steps', schema: stepListResponse } },
    handler: async ({ run, query }) => {
      const page = await runs.listStepsPage(run, query);
      return { status: 200, body: { items: page.items.map(stepSummary), ...(page.cursor ? { cursor: page.cursor } : {}) } };
    },
  }),
  operation({
    operationId: 'getStep',
    method: 'GET',
    path: '/v1/runs/{runId}/steps/{stepId}',
    summary: 'A step: input, output (inline or by signed URL), artifacts, error, usage',
    tag: 'runs',
    access: { run: 'viewer' },
    params: stepPath,
    responses: { 200: { description: 'The step', schema: stepDetailResponse } },
    handler: async ({ run, params }) => {
      const step = await runs.getStep(run.id, params.stepId, true);
      if (!step) throw new NotFoundError('Step');
      // A sub-workflow step links to the child run its execution started (the child links back with `parent`).
      const childRunId = await childRunOf(engine, run, step);
      return { status: 200, body: { ...(await stepDetail(step, artifacts)), ...(childRunId ? { childRun: { runId: childRunId } } : {}) } };
    },
  }),
  // Before the generic step action: the router tries parameterized paths in order.
  operation({
    operationId: 'rerunStep',
    method: 'POST',
    path: '/v1/runs/{runId}/steps/{stepId}/actions/rerun',
    summary: 'Run a completed or failed step again as a new generation (new idempotency key), then everything downstream of it',
    tag: 'runs',
    access: { run: 'editor' },
    params: stepPath,
    body: { schema: rerunBody, required: false },
    responses: { 200: { description: 'The run, running again, the step queued and the steps that follow it', schema: rerunResponse }, ...conflict },
    handler: async ({ run, params, body, principal }) => {
      if (body?.input !== undefined) await assertSecretsExist(secrets, run.projectId, secretReferences([['input', body.input]], (_key, path) => ['body', 'input', ...path].join('.')));
      const rerun = await rerunStep(engine, run, params.stepId, body ?? {}, principal.actor);
      chargeRemainderTo([run.id]);
      return { status: 200, body: { run: runView(rerun.run, undefined), step: stepSummary(rerun.step), downstream: rerun.downstream } };
    },
  }),
  operation({
    operationId: 'stepAction',
    method: 'POST',
    path: '/v1/runs/{runId}/steps/{stepId}/actions/{action}',
    summary: 'approve or reject a step waiting in needs_qa',
    tag: 'runs',
    access: { run: 'editor' },
    params: stepPath.extend({ action: stepActionParam }),
    body: { schema: stepActionBody, required: false },
    responses: { 200: { description: 'The step after the action', schema: stepDetailResponse }, ...conflict },
    handler: async ({ run, params, body, principal }) => {
      const step = await runs.getStep(run.id, params.stepId, true);
      if (!step) throw new NotFoundError('Step');
      const updated = await stepAction(engine, run, step, params.action, principal.actor, body);
      // An approval's step carries what was spent up to its write; that write and the release follow it.
      chargeRemainderTo([run.id]);
      return { status: 200, body: await stepDetail(updated, artifacts) };
    },
  }),
  operation({
    operationId: 'listRunEvents',
    method: 'GET',
    path: '/v1/runs/{runId}/events',
    summary: "The run's event history, paged, in either order",
    tag: 'runs',
    access: { run: 'viewer' },
    params: runPath,
    query: listEventsQuery,
    responses: { 200: { description: 'A page of events', schema: eventPageResponse } },
    handler: async ({ run, query, principal }) => {
      const page = await runs.listEvents(run.id, query);
      const items = await nameActors(page.items, { principal, projectId: run.projectId, projects });
      return { status: 200, body: { items, ...(page.cursor ? { cursor: page.cursor } : {}) } };
    },
  }),
];
