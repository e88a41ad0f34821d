import type { LifecycleEvent } from '#shared/domain/events';

/**
 * A step's events that are not for the bus live in its own item, in `history` (appended by the
 * write that makes the change, so change and record stay one write): the event without what the
 * item already says (project, run, step). The run's history merges them with its event items.
 */
export type HistoryEntry = Pick<LifecycleEvent, 'id' | 'type' | 'at' | 'actor' | 'detail'>;

export const historyEntry = ({ id, type, at, actor, detail }: LifecycleEvent): HistoryEntry => ({ id, type, at, actor, detail });

/**
 * The events a step item keeps, whole again. A step item born at its first write holds no ids of
 * its own: its keys name run and step, and `projectId` is its run's.
 */
export const historyEvents = (item: Record<string, unknown>, projectId: string): LifecycleEvent[] =>
  ((item.history as HistoryEntry[] | undefined) ?? []).map((entry) => ({
    id: entry.id,
    type: entry.type,
    projectId: (item.projectId as string | undefined) ?? projectId,
    runId: (item.runId as string | undefined) ?? (item.pk as string).slice('RUN#'.length),
    stepId: (item.stepId as string | undefined) ?? (item.sk as string).slice('STEP#'.length),
    at: entry.at,
    actor: entry.actor,
    detail: entry.detail,
  }));
