import { mapChunkCount, mapChunkIndexes } from '#shared/domain/map-step';
import type { MapChunk, MapRecord, MapStore } from '#shared/engine/map-store';
import type { EventToWrite, Written } from '#shared/engine/store';
import type { StepRecord } from './runs';

/** Map steps in memory, with the DynamoDB adapter's semantics (shared/store/map-children.ts); each operation in one synchronous turn. */
export function createMemoryMapStore({
  stepOf,
  putStep,
  commit,
  allSteps,
}: {
  stepOf: (runId: string, stepId: string) => StepRecord | undefined;
  allSteps: () => Iterable<StepRecord>;
  putStep: (step: StepRecord) => void;
  commit: (events: EventToWrite[]) => Written;
}): MapStore & { chunkCounters: (runId: string, mapId: string) => MapChunk[] } {
  const maps = new Map<string, MapRecord>();
  const chunks = new Map<string, Map<number, { pending: Set<number>; failed: Set<number> }>>();
  const key = (runId: string, mapId: string) => `${runId}\n${mapId}`;
  const clone = <T>(value: T): T => structuredClone(value);
  const counters = (runId: string, mapId: string): MapChunk[] =>
    [...(chunks.get(key(runId, mapId)) ?? new Map<number, { pending: Set<number>; failed: Set<number> }>())]
      .sort(([a], [b]) => a - b)
      .map(([chunk, counter]) => ({ chunk, pending: [...counter.pending].sort((a, b) => a - b), failed: [...counter.failed].sort((a, b) => a - b) }));

  return {
    getMap: async (runId, mapId) => clone(maps.get(key(runId, mapId))),
    async createMap(map) {
      const count = mapChunkCount(map.count);
      chunks.set(key(map.runId, map.mapId), new Map(Array.from({ length: count }, (_, chunk) => [chunk, { pending: new Set(mapChunkIndexes(chunk, map.count)), failed: new Set<number>() }])));
      if (maps.has(key(map.runId, map.mapId))) return false;
      const open = Array.from({ length: count }, (_, chunk) => chunk);
      const { openChunks: _open, ...record } = clone(map);
      maps.set(key(map.runId, map.mapId), { ...record, ...(open.length ? { openChunks: open } : {}) });
      return true;
    },
    async putChild(child, queued) {
      if (stepOf(child.runId, child.stepId)) return { won: false };
      putStep(clone(child));
      return commit([queued]);
    },
    async finishChild(runId, mapId, chunk, index, failed) {
      const counter = chunks.get(key(runId, mapId))?.get(chunk);
      if (!counter) return false;
      counter.pending.delete(index);
      if (failed) counter.failed.add(index);
      else counter.failed.delete(index);
      return counter.pending.size === 0;
    },
    async closeChunk(runId, mapId, chunk) {
      const map = maps.get(key(runId, mapId));
      if (!map) return false;
      const open = (map.openChunks ?? []).filter((one) => one !== chunk);
      if (open.length) map.openChunks = open;
      else delete map.openChunks;
      return open.length === 0;
    },
    chunks: async (runId, mapId) => counters(runId, mapId),
    async openRound(runId, mapId, round, reopen) {
      const byChunk = chunks.get(key(runId, mapId));
      for (const { chunk, failed } of reopen) if (failed.length && byChunk?.get(chunk)) byChunk.get(chunk)!.pending = new Set(failed);
      const map = maps.get(key(runId, mapId));
      if (!map || map.round !== round - 1) return false;
      const open = reopen.filter((chunk) => chunk.failed.length).map((chunk) => chunk.chunk);
      Object.assign(map, { round, state: 'running' }, open.length ? { openChunks: open } : {});
      return true;
    },
    async closeMap(runId, mapId, round) {
      const map = maps.get(key(runId, mapId));
      if (!map || map.round !== round) return false;
      map.state = 'done';
      return true;
    },
    async awaitChildren(runId, stepId, attempt) {
      const step = stepOf(runId, stepId);
      if (!step || step.status !== 'running' || step.attempt !== attempt) return false;
      step.waitingFor = 'children';
      delete step.leaseUntil;
      return true;
    },
    async children(runId, mapId, { limit, from = 0 }) {
      const all = [...allSteps()].filter((step) => step.runId === runId && step.mapItem?.mapId === mapId && step.mapItem.index >= from).sort((a, b) => a.mapItem!.index - b.mapItem!.index);
      return { items: all.slice(0, limit).map((step) => clone(step)), ...(all.length > limit ? { next: all[limit]!.mapItem!.index } : {}) };
    },
    chunkCounters: counters,
  };
}
