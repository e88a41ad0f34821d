import { Command, CommanderError } from 'commander';
import { registerLogin } from './commands/login';
import { registerPlan } from './commands/plan';
import { registerQueues } from './commands/queues';
import { registerRunActions, registerRuns } from './commands/runs';
import { registerSteps } from './commands/steps';
import { registerGovernance } from './commands/governance';
import { registerSettings } from './commands/settings';
import { registerTriggers } from './commands/triggers';
import { registerWorkflows } from './commands/workflows';
import { exitCodes, type ExitCode } from './errors';
import { createOutput } from './output';
import { cliVersion, Session, type CliDeps } from './session';

/** What a command's action does: its work, then the exit code it earned. */
export type Action<Args extends unknown[]> = (session: Session, ...args: Args) => Promise<ExitCode>;

/** Wires an action to commander: the session for its output mode, errors printed once, the exit code kept. */
export type Act = <Args extends unknown[]>(action: Action<Args>) => (...args: unknown[]) => Promise<void>;

/**
 * The `baton` command line. Returns the exit code instead of exiting, so tests run it in-process:
 * 0 done (and a watched run completed), 2 a watched run blocked, failed or was cancelled, 1 a
 * usage, API or network error, said on stderr.
 */
export async function runCli(argv: string[], deps: CliDeps): Promise<ExitCode> {
  const json = argv.includes('--json');
  const errorOutput = createOutput(deps.terminal, { json });
  let exitCode: ExitCode = exitCodes.ok;

  const act: Act =
    <Args extends unknown[]>(action: Action<Args>) =>
    async (...args: unknown[]) => {
      const command = args.at(-1) as Command;
      const session = new Session(deps, createOutput(deps.terminal, { json: command.optsWithGlobals<{ json?: boolean }>().json === true, color: !deps.env.NO_COLOR }));
      // commander passes the arguments, then the options object, then the command.
      exitCode = await action(session, ...(args.slice(0, -1) as Args));
    };

  const program = createProgram(act, deps, json);
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end here too, with exit code 0.
      return error.exitCode === 0 ? exitCodes.ok : exitCodes.error;
    }
    if (deps.signal?.aborted) {
      // Ctrl-C during a watch or a follow: only the CLI stops (main.ts exits 130).
      deps.terminal.stderr.write('Stopped watching; the run goes on.\n');
      return exitCodes.error;
    }
    errorOutput.error(error);
    return exitCodes.error;
  }
  return exitCode;
}

export function createProgram(act: Act, deps: CliDeps, json: boolean): Command {
  const program = new Command('baton')
    .description('Drive Baton workflows and runs from a terminal or a CI job.')
    .version(cliVersion, '-V, --version')
    .option('--json', 'machine-readable output: one JSON document (JSON lines for watch and --follow)')
    .configureHelp({ showGlobalOptions: true })
    // A script reading --json errors gets one JSON line on stderr, no hint after it.
    .showHelpAfterError(json ? false : '(run with --help for usage)')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => deps.terminal.stdout.write(text),
      writeErr: (text) => deps.terminal.stderr.write(text),
      outputError: (text, write) => write(json ? `${JSON.stringify({ error: { code: 'usage_error', message: text.replace(/^error: /, '').trim() } })}\n` : text),
    })
    .addHelpText(
      'after',
      `
Exit codes: 0 done (a watched run completed), 2 a watched run ended blocked, failed or
cancelled, 1 a usage, API or network error (said on stderr).

Log in once: baton login --url <api url> --token <project token>
(saved to $XDG_CONFIG_HOME/baton/config.json or ~/.config/baton/config.json, mode 0600;
BATON_URL and BATON_TOKEN override it).`,
    );

  registerLogin(program, act);
  registerWorkflows(program, act);
  registerPlan(program, act);
  registerRuns(program, act);
  registerSteps(program, act);
  registerGovernance(program, act);
  registerSettings(program, act);
  registerTriggers(program, act);
  registerQueues(program, act);
  // pause, resume and cancel also at the top level: `baton cancel <run>` as well as `baton run cancel <run>`.
  registerRunActions(program, act);
  return program;
}
