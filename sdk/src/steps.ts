import { unwrap, type BatonClient } from './client';
import { paginate } from './pagination';
import type { MapChild, StepSummary } from './types';

export interface StepListOptions {
  /** Steps per request (1-1000; the API's default is 1000). */
  pageSize?: number;
  /** Stop after this many steps. */
  limit?: number;
  signal?: AbortSignal;
}

/**
 * Every step of a run in step-id order (map children right after their map), following the
 * listing's `cursor` a page at a time: `for await (const step of runSteps(baton, runId)) …`.
 * A 10,000-step run is ten requests, read as the loop goes.
 */
export function runSteps(client: BatonClient, runId: string, { pageSize, limit, signal }: StepListOptions = {}): AsyncGenerator<StepSummary, void, undefined> {
  return paginate(
    (cursor) => unwrap(client.GET('/v1/runs/{runId}/steps', { params: { path: { runId }, query: { ...(pageSize ? { limit: pageSize } : {}), ...(cursor ? { cursor } : {}) } }, ...(signal ? { signal } : {}) })),
    limit === undefined ? {} : { limit },
  );
}

/**
 * Every child of a map step in item order (`index`, status, attempt, error), following the
 * children listing's `cursor` (pages of up to 500): `for await (const child of mapChildren(baton, runId, 'fan')) …`.
 */
export function mapChildren(client: BatonClient, runId: string, stepId: string, { pageSize, limit, signal }: StepListOptions = {}): AsyncGenerator<MapChild, void, undefined> {
  return paginate(
    (cursor) =>
      unwrap(client.GET('/v1/runs/{runId}/steps/{stepId}/children', { params: { path: { runId, stepId }, query: { ...(pageSize ? { limit: pageSize } : {}), ...(cursor ? { cursor } : {}) } }, ...(signal ? { signal } : {}) })),
    limit === undefined ? {} : { limit },
  );
}
