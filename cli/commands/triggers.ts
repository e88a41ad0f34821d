import { unwrap, type CreateTriggerBody, type Trigger } from '#sdk';
import { Option, type Command } from 'commander';
import { exitCodes, UsageError } from '../errors';
import { readValue } from '../files';
import type { Act } from '../program';
import { resolveWorkflow, positiveInteger } from './runs';

/** A trigger in one line: id, state, what starts it, which workflow, its name. */
export function triggerLine(trigger: Trigger): string {
  const { source } = trigger;
  const webhook = source as { provider?: string; event?: string; filter?: Record<string, string> };
  const what =
    source.type === 'webhook'
      ? [`${webhook.provider} ${webhook.event ?? 'any event'}`, ...Object.entries(webhook.filter ?? {}).map(([key, value]) => `${key}=${value}`)].join(' ')
      : `eventbridge ${JSON.stringify((source as { pattern?: unknown }).pattern)}`;
  return `${trigger.id}  ${(trigger.state === 'ENABLED' ? 'enabled' : 'paused').padEnd(7)}  ${what}  → ${trigger.workflowId}${trigger.version !== undefined ? ` v${trigger.version}` : ''}${trigger.name ? `  "${trigger.name}"` : ''}`;
}

interface CreateOptions {
  workflow: string;
  name?: string;
  workflowVersion?: number;
  webhook?: 'github' | 'gitlab' | 'generic';
  event?: string;
  repository?: string;
  branch?: string;
  action?: string;
  pattern?: string;
  inputMapping?: string;
}

/** `trigger create|list|pause|resume|delete` (issue 13 §5: runs started by events). */
export function registerTriggers(program: Command, act: Act): void {
  const trigger = program.command('trigger').description('runs started by events: a webhook delivery or an EventBridge event');

  trigger
    .command('create')
    .description('start runs of a workflow on a webhook delivery (--webhook) or an EventBridge event (--pattern)')
    .requiredOption('--workflow <workflow>', 'the workflow id (wf_…) or name')
    .option('--name <name>', 'a name people read')
    .option('--workflow-version <n>', 'the version to start (the latest at the time of the event when absent)', positiveInteger)
    .addOption(new Option('--webhook <provider>', 'started by a verified delivery of this provider').choices(['github', 'gitlab', 'generic']))
    .option('--event <type>', "the delivery's event (push, pull_request, …; any when absent)")
    .option('--repository <owner/name>', 'only deliveries of this repository')
    .option('--branch <branch>', 'only deliveries for this branch')
    .option('--action <action>', "only deliveries with this payload action (opened, completed, …)")
    .option('--pattern <file>', 'an EventBridge event pattern, JSON or YAML ("-" reads standard input)')
    .option('--input-mapping <file>', 'the run input built from the event: {key: JSONPath}, JSON or YAML (the whole event when absent)')
    .action(
      act(async (session, options: CreateOptions) => {
        if (Boolean(options.webhook) === Boolean(options.pattern)) throw new UsageError('Give either --webhook <provider> or --pattern <file>', options.webhook ? 'pattern' : 'webhook');
        const filter = Object.fromEntries((['repository', 'branch', 'action'] as const).flatMap((key) => (options[key] ? [[key, options[key]]] : [])));
        if (options.pattern && (options.event || Object.keys(filter).length)) throw new UsageError('--event, --repository, --branch and --action are for --webhook triggers', 'pattern');
        const source: CreateTriggerBody['source'] = options.webhook
          ? { type: 'webhook', provider: options.webhook, ...(options.event ? { event: options.event } : {}), ...(Object.keys(filter).length ? { filter } : {}) }
          : { type: 'eventbridge', pattern: (await readValue(options.pattern!, '--pattern', session.deps.stdin)) as Record<string, unknown> };
        const mapping = options.inputMapping ? ((await readValue(options.inputMapping, '--input-mapping', session.deps.stdin)) as Record<string, string>) : undefined;
        const body: CreateTriggerBody = {
          workflowId: await resolveWorkflow(session, options.workflow),
          source,
          ...(options.name ? { name: options.name } : {}),
          ...(options.workflowVersion !== undefined ? { version: options.workflowVersion } : {}),
          ...(mapping ? { input: { mapping } } : {}),
        };
        const client = await session.client();
        const projectId = await session.projectId();
        const created = await unwrap(client.POST('/v1/projects/{projectId}/triggers', { params: { path: { projectId } }, body }));
        session.output.result(created, [`Created ${triggerLine(created)}`, ...(created.rule ? [`  EventBridge rule ${created.rule.name} on bus ${created.rule.bus}`] : [])]);
        return exitCodes.ok;
      }),
    );

  trigger
    .command('list')
    .description("the project's triggers")
    .action(
      act(async (session) => {
        const client = await session.client();
        const projectId = await session.projectId();
        const listed = await unwrap(client.GET('/v1/projects/{projectId}/triggers', { params: { path: { projectId } } }));
        session.output.result(listed, listed.items.length ? listed.items.map(triggerLine) : 'No triggers yet: baton trigger create --workflow <workflow> --webhook github --event push');
        return exitCodes.ok;
      }),
    );

  for (const [action, description] of [
    ['pause', 'pause a trigger: its events start nothing until resume'],
    ['resume', 'resume a paused trigger'],
  ] as const) {
    trigger
      .command(action)
      .description(description)
      .argument('<trigger>', 'the trigger id (trg_…)')
      .action(
        act(async (session, triggerId: string) => {
          const client = await session.client();
          const projectId = await session.projectId();
          const changed = await unwrap(client.POST('/v1/projects/{projectId}/triggers/{triggerId}/actions/{action}', { params: { path: { projectId, triggerId, action } } }));
          session.output.result(changed, `${action === 'pause' ? 'Paused' : 'Resumed'} ${triggerLine(changed)}`);
          return exitCodes.ok;
        }),
      );
  }

  trigger
    .command('delete')
    .description('delete a trigger (and its EventBridge rule)')
    .argument('<trigger>', 'the trigger id (trg_…)')
    .action(
      act(async (session, triggerId: string) => {
        const client = await session.client();
        const projectId = await session.projectId();
        await unwrap(client.DELETE('/v1/projects/{projectId}/triggers/{triggerId}', { params: { path: { projectId, triggerId } } }));
        session.output.result({ id: triggerId, deleted: true }, `Deleted trigger ${triggerId}`);
        return exitCodes.ok;
      }),
    );
}
