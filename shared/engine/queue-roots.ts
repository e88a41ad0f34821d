import type { RunRecord, StepRecord } from '#shared/store/runs';
import type { EngineDeps } from './context';
import { mergeEffects, noEffects, type Effects } from './dispatch';
import { queueSteps } from './release-dependents';

/**
 * A run's roots queued by `start` (start-run.ts): in chunks of `rootsPerChunk` (each chunk its
 * own transactions of 45, as queueSteps writes them), `parallelChunks` chunks at a time, so that a
 * 10,000-root run starts within the API's time limit (223 transactions one after the other took
 * most of it). Each chunk is all-or-nothing per transaction as before; the run moves only after
 * every chunk is in, so a start that dies half-way leaves the run pending with some roots queued,
 * and the next start queues the rest and sends them all (docs/ARCHITECTURE.md, "Bigger runs").
 */
export const rootsPerChunk = 450;
export const parallelChunks = 8;

export async function queueRoots(deps: EngineDeps, run: RunRecord, roots: StepRecord[], actor: string): Promise<Effects> {
  if (roots.length <= rootsPerChunk) return queueSteps(deps, run, roots, actor);
  const chunks: StepRecord[][] = [];
  for (let start = 0; start < roots.length; start += rootsPerChunk) chunks.push(roots.slice(start, start + rootsPerChunk));
  const effects = noEffects();
  for (let start = 0; start < chunks.length; start += parallelChunks) {
    const done = await Promise.all(chunks.slice(start, start + parallelChunks).map((chunk) => queueSteps(deps, run, chunk, actor)));
    done.forEach((one) => mergeEffects(effects, one));
  }
  return effects;
}
