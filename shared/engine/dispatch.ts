import type { StepMessage } from '#shared/schemas/messages';
import type { CommittedEvent } from '#shared/store/event-outbox';
import type { EngineDeps } from './context';

/** SQS refuses delays above 15 minutes; longer waits are the sweeper's (timers index). */
export const maxQueueDelaySeconds = 900;

export interface Dispatch {
  message: StepMessage;
  delaySeconds?: number;
}

/**
 * Sends step messages (the SQS adapter: shared/clients/step-dispatcher.ts); fails loudly if any is
 * refused. Only the test stage's injected lost sends (dispatch-markers.ts) report `dropped`.
 */
export interface Dispatcher {
  send(dispatches: Dispatch[]): Promise<void | { dropped: number }>;
}

/** A finished step filed under DISPATCH until the sends of its release are done (Finish.dispatchDueAt). */
export interface Settled {
  runId: string;
  stepId: string;
  status: string;
}

/** What a transition leaves to do after its commit: messages to send, events to publish, DISPATCH timers to take off after the sends. */
export interface Effects {
  dispatches: Dispatch[];
  events: CommittedEvent[];
  settled?: Settled[];
}
export const noEffects = (): Effects => ({ dispatches: [], events: [] });
export const mergeEffects = (into: Effects, more: Effects): Effects => {
  into.dispatches.push(...more.dispatches);
  into.events.push(...more.events);
  if (more.settled?.length) into.settled = [...(into.settled ?? []), ...more.settled];
  return into;
};

/**
 * Sends the messages, then publishes the events: both only after their state committed; then
 * the DISPATCH timers of finished steps whose release is now sent go. An injected lost send
 * stands for a death right after the commit: nothing after it happens, the timer stays.
 * `alsoMark`: events published earlier unmarked, marked now in the same write.
 */
export async function applyEffects(deps: EngineDeps, effects: Effects, alsoMark: CommittedEvent[] = []): Promise<void> {
  const sent = effects.dispatches.length ? await deps.dispatcher.send(effects.dispatches) : undefined;
  if (effects.events.length || alsoMark.length) await deps.outbox.publish(effects.events, { alsoMark });
  if (sent?.dropped) return;
  for (const { runId, stepId, status } of effects.settled ?? []) await deps.store.clearDispatchMarker(runId, stepId, status);
}

/** The message that runs (or looks at) a step's next attempt. */
export const messageFor = (step: { runId: string; stepId: string; attempt: number }, delaySeconds?: number): Dispatch => ({
  message: { runId: step.runId, stepId: step.stepId, attempt: step.attempt },
  ...(delaySeconds !== undefined ? { delaySeconds } : {}),
});
