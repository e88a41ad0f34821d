import { unwrap } from '#sdk';
import { basename, extname } from 'node:path';
import type { Command } from 'commander';
import { exitCodes } from '../errors';
import { readText } from '../files';
import type { Act } from '../program';

/** `plan import`: a plan CSV (Day, Date, Theme, …, Dependencies) becomes a workflow. */
export function registerPlan(program: Command, act: Act): void {
  const plan = program.command('plan').description('plan CSV imports');
  plan
    .command('import')
    .description('import a plan CSV as a workflow (one step per row; Done rows are already complete)')
    .argument('<plan.csv>', 'the plan ("-" reads standard input)')
    .option('--date-gating', "no step starts before its row's Date")
    .option('--name <name>', 'the workflow name (default: the file name without .csv)')
    .option('--kind <kind>', 'the step kind of every row (default: noop)')
    .action(
      act(async (session, file: string, options: { dateGating?: boolean; name?: string; kind?: string }) => {
        const csv = await readText(file, 'plan.csv', session.deps.stdin);
        const name = options.name ?? (file === '-' ? undefined : basename(file, extname(file)));
        const client = await session.client();
        const projectId = await session.projectId();
        const saved = await unwrap(
          client.POST('/v1/projects/{projectId}/workflows/import', {
            params: {
              path: { projectId },
              query: { dateGating: options.dateGating ? 'true' : 'false', ...(name ? { name } : {}), ...(options.kind ? { kind: options.kind } : {}) },
            },
            body: csv,
            bodySerializer: (body: unknown) => body as string,
            headers: { 'content-type': 'text/csv' },
          }),
        );
        session.output.result(saved, [
          `Imported ${file} as workflow ${saved.name} (${saved.id}) version ${saved.version}: ${saved.steps} steps${options.dateGating ? ', gated by date' : ''}`,
          `Start it: npx baton run start ${saved.id} --watch`,
        ]);
        return exitCodes.ok;
      }),
    );
}
