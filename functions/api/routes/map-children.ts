import { z } from 'zod';
import { ConflictError, NotFoundError, ValidationError } from '#shared/domain/errors';
import { runIdParam, stepIdParam } from '#shared/schemas/runs';
import { mapChildrenPageResponse } from '#shared/schemas/responses';
import { operation, type Operation } from '../operation';
import { stepSummary } from '../views';
import type { StepRecord } from '#shared/store/runs';
import type { ApiDeps } from './deps';

const stepPath = z.strictObject({ runId: runIdParam, stepId: stepIdParam });
const childrenQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(500).default(100),
  cursor: z.string().max(64).optional(),
});

/** A cursor is the next child's index (opaque to clients). */
const cursorOf = (index: number) => Buffer.from(`child:${index}`).toString('base64url');
const indexOf = (cursor: string | undefined): number | undefined => {
  if (cursor === undefined) return undefined;
  const match = /^child:([0-9]{1,6})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!match) throw new ValidationError('query.cursor: not a cursor of this listing (pass back the cursor it returned, unchanged)', 'query.cursor');
  return Number(match[1]);
};

/** The children of the run's map steps, counted (from their chunks' counters): part of the run's progress. */
export async function mapProgress(engine: ApiDeps['engine'], runId: string, steps: StepRecord[]): Promise<{ total: number; done: number; succeeded: number; failed: number } | undefined> {
  const maps = steps.filter((step) => step.kind === 'map' && step.status !== 'pending');
  if (maps.length === 0) return undefined;
  const counts = await Promise.all(
    maps.map(async (step) => {
      const [map, chunks] = await Promise.all([engine.store.maps.getMap(runId, step.stepId), engine.store.maps.chunks(runId, step.stepId)]);
      const pending = chunks.reduce((sum, chunk) => sum + chunk.pending.length, 0);
      const failed = chunks.reduce((sum, chunk) => sum + chunk.failed.length, 0);
      return { total: map?.count ?? 0, done: (map?.count ?? 0) - pending, failed };
    }),
  );
  const total = counts.reduce((sum, one) => sum + one.total, 0);
  const done = counts.reduce((sum, one) => sum + one.done, 0);
  const failed = counts.reduce((sum, one) => sum + one.failed, 0);
  return { total, done, succeeded: done - failed, failed };
}

/** A map step's children (issue 13 §1), paged in item order, with the map's counts (from its chunks' counters: never a scan of the children). */
export const mapChildrenOperations = ({ engine, runs }: ApiDeps): Operation[] => [
  operation({
    operationId: 'listStepChildren',
    method: 'GET',
    path: '/v1/runs/{runId}/steps/{stepId}/children',
    summary: "A map step's children in item order (paged), with how many are done, succeeded and failed",
    tag: 'runs',
    access: { run: 'viewer' },
    params: stepPath,
    query: childrenQuery,
    responses: { 200: { description: 'A page of children', schema: mapChildrenPageResponse }, 409: { description: 'The step is not a map step' } },
    handler: async ({ run, params, query }) => {
      const step = await runs.getStep(run.id, params.stepId, true);
      if (!step) throw new NotFoundError('Step');
      if (step.kind !== 'map') throw new ConflictError(`step ${params.stepId} is a ${step.kind} step; only map steps have children`);
      const from = indexOf(query.cursor);
      const [map, page, chunks] = await Promise.all([
        engine.store.maps.getMap(run.id, step.stepId),
        engine.store.maps.children(run.id, step.stepId, { limit: query.limit, ...(from !== undefined ? { from } : {}) }),
        engine.store.maps.chunks(run.id, step.stepId),
      ]);
      const count = map?.count ?? 0;
      const pending = chunks.reduce((sum, chunk) => sum + chunk.pending.length, 0);
      const failed = chunks.reduce((sum, chunk) => sum + chunk.failed.length, 0);
      return {
        status: 200,
        body: {
          items: page.items.map((child) => ({ ...stepSummary(child), index: child.mapItem?.index ?? 0 })),
          ...(page.next !== undefined ? { cursor: cursorOf(page.next) } : {}),
          counts: { count, done: count - pending, succeeded: count - pending - failed, failed, ...(map ? { round: map.round } : {}) },
        },
      };
    },
  }),
];
