import { paginate, runEvents, runSteps, unwrap, type BatonClient, type CreateRunBody, type Run, type RunStatus, type StepSummary } from '#sdk';
import { InvalidArgumentError, type Command } from 'commander';
import { exitCodes, UsageError, type ExitCode } from '../errors';
import { readValue } from '../files';
import { budgetLines, eventLine, formatDuration, limitsLine, progressOf, reasonCode, summaryLines } from '../format';
import type { Act } from '../program';
import { createProgressDisplay } from '../progress';
import { ownSteps } from '../step-lists';
import type { Session } from '../session';
import { watchRun } from '../watch';

const workflowId = /^wf_[0-9a-z]{26}$/;

/** `run start|watch|events|retry|show|list|pause|resume|cancel`. */
export function registerRuns(program: Command, act: Act): void {
  const run = program.command('run').description('start, watch and steer runs');

  run
    .command('start')
    .description('start a run of a workflow (its latest version unless --workflow-version)')
    .argument('<workflow>', 'the workflow id (wf_…) or name')
    .option('--input <file>', "the run's input: a JSON or YAML file (\"-\" reads standard input)")
    .option('--tag <key=value>', 'a tag for the run (repeat for more)', collectTag)
    .option('--workflow-version <n>', 'a workflow version other than the latest', positiveInteger)
    .option('--idempotency-key <key>', 'start at most one run for this key (a retried CI job gets the same run)')
    .option('--budget-tokens <n>', "the run's budget in tokens (README \"Budgets\")", nonNegativeInteger)
    .option('--budget-usd <usd>', "the run's budget in USD", nonNegativeNumber)
    .option('--budget-mode <mode>', 'strict (a step that could pass the budget never starts; the default), warn or off', budgetMode)
    .option('--max-executed-steps <n>', 'the run may start at most this many step executions (retries and re-runs count; README "Guards")', positiveInteger)
    .option('--max-duration-seconds <n>', "the run may take at most this many seconds from its start", positiveInteger)
    .option('--watch', 'then watch it until it stops moving (exit 0 completed, 2 blocked, failed or cancelled)')
    .action(
      act(async (session, workflow: string, options: { input?: string; tag?: Record<string, string>; workflowVersion?: number; idempotencyKey?: string; budgetTokens?: number; budgetUsd?: number; budgetMode?: string; maxExecutedSteps?: number; maxDurationSeconds?: number; watch?: boolean }) => {
        const budgetGiven = options.budgetTokens !== undefined || options.budgetUsd !== undefined || options.budgetMode !== undefined;
        const client = await session.client();
        const projectId = await session.projectId();
        const input = options.input === undefined ? undefined : await readValue(options.input, '--input', session.deps.stdin);
        const resolved = await resolveWorkflow(session, workflow);
        const body = {
          workflowId: resolved,
          ...(options.workflowVersion ? { version: options.workflowVersion } : {}),
          ...(input !== undefined ? { input } : {}),
          // Tags reach the API as `tags`; a server without run tags refuses the field by name.
          ...(options.tag ? { tags: options.tag } : {}),
          // The API checks the budget (a 400 names body.budget.<field>).
          ...(budgetGiven
            ? { budget: { ...(options.budgetTokens !== undefined ? { tokens: options.budgetTokens } : {}), ...(options.budgetUsd !== undefined ? { usd: options.budgetUsd } : {}), ...(options.budgetMode ? { mode: options.budgetMode } : {}) } }
            : {}),
          ...(options.maxExecutedSteps !== undefined || options.maxDurationSeconds !== undefined
            ? { limits: { ...(options.maxExecutedSteps !== undefined ? { maxExecutedSteps: options.maxExecutedSteps } : {}), ...(options.maxDurationSeconds !== undefined ? { maxDurationSeconds: options.maxDurationSeconds } : {}) } }
            : {}),
        } as CreateRunBody;
        const created = await unwrap(
          client.POST('/v1/projects/{projectId}/runs', {
            params: { path: { projectId }, header: options.idempotencyKey ? { 'idempotency-key': options.idempotencyKey } : {} },
            body,
          }),
        );
        if (!options.watch) {
          session.output.result(created, [`Started run ${created.id} (${created.workflowName} v${created.workflowVersion}): ${created.status}`, `Watch it: npx baton run watch ${created.id}`]);
          return exitCodes.ok;
        }
        session.output.jsonLine({ type: 'started', run: created });
        return watch(session, client, created.id);
      }),
    );

  run
    .command('watch')
    .description('a live progress bar until the run stops moving, then a summary with its cost')
    .argument('<run>', 'the run id (run_…)')
    .addHelpText('after', '\nExit code 0 when the run completed, 2 when it is blocked, failed or cancelled.\nWithout a terminal (CI) it prints a plain line whenever the run moves.')
    .action(
      act(async (session, runId: string) => {
        const client = await session.client();
        return watch(session, client, runId);
      }),
    );

  run
    .command('events')
    .description("the run's event history, oldest first")
    .argument('<run>', 'the run id (run_…)')
    .option('--follow', 'keep printing new events until the run is over (Ctrl-C stops)')
    .action(
      act(async (session, runId: string, options: { follow?: boolean }) => {
        const client = await session.client();
        const { output } = session;
        const events = runEvents(client, runId, { follow: options.follow === true, pollIntervalMs: session.pollIntervalMs, ...(session.deps.signal ? { signal: session.deps.signal } : {}) });
        if (!options.follow && output.json) {
          const items = [];
          for await (const event of events) items.push(event);
          output.result({ items }, []);
          return exitCodes.ok;
        }
        for await (const event of events) {
          if (output.json) output.jsonLine(event);
          else output.say(eventLine(event));
        }
        if (!options.follow) return exitCodes.ok;
        const final = await unwrap(client.GET('/v1/runs/{runId}', { params: { path: { runId } } }));
        return exitCodeOf(final.status);
      }),
    );

  run
    .command('retry')
    .description("run a blocked run's failed steps again, optionally with new inputs")
    .argument('<run>', 'the run id (run_…)')
    .option('--step <id>', 'a failed step to give a new input (repeat with --input for more)', collectList, [] as string[])
    .option('--input <file>', 'the new input of the --step before it: a JSON or YAML file', collectList, [] as string[])
    .option('--watch', 'then watch the run (exit 0 completed, 2 blocked, failed or cancelled)')
    .action(
      act(async (session, runId: string, options: { step: string[]; input: string[]; watch?: boolean }) => {
        if (options.step.length !== options.input.length) {
          throw new UsageError('--step and --input go in pairs: --step <id> --input <file> for each step that gets a new input (without them, every failed step runs again as it was)', options.step.length > options.input.length ? 'input' : 'step');
        }
        const steps: Record<string, { input: unknown }> = {};
        for (const [index, step] of options.step.entries()) steps[step] = { input: await readValue(options.input[index]!, '--input', session.deps.stdin) };
        const client = await session.client();
        const retried = await unwrap(
          client.POST('/v1/runs/{runId}/actions/retry', { params: { path: { runId } }, body: options.step.length ? { steps } : {} }),
        );
        if (!options.watch) {
          session.output.result(retried, `Retrying run ${retried.id}: ${retried.status}${options.step.length ? ` (new input for ${options.step.join(', ')})` : ''}`);
          return exitCodes.ok;
        }
        session.output.jsonLine({ type: 'retried', run: retried });
        session.output.say(`Retrying run ${retried.id}${options.step.length ? ` with a new input for ${options.step.join(', ')}` : ''}`);
        return watch(session, client, runId);
      }),
    );

  run
    .command('budget')
    .description("spend against each budget of a run; with --tokens, --usd or --mode, replaces the run's budget (an editor's)")
    .argument('<run>', 'the run id (run_…)')
    .option('--tokens <n>', 'at most this many tokens for the whole run', nonNegativeInteger)
    .option('--usd <usd>', 'at most this many USD for the whole run', nonNegativeNumber)
    .option('--mode <mode>', 'strict (a step that could pass the budget never starts; the default), warn or off', budgetMode)
    .addHelpText('after', '\nThe new budget replaces the old one: give every limit you want to keep.\nA run blocked with BUDGET_EXCEEDED goes on after `baton resume <run>`.')
    .action(
      act(async (session, runId: string, options: { tokens?: number; usd?: number; mode?: 'strict' | 'warn' | 'off' }) => {
        const client = await session.client();
        const changing = options.tokens !== undefined || options.usd !== undefined || options.mode !== undefined;
        if (changing) {
          const body = { ...(options.tokens !== undefined ? { tokens: options.tokens } : {}), ...(options.usd !== undefined ? { usd: options.usd } : {}), mode: options.mode ?? 'strict' };
          await unwrap(client.PUT('/v1/runs/{runId}/budget', { params: { path: { runId } }, body }));
        }
        const detail = await unwrap(client.GET('/v1/runs/{runId}', { params: { path: { runId } } }));
        const lines = budgetLines(detail.budgets);
        const blockedByBudget = detail.status === 'blocked' && reasonCode(detail.reason) === 'BUDGET_EXCEEDED';
        session.output.result(detail.budgets, [
          ...(changing ? [`Set the budget of run ${runId}`] : []),
          ...(lines.length ? lines.map((line) => `  ${line}`) : [`Run ${runId} has no budget.`]),
          ...(blockedByBudget ? [`The run is blocked: ${detail.reason}`, changing ? `Continue it: npx baton resume ${runId}` : `Raise it: npx baton run budget ${runId} --tokens <n> [--usd <usd>], then npx baton resume ${runId}`] : []),
        ]);
        return exitCodes.ok;
      }),
    );

  run
    .command('limits')
    .description("a run's guards (executions started against maxExecutedSteps, its duration limit, NO_PROGRESS); with options, replaces them (an editor's)")
    .argument('<run>', 'the run id (run_…)')
    .option('--max-executed-steps <n>', 'at most this many step executions (retries and re-runs count)', positiveInteger)
    .option('--max-duration-seconds <n>', 'at most this many seconds from the run\'s start', positiveInteger)
    .option('--stall-after <n>', 'stop a step that produces the same output this many times in a row with NO_PROGRESS (noProgressAfter; 2 or more)', positiveInteger)
    .addHelpText('after', '\nThe new limits replace the old ones: give every limit you want to keep.\nA run blocked with MAX_EXECUTED_STEPS or MAX_DURATION goes on after `baton resume <run>`.')
    .action(
      act(async (session, runId: string, options: { maxExecutedSteps?: number; maxDurationSeconds?: number; stallAfter?: number }) => {
        const client = await session.client();
        const body = {
          ...(options.maxExecutedSteps !== undefined ? { maxExecutedSteps: options.maxExecutedSteps } : {}),
          ...(options.maxDurationSeconds !== undefined ? { maxDurationSeconds: options.maxDurationSeconds } : {}),
          ...(options.stallAfter !== undefined ? { noProgressAfter: options.stallAfter } : {}),
        };
        const changing = Object.keys(body).length > 0;
        if (changing) await unwrap(client.PUT('/v1/runs/{runId}/limits', { params: { path: { runId } }, body }));
        const detail = await unwrap(client.GET('/v1/runs/{runId}', { params: { path: { runId } } }));
        const code = reasonCode(detail.reason);
        const blockedByLimit = detail.status === 'blocked' && (code === 'MAX_EXECUTED_STEPS' || code === 'MAX_DURATION');
        session.output.result(detail.limits ?? {}, [
          ...(changing ? [`Set the limits of run ${runId}`] : []),
          `  ${limitsLine(detail.limits)}`,
          ...(blockedByLimit ? [`The run is blocked: ${detail.reason}`, changing ? `Continue it: npx baton resume ${runId}` : `Raise them: npx baton run limits ${runId} --max-executed-steps <n> …, then npx baton resume ${runId}`] : []),
        ]);
        return exitCodes.ok;
      }),
    );

  run
    .command('show')
    .alias('get')
    .description("a run's status, step counts, failures and cost")
    .argument('<run>', 'the run id (run_…)')
    .action(
      act(async (session, runId: string) => {
        const client = await session.client();
        const [detail, steps] = await Promise.all([unwrap(client.GET('/v1/runs/{runId}', { params: { path: { runId } } })), ownSteps(client, runId)]);
        session.output.result({ ...detail, stepList: steps }, summaryLines(progressOf(detail, steps, session.deps.now())));
        return exitCodes.ok;
      }),
    );

  run
    .command('steps')
    .description("a run's steps in step-id order, every page of the listing (a 10,000-step run too); map children follow their map")
    .argument('<run>', 'the run id (run_…)')
    .option('--status <status>', 'only steps in this status (pending, queued, running, completed, failed, …)')
    .option('--limit <n>', 'at most this many', positiveInteger)
    .action(
      act(async (session, runId: string, options: { status?: string; limit?: number }) => {
        const client = await session.client();
        const items: StepSummary[] = [];
        for await (const step of runSteps(client, runId)) {
          if (options.status && step.status !== options.status) continue;
          items.push(step);
          if (options.limit !== undefined && items.length >= options.limit) break;
        }
        session.output.result(
          { items },
          items.length
            ? items.map((step) => `${step.id}  ${step.status.padEnd(9)}  ${step.kind}  attempt ${step.attempt}${step.error ? `  ${step.error.code ? `${step.error.code}: ` : ''}${step.error.message}` : ''}`)
            : `No steps${options.status ? ` in status ${options.status}` : ''}.`,
        );
        return exitCodes.ok;
      }),
    );

  run
    .command('list')
    .description("the project's runs, newest first")
    .option('--status <status>', 'only runs in this status (pending, running, paused, blocked, failed, cancelled, completed)')
    .option('--limit <n>', 'at most this many (1-100)', positiveInteger, 20)
    .action(
      act(async (session, options: { status?: RunStatus; limit: number }) => {
        const client = await session.client();
        const projectId = await session.projectId();
        const page = await unwrap(
          client.GET('/v1/projects/{projectId}/runs', { params: { path: { projectId }, query: { limit: options.limit, ...(options.status ? { status: options.status } : {}) } } }),
        );
        session.output.result(page, page.items.length ? page.items.map((item) => runLine(item, session.deps.now())) : 'No runs.');
        return exitCodes.ok;
      }),
    );

  registerRunActions(run, act);
}

/** `pause`, `resume`, `cancel` under `parent` (both `baton run cancel` and `baton cancel`). */
export function registerRunActions(parent: Command, act: Act): void {
  const actions = [
    ['pause', 'pause a running run: no new step starts until resume'],
    ['resume', 'resume a paused run, or one blocked by a budget (raise it first: run budget) or a guard'],
    ['cancel', 'cancel a run: its waiting and pending steps are cancelled'],
  ] as const;
  for (const [action, description] of actions) {
    parent
      .command(action)
      .description(description)
      .argument('<run>', 'the run id (run_…)')
      .action(
        act(async (session, runId: string) => {
          const client = await session.client();
          const run = await unwrap(client.POST('/v1/runs/{runId}/actions/{action}', { params: { path: { runId, action } } }));
          session.output.result(run, `Run ${run.id}: ${run.status}`);
          return exitCodes.ok;
        }),
      );
  }
}

/** Watches until the run stops moving; the exit code says how it ended. */
async function watch(session: Session, client: BatonClient, runId: string): Promise<ExitCode> {
  const { deps } = session;
  const display = createProgressDisplay(session.output, deps.terminal, { now: deps.now });
  const progress = await watchRun(client, runId, display, {
    intervalMs: session.pollIntervalMs,
    sleep: deps.sleep,
    now: deps.now,
    ...(deps.signal ? { signal: deps.signal } : {}),
  });
  return exitCodeOf(progress.status);
}

export const exitCodeOf = (status: RunStatus): ExitCode => (status === 'completed' ? exitCodes.ok : ['blocked', 'failed', 'cancelled'].includes(status) ? exitCodes.runNotCompleted : exitCodes.ok);

/** A workflow id as given, or the id of the workflow of that name (through the workflows listing). */
export async function resolveWorkflow(session: Session, workflow: string): Promise<string> {
  if (workflowId.test(workflow)) return workflow;
  const client = await session.client();
  const projectId = await session.projectId();
  const pages = paginate((cursor) => unwrap(client.GET('/v1/projects/{projectId}/workflows', { params: { path: { projectId }, query: { limit: 100, ...(cursor ? { cursor } : {}) } } })));
  for await (const summary of pages) if (summary.name === workflow) return summary.id;
  throw new UsageError(`No workflow named "${workflow}" in project ${projectId}: \`baton workflows list\` shows them`, 'workflow');
}

function runLine(run: Run, now: number): string {
  const started = Date.parse(run.startedAt ?? run.createdAt);
  const age = formatDuration((run.finishedAt ? Date.parse(run.finishedAt) : now) - started);
  return `${run.id}  ${run.status.padEnd(9)}  ${`${run.workflowName} v${run.workflowVersion}`.padEnd(24)}  ${run.createdAt.slice(0, 19).replace('T', ' ')}  ${age}`;
}

/** `--tag k=v` (repeatable) into one record; the key and value as the API will check them. */
export function collectTag(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const match = /^([^=]+)=(.*)$/.exec(value);
  if (!match) throw new InvalidArgumentError('a tag is key=value, like --tag team=data');
  return { ...previous, [match[1]!.trim()]: match[2]! };
}

function collectList(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function positiveInteger(value: string): number {
  if (!/^[1-9][0-9]*$/.test(value)) throw new InvalidArgumentError('must be a positive whole number');
  return Number(value);
}

export function nonNegativeInteger(value: string): number {
  if (!/^(0|[1-9][0-9]*)$/.test(value)) throw new InvalidArgumentError('must be a whole number (0 or more)');
  return Number(value);
}

export function budgetMode(value: string): 'strict' | 'warn' | 'off' {
  if (value !== 'strict' && value !== 'warn' && value !== 'off') throw new InvalidArgumentError('must be strict, warn or off');
  return value;
}

export function nonNegativeNumber(value: string): number {
  if (!/^[0-9]+(\.[0-9]+)?$/.test(value)) throw new InvalidArgumentError('must be a number such as 0.5 (0 or more)');
  return Number(value);
}
