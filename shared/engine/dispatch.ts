import type { StepMessage } from '#shared/schemas/messages';
import type { CommittedEvent } from '#shared/store/event-outbox';
import type { EngineDeps } from './context';

/** SQS refuses delays above 15 minutes; longer waits are the sweeper's (timers index). */
export const maxQueueDelaySeconds = 900;

export interface Dispatch {
  message: StepMessage;
  delaySeconds?: number;
}

/** Sends step messages (the SQS adapter: shared/clients/step-dispatcher.ts); fails loudly if any is refused. */
export interface Dispatcher {
  send(dispatches: Dispatch[]): Promise<void>;
}

/** What a transition leaves to do after its commit: messages to send and events to publish. */
export interface Effects {
  dispatches: Dispatch[];
  events: CommittedEvent[];
}
export const noEffects = (): Effects => ({ dispatches: [], events: [] });
export const mergeEffects = (into: Effects, more: Effects): Effects => {
  into.dispatches.push(...more.dispatches);
  into.events.push(...more.events);
  return into;
};

/**
 * Sends the messages, then publishes the events: both only after their state committed.
 * `alsoMark`: events published earlier unmarked, marked now in the same write.
 */
export async function applyEffects(deps: EngineDeps, effects: Effects, alsoMark: CommittedEvent[] = []): Promise<void> {
  if (effects.dispatches.length) await deps.dispatcher.send(effects.dispatches);
  if (effects.events.length || alsoMark.length) await deps.outbox.publish(effects.events, { alsoMark });
}

/** The message that runs (or looks at) a step's next attempt. */
export const messageFor = (step: { runId: string; stepId: string; attempt: number }, delaySeconds?: number): Dispatch => ({
  message: { runId: step.runId, stepId: step.stepId, attempt: step.attempt },
  ...(delaySeconds !== undefined ? { delaySeconds } : {}),
});
