import { paginate, unwrap, type components } from '#sdk';
import type { Command } from 'commander';
import { exitCodes } from '../errors';
import type { Act } from '../program';

/** `inbox` (what waits for a person), `approve` and `reject` a step waiting in needs_qa. */
export function registerSteps(program: Command, act: Act): void {
  program
    .command('inbox')
    .description("the project's steps waiting for a person (needs_qa), oldest first")
    .action(
      act(async (session) => {
        const client = await session.client();
        const projectId = await session.projectId();
        const items: components['schemas']['InboxItem'][] = [];
        for await (const item of paginate((cursor) => unwrap(client.GET('/v1/projects/{projectId}/inbox', { params: { path: { projectId }, query: { limit: 100, ...(cursor ? { cursor } : {}) } } })))) {
          items.push(item);
        }
        session.output.result(
          { items },
          items.length
            ? items.map((item) => `${item.runId}  ${item.stepId}  ${item.workflowName}  since ${item.since.slice(0, 16).replace('T', ' ')}  ${item.waitingFor}\n  npx baton approve ${item.runId} ${item.stepId}   (or reject)`)
            : 'Nothing waits for approval.',
        );
        return exitCodes.ok;
      }),
    );

  program
    .command('approve')
    .description('approve a step waiting for approval: it completes and the run goes on')
    .argument('<run>', 'the run id (run_…)')
    .argument('<step>', 'the step id')
    .option('--comment <text>', 'a note kept on the step and in its event (and in its output: {"approvedBy", "comment"})')
    .action(
      act(async (session, runId: string, stepId: string, options: { comment?: string }) => {
        const client = await session.client();
        const step = await unwrap(
          client.POST('/v1/runs/{runId}/steps/{stepId}/actions/{action}', {
            params: { path: { runId, stepId, action: 'approve' } },
            body: options.comment === undefined ? {} : { comment: options.comment },
          }),
        );
        session.output.result(step, `Approved ${step.id} of run ${runId}: ${step.status}`);
        return exitCodes.ok;
      }),
    );

  program
    .command('reject')
    .description('reject a step waiting for approval: it fails and the run blocks (retry asks again)')
    .argument('<run>', 'the run id (run_…)')
    .argument('<step>', 'the step id')
    .option('--comment <text>', "why: kept on the step and in its event, and it becomes the step's error")
    .action(
      act(async (session, runId: string, stepId: string, options: { comment?: string }) => {
        const client = await session.client();
        const step = await unwrap(
          client.POST('/v1/runs/{runId}/steps/{stepId}/actions/{action}', {
            params: { path: { runId, stepId, action: 'reject' } },
            body: options.comment === undefined ? {} : { comment: options.comment },
          }),
        );
        session.output.result(step, `Rejected ${step.id} of run ${runId}: ${step.status}${step.error ? ` (${step.error.message})` : ''}`);
        return exitCodes.ok;
      }),
    );
}
