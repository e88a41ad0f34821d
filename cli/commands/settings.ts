import { unwrap, type components } from '#sdk';
import type { Command } from 'commander';
import { exitCodes } from '../errors';
import { readValue } from '../files';
import type { Act } from '../program';

type Settings = components['schemas']['ProjectSettings'];

/** The governing settings in a line each (issue 12: budgets, limits, capacity, the default quality gate); the rest is in `--json`. */
export function settingsLines(settings: Settings): string[] {
  const { budgets, limits, concurrency, qa } = settings as Settings & { budgets?: unknown; limits?: unknown; concurrency?: { limit?: number }; qa?: unknown };
  const shown = (value: unknown) => (value === undefined || value === null ? 'none' : JSON.stringify(value));
  return [
    `budgets      ${shown(budgets)}`,
    `limits       ${shown(limits)}`,
    `concurrency  ${concurrency?.limit !== undefined ? `at most ${concurrency.limit} steps at once` : 'no project limit'}`,
    `qa           ${shown(qa)}`,
    `other        ${Object.keys(settings).filter((key) => !['budgets', 'limits', 'concurrency', 'qa'].includes(key)).sort().join(', ') || 'none'} (see --json)`,
  ];
}

/** `settings`: the project's settings; with `--set <file>`, a change to them (an admin's). */
export function registerSettings(program: Command, act: Act): void {
  program
    .command('settings')
    .description("the project's settings (budgets, limits, concurrency, the default quality gate, …); with --set, changes them (an admin's)")
    .option('--set <file>', 'a JSON or YAML document of the settings to change, as PATCH /v1/projects/{projectId}/settings takes it ("-" reads standard input)')
    .action(
      act(async (session, options: { set?: string }) => {
        const client = await session.client();
        const projectId = await session.projectId();
        const params = { params: { path: { projectId } } };
        const settings = options.set
          ? await unwrap(client.PATCH('/v1/projects/{projectId}/settings', { ...params, body: (await readValue(options.set, '--set', session.deps.stdin)) as never }))
          : (await unwrap(client.GET('/v1/projects/{projectId}', params))).settings;
        session.output.result(settings, [...(options.set ? [`Changed the settings of project ${projectId}:`] : []), ...settingsLines(settings)]);
        return exitCodes.ok;
      }),
    );
}
