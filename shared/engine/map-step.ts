import { itemsSource, mapChunkCount, mapChunkSize, mapInput, maxMapItems, selectItems, type MapInput } from '#shared/domain/map-step';
import { NonRetryableStepError } from '#shared/domain/step-errors';
import type { RunRecord, StepRecord } from '#shared/store/runs';
import type { EngineDeps } from './context';
import { mergeEffects, noEffects, type Effects } from './dispatch';
import { finishMap, itemsKey, mapObjects, roundKey, roundPositions, startChild } from './map-children';
import type { MapRecord } from './map-store';
import { failStep } from './step-outcomes';

/**
 * A map step's claim (issue 13 §1; docs/ARCHITECTURE.md, "Map steps"): instead of an executor,
 * the worker resolves the items (inline, or a JSONPath into a dependency's output, from S3 when it
 * is stored there), writes them to S3 in chunks of 100, writes the map's record and its chunks'
 * counters, queues the first `maxConcurrency` children and leaves the map step running, waiting
 * for them (no lease: nothing takes it over). Each child that finishes starts the one
 * `maxConcurrency` places after it and counts itself in its chunk (map-children.ts); the last
 * chunk to close writes the results and the map's outcome. Idempotent: a takeover after a crash
 * anywhere here finds what was written and goes on.
 *
 * A claim that finds the map's last round over (every chunk closed) is a person's retry of the run
 * the map blocked: a new round queues the failed children only, again `maxConcurrency` at a time.
 */
export async function startMap(deps: EngineDeps, run: RunRecord, step: StepRecord): Promise<Effects> {
  const input = mapInput.safeParse(step.input);
  if (!input.success) return failMap(deps, run, step, `the map's input is invalid: ${input.error.issues[0]?.message ?? 'invalid'}`, 'MAP_INPUT_INVALID');
  let map = await deps.store.maps.getMap(run.id, step.stepId);
  if (!map) {
    const items = await resolveItems(deps, run, input.data);
    if (typeof items === 'string') return failMap(deps, run, step, items, 'MAP_ITEMS_INVALID');
    await writeItems(deps, run, step.stepId, items);
    const record: MapRecord = {
      runId: run.id,
      mapId: step.stepId,
      count: items.length,
      maxConcurrency: input.data.maxConcurrency,
      toleratedFailurePercentage: input.data.toleratedFailurePercentage,
      template: input.data.step,
      round: 1,
      state: 'running',
    };
    await deps.store.maps.createMap(record);
    map = (await deps.store.maps.getMap(run.id, step.stepId))!;
    if (map.count === 0) return finishMap(deps, run, map);
  } else if (map.openChunks === undefined) {
    const next = await openRetryRound(deps, run, map);
    // Nothing failed (a takeover after the outcome was decided): the outcome again.
    if (!next) return finishMap(deps, run, map);
    map = next;
  }
  const positions = await roundPositions(deps, run, map);
  const first = positions.slice(0, map.maxConcurrency);
  const effects = noEffects();
  for (let start = 0; start < first.length; start += 25) {
    const started = await Promise.all(first.slice(start, start + 25).map((index) => startChild(deps, run, map, index)));
    started.forEach((one) => mergeEffects(effects, one));
  }
  // After its children are queued: a takeover before this write queues them again (a lost put, no harm).
  await deps.store.maps.awaitChildren(run.id, step.stepId, step.attempt);
  return effects;
}

/** The items: inline, or selected from a completed dependency's output (loaded from S3 above 4 KB); a string says why not. */
async function resolveItems(deps: EngineDeps, run: RunRecord, input: MapInput): Promise<unknown[] | string> {
  const source = itemsSource(input);
  if ('inline' in source) return source.inline;
  const dependency = await deps.store.getStep(run.id, source.from);
  if (dependency?.status !== 'completed') return `items.from: step ${source.from} has not completed`;
  const output = dependency.outputRef ? await deps.artifacts.loadOutput(dependency.outputRef) : dependency.output;
  let items: unknown[] | undefined;
  try {
    items = selectItems(output, source.path);
  } catch (error) {
    return `items.path: ${source.path} is not a JSONPath this map can use (${(error as Error).message})`;
  }
  if (!items) return `items.path: ${source.path} selects nothing in the output of ${source.from}`;
  if (items.length > maxMapItems) return `items: ${source.path} selects ${items.length} items in the output of ${source.from}; a map takes at most ${maxMapItems}`;
  return items;
}

/** The items in S3, one JSON array per chunk of 100, ten writes at a time (a repeat writes the same). */
async function writeItems(deps: EngineDeps, run: RunRecord, mapId: string, items: unknown[]): Promise<void> {
  const objects = mapObjects(deps);
  const chunks = Array.from({ length: mapChunkCount(items.length) }, (_, chunk) => chunk);
  for (let start = 0; start < chunks.length; start += 10) {
    await Promise.all(chunks.slice(start, start + 10).map((chunk) => objects.put(itemsKey(run, mapId, chunk), JSON.stringify(items.slice(chunk * mapChunkSize, (chunk + 1) * mapChunkSize)), 'application/json')));
  }
}

/** The next round over the failed items (their list in S3, their chunks reopened); undefined when none failed. */
async function openRetryRound(deps: EngineDeps, run: RunRecord, map: MapRecord): Promise<MapRecord | undefined> {
  const chunks = await deps.store.maps.chunks(run.id, map.mapId);
  const failed = chunks.flatMap((chunk) => chunk.failed).sort((a, b) => a - b);
  if (failed.length === 0) return undefined;
  await mapObjects(deps).put(roundKey(run, map.mapId, map.round + 1), JSON.stringify(failed), 'application/json');
  await deps.store.maps.openRound(run.id, map.mapId, map.round + 1, chunks.filter((chunk) => chunk.failed.length > 0));
  return deps.store.maps.getMap(run.id, map.mapId);
}

async function failMap(deps: EngineDeps, run: RunRecord, step: StepRecord, message: string, code: string): Promise<Effects> {
  return (await failStep(deps, run, step, new NonRetryableStepError(message, { code }), { actor: 'worker', transition: 'fail' })) ?? noEffects();
}
