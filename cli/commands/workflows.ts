import { paginate, unwrap, type components } from '#sdk';
import type { Command } from 'commander';
import { exitCodes } from '../errors';
import { formatOf, readText } from '../files';
import type { Act } from '../program';
import { resolveWorkflow } from './runs';

/** `workflows apply` (save a definition; a new version when the name exists), `workflows list` and `workflows feedback`. */
export function registerWorkflows(program: Command, act: Act): void {
  const workflows = program.command('workflows').description('save and list workflow definitions');
  workflows
    .command('apply')
    .description('save a workflow from a YAML or JSON file; the same name adds a version')
    .argument('<file>', 'the definition: name, description?, steps (.yaml, .yml or .json; "-" reads standard input)')
    .action(
      act(async (session, file: string) => {
        const text = await readText(file, 'file', session.deps.stdin);
        const contentType = formatOf(file, text) === 'json' ? 'application/json' : 'application/yaml';
        const client = await session.client();
        const projectId = await session.projectId();
        // Sent as written: the API parses YAML itself, so its errors name the field as in the file.
        const saved = await unwrap(
          client.POST('/v1/projects/{projectId}/workflows', {
            params: { path: { projectId } },
            body: text as never,
            bodySerializer: (body: unknown) => body as string,
            headers: { 'content-type': contentType },
          }),
        );
        session.output.result(saved, `Saved workflow ${saved.name} (${saved.id}) version ${saved.version}: ${saved.steps} step${saved.steps === 1 ? '' : 's'}`);
        return exitCodes.ok;
      }),
    );

  workflows
    .command('list')
    .description("the project's workflows by name, with their latest version and step count")
    .action(
      act(async (session) => {
        const client = await session.client();
        const projectId = await session.projectId();
        const items: components['schemas']['WorkflowSummary'][] = [];
        for await (const summary of paginate((cursor) => unwrap(client.GET('/v1/projects/{projectId}/workflows', { params: { path: { projectId }, query: { limit: 100, ...(cursor ? { cursor } : {}) } } })))) {
          items.push(summary);
        }
        const width = Math.max(4, ...items.map((item) => item.name.length));
        session.output.result(
          { items },
          items.length ? items.map((item) => `${item.id}  ${item.name.padEnd(width)}  v${item.version}  ${item.steps} step${item.steps === 1 ? '' : 's'}  ${item.updatedAt.slice(0, 16).replace('T', ' ')}`) : 'No workflows yet: baton workflows apply <file.yaml>',
        );
        return exitCodes.ok;
      }),
    );

  workflows
    .command('feedback')
    .description("a workflow's feedback averaged per version (every score on its runs' steps: people's and reviewers')")
    .argument('<workflow>', 'the workflow id (wf_…) or name')
    .action(
      act(async (session, workflow: string) => {
        const client = await session.client();
        const projectId = await session.projectId();
        const workflowId = await resolveWorkflow(session, workflow);
        const averages = await unwrap(client.GET('/v1/projects/{projectId}/workflows/{workflowId}/feedback', { params: { path: { projectId, workflowId } } }));
        session.output.result(
          averages,
          averages.items.length
            ? averages.items.map((item) => `v${item.version}  ${String(item.count).padStart(4)} score${item.count === 1 ? ' ' : 's'}  average ${Math.round(item.averageScore * 10) / 10}`)
            : 'No feedback yet on its runs.',
        );
        return exitCodes.ok;
      }),
    );
}
