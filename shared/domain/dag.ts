import { ValidationError } from '#shared/domain/errors';

/**
 * The step graph of a workflow: checks that it is a DAG and derives what the engine needs
 * (topological order, roots, sinks, both adjacency lists). Every walk is iterative, because
 * imported plans have hundreds of steps in one long chain and recursion would overflow.
 */

/** The part of a StepSpec the graph is made of; every StepSpec is one. */
export interface DagNode {
  readonly id: string;
  readonly dependsOn?: readonly string[] | undefined;
}

export interface DagAnalysis {
  /** Every step, each after all of its dependencies; ties keep declaration order. */
  order: string[];
  /** Steps with no dependencies, in declaration order: they start the run. */
  roots: string[];
  /** Steps nothing depends on, in declaration order: the run ends with them. */
  sinks: string[];
  /** For each step, the steps that wait for it (its out-edges), in declaration order. */
  dependents: Record<string, string[]>;
  /** For each step, the steps it waits for, as declared. */
  dependencies: Record<string, string[]>;
}

/** What is wrong with a graph, with the steps involved, so callers can word it their own way. */
export type DagProblem =
  | { kind: 'duplicate-id'; index: number; id: string; firstIndex: number }
  | { kind: 'missing-dependency'; index: number; id: string; missing: string }
  | { kind: 'self-dependency'; index: number; id: string }
  | { kind: 'duplicate-dependency'; index: number; id: string; dependency: string }
  /** `cycle` lists each step once, each one a dependency of the next, and the last of the first. */
  | { kind: 'cycle'; cycle: string[] };

/** A graph that is not a DAG; `problem` says which steps are at fault. */
export class DagError extends ValidationError {
  override name = 'DagError';
  constructor(readonly problem: DagProblem) {
    super(describeDagProblem(problem), dagProblemField(problem));
  }
}

/** Checks that the steps form a DAG and derives its order; throws DagError naming the steps at fault. */
export const analyzeDag = (steps: readonly DagNode[]): DagAnalysis => {
  const problem = findDeclarationProblem(steps);
  if (problem) throw new DagError(problem);

  const indexById = indexSteps(steps);
  const dependentIndexes = collectDependents(steps, indexById);
  const order = topologicalOrder(steps, dependentIndexes);
  if (order.length < steps.length) throw new DagError({ kind: 'cycle', cycle: findCycle(steps, indexById, new Set(order)) });

  const ids = steps.map((step) => step.id);
  return {
    order,
    roots: ids.filter((_, index) => dependenciesOf(steps[index]).length === 0),
    sinks: ids.filter((_, index) => dependentIndexes[index]?.length === 0),
    // fromEntries defines own properties, so ids such as "constructor" are safe keys.
    dependents: Object.fromEntries(ids.map((id, index) => [id, (dependentIndexes[index] ?? []).map((dependent) => ids[dependent] ?? '')])),
    dependencies: Object.fromEntries(steps.map((step) => [step.id, [...dependenciesOf(step)]])),
  };
};

/** The sentence a client sees for a problem, naming the steps. */
export const describeDagProblem = (problem: DagProblem): string => {
  switch (problem.kind) {
    case 'duplicate-id':
      return `step id "${problem.id}" is used by both steps[${problem.firstIndex}] and steps[${problem.index}]; step ids must be unique`;
    case 'missing-dependency':
      return `step "${problem.id}" depends on "${problem.missing}", which is not a step of this workflow`;
    case 'self-dependency':
      return `step "${problem.id}" depends on itself`;
    case 'duplicate-dependency':
      return `step "${problem.id}" lists "${problem.dependency}" more than once in dependsOn`;
    case 'cycle':
      return `cycle: ${[...problem.cycle, problem.cycle[0]].join(' → ')} (each step waits for the one before it, so none can start)`;
  }
};

const dagProblemField = (problem: DagProblem): string => {
  switch (problem.kind) {
    case 'duplicate-id':
      return `body.steps[${problem.index}].id`;
    case 'missing-dependency':
    case 'self-dependency':
    case 'duplicate-dependency':
      return `body.steps[${problem.index}].dependsOn`;
    case 'cycle':
      return 'body.steps';
  }
};

const dependenciesOf = (step: DagNode | undefined): readonly string[] => step?.dependsOn ?? [];

/** The first problem visible without walking the graph, in declaration order. */
const findDeclarationProblem = (steps: readonly DagNode[]): DagProblem | undefined => {
  const firstIndexById = new Map<string, number>();
  for (const [index, step] of steps.entries()) {
    const firstIndex = firstIndexById.get(step.id);
    if (firstIndex !== undefined) return { kind: 'duplicate-id', index, id: step.id, firstIndex };
    firstIndexById.set(step.id, index);
  }
  for (const [index, step] of steps.entries()) {
    const seen = new Set<string>();
    for (const dependency of dependenciesOf(step)) {
      if (dependency === step.id) return { kind: 'self-dependency', index, id: step.id };
      if (!firstIndexById.has(dependency)) return { kind: 'missing-dependency', index, id: step.id, missing: dependency };
      if (seen.has(dependency)) return { kind: 'duplicate-dependency', index, id: step.id, dependency };
      seen.add(dependency);
    }
  }
  return undefined;
};

const indexSteps = (steps: readonly DagNode[]): Map<string, number> => new Map(steps.map((step, index) => [step.id, index]));

/** Index of the step a declared (and already checked) dependency points to. */
const indexOf = (indexById: ReadonlyMap<string, number>, id: string): number => {
  const index = indexById.get(id);
  if (index === undefined) throw new Error(`unknown step ${id}: declarations must be checked first`);
  return index;
};

const collectDependents = (steps: readonly DagNode[], indexById: ReadonlyMap<string, number>): number[][] => {
  const dependents = steps.map((): number[] => []);
  for (const [index, step] of steps.entries()) {
    for (const dependency of dependenciesOf(step)) dependents[indexOf(indexById, dependency)]?.push(index);
  }
  return dependents;
};

/** Kahn's algorithm; the steps left out of the result are exactly those on or behind a cycle. */
const topologicalOrder = (steps: readonly DagNode[], dependents: readonly number[][]): string[] => {
  const remaining = steps.map((step) => dependenciesOf(step).length);
  const ready = steps.flatMap((_, index) => (remaining[index] === 0 ? [index] : []));
  const order: string[] = [];
  // A moving head instead of shift() keeps the queue linear.
  for (let head = 0; head < ready.length; head += 1) {
    const index = ready[head] ?? 0;
    order.push(steps[index]?.id ?? '');
    for (const dependent of dependents[index] ?? []) {
      const left = (remaining[dependent] ?? 0) - 1;
      remaining[dependent] = left;
      if (left === 0) ready.push(dependent);
    }
  }
  return order;
};

/**
 * One cycle among the steps Kahn's algorithm could not order. Each of them still waits for an
 * unordered dependency, so following those from any of them must revisit a step: the loop from
 * that step on is a cycle. Rotated to start at its earliest-declared step so messages are stable.
 */
const findCycle = (steps: readonly DagNode[], indexById: ReadonlyMap<string, number>, ordered: ReadonlySet<string>): string[] => {
  const unorderedDependency = (index: number): number => {
    const dependency = dependenciesOf(steps[index]).find((id) => !ordered.has(id));
    if (dependency === undefined) throw new Error('an unordered step always waits for an unordered dependency');
    return indexOf(indexById, dependency);
  };
  const start = steps.findIndex((step) => !ordered.has(step.id));
  const positionInWalk = new Map<number, number>();
  const walk: number[] = [];
  let current = start;
  while (!positionInWalk.has(current)) {
    positionInWalk.set(current, walk.length);
    walk.push(current);
    current = unorderedDependency(current);
  }
  // The walk follows dependencies backwards; reverse it so each step comes after the one it waits for.
  const loop = walk.slice(positionInWalk.get(current)).reverse();
  // No Math.min(...loop): spreading a cycle of many thousand steps can overflow the call stack.
  const earliest = loop.reduce((best, index, position) => (index < (loop[best] ?? index) ? position : best), 0);
  return [...loop.slice(earliest), ...loop.slice(0, earliest)].map((index) => steps[index]?.id ?? '');
};
