import { exceedsTolerance, mapChildId, mapChunkCount, mapChunkIndexes, mapChunkOf, mapChunkSize, renderChildInput, type MapOutput, type MapResultLine } from '#shared/domain/map-step';
import { addUsage, emptyUsage, usageFromItem, type Usage } from '#shared/clients/usage-meter';
import { NonRetryableStepError } from '#shared/domain/step-errors';
import { defaultRetryPolicy } from '#shared/domain/workflow';
import type { CommittedEvent } from '#shared/store/event-outbox';
import type { RunRecord, StepRecord } from '#shared/store/runs';
import { runEvent, type EngineDeps } from './context';
import { mergeEffects, messageFor, noEffects, type Effects } from './dispatch';
import type { MapObjects, MapRecord } from './map-store';
import { isFinished, rerelease, type FinishPlan } from './release-dependents';
import { completeStep, failStep } from './step-outcomes';

/**
 * A map's children (docs/ARCHITECTURE.md, "Map steps"): each is a step of its own (claimed,
 * retried, held, cancelled like any), whose finish does not touch the run but, after its write:
 * starts the child `maxConcurrency` places after it in the round (so no more than that many are
 * ever queued or running, with no count to keep), leaves its chunk's pending set, and, when the
 * chunk empties, writes the chunk's results (one S3 object of 100 lines); the last chunk to close
 * writes the whole results file (the chunks' objects in order) and completes or fails the map.
 * Every step is idempotent, so a redelivery (or the sweeper's DISPATCH re-send, for finishes
 * outside the worker) redoes whatever a crash cut short.
 */

export const mapObjects = (deps: EngineDeps): MapObjects => {
  if (!deps.mapObjects) throw new Error('map steps need the S3 objects port (EngineDeps.mapObjects)');
  return deps.mapObjects;
};

const pad = (n: number) => String(n).padStart(4, '0');
const mapPrefix = (run: { id: string; projectId: string }, mapId: string) => `projects/${run.projectId}/runs/${run.id}/steps/${encodeURIComponent(mapId)}/map`;
export const itemsKey = (run: { id: string; projectId: string }, mapId: string, chunk: number) => `${mapPrefix(run, mapId)}/items/${pad(chunk)}.json`;
export const roundKey = (run: { id: string; projectId: string }, mapId: string, round: number) => `${mapPrefix(run, mapId)}/rounds/${round}.json`;
const chunkResultsKey = (run: { id: string; projectId: string }, mapId: string, chunk: number) => `${mapPrefix(run, mapId)}/results/${pad(chunk)}.jsonl`;
const chunkUsageKey = (run: { id: string; projectId: string }, mapId: string, chunk: number) => `${mapPrefix(run, mapId)}/results/${pad(chunk)}.usage.json`;
export const resultsKey = (run: { id: string; projectId: string }, mapId: string) => `${mapPrefix(run, mapId)}/results.jsonl`;

/** Item chunks and round lists never change once written: kept per worker instance (a few hundred KB at most). */
const cache = new Map<string, Promise<unknown[]>>();
const cachedJson = (deps: EngineDeps, key: string): Promise<unknown[]> => {
  if (!cache.has(key)) {
    const loading = mapObjects(deps).get(key).then((text) => JSON.parse(text) as unknown[]);
    loading.catch(() => cache.delete(key));
    cache.set(key, loading);
    if (cache.size > 64) cache.delete(cache.keys().next().value!);
  }
  return cache.get(key)!;
};

/** The item indexes of the map's current round in order: every item in round 1, then the failed ones of the round before. */
export async function roundPositions(deps: EngineDeps, run: RunRecord, map: MapRecord): Promise<number[]> {
  if (map.round === 1) return Array.from({ length: map.count }, (_, index) => index);
  return (await cachedJson(deps, roundKey(run, map.mapId, map.round))) as number[];
}

/** What a child's finishing write does (release-dependents.ts planFinish): nothing to the run; a DISPATCH timer outside the worker, so its follow-up is redone. */
export const childFinishPlan = (deps: EngineDeps, at: Date, finishedAs: 'completed' | 'failed'): FinishPlan => ({
  finish: { mapChild: true },
  sink: false,
  children: { sent: [], gated: [], shared: [] },
  mapChild: finishedAs,
  ...(deps.releasesRecoveredByRedelivery ? {} : { marker: { dueAt: at.toISOString(), status: finishedAs } }),
});

/**
 * Queues one child of the round: round 1 writes its item (the template rendered with its item),
 * later rounds requeue it from failed. Its message goes either way; a child that exists already
 * (a repeat) is sent again only while queued.
 */
export async function startChild(deps: EngineDeps, run: RunRecord, map: MapRecord, index: number): Promise<Effects> {
  const stepId = mapChildId(map.mapId, index);
  const at = deps.clock();
  if (map.round === 1) {
    const items = await cachedJson(deps, itemsKey(run, map.mapId, mapChunkOf(index)));
    const template = map.template;
    const retry = template.retry ?? defaultRetryPolicy;
    const input = renderChildInput(template.input, items[index % mapChunkSize], index);
    const child: StepRecord = {
      runId: run.id,
      projectId: run.projectId,
      stepId,
      kind: template.kind,
      ...(input !== undefined ? { input } : {}),
      dependsOn: [],
      dependents: [],
      retry,
      ...(template.timeoutSeconds ? { timeoutSeconds: template.timeoutSeconds } : {}),
      ...(template.callbackTimeoutSeconds ? { callbackTimeoutSeconds: template.callbackTimeoutSeconds } : {}),
      ...(template.heartbeatSeconds ? { heartbeatSeconds: template.heartbeatSeconds } : {}),
      ...(template.labels ? { labels: template.labels } : {}),
      status: 'queued',
      attempt: 0,
      generation: 1,
      allowedAttempts: retry.maxAttempts,
      remaining: 0,
      queuedAt: at.toISOString(),
      mapItem: { mapId: map.mapId, index },
    };
    const written = await deps.store.maps.putChild(child, runEvent(run, 'step.queued', 'worker', { attempt: 1, map: map.mapId, index }, at, stepId));
    if (written.won) return { events: written.events, dispatches: [messageFor(child)] };
  }
  const child = await deps.store.getStep(run.id, stepId);
  if (child?.status === 'queued') return { events: [], dispatches: [messageFor(child)] };
  // The child may have run inline after the one before it in its slot (step-lifecycle.ts), in an
  // invocation that died: only the first message of that chain is redelivered. As rerelease does
  // for a static graph, walk on: a running child is looked at against its lease (taken over when
  // its worker is gone), a finished one's follow-up (its next child, its chunk) is redone.
  if (child?.status === 'running') return { events: [], dispatches: [messageFor({ ...child, attempt: child.attempt - 1 })] };
  // A failed one failed in this round (its item says which round requeued it) unless an earlier
  // round's failure is what this round retries.
  if (child?.status === 'completed' || (child?.status === 'failed' && (child.mapRound ?? 1) === map.round)) return childFinished(deps, run, child);
  if (child?.status !== 'failed') return noEffects();
  const event = runEvent(run, 'step.retry_requested', 'worker', { attempt: child.attempt + 1, map: map.mapId, index, round: map.round }, at, stepId);
  const written = await deps.store.requeue(run.id, stepId, { at: at.toISOString(), allowedAttempts: child.attempt + child.retry.maxAttempts, generation: child.generation ?? 1, mapRound: map.round }, event);
  return written.won ? { events: written.events, dispatches: [messageFor(child)] } : noEffects();
}

/** After a child's finish (its write, or a redelivery that finds it finished): the next child, its chunk's count, maybe the map's outcome. */
export async function childFinished(deps: EngineDeps, run: RunRecord, child: StepRecord): Promise<Effects> {
  if (!child.mapItem || (child.status !== 'completed' && child.status !== 'failed')) return noEffects();
  const { mapId, index } = child.mapItem;
  const map = await deps.store.maps.getMap(run.id, mapId);
  if (!map) return noEffects();
  const positions = await roundPositions(deps, run, map);
  const position = map.round === 1 ? index : positions.indexOf(index);
  const next = position >= 0 ? positions[position + map.maxConcurrency] : undefined;
  const effects = next !== undefined ? await startChild(deps, run, map, next) : noEffects();
  const chunk = mapChunkOf(index);
  if (!(await deps.store.maps.finishChild(run.id, mapId, chunk, index, child.status === 'failed'))) return effects;
  await writeChunkResults(deps, run, map, chunk);
  if (!(await deps.store.maps.closeChunk(run.id, mapId, chunk))) return effects;
  return mergeEffects(effects, await finishMap(deps, run, map));
}

/** One chunk's results, one line per child in item order: 100 children read by key (one batch), never a query over the map. */
async function writeChunkResults(deps: EngineDeps, run: RunRecord, map: MapRecord, chunk: number): Promise<void> {
  const indexes = mapChunkIndexes(chunk, map.count);
  const children = new Map((await deps.store.getSteps(run.id, indexes.map((index) => mapChildId(map.mapId, index)))).map((child) => [child.mapItem?.index, child]));
  const lines = await Promise.all(
    indexes.map(async (index): Promise<MapResultLine> => {
      const child = children.get(index);
      if (child?.status === 'completed') return { index, status: 'succeeded', output: child.outputRef ? await deps.artifacts.loadOutput(child.outputRef) : (child.output ?? null) };
      return { index, status: 'failed', error: { ...(child?.error?.code ? { code: child.error.code } : {}), message: child?.error?.message ?? `the child ended ${child?.status ?? 'unwritten'}` } };
    }),
  );
  await mapObjects(deps).put(chunkResultsKey(run, map.mapId, chunk), lines.map((line) => `${JSON.stringify(line)}\n`).join(''), 'application/x-ndjson');
  // What the chunk's children cost (each child's own record): the map step carries the sum, so the run's usage counts them.
  const usage = [...children.values()].reduce<Usage>((sum, child) => (child.usage ? addUsage(sum, usageFromItem(child.usage)) : sum), emptyUsage());
  await mapObjects(deps).put(chunkUsageKey(run, map.mapId, chunk), JSON.stringify(usage), 'application/json');
}

/**
 * Every chunk closed: the results file (the chunks' objects in order), then the map completes
 * with `{count, succeeded, failed, resultsUrl}`, or fails (MAP_TOLERANCE_EXCEEDED, blocking the
 * run like any failed step) when more failed than it tolerates. Repeats write the same.
 */
export async function finishMap(deps: EngineDeps, run: RunRecord, map: MapRecord): Promise<Effects> {
  const chunks = await deps.store.maps.chunks(run.id, map.mapId);
  if (chunks.some((chunk) => chunk.pending.length > 0)) return noEffects();
  const failed = chunks.reduce((sum, chunk) => sum + chunk.failed.length, 0);
  const objects = mapObjects(deps);
  const parts: string[] = [];
  const all = Array.from({ length: mapChunkCount(map.count) }, (_, chunk) => chunk);
  let usage = emptyUsage();
  for (let start = 0; start < all.length; start += 10) {
    const read = await Promise.all(all.slice(start, start + 10).map((chunk) => Promise.all([objects.get(chunkResultsKey(run, map.mapId, chunk)), objects.get(chunkUsageKey(run, map.mapId, chunk))])));
    for (const [lines, cost] of read) {
      parts.push(lines);
      usage = addUsage(usage, usageFromItem(JSON.parse(cost)));
    }
  }
  const key = resultsKey(run, map.mapId);
  await objects.put(key, parts.join(''), 'application/x-ndjson');
  const output: MapOutput = { count: map.count, succeeded: map.count - failed, failed, resultsUrl: objects.uri(key) };
  const step = await deps.store.getStep(run.id, map.mapId);
  let effects: Effects | undefined;
  if (step?.status === 'running') {
    if (exceedsTolerance(failed, map.count, map.toleratedFailurePercentage)) {
      const percent = Math.round((failed * 10_000) / map.count) / 100;
      const error = new NonRetryableStepError(`${failed} of ${map.count} items failed (${percent}%), more than the ${map.toleratedFailurePercentage}% tolerated; results: ${output.resultsUrl}`, { code: 'MAP_TOLERANCE_EXCEEDED' });
      effects = await failStep(deps, run, step, error, { actor: 'worker', transition: 'fail', usage });
    } else {
      effects = await completeStep(deps, run, step, { status: 'completed', output }, { actor: 'worker', transition: 'complete', usage });
    }
  } else if (step && isFinished(step)) {
    // A repeat after the map's outcome was written (a redelivery walking the children again): its dependents' release is redone.
    effects = await rerelease(deps, run, step);
  }
  await deps.store.maps.closeMap(run.id, map.mapId, map.round);
  return effects ?? noEffects();
}

/** A child cancelled with its run: its map, waiting for the children that will not come, is cancelled too (once). */
export async function cancelMapOf(deps: EngineDeps, run: RunRecord, mapId: string): Promise<CommittedEvent[]> {
  const map = await deps.store.getStep(run.id, mapId);
  if (map?.status !== 'running') return [];
  const at = deps.clock();
  const written = await deps.store.cancel(run.id, mapId, { transition: 'cancel', readStatus: 'running', attempt: map.attempt, at: at.toISOString() }, runEvent(run, 'step.cancelled', 'worker', { reason: `run ${run.status}` }, at, mapId));
  return written.won ? written.events : [];
}
