import { z } from 'zod';
import { ValidationError } from './errors';

/**
 * Bounded loops (issue 13 §3; README "Loops"): a step with `loop: {over, until, maxIterations}`
 * ends a sub-graph (`over`: the steps of the loop's body, this step last); when its output does
 * not meet `until`, the body runs again as a new iteration (a new generation of each of its
 * steps), up to `maxIterations`, then the step fails with LOOP_LIMIT. The pure half: the schema,
 * the condition and the workflow checks. The engine half is shared/engine/loops.ts.
 */

/** At most this many iterations (each one runs the whole body again). */
export const maxLoopIterations = 100;
/** At most this many steps in a loop's body: each iteration resets them in one write. */
export const maxLoopBodySteps = 40;

const operators = ['equals', 'notEquals', 'lessThan', 'lessThanOrEqual', 'greaterThan', 'greaterThanOrEqual', 'exists'] as const;
const comparisons = ['lessThan', 'lessThanOrEqual', 'greaterThan', 'greaterThanOrEqual'] as const;

/**
 * A condition on the step's output: `path` is a dot path into the output (`n`, `result.score`,
 * `items.0.ok`; `""` for the output itself) and exactly one operator: `equals` / `notEquals` (any
 * JSON, compared as canonical JSON), `lessThan`, `lessThanOrEqual`, `greaterThan`,
 * `greaterThanOrEqual` (numbers; a value that is not a number does not meet them), `exists`
 * (true: the path has a value; false: it has none).
 */
export const loopCondition = z
  .strictObject({
    path: z.string().max(200).regex(/^([A-Za-z0-9_$-]+(\.[A-Za-z0-9_$-]+)*)?$/, 'must be a dot path into the output, such as "n" or "result.score"'),
    equals: z.unknown().optional(),
    notEquals: z.unknown().optional(),
    lessThan: z.number().optional(),
    lessThanOrEqual: z.number().optional(),
    greaterThan: z.number().optional(),
    greaterThanOrEqual: z.number().optional(),
    exists: z.boolean().optional(),
  })
  .refine((condition) => operators.filter((name) => condition[name] !== undefined).length === 1, {
    message: `must have exactly one of ${operators.join(', ')}`,
  });
export type LoopCondition = z.infer<typeof loopCondition>;

export const loopSpec = z.strictObject({
  /** The loop's body: step ids of a sub-graph that ends at this step (this step may be listed or not). */
  over: z.array(z.string()).max(maxLoopBodySteps),
  until: loopCondition,
  maxIterations: z.number().int().min(1).max(maxLoopIterations),
});
export type LoopSpec = z.infer<typeof loopSpec>;

/** The value at a dot path of an output; undefined when there is none. */
const valueAt = (output: unknown, path: string): unknown =>
  path === ''
    ? output
    : path.split('.').reduce<unknown>((value, key) => (value !== null && typeof value === 'object' && Object.hasOwn(value, key) ? (value as Record<string, unknown>)[key] : undefined), output);

const canonical = (value: unknown): string => JSON.stringify(value, (_key, inner: unknown) => (inner && typeof inner === 'object' && !Array.isArray(inner) ? Object.fromEntries(Object.entries(inner).sort(([a], [b]) => (a < b ? -1 : 1))) : inner));

/** Whether an output meets a loop's `until`. */
export function untilHolds(until: LoopCondition, output: unknown): boolean {
  const value = valueAt(output, until.path);
  if (until.exists !== undefined) return (value !== undefined) === until.exists;
  if (until.equals !== undefined) return value !== undefined && canonical(value) === canonical(until.equals);
  if (until.notEquals !== undefined) return value === undefined || canonical(value) !== canonical(until.notEquals);
  if (typeof value !== 'number') return false;
  const [name] = comparisons.filter((operator) => until[operator] !== undefined);
  const bound = until[name!]!;
  return name === 'lessThan' ? value < bound : name === 'lessThanOrEqual' ? value <= bound : name === 'greaterThan' ? value > bound : value >= bound;
}

/** The condition in words, for a LOOP_LIMIT reason: `n greaterThanOrEqual 3`. */
export const describeCondition = (until: LoopCondition): string => {
  const name = operators.find((operator) => until[operator] !== undefined)!;
  return `${until.path || '(the output)'} ${name} ${JSON.stringify(until[name])}`;
};

/** A loop's body as the engine uses it: its steps, the loop step included (last). */
export const bodyOf = (stepId: string, loop: Pick<LoopSpec, 'over'>): string[] => [...loop.over.filter((id) => id !== stepId), stepId];

interface LoopNode {
  id: string;
  dependsOn?: readonly string[];
  loop?: LoopSpec | undefined;
  done?: boolean | undefined;
}

/**
 * The checks a schema cannot state, at workflow creation (400 naming the field): every `over` id
 * is a step of the workflow, listed once; the body is a sub-graph ending at the loop step (each
 * of its steps reaches the loop step through body steps, and only the loop step is followed by
 * steps outside the body: an iteration re-runs the body and nothing else); a step belongs to at
 * most one loop's body and no body step has a loop of its own; no body step is `done`.
 */
export function assertLoops(steps: readonly LoopNode[], where = 'body.steps'): void {
  const byId = new Map(steps.map((step) => [step.id, step]));
  const dependents = new Map<string, string[]>();
  for (const step of steps) for (const parent of step.dependsOn ?? []) dependents.set(parent, [...(dependents.get(parent) ?? []), step.id]);
  const inBody = new Map<string, string>();
  steps.forEach((step, index) => {
    if (!step.loop) return;
    const at = `${where}[${index}].loop.over`;
    const seen = new Set<string>();
    step.loop.over.forEach((id, position) => {
      const field = `${at}[${position}]`;
      if (!byId.has(id)) throw new ValidationError(`${field}: "${id}" is not a step of this workflow`, field);
      if (seen.has(id)) throw new ValidationError(`${field}: "${id}" is listed twice`, field);
      seen.add(id);
    });
    const body = new Set(bodyOf(step.id, step.loop));
    for (const id of body) {
      const field = `${at}`;
      const member = byId.get(id)!;
      if (member.done) throw new ValidationError(`${field}: step "${id}" is marked done; a loop's steps run`, field);
      if (inBody.has(id)) throw new ValidationError(`${field}: step "${id}" is already in the loop of step "${inBody.get(id)}"; loops may not share or nest steps`, field);
      inBody.set(id, step.id);
      if (id !== step.id && member.loop) throw new ValidationError(`${field}: step "${id}" has a loop of its own; loops may not nest`, field);
      if (id === step.id) continue;
      const outside = (dependents.get(id) ?? []).find((child) => !body.has(child));
      if (outside) throw new ValidationError(`${field}: step "${id}" is followed by "${outside}", which is outside the loop; only the loop step "${step.id}" may be followed by steps outside it`, field);
    }
    // Every body step reaches the loop step through body steps: walk back from the loop step.
    const reached = new Set<string>([step.id]);
    const stack = [step.id];
    while (stack.length) {
      for (const parent of byId.get(stack.pop()!)!.dependsOn ?? []) {
        if (!body.has(parent) || reached.has(parent)) continue;
        reached.add(parent);
        stack.push(parent);
      }
    }
    const stray = [...body].find((id) => !reached.has(id));
    if (stray) throw new ValidationError(`${at}: step "${stray}" does not lead to "${step.id}"; a loop's body is a sub-graph ending at its loop step`, at);
  });
}
