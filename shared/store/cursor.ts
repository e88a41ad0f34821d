import { ValidationError } from '#shared/domain/errors';

/** One page of a listing, and the cursor of the next when there may be more. */
export interface Page<T> {
  items: T[];
  cursor?: string;
}

export const encodeCursor = (key: Record<string, unknown> | undefined): string | undefined =>
  key ? Buffer.from(JSON.stringify(key)).toString('base64url') : undefined;

/**
 * The start key a cursor carries, checked against the listing it must come from (`belongs`):
 * a cursor from another listing, another run or project, or one made up, is a 400 rather than
 * a DynamoDB error (or a peek into another partition).
 */
export const decodeCursor = (cursor: string | undefined, belongs: (key: Record<string, unknown>) => boolean): Record<string, unknown> | undefined => {
  if (!cursor) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    value = undefined;
  }
  const key = value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  if (!key || !Object.values(key).every((part) => typeof part === 'string') || !belongs(key)) {
    throw new ValidationError('query.cursor: not a cursor of this listing (pass back the cursor it returned, unchanged)', 'query.cursor');
  }
  return key;
};

