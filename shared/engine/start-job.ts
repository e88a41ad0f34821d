import { ConflictError } from '#shared/domain/errors';
import { finalRunStatuses } from '#shared/domain/states';
import type { StartJob } from '#shared/schemas/messages';
import type { RunRecord } from '#shared/store/runs';
import { pageOfIds } from '#shared/store/step-pages';
import { rootIdsOf, rootsPerJob, sendsPerJob, startJobDispatch } from './background-start';
import { runEvent, type EngineDeps } from './context';
import { applyEffects, messageFor } from './dispatch';
import { queueRoots } from './queue-roots';
import { fileRunDeadline } from './limits';
import { startMove } from './run-actions';

export type StartJobResult = 'queued' | 'started' | 'sent' | 'ignored';

/**
 * One step of a big run's background start (background-start.ts), run by the step worker. Every
 * step is safe to repeat (SQS delivers at least once, and a person may `start` again): queuing
 * a root already queued loses its condition and is skipped, the move is conditional on the run
 * being pending, a message for a root already claimed is a duplicate the worker ignores.
 */
export async function processStartJob(deps: EngineDeps, runId: string, job: StartJob): Promise<StartJobResult> {
  const run = await deps.store.getRun(runId);
  if (!run) return 'ignored';
  return job.phase === 'queue' ? queuePhase(deps, run, job) : sendPhase(deps, run, job);
}

/** Queues the next batch of roots (the run still pending), then sends the next job, or moves the run once all are in. */
async function queuePhase(deps: EngineDeps, run: RunRecord, job: StartJob): Promise<StartJobResult> {
  // Started by another job (or cancelled) meanwhile: nothing left to queue.
  if (run.status !== 'pending') return 'ignored';
  const page = pageOfIds(await rootIdsOf(deps, run), job.after, rootsPerJob);
  const roots = await deps.store.getSteps(run.id, page.ids);
  // Queued as in a running run (their DISPATCH timers, their time gates); their messages go after the move.
  const queued = await queueRoots(deps, { ...run, status: 'running' }, roots.filter((root) => root.status === 'pending'), job.actor);
  await applyEffects(deps, { dispatches: [], events: queued.events });
  if (page.more) {
    await deps.dispatcher.send([startJobDispatch(run.id, { ...job, after: page.ids.at(-1)! })]);
    return 'queued';
  }
  const started = runEvent(run, 'run.started', job.actor, { from: run.status, background: true }, deps.clock());
  try {
    const events = await startMove(deps, run, job.actor)({ held: run.heldSteps ?? [] }, started);
    await applyEffects(deps, { dispatches: [], events });
  } catch (error) {
    // Another job (a second start) moved it first: that one sends the messages.
    if (error instanceof ConflictError) return 'ignored';
    throw error;
  }
  await fileRunDeadline(deps, (await deps.store.getRun(run.id))!);
  await deps.dispatcher.send([startJobDispatch(run.id, { actor: job.actor, phase: 'send' })]);
  return 'started';
}

/** Sends the messages of the next batch of queued roots, then the next job. A lost one is the sweeper's (each root is under DISPATCH). */
async function sendPhase(deps: EngineDeps, run: RunRecord, job: StartJob): Promise<StartJobResult> {
  if (finalRunStatuses.includes(run.status)) return 'ignored';
  const page = pageOfIds(await rootIdsOf(deps, run), job.after, sendsPerJob);
  const roots = await deps.store.getSteps(run.id, page.ids);
  const dispatches = roots.filter((root) => root.status === 'queued').map((root) => messageFor(root));
  if (page.more) dispatches.push(startJobDispatch(run.id, { ...job, after: page.ids.at(-1)! }));
  await deps.dispatcher.send(dispatches);
  return 'sent';
}
