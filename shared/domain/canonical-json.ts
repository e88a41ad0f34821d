import { createHash } from 'node:crypto';

/**
 * JSON with every object's keys sorted, so two values that differ only in key order read the
 * same. Arrays keep their order. JSON.stringify does the walking (a replacer sorts each object
 * as it is reached), so nesting is bounded exactly as for any other JSON Baton writes.
 */
export const canonicalJson = (value: unknown): string =>
  JSON.stringify(value, (_key, inner: unknown) =>
    inner !== null && typeof inner === 'object' && !Array.isArray(inner)
      ? Object.fromEntries(Object.entries(inner).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : inner,
  ) ?? 'null';

/** SHA-256 (base64url) of a request's canonical JSON: what an idempotency record remembers of the request. */
export const requestHash = (value: unknown): string => createHash('sha256').update(canonicalJson(value)).digest('base64url');
