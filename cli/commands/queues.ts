import { unwrap, type components } from '#sdk';
import type { Command } from 'commander';
import { exitCodes } from '../errors';
import { formatDuration } from '../format';
import type { Act } from '../program';

type QueueStats = components['schemas']['QueueStats']['items'][number];

/** A queue in one line: name, its counts, its oldest message, where its dead letters go back to. */
export function queueLine(queue: QueueStats): string {
  const oldest = queue.oldestAgeSeconds === null ? 'oldest not sampled' : queue.visible + queue.inFlight ? `oldest ${formatDuration(queue.oldestAgeSeconds * 1000)}` : 'empty';
  return `${queue.name.padEnd(13)}  ${String(queue.visible).padStart(5)} visible  ${String(queue.inFlight).padStart(5)} in flight  ${String(queue.delayed).padStart(5)} delayed  ${oldest}${queue.redriveTo ? `  (redrive to ${queue.redriveTo})` : ''}`;
}

/** `queues list|peek|redrive` (issue 14 §5): the installation's queues, with the installation token. */
export function registerQueues(program: Command, act: Act): void {
  const queues = program.command('queues').description("the installation's queues and their dead letters (the installation token only)");

  queues
    .command('list')
    .description("each queue's visible, in-flight and delayed counts and its oldest message, dead-letter queues included")
    .action(
      act(async (session) => {
        const client = await session.client();
        const { items } = await unwrap(client.GET('/v1/queues'));
        session.output.result({ items }, items.map(queueLine));
        return exitCodes.ok;
      }),
    );

  queues
    .command('peek')
    .description("up to 10 dead letters of a queue (run, step, attempt, error), left in it: each peek adds 1 to their receive count")
    .argument('<name>', 'the queue (steps-parked holds the steps that dead-lettered)')
    .action(
      act(async (session, name: string) => {
        const client = await session.client();
        const peeked = await unwrap(client.GET('/v1/queues/{name}/messages', { params: { path: { name }, query: { limit: 10 } } }));
        session.output.result(
          peeked,
          peeked.messages.length
            ? [
                ...peeked.messages.map(
                  (message) =>
                    `${message.sentAt.slice(0, 19).replace('T', ' ')}  ${message.runId ?? '-'}  ${message.stepId ?? message.event?.type ?? '-'}${message.attempt !== undefined ? `  sent for attempt ${message.attempt + 1}` : ''}${message.error ? `  ${message.error.code ? `${message.error.code}: ` : ''}${message.error.message}` : ''}  (received ${message.receiveCount}×)`,
                ),
                `Move them back: npx baton queues redrive ${name}`,
              ]
            : `No messages in ${name}.`,
        );
        return exitCodes.ok;
      }),
    );

  queues
    .command('redrive')
    .description('move the dead letters of a queue back to the queue they came from: their steps run again')
    .argument('<name>', 'the dead-letter queue (steps-parked)')
    .action(
      act(async (session, name: string) => {
        const client = await session.client();
        const redrive = await unwrap(client.POST('/v1/queues/{name}/redrive', { params: { path: { name } } }));
        session.output.result(
          redrive,
          redrive.method === 'emulator-copy'
            ? `Moved ${redrive.moved ?? 0} message${redrive.moved === 1 ? '' : 's'} from ${name} to ${redrive.destination}.`
            : `SQS is moving the messages of ${name} to ${redrive.destination} (message move task ${redrive.taskHandle ?? ''}).`,
        );
        return exitCodes.ok;
      }),
    );
}
