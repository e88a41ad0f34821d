/**
 * A run's unfinished sinks (steps nothing depends on) are kept in a few bucket items rather than
 * counted down on the run item (docs/ARCHITECTURE.md, "Write budget per step"): a finished sink
 * leaves its bucket by an idempotent set removal, so a repeat changes nothing, and the run item
 * (with its index copy) is written only when a whole bucket empties. A bucket holds sinks that
 * are next to each other in the workflow: a fan's leaves are released together, in that order,
 * so the records of one worker invocation mostly finish sinks of one bucket and share its write.
 * Each sink's step item names its bucket (`sinkBucket`).
 */

/** About this many bytes of sink ids per bucket: a bucket item stays under 1 KB (one write unit per write). */
const idBytesPerBucket = 600;

/** The run's unfinished sinks, in workflow order, cut into buckets of about `idBytesPerBucket` bytes of ids. */
export function sinkBuckets(sinkIds: readonly string[]): string[][] {
  const encoder = new TextEncoder();
  const buckets: string[][] = [];
  let bytes = idBytesPerBucket;
  for (const id of sinkIds) {
    const size = encoder.encode(id).length + 1;
    if (bytes + size > idBytesPerBucket) {
      buckets.push([]);
      bytes = 0;
    }
    buckets.at(-1)!.push(id);
    bytes += size;
  }
  return buckets;
}

/** Some sink of the run is not done: in an open bucket, or counted on the run item (runs from before buckets). */
export const sinksOpen = (run: { remainingSinks: number; openSinkBuckets?: string[] }): boolean => run.remainingSinks > 0 || (run.openSinkBuckets?.length ?? 0) > 0;
