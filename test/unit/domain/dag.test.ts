import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { analyzeDag, DagError, type DagNode } from '#shared/domain/dag';
import { ValidationError } from '#shared/domain/errors';

const step = (id: string, ...dependsOn: string[]): DagNode => ({ id, dependsOn });

/** The DagError analyzeDag throws for these steps (fails the test when it does not throw one). */
const dagErrorOf = (steps: readonly DagNode[]): DagError => {
  try {
    analyzeDag(steps);
  } catch (error) {
    if (error instanceof DagError) return error;
    throw error;
  }
  throw new Error('expected analyzeDag to refuse the steps');
};

const chain = (length: number): DagNode[] => Array.from({ length }, (_, index) => step(`s${index}`, ...(index > 0 ? [`s${index - 1}`] : [])));

/**
 * Random DAGs: node i may only depend on nodes before it, so no cycle is possible; the nodes are
 * then declared in a shuffled order so the analysis cannot rely on declaration order.
 */
const randomDag = fc
  .integer({ min: 1, max: 40 })
  .chain((size) =>
    fc.tuple(
      fc.tuple(...Array.from({ length: size }, (_, index) => fc.subarray(Array.from({ length: index }, (__, earlier) => earlier)))),
      fc.shuffledSubarray(Array.from({ length: size }, (_, index) => index), { minLength: size, maxLength: size }),
    ),
  )
  .map(([dependencies, declarationOrder]) => declarationOrder.map((index) => step(`n${index}`, ...(dependencies[index] ?? []).map((earlier) => `n${earlier}`))));

/** A step that `top` depends on, directly or not, chosen by `seed`: `top` and it lie on one path. */
const walkDown = (steps: readonly DagNode[], top: DagNode, seed: number): DagNode => {
  const byId = new Map(steps.map((node) => [node.id, node]));
  let current = top;
  let choice = seed;
  do {
    const dependencies = current.dependsOn ?? [];
    current = byId.get(dependencies[choice % dependencies.length] ?? '') ?? current;
    choice = Math.floor(choice / 2);
  } while (choice > 0 && (current.dependsOn?.length ?? 0) > 0);
  return current;
};

describe('analyzeDag', () => {
  it('orders a diamond and finds where it starts and ends', () => {
    // Prepare
    const steps = [step('report', 'left', 'right'), step('left', 'fetch'), step('right', 'fetch'), step('fetch')];

    // Act
    const dag = analyzeDag(steps);

    // Assess
    expect(dag.order).toEqual(['fetch', 'left', 'right', 'report']);
    expect(dag.roots).toEqual(['fetch']);
    expect(dag.sinks).toEqual(['report']);
    expect(dag.dependents).toEqual({ report: [], left: ['report'], right: ['report'], fetch: ['left', 'right'] });
    expect(dag.dependencies).toEqual({ report: ['left', 'right'], left: ['fetch'], right: ['fetch'], fetch: [] });
  });

  it('accepts steps whose ids are also names of object properties', () => {
    const dag = analyzeDag([step('constructor'), step('toString', 'constructor')]);

    expect(dag.dependents).toEqual({ constructor: ['toString'], toString: [] });
    expect(Object.keys(dag.dependencies)).toEqual(['constructor', 'toString']);
  });

  it('refuses a repeated step id, naming it and where it is repeated', () => {
    const error = dagErrorOf([step('a'), step('b'), step('a')]);

    expect(error).toBeInstanceOf(ValidationError);
    expect(error.message).toContain('"a"');
    expect(error.field).toBe('body.steps[2].id');
  });

  it('refuses a dependency on a step that does not exist, naming both', () => {
    const error = dagErrorOf([step('a'), step('b', 'a', 'ghost')]);

    expect(error.message).toBe('step "b" depends on "ghost", which is not a step of this workflow');
    expect(error.field).toBe('body.steps[1].dependsOn');
    expect(error.status).toBe(400);
  });

  it('refuses a step that depends on itself', () => {
    const error = dagErrorOf([step('a'), step('b', 'b')]);

    expect(error.message).toBe('step "b" depends on itself');
    expect(error.field).toBe('body.steps[1].dependsOn');
  });

  it('refuses a dependency listed twice', () => {
    const error = dagErrorOf([step('a'), step('b', 'a', 'a')]);

    expect(error.message).toContain('"b" lists "a" more than once');
    expect(error.field).toBe('body.steps[1].dependsOn');
  });

  it('refuses a cycle, listing its steps in order from the first declared', () => {
    const error = dagErrorOf([step('start'), step('b', 'a'), step('c', 'b'), step('a', 'start', 'c'), step('after', 'c')]);

    expect(error.message).toMatch(/^cycle: b → c → a → b\b/);
    expect(error.field).toBe('body.steps');
    expect(error.problem).toEqual({ kind: 'cycle', cycle: ['b', 'c', 'a'] });
  });

  it('handles a thousand-step chain and a thousand-step cycle quickly, without recursion', () => {
    // Prepare
    const longChain = chain(1000).reverse();
    const longCycle = chain(1000);
    longCycle[0] = step('s0', 's999');
    const started = performance.now();

    // Act
    const dag = analyzeDag(longChain);
    const error = dagErrorOf(longCycle);

    // Assess
    expect(dag.order).toEqual(chain(1000).map((node) => node.id));
    expect(error.problem).toEqual({ kind: 'cycle', cycle: chain(1000).map((node) => node.id) });
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('handles a chain far deeper than any call stack', () => {
    expect(analyzeDag(chain(50_000)).sinks).toEqual(['s49999']);
  });

  it('orders every random DAG so that each step comes after all of its dependencies', () => {
    fc.assert(
      fc.property(randomDag, (steps) => {
        const dag = analyzeDag(steps);

        const position = new Map(dag.order.map((id, index) => [id, index]));
        expect(dag.order).toHaveLength(steps.length);
        for (const { id, dependsOn = [] } of steps) {
          for (const dependency of dependsOn) expect(position.get(dependency)).toBeLessThan(position.get(id) ?? -1);
        }
        expect(dag.roots).toEqual(steps.filter((node) => node.dependsOn?.length === 0).map((node) => node.id));
      }),
    );
  });

  it('reports a cycle naming steps on it whenever one back edge is added to a random DAG', () => {
    const dagWithBackEdge = randomDag
      .filter((steps) => steps.some((node) => (node.dependsOn?.length ?? 0) > 0))
      .chain((steps) => fc.tuple(fc.constant(steps), fc.constantFrom(...steps.filter((node) => (node.dependsOn?.length ?? 0) > 0)), fc.nat()));

    fc.assert(
      fc.property(dagWithBackEdge, ([steps, top, seed]) => {
        // Prepare: walk down from `top` along dependencies, then make the step reached wait for `top`.
        const bottom = walkDown(steps, top, seed);
        const withBackEdge = steps.map((node) => (node.id === bottom.id ? step(node.id, ...(node.dependsOn ?? []), top.id) : node));

        // Act
        const error = dagErrorOf(withBackEdge);

        // Assess: a real cycle of the new graph, through the new edge (the old graph had none).
        if (error.problem.kind !== 'cycle') throw new Error(`expected a cycle, got ${error.problem.kind}`);
        const { cycle } = error.problem;
        const dependenciesOf = new Map(withBackEdge.map((node) => [node.id, node.dependsOn ?? []]));
        cycle.forEach((id, index) => {
          const next = cycle[(index + 1) % cycle.length] ?? '';
          expect(dependenciesOf.get(next)).toContain(id);
        });
        expect(cycle).toContain(top.id);
        expect(cycle).toContain(bottom.id);
        expect(error.message).toContain(`${top.id} → ${bottom.id}`);
      }),
    );
  });
});
