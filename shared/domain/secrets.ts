import { z } from 'zod';

/**
 * Project secrets are referenced, never inlined: wherever a credential goes in a step's input
 * (`http` bearerToken and header values, `llm` apiKey) the workflow holds `{"$secret": "<name>"}`.
 * The value is resolved only inside the worker, at the moment of the call (DESIGN §7).
 */
export const secretNamePattern = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

export const secretName = z
  .string()
  .regex(secretNamePattern, 'must be 1-128 letters, digits, "_", "." or "-", starting with a letter or digit');

/** `{"$secret": "<name>"}`: a reference to a project secret. */
export const secretRef = z.strictObject({ $secret: secretName });
export type SecretRef = z.infer<typeof secretRef>;

export const isSecretRef = (value: unknown): value is SecretRef => secretRef.safeParse(value).success;

/** Where a secret reference sits in a value: `['headers', 'X-Api-Key']`. */
export type SecretRefPath = Array<string | number>;

/**
 * Every secret reference anywhere in a value (a step's input), with its path, so a check at
 * workflow creation covers every kind (and every kind to come) without knowing its schema.
 * Iterative, and paths are built only for what is found: a deeply nested input costs linear
 * time and no stack.
 */
export const findSecretRefs = (value: unknown): Array<{ name: string; path: SecretRefPath }> => {
  interface Node {
    value: unknown;
    key?: string | number;
    parent?: Node;
  }
  const pathOf = (node: Node): SecretRefPath => {
    const path: SecretRefPath = [];
    for (let at: Node | undefined = node; at?.parent; at = at.parent) path.push(at.key!);
    return path.reverse();
  };
  const found: Array<{ name: string; path: SecretRefPath }> = [];
  const pending: Node[] = [{ value }];
  while (pending.length > 0) {
    const node = pending.pop()!;
    const current = node.value;
    if (typeof current !== 'object' || current === null) continue;
    if ('$secret' in current && isSecretRef(current)) {
      found.push({ name: current.$secret, path: pathOf(node) });
      continue;
    }
    const children: Array<[string | number, unknown]> = Array.isArray(current) ? current.map((item, index) => [index, item]) : Object.entries(current);
    // Pushed last to first, so they are visited in document order: the first reference
    // reported is the first one a reader meets.
    for (const [key, item] of children.reverse()) pending.push({ value: item, key, parent: node });
  }
  return found;
};
