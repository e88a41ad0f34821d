/**
 * Prompt templates: `{{runInput.topic}}`, `{{dependencies.research.summary}}`. A reference is
 * looked up, never evaluated: no expressions, no code. Strings are inserted as they are, other
 * values as JSON (objects, arrays, numbers, booleans, null). Anything else between `{{ }}` is left
 * as written, so prompts that show Mustache or Jinja code need no escaping.
 *
 * Paths are dot-separated keys (array items by index: `items.0.title`). Step ids may contain dots
 * themselves: `dependencies.` is followed by the longest dependency id that matches.
 */

/** `{{ runInput… }}` or `{{ dependencies… }}`, with optional spaces inside the braces. */
const referencePattern = /\{\{\s*((?:runInput|dependencies)(?:\.[^\s.{}]+)*)\s*\}\}/g;

export interface TemplateReference {
  /** As written between the braces, e.g. `dependencies.research.summary`. */
  expression: string;
  root: 'runInput' | 'dependencies';
  /** The path after the root, split on dots. */
  segments: string[];
}

/** Every reference a template makes, in order. */
export const templateReferences = (template: string): TemplateReference[] =>
  [...template.matchAll(referencePattern)].map(([, expression]) => {
    const [root, ...segments] = expression!.split('.');
    return { expression: expression!, root: root as TemplateReference['root'], segments };
  });

/**
 * For a `dependencies` reference, the dependency it names (the longest id in `stepIds` the path
 * starts with) and the path inside that step's output; undefined when it names none.
 */
export const dependencyOf = (reference: TemplateReference, stepIds: Iterable<string>): { stepId: string; path: string[] } | undefined => {
  let best: { stepId: string; path: string[] } | undefined;
  for (const stepId of stepIds) {
    const length = stepId.split('.').length;
    if (reference.segments.slice(0, length).join('.') !== stepId) continue;
    if (!best || length > best.stepId.split('.').length) best = { stepId, path: reference.segments.slice(length) };
  }
  return best;
};

/** Why a template cannot be used in a step that depends on `dependsOn`, or undefined when it can. */
export const templateProblem = (template: string, dependsOn: string[]): string | undefined => {
  for (const reference of templateReferences(template)) {
    if (reference.root !== 'dependencies' || reference.segments.length === 0) continue;
    if (!dependencyOf(reference, dependsOn)) {
      return `{{${reference.expression}}} refers to a step that is not a dependency of this step (dependsOn: ${dependsOn.length ? dependsOn.join(', ') : 'none'})`;
    }
  }
  return undefined;
};

/** A reference whose value is not there when the template is rendered. */
export class MissingTemplateValueError extends Error {
  override name = 'MissingTemplateValueError';
}

export interface TemplateValues {
  runInput: unknown;
  dependencies: Record<string, unknown>;
}

/** Renders a template; throws MissingTemplateValueError naming the first reference with no value. */
export const renderTemplate = (template: string, values: TemplateValues): string =>
  template.replace(referencePattern, (_, expression: string) => {
    const [root, ...segments] = expression.split('.');
    let value: unknown;
    let path: string[];
    if (root === 'runInput') {
      value = values.runInput;
      path = segments;
    } else if (segments.length === 0) {
      value = values.dependencies;
      path = [];
    } else {
      const dependency = dependencyOf({ expression, root: 'dependencies', segments }, Object.keys(values.dependencies));
      if (!dependency) throw new MissingTemplateValueError(`{{${expression}}}: no output of a dependency with that id`);
      value = values.dependencies[dependency.stepId];
      path = dependency.path;
    }
    for (const [index, key] of path.entries()) {
      value = childOf(value, key);
      if (value === undefined) {
        throw new MissingTemplateValueError(`{{${expression}}}: there is no "${path.slice(0, index + 1).join('.')}" in ${root === 'runInput' ? 'the run input' : 'that output'}`);
      }
    }
    if (value === undefined) throw new MissingTemplateValueError(`{{${expression}}}: ${root === 'runInput' ? 'the run has no input' : 'no value'}`);
    return typeof value === 'string' ? value : JSON.stringify(value);
  });

const childOf = (value: unknown, key: string): unknown => {
  if (Array.isArray(value)) return /^(0|[1-9][0-9]*)$/.test(key) ? value[Number(key)] : undefined;
  if (value !== null && typeof value === 'object' && Object.prototype.hasOwnProperty.call(value, key)) return (value as Record<string, unknown>)[key];
  return undefined;
};
