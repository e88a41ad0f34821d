import { z } from 'zod';
import { stepStatuses } from '#shared/domain/states';

/**
 * The callback routes an agent that answered "pending" reports through. The token in the path
 * is the credential (no bearer token); a malformed one is as unknown as a made-up one (404).
 */
export const callbackTokenParam = z.string().min(1).max(256).meta({ description: 'The token from the callback URL the agent was given' });

const stepState = z.object({
  runId: z.string(),
  stepId: z.string(),
  status: z.union([z.enum(stepStatuses), z.literal('unknown')]),
  attempt: z.number().int(),
  tokenAttempt: z.number().int().meta({ description: 'The attempt this callback URL was issued for' }),
  leaseUntil: z.iso.datetime({ offset: true }).optional().meta({ description: 'While the step waits: when its wait ends unless a heartbeat (or the callback) arrives' }),
});

export const callbackResponse = z
  .object({
    outcome: z.enum(['completed', 'retrying', 'failed', 'extended', 'noted']).meta({
      description: 'completed/retrying/failed: what the reply did to the step; extended: the heartbeat pushed the wait on; noted: the agent\'s first answer is not recorded yet, nothing to extend',
    }),
    step: stepState,
  })
  .meta({ id: 'CallbackResult' });

/** 409: the execution the token was issued for has ended (completed, failed, timed out and retried). */
export const callbackConflictResponse = z
  .object({
    error: z.object({ code: z.literal('callback_closed'), message: z.string(), requestId: z.string() }),
    step: stepState,
  })
  .meta({ id: 'CallbackClosed' });
