import type { MapTemplate } from '#shared/domain/map-step';
import type { StepRecord } from '#shared/store/runs';
import type { EventToWrite, Written } from './store';

/**
 * The store's part for map steps (docs/ARCHITECTURE.md, "Map steps"): the map's record, its
 * chunks' counters, its children's items. No operation reads more than one chunk's worth of
 * items, and none reads the children to count them: a chunk counts its own.
 */
export interface MapRecord {
  runId: string;
  mapId: string;
  count: number;
  maxConcurrency: number;
  toleratedFailurePercentage: number;
  template: MapTemplate;
  /** 1 for the first pass over the items; each retry of the failed items is the next round. */
  round: number;
  /** `done` once the round's last chunk closed and the map's outcome was written. */
  state: 'running' | 'done';
  /** Chunks with children still to finish in this round (absent: none). */
  openChunks?: number[];
}

/** One chunk's counter: its children not finished in this round, and those that failed. */
export interface MapChunk {
  chunk: number;
  pending: number[];
  failed: number[];
}

export interface MapStore {
  getMap(runId: string, mapId: string): Promise<MapRecord | undefined>;
  /**
   * The chunks' counters (every index pending), then the record (round 1, running, every chunk open);
   * false when the record exists already. Only after getMap found none (the counters are written whole).
   */
  createMap(map: MapRecord): Promise<boolean>;
  /** A child's whole item, queued, with its step.queued; lost when the child exists already. */
  putChild(child: StepRecord, event: EventToWrite): Promise<Written>;
  /** A finished child out of its chunk's pending (and into, or out of, its failed): idempotent. True when the chunk has nothing pending. */
  finishChild(runId: string, mapId: string, chunk: number, index: number, failed: boolean): Promise<boolean>;
  /** The chunk off the map's open chunks: idempotent. True when no chunk is open. */
  closeChunk(runId: string, mapId: string, chunk: number): Promise<boolean>;
  /** Every chunk's counter, in chunk order (one small item per 100 children: never the children). */
  chunks(runId: string, mapId: string): Promise<MapChunk[]>;
  /** The next round over the failed items: these chunks pending again (their failed), the record at `round`, running; lost unless the record is at round - 1. */
  openRound(runId: string, mapId: string, round: number, reopen: MapChunk[]): Promise<boolean>;
  /** The round's outcome is written: the record done (lost unless at that round). */
  closeMap(runId: string, mapId: string, round: number): Promise<boolean>;
  /** The map step (running at `attempt`) now waits for its children: its lease goes, so no takeover runs it again. */
  awaitChildren(runId: string, stepId: string, attempt: number): Promise<boolean>;
  /** A page of the map's children in item order, from index `from`. */
  children(runId: string, mapId: string, options: { limit: number; from?: number }): Promise<{ items: StepRecord[]; next?: number }>;
}

/** The S3 objects of map steps: items and results by chunk (the functions' grant covers `projects/*`). */
export interface MapObjects {
  put(key: string, body: string, contentType: string): Promise<void>;
  get(key: string): Promise<string>;
  /** Where a reader with access finds the object: `s3://<bucket>/<key>`. */
  uri(key: string): string;
}
