import { repositoryKey, type NormalizedDelivery } from './webhook-deliveries';

/**
 * Triggers: runs started by events. The pure half: which webhook deliveries a trigger matches,
 * what run input an event becomes, and the idempotency key that makes a redelivered event start
 * no second run. The store (shared/store/triggers.ts) keeps the records and the EventBridge rules;
 * the engine (shared/engine/triggers.ts) starts the runs.
 */

/** Which deliveries a webhook trigger matches: all of the given fields must be equal. */
export interface WebhookTriggerFilter {
  /** `owner/name` as the provider spells it; matched without case, as run mappings are. */
  repository?: string;
  /** Exact, case-sensitive (git's branch names are). */
  branch?: string;
  /** The payload's `action` (`opened`, `closed`, `completed`…), for events that have one. */
  action?: string;
}

export type TriggerSource =
  | { type: 'webhook'; provider: string; event?: string; filter?: WebhookTriggerFilter }
  | { type: 'eventbridge'; pattern: Record<string, unknown> };

/**
 * What a triggered run gets as input: the whole event (`{from: "event"}`, the default) or an
 * object whose every key is the value at a JSONPath in the event (`{mapping: {sha: "$.delivery.sha"}}`;
 * a path that finds nothing leaves its key out).
 */
export type TriggerInput = { from: 'event' } | { mapping: Record<string, string> };

/** True when the delivery is of the trigger's provider and event and passes its filter. */
export function matchesDelivery(source: Extract<TriggerSource, { type: 'webhook' }>, delivery: NormalizedDelivery): boolean {
  if (source.provider !== delivery.provider) return false;
  if (source.event !== undefined && source.event !== delivery.event) return false;
  const { repository, branch, action } = source.filter ?? {};
  if (repository !== undefined && (!delivery.repository || repositoryKey(repository) !== repositoryKey(delivery.repository))) return false;
  if (branch !== undefined && branch !== delivery.branch) return false;
  if (action !== undefined && action !== delivery.action) return false;
  return true;
}

/**
 * A JSONPath of the simple kind: `$`, then `.key`, `['key']` or `[index]` steps
 * (`$.detail.items[0].id`, `$['detail-type']`). No wildcards, filters or recursion: a path names
 * one value.
 */
export const jsonPathPattern = /^\$(?:\.[A-Za-z_$][\w$-]*|\[\d{1,6}\]|\['[^'\\]{1,200}'\])*$/;

/** The steps of a path checked against `jsonPathPattern`: keys and array indexes. */
export function jsonPathSteps(path: string): (string | number)[] {
  const steps: (string | number)[] = [];
  for (const [, dotted, index, quoted] of path.slice(1).matchAll(/\.([^.[]+)|\[(\d+)\]|\['([^']*)'\]/g)) {
    steps.push(index !== undefined ? Number(index) : (dotted ?? quoted)!);
  }
  return steps;
}

/** The value at a path, or undefined when the path finds nothing. */
export function valueAt(value: unknown, path: string): unknown {
  let current = value;
  for (const step of jsonPathSteps(path)) {
    if (typeof step === 'number') current = Array.isArray(current) ? current[step] : undefined;
    else current = current && typeof current === 'object' && !Array.isArray(current) && Object.hasOwn(current, step) ? (current as Record<string, unknown>)[step] : undefined;
    if (current === undefined) return undefined;
  }
  return current;
}

/** The run input a trigger makes of an event. */
export function triggeredInput(input: TriggerInput | undefined, event: unknown): unknown {
  if (!input || 'from' in input) return event;
  return Object.fromEntries(Object.entries(input.mapping).flatMap(([key, path]) => {
    const found = valueAt(event, path);
    return found === undefined ? [] : [[key, found]];
  }));
}

/**
 * The idempotency key of the run a trigger starts for one event: the trigger and the delivery
 * (or EventBridge event) id, so every redelivery of it finds the run the first one made, and two
 * triggers matching the same event each start their own.
 */
export const triggerIdempotencyKey = (triggerId: string, eventId: string): string => `trigger:${triggerId}:${eventId}`;

/** The EventBridge rule of a trigger: the stage's prefix (IAM is scoped to it) and the trigger id. */
export const triggerRuleName = (rulePrefix: string, triggerId: string): string => `${rulePrefix}${triggerId}`;
