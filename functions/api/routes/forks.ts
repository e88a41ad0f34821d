import { z } from 'zod';
import { ApiError, NotFoundError } from '#shared/domain/errors';
import { compareRuns } from '#shared/domain/run-comparison';
import { forkRun } from '#shared/engine/fork-run';
import { chargeRemainderTo } from '#shared/middleware/metering';
import { compareResponse } from '#shared/schemas/compare';
import { forkBody, forkResponse } from '#shared/schemas/rerun';
import { runIdParam } from '#shared/schemas/runs';
import { operation, type Operation } from '../operation';
import { runView } from '../views';
import type { ApiDeps } from './deps';
import { assertSecretsExist, secretReferences } from './secrets';

const runPath = z.strictObject({ runId: runIdParam });

/** Forks of a run and comparisons of two runs (issue 12 §4). */
export const forkOperations = ({ engine, workflows, runs, artifacts, secrets }: ApiDeps): Operation[] => [
  operation({
    operationId: 'forkRun',
    method: 'POST',
    path: '/v1/runs/{runId}/fork',
    summary: 'A new run of the same workflow version that reuses the outputs of every step not downstream of fromStep and runs the rest',
    tag: 'runs',
    access: { run: 'editor' },
    params: runPath,
    body: { schema: forkBody, required: true },
    responses: { 201: { description: 'The fork, started', schema: forkResponse } },
    handler: async ({ run, body, principal }) => {
      const workflow = await workflows.get(run.projectId, run.workflowId, run.workflowVersion);
      if (!workflow) throw new NotFoundError(`Workflow ${run.workflowId} version ${run.workflowVersion}`);
      await assertSecretsExist(secrets, run.projectId, secretReferences(Object.entries(body.stepInputs ?? {}), (stepId, path) => ['body', 'stepInputs', stepId, ...path].join('.')));
      const fork = await forkRun(engine, run, workflow, body, principal.actor);
      chargeRemainderTo([fork.run.id]);
      return { status: 201, body: { ...runView(fork.run, undefined), reused: fork.reused } };
    },
  }),
  operation({
    operationId: 'compareRuns',
    method: 'GET',
    path: '/v1/runs/{runId}/compare/{otherRunId}',
    summary: 'Two runs of a project side by side, step by step: status, output difference, duration, tokens and cost, and the totals',
    tag: 'runs',
    access: { run: 'viewer' },
    params: runPath.extend({ otherRunId: runIdParam }),
    responses: { 200: { description: 'The comparison', schema: compareResponse } },
    handler: async ({ run, params }) => {
      const other = await runs.getRun(params.otherRunId);
      // Another project's run is as unknown as a missing one: ids never leak across projects.
      if (!other || other.projectId !== run.projectId) throw new ApiError(404, 'not_found', `Run ${params.otherRunId} was not found in this run's project`, 'path.otherRunId');
      const [a, b] = await Promise.all([runs.listSteps(run.id), runs.listSteps(other.id)]);
      return { status: 200, body: await compareRuns({ run, steps: a }, { run: other, steps: b }, (ref) => artifacts.loadOutput(ref)) };
    },
  }),
];
