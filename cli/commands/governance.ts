import { unwrap, type components } from '#sdk';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { exitCodes, UsageError } from '../errors';
import { readValue } from '../files';
import { formatDuration, formatUsd } from '../format';
import type { Act } from '../program';

const score = (value: string): number => {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0 || parsed > 100) throw new InvalidArgumentError('must be a whole number from 0 to 100');
  return parsed;
};
type Comparison = components['schemas']['RunComparison'];
type Side = NonNullable<Comparison['steps'][number]['a']>;

const tokensOf = (tokens: { input: number; output: number }) => (tokens.input + tokens.output).toLocaleString('en-US');
const duration = (ms: number | undefined) => (ms === undefined ? '-' : Math.abs(ms) < 1000 ? `${Math.abs(ms)}ms` : formatDuration(Math.abs(ms)));
const signed = (value: number, text: string) => (value > 0 ? `+${text}` : value < 0 && !text.startsWith('-') ? `-${text}` : text);

/** One run's side of a step, in fixed columns: `completed  1.2s  229 tok  $0.00015`, or `reused` for a fork's reused step. */
const sideText = (side: Side | undefined) =>
  side ? `${(side.reused ? 'reused' : side.status).padEnd(9)} ${duration(side.durationMs).padStart(6)} ${`${tokensOf(side.tokens)} tok`.padStart(10)} ${formatUsd(side.costUsd).padStart(9)}` : 'not in this run'.padEnd(37);

/** `baton compare`: a header, one line per step (≠ where status or output differ), the totals and b − a. */
export function comparisonLines(comparison: Comparison): string[] {
  const width = Math.max(5, ...comparison.steps.map((step) => step.stepId.length));
  const changed = new Set(comparison.changedSteps);
  const total = (run: Comparison['a']) =>
    `${run.status.padEnd(9)} ${duration(run.durationMs).padStart(6)} ${`${tokensOf(run.tokens)} tok`.padStart(10)} ${formatUsd(run.costUsd).padStart(9)}`;
  const { difference } = comparison;
  const tokenDifference = difference.tokens.input + difference.tokens.output;
  return [
    `a: ${comparison.a.id}`,
    `b: ${comparison.b.id}${comparison.b.forkedFrom?.runId === comparison.a.id ? ` (forked from a at ${comparison.b.forkedFrom.stepId})` : ''}`,
    `  ${'step'.padEnd(width)}  ${'a'.padEnd(37)}  ${'b'.padEnd(37)}  output`,
    ...comparison.steps.map(
      (step) =>
        `${changed.has(step.stepId) ? '≠' : ' '} ${step.stepId.padEnd(width)}  ${sideText(step.a)}  ${sideText(step.b)}  ${step.output.equal ? 'same' : `differs at ${step.output.changes.map((change) => change.path).join(', ')}${step.output.truncated ? ', …' : ''}`}`,
    ),
    `  ${'total'.padEnd(width)}  ${total(comparison.a)}  ${total(comparison.b)}`,
    `  b − a: ${signed(difference.costUsd, formatUsd(Math.abs(difference.costUsd)))}, ${signed(tokenDifference, Math.abs(tokenDifference).toLocaleString('en-US'))} tokens${difference.durationMs === undefined ? '' : `, ${signed(difference.durationMs, duration(difference.durationMs))}`}; steps run ${comparison.a.executedSteps} → ${comparison.b.executedSteps}, reused ${comparison.a.reusedSteps} → ${comparison.b.reusedSteps}`,
    `  ${comparison.changedSteps.length ? `${comparison.changedSteps.length} step${comparison.changedSteps.length === 1 ? '' : 's'} ${comparison.changedSteps.length === 1 ? 'differs' : 'differ'}: ${comparison.changedSteps.join(', ')}` : 'No step differs.'}`,
  ];
}

/** `draft`, or `draft (generation 2)` for feedback on a re-run. */
const stepLabel = (item: { stepId: string; generation: number }) => `${item.stepId}${item.generation > 1 ? ` (generation ${item.generation})` : ''}`;

const collectStepInput = (value: string, previous: string[] = []) => [...previous, value];

/** `feedback`, `rerun`, `fork` and `compare` (issue 12 §3-4). */
export function registerGovernance(program: Command, act: Act): void {
  program
    .command('feedback')
    .description("score a step's work 0-100 (with --score), or list the feedback of a run or one of its steps (without)")
    .argument('<run>', 'the run id (run_…)')
    .argument('[step]', 'the step id (required with --score)')
    .option('--score <n>', 'a score from 0 to 100', score)
    .option('--comment <text>', 'what was good or not')
    .addOption(new Option('--source <source>', 'who scores: a person, or an automatic reviewer').choices(['human', 'reviewer']).default(undefined, 'human'))
    .action(
      act(async (session, runId: string, stepId: string | undefined, options: { score?: number; comment?: string; source?: 'human' | 'reviewer' }) => {
        const client = await session.client();
        if (options.score !== undefined) {
          if (!stepId) throw new UsageError('--score needs the step: baton feedback <run> <step> --score <n>', 'step');
          const body = { score: options.score, ...(options.comment ? { comment: options.comment } : {}), ...(options.source ? { source: options.source } : {}) };
          const recorded = await unwrap(client.POST('/v1/runs/{runId}/steps/{stepId}/feedback', { params: { path: { runId, stepId } }, body }));
          session.output.result(recorded, `Recorded ${recorded.score} on ${stepId} of run ${runId} (generation ${recorded.generation})`);
          return exitCodes.ok;
        }
        const list = stepId
          ? await unwrap(client.GET('/v1/runs/{runId}/steps/{stepId}/feedback', { params: { path: { runId, stepId } } }))
          : await unwrap(client.GET('/v1/runs/{runId}/feedback', { params: { path: { runId } } }));
        session.output.result(
          list,
          list.count
            ? [
                ...list.items.map((item) => {
                  const width = Math.max(...list.items.map((entry) => stepLabel(entry).length));
                  return `${stepLabel(item).padEnd(width)}  ${String(item.score).padStart(3)}/100  ${item.source.padEnd(8)}  by ${item.actorName ?? item.actor}  ${item.at.slice(0, 16).replace('T', ' ')}${item.comment ? `  "${item.comment}"` : ''}`;
                }),
                `${list.count} score${list.count === 1 ? '' : 's'}, average ${list.averageScore}`,
              ]
            : 'No feedback yet.',
        );
        return exitCodes.ok;
      }),
    );

  program
    .command('rerun')
    .description('run a completed or failed step again as a new generation, then everything downstream of it')
    .argument('<run>', 'the run id (run_…)')
    .argument('<step>', 'the step id')
    .option('--input <file>', 'a new input for the step: a JSON or YAML file ("-" reads standard input)')
    .option('--guidance <text>', "what to do differently: added to the step's input (an llm prompt, an agent's body or payload)")
    .action(
      act(async (session, runId: string, stepId: string, options: { input?: string; guidance?: string }) => {
        const body = { ...(options.input ? { input: await readValue(options.input, '--input', session.deps.stdin) } : {}), ...(options.guidance ? { guidance: options.guidance } : {}) };
        const client = await session.client();
        const rerun = await unwrap(client.POST('/v1/runs/{runId}/steps/{stepId}/actions/rerun', { params: { path: { runId, stepId } }, body }));
        session.output.result(rerun, `Re-running ${stepId} of run ${runId} as generation ${rerun.step.generation}${rerun.downstream.length ? `, then ${rerun.downstream.join(', ')}` : ''}`);
        return exitCodes.ok;
      }),
    );

  program
    .command('fork')
    .description('a new run of the same workflow version that reuses the outputs of every step not downstream of --from and runs the rest')
    .argument('<run>', 'the run id (run_…)')
    .requiredOption('--from <step>', 'the step the fork runs again from')
    .option('--input <file>', "the fork's run input: a JSON or YAML file (default: the source run's)")
    .option('--step-input <id=file>', 'a new input for a step that runs (repeat for more)', collectStepInput, [] as string[])
    .action(
      act(async (session, runId: string, options: { from: string; input?: string; stepInput: string[] }) => {
        const stepInputs: Record<string, unknown> = {};
        for (const entry of options.stepInput) {
          const at = entry.indexOf('=');
          if (at < 1) throw new UsageError(`--step-input ${entry}: give it as <step id>=<file>`, '--step-input');
          stepInputs[entry.slice(0, at)] = await readValue(entry.slice(at + 1), '--step-input', session.deps.stdin);
        }
        const body = { fromStep: options.from, ...(options.input ? { input: await readValue(options.input, '--input', session.deps.stdin) } : {}), ...(options.stepInput.length ? { stepInputs } : {}) };
        const client = await session.client();
        const fork = await unwrap(client.POST('/v1/runs/{runId}/fork', { params: { path: { runId } }, body }));
        session.output.result(fork, `Forked run ${runId} at ${options.from}: ${fork.id} (${fork.status}); reused ${fork.reused.join(', ') || 'nothing'}`);
        return exitCodes.ok;
      }),
    );

  program
    .command('compare')
    .description('two runs side by side: per step status, output difference, duration, tokens and cost, and the totals')
    .argument('<a>', 'the first run id (run_…)')
    .argument('<b>', 'the second run id (run_…)')
    .action(
      act(async (session, a: string, b: string) => {
        const client = await session.client();
        const comparison = await unwrap(client.GET('/v1/runs/{runId}/compare/{otherRunId}', { params: { path: { runId: a, otherRunId: b } } }));
        session.output.result(comparison, comparisonLines(comparison));
        return exitCodes.ok;
      }),
    );
}
