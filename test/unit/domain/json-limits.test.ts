import { describe, expect, it } from 'vitest';
import { boundedJson, illFormedPath } from '#shared/domain/json-limits';
import { jsonAttribute } from '#shared/store/json-attribute';
import { decodeCursor, encodeCursor } from '#shared/store/cursor';

describe('free-form JSON', () => {
  it('is bounded by its serialized size, with a message that says how big it is', () => {
    const small = boundedJson(1024).safeParse({ a: 'x'.repeat(100) });
    const large = boundedJson(1024).safeParse({ a: 'x'.repeat(2000) });

    expect(small.success).toBe(true);
    expect(large.error?.issues[0]?.message).toMatch(/at most 1 KB of JSON \(it is 2 KB\)/);
  });

  it('finds the first lone surrogate, in values and keys, with its path', () => {
    expect(illFormedPath({ a: ['ok', 'fine \ud83d\ude00'] }, 'body')).toBeUndefined();
    expect(illFormedPath({ a: ['ok', 'bad \ud83d'] }, 'body')).toBe('body.a[1]');
    expect(illFormedPath({ ['\udc00']: 1 }, 'body')).toBe('body.<key>');
  });

  it('round-trips what DynamoDB maps refuse: deep nesting, huge numbers, integers past 2^53', () => {
    let deep: unknown = 'bottom';
    for (let level = 0; level < 40; level += 1) deep = { level, deep };
    const value = { deep, huge: 1e300, tiny: 1e-300, big: 67145179802931740, text: 'é\u0000' };

    expect(jsonAttribute.decode(jsonAttribute.encode(value))).toEqual(value);
  });
});

describe('list cursors', () => {
  const belongs = (key: Record<string, unknown>) => key.pk === 'RUN#a';

  it('give back the start key of the listing they came from', () => {
    expect(decodeCursor(encodeCursor({ pk: 'RUN#a', sk: 'EVENT#1' }), belongs)).toEqual({ pk: 'RUN#a', sk: 'EVENT#1' });
    expect(decodeCursor(undefined, belongs)).toBeUndefined();
  });

  it.each([
    ['another listing', encodeCursor({ pk: 'RUN#b', sk: 'EVENT#1' })],
    ['junk', 'not-base64-json'],
    ['an array', Buffer.from('[1]').toString('base64url')],
    ['non-string parts', encodeCursor({ pk: 'RUN#a', sk: 5 })],
  ])('refuse %s with a 400 naming query.cursor', (_, cursor) => {
    expect(() => decodeCursor(cursor, belongs)).toThrow(expect.objectContaining({ status: 400, field: 'query.cursor' }));
  });
});
