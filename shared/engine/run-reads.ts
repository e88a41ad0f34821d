import type { RunRecord } from '#shared/store/runs';
import type { EngineStore } from './store';

/**
 * The run items one worker invocation reads: each run once for the records of its batch, which
 * start together, instead of once per record (docs/ARCHITECTURE.md, "Reads per step"). A step
 * run inline after another reads its run again (step-lifecycle.ts): it starts after a whole step
 * ran, and a cancel or pause meanwhile must reach it.
 *
 * Why one read serves the records of a batch as well as a read each:
 * - It is strongly consistent and made after the batch arrived, so it sees every write that
 *   preceded the sending of any message in the batch (each was sent after its writes committed):
 *   what a message was sent for (a run resumed, re-run, started) is in it.
 * - The records start in parallel, so each decides on a read as recent as its own would have
 *   been. What changes after it (a person pauses, cancels) could land between a record's own read
 *   and its claim just the same; the engine does not rely on the status staying put there: a
 *   claimed step runs to its outcome, its children look at the run again, `hold` is conditional on
 *   the run being paused, a release that parks reads the run after its write, the run's
 *   completion reads it afresh. `maxAgeMs` bounds the reuse should records run one after another.
 */
export interface RunReads {
  run(runId: string): Promise<RunRecord | undefined>;
}

/** How long a run read is reused within one invocation (its records start within milliseconds of each other). */
export const runReadMaxAgeMs = 200;

export function invocationRunReads(store: Pick<EngineStore, 'getRun'>, now: () => number = Date.now, maxAgeMs = runReadMaxAgeMs): RunReads {
  const reads = new Map<string, { run: Promise<RunRecord | undefined>; at: number }>();
  return {
    run(runId) {
      const cached = reads.get(runId);
      if (cached && now() - cached.at <= maxAgeMs) return cached.run;
      const run = store.getRun(runId);
      reads.set(runId, { run, at: now() });
      // A failed read is not kept: the next step reads again.
      run.catch(() => {
        if (reads.get(runId)?.run === run) reads.delete(runId);
      });
      return run;
    },
  };
}

/** No sharing: every step reads its run (functions other than the worker, tests that want it). */
export const unsharedRunReads = (store: Pick<EngineStore, 'getRun'>): RunReads => ({ run: (runId) => store.getRun(runId) });
