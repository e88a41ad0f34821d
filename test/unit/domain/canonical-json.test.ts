import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson, requestHash } from '#shared/domain/canonical-json';

/** The same value with every object's keys in reverse order. */
const reversed = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(reversed);
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).reverse().map(([key, inner]) => [key, reversed(inner)]));
  return value;
};

describe('canonical JSON of a request', () => {
  it('sorts keys at every depth and keeps array order', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: null } })).toBe('{"a":{"c":null,"d":[3,{"y":2,"z":1}]},"b":1}');
  });

  it('reads the same whatever the key order, for any JSON value', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        expect(canonicalJson(reversed(value))).toBe(canonicalJson(value));
        expect(JSON.parse(canonicalJson(value))).toEqual(JSON.parse(JSON.stringify(value)));
      }),
    );
  });

  it('tells different requests apart, including by a key named __proto__', () => {
    expect(requestHash({ workflowId: 'wf_1', input: { topic: 'otters' } })).toBe(requestHash({ input: { topic: 'otters' }, workflowId: 'wf_1' }));
    expect(requestHash({ workflowId: 'wf_1', input: { topic: 'otters' } })).not.toBe(requestHash({ workflowId: 'wf_1', input: { topic: 'beavers' } }));
    expect(requestHash({ workflowId: 'wf_1', input: [1, 2] })).not.toBe(requestHash({ workflowId: 'wf_1', input: [2, 1] }));
    expect(canonicalJson(JSON.parse('{"b":1,"__proto__":{"x":1}}'))).toBe('{"__proto__":{"x":1},"b":1}');
  });
});
