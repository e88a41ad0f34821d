import { z } from 'zod';
import { averageScore } from '#shared/domain/feedback';
import { NotFoundError } from '#shared/domain/errors';
import { recordFeedback, type FeedbackRecord } from '#shared/engine/feedback';
import { decideByPerson } from '#shared/engine/quality-gates';
import { feedbackAveragesResponse, feedbackBody, feedbackListResponse, feedbackResponse } from '#shared/schemas/feedback';
import { runIdParam, stepIdParam, workflowIdParam } from '#shared/schemas/runs';
import { nameActors } from '../actor-names';
import type { Principal } from '#shared/middleware/principal';
import { operation, type Operation } from '../operation';
import type { ApiDeps } from './deps';
import { projectPath } from './projects';

const runPath = z.strictObject({ runId: runIdParam });
const stepPath = runPath.extend({ stepId: stepIdParam });
const conflict = { 409: { description: "The step has not run yet (feedback is for a step that is needs_qa, completed or failed)" } };

/** The records as a list with their count and mean, each naming who gave it as the reader may see it. */
const listOf = async (items: FeedbackRecord[], reader: { principal: Principal; projectId: string; projects: ApiDeps['projects'] }) => {
  const visible = await nameActors(
    items.map(({ projectId: _project, ...rest }) => rest),
    reader,
  );
  const sum = items.reduce((total, item) => total + item.score, 0);
  return { items: visible, count: items.length, ...(items.length ? { averageScore: averageScore(items.length, sum) } : {}) };
};

/** Feedback on steps (issue 12 §3): given on a step, listed on the step and the run, averaged per workflow version. */
export const feedbackOperations = ({ engine, feedback, runs, workflows, projects }: ApiDeps): Operation[] => [
  operation({
    operationId: 'giveStepFeedback',
    method: 'POST',
    path: '/v1/runs/{runId}/steps/{stepId}/feedback',
    summary: "Score a step's work 0-100 with a comment (kept per execution; averaged per workflow version)",
    tag: 'feedback',
    access: { run: 'editor' },
    params: stepPath,
    body: { schema: feedbackBody, required: true },
    responses: { 201: { description: 'Recorded', schema: feedbackResponse }, ...conflict },
    handler: async ({ run, params, body, principal }) => {
      const step = await runs.getStep(run.id, params.stepId, true);
      if (!step) throw new NotFoundError('Step');
      const { projectId: _project, ...recorded } = await recordFeedback({ feedback, outbox: engine.outbox, clock: engine.clock }, run, step, {
        score: body.score,
        ...(body.comment ? { comment: body.comment } : {}),
        source: body.source,
        actor: principal.actor,
      });
      // A step whose quality gate waits for a person's review: this score decides it (quality-gates.ts).
      await decideByPerson(engine, run, step, { score: body.score, ...(body.comment ? { comment: body.comment } : {}) }, principal.actor);
      const [named] = await nameActors([recorded], { principal, projectId: run.projectId, projects });
      return { status: 201, body: named };
    },
  }),
  operation({
    operationId: 'listStepFeedback',
    method: 'GET',
    path: '/v1/runs/{runId}/steps/{stepId}/feedback',
    summary: "A step's feedback, oldest first, with its count and average",
    tag: 'feedback',
    access: { run: 'viewer' },
    params: stepPath,
    responses: { 200: { description: 'Feedback', schema: feedbackListResponse } },
    handler: async ({ run, params, principal }) => {
      const step = await runs.getStep(run.id, params.stepId);
      if (!step) throw new NotFoundError('Step');
      return { status: 200, body: await listOf(await feedback.list(run.id, params.stepId), { principal, projectId: run.projectId, projects }) };
    },
  }),
  operation({
    operationId: 'listRunFeedback',
    method: 'GET',
    path: '/v1/runs/{runId}/feedback',
    summary: "A run's feedback on all its steps, by step then time, with its count and average",
    tag: 'feedback',
    access: { run: 'viewer' },
    params: runPath,
    responses: { 200: { description: 'Feedback', schema: feedbackListResponse } },
    handler: async ({ run, principal }) => ({ status: 200, body: await listOf(await feedback.list(run.id), { principal, projectId: run.projectId, projects }) }),
  }),
  operation({
    operationId: 'getWorkflowFeedback',
    method: 'GET',
    path: '/v1/projects/{projectId}/workflows/{workflowId}/feedback',
    summary: "The average feedback score of each version of a workflow (every step's feedback of every run of it)",
    tag: 'feedback',
    access: { project: 'viewer' },
    params: projectPath.extend({ workflowId: workflowIdParam }),
    responses: { 200: { description: 'Averages per version', schema: feedbackAveragesResponse } },
    handler: async ({ params }) => {
      const workflow = await workflows.get(params.projectId, params.workflowId);
      if (!workflow) throw new NotFoundError('Workflow');
      return { status: 200, body: { workflowId: params.workflowId, items: (await feedback.averages(params.projectId, params.workflowId)).map(({ workflowId: _id, ...rest }) => rest) } };
    },
  }),
];
