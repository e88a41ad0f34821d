import { paginate, unwrap, type BatonClient, type components, type MapChild, type MapChildrenPage } from '#sdk';
import type { Command } from 'commander';
import { exitCodes, type ExitCode } from '../errors';
import type { Act } from '../program';
import type { Session } from '../session';
import { mapCountsLine } from '../step-lists';
import { positiveInteger } from './runs';

type StepDetail = components['schemas']['StepDetail'];

/** One step as lines: status and kind, then whatever it waits for or was made by (a gate, a limit, a planner) and its error. */
export function stepLines(runId: string, step: StepDetail, now: number): string[] {
  const { gate, throttle } = step;
  const lines = [`${step.id}  ${step.status}  ${step.kind}${step.generation > 1 ? `  generation ${step.generation}` : ''}  attempt ${step.attempt} of ${step.allowedAttempts}`];
  if (step.plannedBy) lines.push(`added by the planner step ${step.plannedBy}`);
  if (step.status === 'throttled' && throttle) {
    const seconds = Math.max(0, Math.round((now - Date.parse(throttle.since)) / 1000));
    if (throttle.kind === 'rate') lines.push(`waiting for its turn: key ${throttle.key}, ${throttle.perSecond} a second, since ${seconds} s, starts at ${throttle.until}`);
    else lines.push(`waiting for capacity: ${throttle.kind === 'project' ? `the project's limit of ${throttle.limit}` : `key ${throttle.key}, limit ${throttle.limit}`}, since ${seconds} s`);
  }
  if (gate) {
    lines.push(
      `quality gate (${gate.from === 'project' ? "the project's default" : "this step's"}): ${step.status === 'needs_qa' ? gate.state : 'over'}; reviewer ${gate.reviewer}, threshold ${gate.threshold}, below it ${gate.onBelow}${gate.onBelow === 'retry' ? ` (retries ${gate.retries} of ${gate.maxRetries})` : ''}`,
    );
    if (gate.score !== undefined) lines.push(`  score ${gate.score}${gate.score < gate.threshold ? ' (below the threshold)' : ''}${gate.comment ? `: ${gate.comment}` : ''}`);
    if (gate.error) lines.push(`  the reviewer gave no score: ${gate.error}`);
    if (step.status === 'needs_qa' && (gate.state === 'waiting' || gate.state === 'paused')) {
      if (gate.state === 'waiting') lines.push(`  score it:  npx baton feedback ${runId} ${step.id} --score <0-100> [--comment <text>]`);
      lines.push(`  decide:    npx baton approve ${runId} ${step.id}   (or reject, or: npx baton rerun ${runId} ${step.id} --guidance <text>)`);
    }
  }
  if (step.error) lines.push(`error: ${step.error.code ? `${step.error.code}: ` : ''}${step.error.message}`);
  return lines;
}

/** A map step's children, every page (pages of 100 through the listing's cursor), the failed ones only with `--failed`. */
async function listChildren(session: Session, client: BatonClient, runId: string, stepId: string, options: { failed?: boolean; limit?: number }): Promise<ExitCode> {
  const items: MapChild[] = [];
  let counts: MapChildrenPage['counts'] | undefined;
  let cursor: string | undefined;
  do {
    const page = await unwrap(client.GET('/v1/runs/{runId}/steps/{stepId}/children', { params: { path: { runId, stepId }, query: { limit: childPageSize, ...(cursor ? { cursor } : {}) } } }));
    counts ??= page.counts;
    for (const child of page.items) if (!options.failed || child.status === 'failed') items.push(child);
    cursor = page.cursor;
  } while (cursor && (options.limit === undefined || items.length < options.limit));
  const shown = options.limit === undefined ? items : items.slice(0, options.limit);
  session.output.result({ counts, items: shown }, [
    ...shown.map((child) => `${String(child.index).padStart(6, '0')}  ${child.status.padEnd(9)}  attempt ${child.attempt}${child.error ? `  ${child.error.code ? `${child.error.code}: ` : ''}${child.error.message}` : ''}`),
    ...(counts ? [`${stepId}: ${mapCountsLine(counts)}`] : []),
  ]);
  return exitCodes.ok;
}

const childPageSize = 100;

/** `step` (one step), `inbox` (what waits for a person), `approve` and `reject` a step waiting in needs_qa. */
export function registerSteps(program: Command, act: Act): void {
  program
    .command('step')
    .description('one step of a run: its status, what it waits for (a quality gate with its score, a capacity limit), who added it, its error')
    .argument('<run>', 'the run id (run_…)')
    .argument('<step>', 'the step id')
    .option('--children', "a map step's children in item order (index, status, attempt, error), every page of them")
    .option('--failed', 'with --children: only the failed ones')
    .option('--limit <n>', 'with --children: at most this many', positiveInteger)
    .addHelpText('after', '\nA map step shows its progress and where its results are; a workflow step its child run.\nA map blocked with MAP_TOLERANCE_EXCEEDED: `npx baton run retry <run>` runs its failed items only.')
    .action(
      act(async (session, runId: string, stepId: string, options: { children?: boolean; failed?: boolean; limit?: number }) => {
        const client = await session.client();
        if (options.children) return listChildren(session, client, runId, stepId, options);
        const step = await unwrap(client.GET('/v1/runs/{runId}/steps/{stepId}', { params: { path: { runId, stepId } } }));
        const lines = stepLines(runId, step, session.deps.now());
        if (step.kind === 'map' && step.status !== 'pending') {
          const { counts } = await unwrap(client.GET('/v1/runs/{runId}/steps/{stepId}/children', { params: { path: { runId, stepId }, query: { limit: 1 } } }));
          const resultsUrl = (step.output as { resultsUrl?: string } | undefined)?.resultsUrl;
          lines.push(`map: ${mapCountsLine(counts)}`, ...(resultsUrl ? [`results: ${resultsUrl}`] : []), `children: npx baton step ${runId} ${stepId} --children${counts.failed ? ' --failed' : ''}`);
          if (step.error?.code === 'MAP_TOLERANCE_EXCEEDED') lines.push(`retry the failed items only: npx baton run retry ${runId}`);
        }
        if (step.childRun) lines.push(`child run: ${step.childRun.runId}  (npx baton run show ${step.childRun.runId})`);
        session.output.result(step, lines);
        return exitCodes.ok;
      }),
    );

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
