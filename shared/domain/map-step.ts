import { JSONPath } from 'jsonpath-plus';
import { z } from 'zod';
import { boundedJson } from './json-limits';
import { retryPolicy, stepIdPattern } from './workflow';

/**
 * `map` steps (issue 13 §1): one step template run once per item of a list, the items inline or
 * taken from a dependency's output. Pure rules: the input schema, child ids, chunks, rendering a
 * child's input from the template, selecting items, the result lines and the tolerance. The
 * engine's half is shared/engine/map-step.ts and map-children.ts (docs/ARCHITECTURE.md, "Map steps").
 */

/** Items one map may have. Keys and chunks are laid out for ten times as many (six-digit indexes, chunks of 100). */
export const maxMapItems = 10_000;
/** Items per chunk: one S3 object of items, one counter item, one S3 object of results. */
export const mapChunkSize = 100;
export const maxMapConcurrency = 1000;
export const defaultMapConcurrency = 40;

/** A child's step id: the map's id and its item's index, zero-padded so the children sort (and page) in item order. */
export const mapChildId = (mapId: string, index: number): string => `${mapId}[${String(index).padStart(6, '0')}]`;
/** A map child's step id (`fan[000042]`): no workflow step id holds a `[` (stepIdPattern). */
export const isMapChildId = (stepId: string): boolean => stepId.endsWith(']') && stepId.includes('[');
export const mapChunkOf = (index: number): number => Math.floor(index / mapChunkSize);
export const mapChunkCount = (count: number): number => Math.ceil(count / mapChunkSize);
/** The indexes of one chunk of a map of `count` items. */
export const mapChunkIndexes = (chunk: number, count: number): number[] =>
  Array.from({ length: Math.max(0, Math.min(mapChunkSize, count - chunk * mapChunkSize)) }, (_, offset) => chunk * mapChunkSize + offset);

/** What each child is: a StepSpec without id and dependencies (it has none: its map runs it). */
export const mapTemplate = z.strictObject({
  kind: z
    .string()
    .regex(/^[a-z][a-z0-9_-]{0,31}$/, 'must be an executor kind such as noop, http or lambda')
    .refine((kind) => kind !== 'map', 'a map step cannot map a map step'),
  /** The child's input; `{{item}}`, `{{item.<path>}}` and `{{index}}` are replaced per item. */
  input: boundedJson(32 * 1024).optional(),
  retry: retryPolicy.optional(),
  timeoutSeconds: z.number().int().min(1).max(30 * 24 * 3600).optional(),
  callbackTimeoutSeconds: z.number().int().min(1).optional(),
  heartbeatSeconds: z.number().int().min(1).optional(),
  labels: z.record(z.string(), z.string()).optional(),
});
export type MapTemplate = z.infer<typeof mapTemplate>;

export const mapItemsFrom = z.strictObject({
  from: z.string().regex(stepIdPattern, 'must be the id of a step this map depends on'),
  /** JSONPath into that step's output (jsonpath-plus); `$` when the output is the list itself. */
  path: z.string().min(1).max(512).default('$'),
});

const items = z.unknown().superRefine((value, context) => {
  if (Array.isArray(value)) {
    if (value.length > maxMapItems) context.addIssue({ code: 'custom', message: `at most ${maxMapItems} items (got ${value.length})` });
    return;
  }
  if (value === null || typeof value !== 'object') {
    context.addIssue({ code: 'custom', message: 'must be an array of items, or {from, path} naming a dependency whose output holds them' });
    return;
  }
  const from = mapItemsFrom.safeParse(value);
  if (!from.success) {
    const issue = from.error.issues[0]!;
    context.addIssue({ code: 'custom', path: issue.path, message: issue.message });
  }
});

export const mapInput = z
  .strictObject({
    items,
    step: mapTemplate,
    maxConcurrency: z.number().int().min(1).max(maxMapConcurrency).default(defaultMapConcurrency),
    toleratedFailurePercentage: z.number().min(0).max(100).default(0),
    // Only to name the mistake: the items' two forms are one field.
    from: z.never({ error: 'items are given either inline (items: [...]) or as items: {from, path}, not both' }).optional(),
    path: z.never({ error: 'items are given either inline (items: [...]) or as items: {from, path}, not both' }).optional(),
  });
export type MapInput = z.infer<typeof mapInput>;

/** The items' source, as parsed. */
export const itemsSource = (input: MapInput): { inline: unknown[] } | { from: string; path: string } =>
  Array.isArray(input.items) ? { inline: input.items } : mapItemsFrom.parse(input.items);

/**
 * The items a path selects in a dependency's output: a path that selects one array maps over its
 * elements (`$.items`), a path that selects several values maps over them (`$.items[*].url`).
 * Undefined when it selects nothing.
 */
export const selectItems = (output: unknown, path: string): unknown[] | undefined => {
  const matches = JSONPath({ path, json: output as object, wrap: true, eval: false }) as unknown[] | undefined;
  if (!matches || matches.length === 0) return undefined;
  return matches.length === 1 && Array.isArray(matches[0]) ? (matches[0] as unknown[]) : matches;
};

/** `{{item}}`, `{{item.a.0}}` or `{{index}}` as a whole string (replaced by the value itself) or inside one (by its text). */
const reference = /\{\{\s*(item(?:\.[^\s.{}]+)*|index)\s*\}\}/g;
const whole = /^\{\{\s*(item(?:\.[^\s.{}]+)*|index)\s*\}\}$/;

const lookup = (expression: string, item: unknown, index: number): unknown => {
  if (expression === 'index') return index;
  let value: unknown = item;
  for (const key of expression.split('.').slice(1)) {
    if (Array.isArray(value) && /^(0|[1-9][0-9]*)$/.test(key)) value = value[Number(key)];
    else if (value !== null && typeof value === 'object' && Object.prototype.hasOwnProperty.call(value, key)) value = (value as Record<string, unknown>)[key];
    else return null;
  }
  return value === undefined ? null : value;
};

/** A child's input: the template with every item and index reference replaced (a missing path is null). */
export const renderChildInput = (template: unknown, item: unknown, index: number): unknown => {
  if (typeof template === 'string') {
    const only = whole.exec(template);
    if (only) return lookup(only[1]!, item, index);
    return template.replace(reference, (_, expression: string) => {
      const value = lookup(expression, item, index);
      return typeof value === 'string' ? value : JSON.stringify(value);
    });
  }
  if (Array.isArray(template)) return template.map((entry) => renderChildInput(entry, item, index));
  if (template !== null && typeof template === 'object') return Object.fromEntries(Object.entries(template).map(([key, value]) => [key, renderChildInput(value, item, index)]));
  return template;
};

/** Whether a template's input refers to the item or its index (then its kind's schema is checked per child, when rendered). */
export const refersToItem = (template: unknown): boolean => JSON.stringify(template ?? null).match(reference) !== null;

/** One line of the results (JSON Lines, in item order). */
export type MapResultLine = { index: number; status: 'succeeded'; output: unknown } | { index: number; status: 'failed'; error: { code?: string; message: string } };

/** The map's output. */
export interface MapOutput {
  count: number;
  succeeded: number;
  failed: number;
  resultsUrl: string;
}

/** More items failed than the map tolerates. */
export const exceedsTolerance = (failed: number, count: number, toleratedPercentage: number): boolean => count > 0 && failed * 100 > toleratedPercentage * count;
