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

/**
 * Sends the messages of the next batch of queued roots, then the next job (in the same send, after
 * them). The roots carry no DISPATCH marker (the worker's writes are recovered by their message's
 * redelivery): the job chain owns their sending, so the sweeper never sends a root the chain has
 * not reached yet (a 10,000-root queue takes minutes to drain). A job that dies is redelivered
 * and sends its page again; one dead-lettered hands the rest to the sweeper (handOverUnsentRoots).
 */
async function sendPhase(deps: EngineDeps, run: RunRecord, job: StartJob): Promise<StartJobResult> {
  if (finalRunStatuses.includes(run.status)) return 'ignored';
  const page = pageOfIds(await rootIdsOf(deps, run), job.after, sendsPerJob);
  const roots = await deps.store.getSteps(run.id, page.ids);
  const dispatches = roots.filter((root) => root.status === 'queued').map((root) => messageFor(root));
  if (page.more) dispatches.push(startJobDispatch(run.id, { ...job, after: page.ids.at(-1)! }));
  await deps.dispatcher.send(dispatches);
  return 'sent';
}

/** How many roots one markForDispatch call files, and how many such calls run at once. */
const markChunk = 25;
const parallelMarks = 8;

/**
 * A send job dead-lettered (its deliveries kept failing): the roots from its position on that are
 * still queued may never get a message from the chain, so they are filed under DISPATCH, due now,
 * and the sweeper sends them (the DLQ handler's part; a queue job dead-lettered leaves the run
 * pending instead, and `start` again resumes it). Safe to repeat: marking is idempotent.
 */
export async function handOverUnsentRoots(deps: EngineDeps, runId: string, job: StartJob): Promise<number> {
  const run = await deps.store.getRun(runId);
  if (!run || job.phase !== 'send' || finalRunStatuses.includes(run.status)) return 0;
  const ids = await rootIdsOf(deps, run);
  const rest = job.after === undefined ? ids : ids.filter((id) => id > job.after!);
  const dueAt = deps.clock().toISOString();
  let marked = 0;
  for (let start = 0; start < rest.length; start += sendsPerJob) {
    const queued = (await deps.store.getSteps(run.id, rest.slice(start, start + sendsPerJob))).filter((root) => root.status === 'queued').map((root) => root.stepId);
    const chunks: string[][] = [];
    for (let at = 0; at < queued.length; at += markChunk) chunks.push(queued.slice(at, at + markChunk));
    for (let at = 0; at < chunks.length; at += parallelMarks) await Promise.all(chunks.slice(at, at + parallelMarks).map((chunk) => deps.store.markForDispatch(run.id, chunk, dueAt)));
    marked += queued.length;
  }
  return marked;
}
