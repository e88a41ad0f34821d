import { describe, expect, it } from 'vitest';
import { estimateReadUnits, itemBytes, valueBytes } from '#shared/clients/read-units';

/** An item of exactly `bytes` bytes: the name `pk` (2 bytes) and a string of the rest. */
const itemOf = (bytes: number, sk = 'S') => ({ pk: 'x'.repeat(bytes - 2 - 2 - sk.length), sk });

describe('item sizes as DynamoDB bills them', () => {
  it('sizes every kind of value the document client hands over', () => {
    const item = {
      pk: 'RUN#01', // 2 + 6
      sk: 'META', // 2 + 4
      status: 'running', // 6 + 7
      attempt: 3, // 7 + 2 (one significant digit: 1 byte, plus 1)
      done: true, // 4 + 1
      tags: ['a', 'bc'], // 4 + 3 + (1 + 1) + (1 + 2)
      meta: { k: 'v' }, // 4 + 3 + (1 + 1 + 1)
      ids: new Set(['x', 'yz']), // 3 + 1 + 2
      blob: new Uint8Array(5), // 4 + 5
      none: null, // 4 + 1
      'é': 'é', // 2 + 2 (UTF-8 bytes)
    };
    expect(itemBytes(item)).toBe(8 + 6 + 13 + 9 + 5 + 12 + 10 + 6 + 9 + 5 + 4);
  });

  it('sizes a number by its significant digits, leading and trailing zeros trimmed', () => {
    expect(valueBytes(1_700_000_000)).toBe(2); // "17"
    expect(valueBytes(123.45)).toBe(4); // 5 digits: 3 + 1
    expect(valueBytes(0.001)).toBe(2); // "1"
    expect(valueBytes(-42)).toBe(2);
    expect(valueBytes(1e21)).toBe(2);
    expect(valueBytes(123456789012345678901234567890n)).toBe(16); // 29 digits: 15 + 1
  });
});

describe('read units estimated from what a read returned', () => {
  it('bills a GetItem by its item rounded up to 4 KB, half when eventually consistent', () => {
    expect(estimateReadUnits('GetItem', { ConsistentRead: true }, { Item: itemOf(4096) })).toBe(1);
    expect(estimateReadUnits('GetItem', { ConsistentRead: true }, { Item: itemOf(4097) })).toBe(2);
    expect(estimateReadUnits('GetItem', {}, { Item: itemOf(8193) })).toBe(1.5);
  });

  it('bills a read of an item that does not exist one unit, half when eventually consistent', () => {
    expect(estimateReadUnits('GetItem', { ConsistentRead: true }, {})).toBe(1);
    expect(estimateReadUnits('GetItem', {}, {})).toBe(0.5);
  });

  it('bills a Query or Scan by the sum of its items rounded up once', () => {
    const items = [itemOf(2000, 'a'), itemOf(2000, 'b'), itemOf(2000, 'c')];
    expect(estimateReadUnits('Query', { ConsistentRead: true }, { Items: items })).toBe(2); // 6,000 B, not 3 × 1 unit
    expect(estimateReadUnits('Query', {}, { Items: items })).toBe(1);
    expect(estimateReadUnits('Scan', {}, { Items: [] })).toBe(0.5);
  });

  it('bills a BatchGetItem per item, a key not found one unit, an unprocessed key nothing', () => {
    const input = { RequestItems: { baton: { Keys: [{ pk: 'a' }, { pk: 'b' }, { pk: 'c' }, { pk: 'd' }], ConsistentRead: true }, other: { Keys: [{ pk: 'e' }] } } };
    const output = {
      Responses: { baton: [itemOf(5000), itemOf(100)], other: [itemOf(100)] },
      UnprocessedKeys: { baton: { Keys: [{ pk: 'd' }] } },
    };
    // baton (consistent): 2 + 1 for the items found, 1 for the key not found; other (eventually consistent): 0.5.
    expect(estimateReadUnits('BatchGetItem', input, output)).toBe(4.5);
  });

  it('bills a TransactGetItems twice a strongly consistent read, found or not', () => {
    const input = { TransactItems: [{ Get: { Key: { pk: 'a' } } }, { Get: { Key: { pk: 'b' } } }] };
    expect(estimateReadUnits('TransactGetItems', input, { Responses: [{ Item: itemOf(4097) }, {}] })).toBe(4 + 2);
  });

  it('estimates nothing for a write', () => {
    expect(estimateReadUnits('PutItem', {}, {})).toBeUndefined();
  });
});
