/** The part of a run's graph a re-run or a fork runs again (issue 12 §4). */

/** The steps downstream of `stepId` in a graph given by each step's dependencies (not the step itself). */
export function downstreamOf(stepId: string, steps: { id: string; dependsOn: readonly string[] }[]): string[] {
  const children = new Map<string, string[]>();
  for (const step of steps) for (const parent of step.dependsOn) children.set(parent, [...(children.get(parent) ?? []), step.id]);
  const seen = new Set<string>();
  const stack = [...(children.get(stepId) ?? [])];
  while (stack.length) {
    const next = stack.pop()!;
    if (seen.has(next)) continue;
    seen.add(next);
    stack.push(...(children.get(next) ?? []));
  }
  // In the workflow's order, so events and answers list them the way the graph was written.
  return steps.filter((step) => seen.has(step.id)).map((step) => step.id);
}

/** Each step's dependents in the graph, in the workflow's order. */
export function dependentsOf(steps: { id: string; dependsOn: readonly string[] }[]): Map<string, string[]> {
  const children = new Map<string, string[]>(steps.map((step) => [step.id, []]));
  for (const step of steps) for (const parent of step.dependsOn) children.get(parent)?.push(step.id);
  return children;
}
