import { z } from 'zod';
import { MissingTemplateValueError, renderTemplate, templateReferences } from './templates';
import { text } from './text';

/**
 * Fair capacity (issue 12 §6; README "Fair capacity"): how many steps may run at once per project
 * and per key, in which order waiting steps get a freed slot, and how fast an agent may be
 * started. Pure rules; the lifecycle part is shared/engine/capacity.ts.
 */

export const priorities = ['high', 'normal', 'low'] as const;
export type Priority = (typeof priorities)[number];
export const priority = z.enum(priorities).meta({ description: 'Which waiting steps get a freed slot first: high, then normal (the default), then low; arrival order within one priority' });

/** The most a limit may be: far more than any queue needs, small enough to keep the slot item under a few KB per holder. */
export const maxLimit = 1000;

/** A key template may use the run input only: a step's key must be known before any dependency ran. */
export const capacityKeyProblem = (template: string): string | undefined => {
  const other = templateReferences(template).find((reference) => reference.root !== 'runInput');
  return other ? `{{${other.expression}}}: a key may refer to the run input only ({{runInput.<path>}})` : undefined;
};

/** The rank of a waiting list's entry (`WAIT#<rank>#…`). */
export const waitRank = (entry: string): number => Number(entry.split('#')[1]);

/** A key: literal text or a template of the run input (`{{runInput.customer}}`), resolved when the step starts. */
const capacityKey = text(1, 200)
  .superRefine((value, context) => {
    const problem = capacityKeyProblem(value);
    if (problem) context.addIssue({ code: 'custom', message: problem });
  })
  .meta({ description: 'Literal, or templated from the run input: `customer-{{runInput.customer}}`' });

/** A step's `concurrency`: at most `limit` steps with the same (resolved) key run at once, across the project's runs. */
export const concurrency = z.strictObject({ key: capacityKey, limit: z.number().int().min(1).max(maxLimit) });
export type Concurrency = z.infer<typeof concurrency>;

/** The slowest and fastest rate a key may have: one start every 1,000 s, up to 1,000 starts a second. */
export const minPerSecond = 0.001;
export const maxPerSecond = 1000;

/** A step's `rate`: steps with the same (resolved) key start at most `perSecond` times a second, across the project's runs (README "Fair capacity"). */
export const rate = z
  .strictObject({
    key: capacityKey,
    perSecond: z
      .number()
      .min(minPerSecond, `must be at least ${minPerSecond} (one start every 1,000 s)`)
      .max(maxPerSecond)
      .meta({ description: 'Starts per second under the key, fractional allowed (0.5: one every 2 s); starts are spaced at least 1/perSecond apart' }),
  })
  .meta({ description: 'At most `perSecond` starts a second of steps with this key, across the project\'s runs; the others wait `throttled` for their turn (README "Fair capacity")' });
export type Rate = z.infer<typeof rate>;

/** The least time between two starts under a rate, in whole ms (rounded up: never faster than the rate; times stay exact as ISO strings). */
export const rateIntervalMs = (perSecond: number): number => Math.ceil(1000 / perSecond);

/** A project's `settings.concurrency`: at most `limit` of its steps run at once. */
export const projectConcurrency = z
  .strictObject({ limit: z.number().int().min(1).max(maxLimit).optional() })
  .meta({ description: 'At most `limit` steps of the project run at once; the others wait `throttled` (README "Fair capacity"). `{}` removes the limit.' });
export type ProjectConcurrency = z.infer<typeof projectConcurrency>;

/** The rank a priority sorts by in a waiting list (high first). */
export const priorityRank = (value: Priority | undefined): number => priorities.indexOf(value ?? 'normal');

/** The key a template names for a run's input; a missing value makes the literal `(none)` part of it, so the step still runs under a key of its own. */
export const resolveCapacityKey = (template: string, runInput: unknown): string => {
  try {
    return renderTemplate(template, { runInput, dependencies: {} });
  } catch (error) {
    if (!(error instanceof MissingTemplateValueError)) throw error;
    return template.replace(/\{\{[^}]*\}\}/g, '(none)');
  }
};

/** One limit a step is held to: where its slots are counted and what the step shows while it waits for one. */
export interface CapacityScope {
  /** `project`, or `key#<resolved key>`: the partition of the scope's slot item and waiting list. */
  id: string;
  kind: 'project' | 'concurrency';
  /** Shown on the throttled step: `project`, or the resolved key. */
  key: string;
  limit: number;
}

/** The limits in force for a step: its project's, then its own key's (none: the step pays nothing). */
export const capacityScopesOf = (project: ProjectConcurrency | undefined, step: { concurrency?: Concurrency }, runInput: unknown): CapacityScope[] => {
  const scopes: CapacityScope[] = [];
  if (project?.limit) scopes.push({ id: 'project', kind: 'project', key: 'project', limit: project.limit });
  if (step.concurrency) {
    const key = resolveCapacityKey(step.concurrency.key, runInput);
    scopes.push({ id: `key#${key}`, kind: 'concurrency', key, limit: step.concurrency.limit });
  }
  return scopes;
};

/** Holders whose lease ran out (their Lambda died holding the slot): the next one to find the scope full takes them off. */
export const expiredHolders = (holders: Record<string, number>, now: number): Record<string, number> => Object.fromEntries(Object.entries(holders).filter(([, lease]) => lease < now));

/** When the first lease of a full scope runs out: a waiting step looks again then, in case its holder died. */
export const firstLeaseEnd = (holders: Record<string, number>, now: number): number => {
  const leases = Object.values(holders);
  return leases.length ? Math.max(now, Math.min(...leases)) : now;
};

/** A step holds a slot under this name: one per step (its attempts never run at once; a takeover inherits the dead worker's slot). */
export const holderOf = (runId: string, stepId: string): string => `${runId}/${stepId}`;
