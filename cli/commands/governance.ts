import { unwrap } from '#sdk';
import { InvalidArgumentError, type Command } from 'commander';
import { exitCodes } from '../errors';
import { readValue } from '../files';
import type { Act } from '../program';

const score = (value: string): number => {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0 || parsed > 100) throw new InvalidArgumentError('must be a whole number from 0 to 100');
  return parsed;
};
const collectStepInput = (value: string, previous: string[] = []) => [...previous, value];
const usd = (value: number) => `$${value.toFixed(6)}`;

/** `feedback`, `rerun`, `fork` and `compare` (issue 12 §3-4). */
export function registerGovernance(program: Command, act: Act): void {
  program
    .command('feedback')
    .description("score a step's work 0-100 (with --score), or list the feedback of a run or one of its steps (without)")
    .argument('<run>', 'the run id (run_…)')
    .argument('[step]', 'the step id (required with --score)')
    .option('--score <n>', 'a score from 0 to 100', score)
    .option('--comment <text>', 'what was good or not')
    .option('--source <source>', 'human (default) or reviewer')
    .action(
      act(async (session, runId: string, stepId: string | undefined, options: { score?: number; comment?: string; source?: 'human' | 'reviewer' }) => {
        const client = await session.client();
        if (options.score !== undefined) {
          if (!stepId) throw new InvalidArgumentError('--score needs the step: baton feedback <run> <step> --score <n>');
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
            ? [...list.items.map((item) => `${item.stepId}  ${item.score}  ${item.source}  ${item.actor}  ${item.at.slice(0, 16).replace('T', ' ')}${item.comment ? `  ${item.comment}` : ''}`), `${list.count} scores, average ${list.averageScore}`]
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
          if (at < 1) throw new InvalidArgumentError(`--step-input ${entry}: give it as <step id>=<file>`);
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
        const side = (entry?: { status: string; reused: boolean; costUsd: number; tokens: { input: number; output: number } }) =>
          entry ? `${entry.reused ? 'reused' : entry.status} ${entry.tokens.input + entry.tokens.output} tok ${usd(entry.costUsd)}` : '-';
        session.output.result(comparison, [
          ...comparison.steps.map((step) => `${step.output.equal ? ' ' : '≠'} ${step.stepId}  a: ${side(step.a)}  b: ${side(step.b)}${step.output.equal ? '' : `  (${step.output.changes.map((change) => change.path).join(', ')})`}`),
          `total  a: ${comparison.a.status} ${usd(comparison.a.costUsd)}  b: ${comparison.b.status} ${usd(comparison.b.costUsd)}  b − a: ${usd(comparison.difference.costUsd)}`,
        ]);
        return exitCodes.ok;
      }),
    );
}
