import { z } from 'zod';

/** A free-form JSON value of at most `maxBytes` once serialized (inputs and outputs are stored whole). */
export const boundedJson = (maxBytes: number) =>
  z.unknown().superRefine((value, context) => {
    const bytes = new TextEncoder().encode(JSON.stringify(value ?? null)).byteLength;
    if (bytes > maxBytes) context.addIssue({ code: 'custom', message: `must be at most ${Math.round(maxBytes / 1024)} KB of JSON (it is ${Math.ceil(bytes / 1024)} KB); put larger data in an artifact` });
  });

/** The path of the first string (or key) that is not well-formed Unicode (a lone surrogate), if any. */
export function illFormedPath(value: unknown, path: string): string | undefined {
  if (typeof value === 'string') return value.isWellFormed() ? undefined : path;
  if (Array.isArray(value)) {
    for (const [index, item] of value.entries()) {
      const found = illFormedPath(item, `${path}[${index}]`);
      if (found) return found;
    }
    return undefined;
  }
  if (value && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      if (!key.isWellFormed()) return `${path}.<key>`;
      const found = illFormedPath(item, `${path}.${key}`);
      if (found) return found;
    }
  }
  return undefined;
}
