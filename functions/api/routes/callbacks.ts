import { z } from 'zod';
import { NotFoundError, ValidationError } from '#shared/domain/errors';
import { callbackTokenPattern } from '#shared/domain/callbacks';
import { completeByCallback, heartbeatByToken, type CallbackResult } from '#shared/engine/callbacks';
import { agentReply } from '#shared/executors/agent-reply';
import { callbackConflictResponse, callbackResponse, callbackTokenParam } from '#shared/schemas/callbacks';
import { operation, type Operation } from '../operation';
import type { ApiDeps } from './deps';

const tokenPath = z.strictObject({ token: callbackTokenParam });
const responses = {
  200: { description: 'What the call did, and the step as it now stands', schema: callbackResponse },
  404: { description: 'No such callback token' },
  409: { description: 'The step execution this token was issued for has ended: nothing changed', schema: callbackConflictResponse },
};

/** 200 with what happened, 409 with the step's state when the execution ended, 404 for an unknown token. */
const answer = (result: CallbackResult, requestId: string) => {
  if (result.outcome === 'unknown') throw new NotFoundError('Callback token');
  if (result.outcome === 'closed') {
    return { status: 409, body: { error: { code: 'callback_closed' as const, message: `Nothing changed: ${result.reason}`, requestId }, step: result.step } };
  }
  return { status: 200, body: { outcome: result.outcome, step: result.step } };
};

/** Callbacks of agents that answered "pending" (public: the token in the path is the credential). */
export const callbackOperations = ({ engine }: ApiDeps): Operation[] => [
  operation({
    operationId: 'completeCallback',
    method: 'POST',
    path: '/v1/callbacks/{token}',
    summary: 'An agent that answered "pending" reports its result: the agent reply completes (or fails) the step',
    tag: 'callbacks',
    access: 'public',
    params: tokenPath,
    // Baton's API refuses unknown fields, as every route does (agents' inline replies may carry extras).
    body: { schema: agentReply.strict(), required: true },
    responses,
    handler: async ({ params, body, event }) => {
      if (!callbackTokenPattern.test(params.token)) throw new NotFoundError('Callback token');
      if (body.pending) throw new ValidationError('body.pending: a callback ends the wait; POST the heartbeat URL to keep waiting', 'body.pending');
      return answer(await completeByCallback(engine, params.token, body), event.requestContext.requestId);
    },
  }),
  operation({
    operationId: 'heartbeatCallback',
    method: 'POST',
    path: '/v1/callbacks/{token}/heartbeat',
    summary: 'An agent that answered "pending" is still working: its wait is extended by the step\'s heartbeatSeconds',
    tag: 'callbacks',
    access: 'public',
    params: tokenPath,
    body: { schema: z.strictObject({}), required: false },
    responses,
    handler: async ({ params, event }) => {
      if (!callbackTokenPattern.test(params.token)) throw new NotFoundError('Callback token');
      return answer(await heartbeatByToken(engine, params.token), event.requestContext.requestId);
    },
  }),
];
