import { ConflictError } from '#shared/domain/errors';
import { sinksOpen } from '#shared/domain/sink-buckets';
import type { CommittedEvent } from '#shared/store/event-outbox';
import type { RunRecord } from '#shared/store/runs';
import { runEvent, type EngineDeps } from './context';
import { applyEffects, mergeEffects, messageFor, type Effects } from './dispatch';
import { completeRunIfDone } from './release-dependents';
import { queueRoots } from './queue-roots';
import { rootIdsOf } from './background-start';
import type { EventToWrite } from './store';

/**
 * pending → running, crash-safe: the roots are queued first (each filed under DISPATCH, as
 * everything the API queues) and the run moves after. A request that dies in between leaves the
 * run pending, visibly, with its roots queued (a copy the sweeper re-sends meanwhile is only
 * held), and the next `start` (a person's, or the client's retry of the creating request under
 * its Idempotency-Key) sends them; one that dies after the move leaves them to the sweeper. The
 * other order left a running run whose roots were pending, which nothing would ever queue and
 * a second `start` was refused.
 */

/** The run's move (runActionRules' `start`), forgetting the roots held while it was pending, with its event made beforehand. */
export type StartMove = (change: { held: string[] }, event: EventToWrite) => Promise<CommittedEvent[]>;

export async function startWithRoots(deps: EngineDeps, run: RunRecord, actor: string, move: StartMove): Promise<RunRecord> {
  // Made first, so that run.started sorts before the roots' step.queued in the history (ids are monotonic).
  const started = runEvent(run, 'run.started', actor, { from: run.status }, deps.clock());
  const roots = await deps.store.getSteps(run.id, await rootIdsOf(deps, run));
  const running = { ...run, status: 'running' as const };
  const queued = await queueRoots(deps, running, roots.filter((root) => root.status === 'pending'), actor);
  const effects: Effects = { dispatches: queued.dispatches, events: [...(await move({ held: run.heldSteps ?? [] }, started)), ...queued.events] };
  // Queued by a start that died before its move: their messages now.
  effects.dispatches.push(...roots.filter((root) => root.status === 'queued').map((root) => messageFor(root)));
  if (!sinksOpen(run)) mergeEffects(effects, await completeRunIfDone(deps, run.id, actor));
  await applyEffects(deps, effects);
  return (await deps.store.getRun(run.id))!;
}

/**
 * The start a creating request asked for (`start: true`), also when it replays a run whose first
 * request died before starting it; a start that loses to another one (the first request, still
 * going) answers with the run that other one started.
 */
export async function startOnce(deps: EngineDeps, run: RunRecord, start: (run: RunRecord) => Promise<RunRecord>): Promise<RunRecord> {
  if (run.status !== 'pending') return run;
  try {
    return await start(run);
  } catch (error) {
    const current = await deps.store.getRun(run.id);
    if (error instanceof ConflictError && current && current.status !== 'pending') return current;
    throw error;
  }
}
