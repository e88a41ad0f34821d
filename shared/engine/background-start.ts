import { startJobStepId, type StartJob } from '#shared/schemas/messages';
import type { RunRecord } from '#shared/store/runs';
import type { EngineDeps } from './context';
import type { Dispatch } from './dispatch';

/**
 * Big runs start in the background (docs/ARCHITECTURE.md, "Bigger runs"). Queuing 10,000 roots
 * and sending their messages does not fit one API request on every backend (the emulator manages
 * about ten 45-step transactions a second), so `start` of a run with more than `rootsInRequest`
 * roots only sends a start job to the step queue and answers with the run still `pending`; the
 * worker queues the roots `rootsPerJob` at a time (each job sending the next), moves the run to
 * running once every root is queued, then sends the roots' messages `sendsPerJob` at a time.
 * Until the move the run is visibly pending; a job lost for good (dead-lettered) leaves it so,
 * and `start` again sends a new one (a root already queued is only sent).
 */
export const rootsInRequest = 450;
export const rootsPerJob = 500;
export const sendsPerJob = 500;

/** The message of one step of a run's background start. */
export const startJobDispatch = (runId: string, job: StartJob): Dispatch => ({ message: { runId, stepId: startJobStepId, attempt: 0, start: job } });

/** The root ids `start` must queue when the run item names none (runs of more than maxRootsOnRun roots), in key order. */
export const rootIdsOf = async (deps: EngineDeps, run: RunRecord): Promise<string[]> => run.roots ?? [...(await deps.store.definedRoots(run))].sort();

/** True when the run's roots are too many to queue within the request: its start goes to the background. */
export const startsInBackground = async (deps: EngineDeps, run: RunRecord): Promise<boolean> =>
  run.roots === undefined && (await deps.store.definedRoots(run)).length > rootsInRequest;

/** Sends the first start job; the run stays pending until the worker has queued every root. */
export async function sendStartJob(deps: EngineDeps, run: RunRecord, actor: string): Promise<RunRecord> {
  await deps.dispatcher.send([startJobDispatch(run.id, { actor, phase: 'queue' })]);
  return run;
}
