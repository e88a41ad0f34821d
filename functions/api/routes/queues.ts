import { ConflictError, NotFoundError } from '#shared/domain/errors';
import { queueNames, queueRoles, type QueueName } from '#shared/domain/queues';
import { peekQuery, peekedMessagesResponse, queuePath, queueStatsResponse, redriveResponse } from '#shared/schemas/queues';
import { operation, type Operation } from '../operation';
import type { ApiDeps } from './deps';

const known = (name: string): QueueName => {
  if (!(queueNames as readonly string[]).includes(name)) throw new NotFoundError(`Queue ${name}`);
  return name as QueueName;
};

const peekHow = 'Received with a 5 s visibility timeout and made visible again at once: nothing is consumed, and each peek adds 1 to a message\'s receive count.';

/** The installation's queues: counts, a peek at dead letters, and their redrive (installation admin only). */
export const queueOperations = ({ queues }: ApiDeps): Operation[] => [
  operation({
    operationId: 'listQueues',
    method: 'GET',
    path: '/v1/queues',
    summary: "Each queue's visible, in-flight and delayed counts and oldest age, dead-letter queues included (installation admin only)",
    tag: 'operations',
    access: 'installation',
    responses: { 200: { description: 'The queues', schema: queueStatsResponse } },
    handler: async () => ({ status: 200, body: { items: await queues.list() } }),
  }),
  operation({
    operationId: 'peekQueueMessages',
    method: 'GET',
    path: '/v1/queues/{name}/messages',
    summary: 'Peek at the dead letters of a queue without consuming them: run, step, attempt, error (installation admin only)',
    tag: 'operations',
    access: 'installation',
    params: queuePath,
    query: peekQuery,
    responses: {
      200: { description: 'Up to `limit` messages, left in the queue', schema: peekedMessagesResponse },
      409: { description: 'The queue may not be peeked (its consumer counts receives); the message says why' },
    },
    handler: async ({ params, query }) => {
      const name = known(params.name);
      const { notPeekable } = queueRoles[name];
      if (notPeekable) throw new ConflictError(`Queue ${name} is not peeked: ${notPeekable}`);
      return { status: 200, body: { name, peek: peekHow, messages: await queues.peek(name, query.limit) } };
    },
  }),
  operation({
    operationId: 'redriveQueue',
    method: 'POST',
    path: '/v1/queues/{name}/redrive',
    summary: 'Move the dead letters of a queue back to the queue they came from, through SQS\'s message move task (installation admin only)',
    tag: 'operations',
    access: 'installation',
    params: queuePath,
    responses: {
      202: { description: 'The move started (or, on an emulator without the task, is done)', schema: redriveResponse },
      409: { description: 'The queue cannot be redriven; the message says why and what to do' },
    },
    handler: async ({ params }) => {
      const name = known(params.name);
      const { redrive } = queueRoles[name];
      if ('refused' in redrive) throw new ConflictError(`Queue ${name} cannot be redriven: ${redrive.refused}`);
      return { status: 202, body: await queues.redrive(name) };
    },
  }),
];
