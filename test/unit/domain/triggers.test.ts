import { describe, expect, it } from 'vitest';
import { jsonPathPattern, matchesDelivery, triggerIdempotencyKey, triggeredInput, valueAt } from '#shared/domain/triggers';
import type { NormalizedDelivery } from '#shared/domain/webhook-deliveries';

const push: NormalizedDelivery = { provider: 'github', deliveryId: 'd-1', event: 'push', repository: 'acme/app', branch: 'main', sha: 'abc' };

describe('matchesDelivery', () => {
  it('matches provider, event and every filter field given; the repository without case, the branch with it', () => {
    expect(matchesDelivery({ type: 'webhook', provider: 'github' }, push)).toBe(true);
    expect(matchesDelivery({ type: 'webhook', provider: 'github', event: 'push', filter: { repository: 'Acme/App', branch: 'main' } }, push)).toBe(true);
    expect(matchesDelivery({ type: 'webhook', provider: 'gitlab' }, push)).toBe(false);
    expect(matchesDelivery({ type: 'webhook', provider: 'github', event: 'pull_request' }, push)).toBe(false);
    expect(matchesDelivery({ type: 'webhook', provider: 'github', filter: { branch: 'Main' } }, push)).toBe(false);
    expect(matchesDelivery({ type: 'webhook', provider: 'github', filter: { repository: 'acme/other' } }, push)).toBe(false);
    // A filter on a field the delivery lacks never matches.
    expect(matchesDelivery({ type: 'webhook', provider: 'github', filter: { action: 'opened' } }, push)).toBe(false);
    expect(matchesDelivery({ type: 'webhook', provider: 'github', filter: { action: 'opened' } }, { ...push, action: 'opened' })).toBe(true);
  });
});

describe('JSONPath mappings', () => {
  const event = { id: 'e-1', 'detail-type': 'order.placed', detail: { items: [{ sku: 'a' }, { sku: 'b' }], zero: 0, nothing: null } };

  it('accepts keys and indexes only', () => {
    for (const path of ['$', '$.detail', '$.detail.items[1].sku', "$['detail-type']", '$.detail-type']) expect(jsonPathPattern.test(path)).toBe(true);
    for (const path of ['detail', '$..sku', '$.detail.items[*]', '$.detail[?(@.x)]', '$.', "$['a"]) expect(jsonPathPattern.test(path)).toBe(false);
  });

  it('finds the value at a path, undefined when nothing is there (falsy values are found)', () => {
    expect(valueAt(event, '$')).toBe(event);
    expect(valueAt(event, '$.detail.items[1].sku')).toBe('b');
    expect(valueAt(event, "$['detail-type']")).toBe('order.placed');
    expect(valueAt(event, '$.detail.zero')).toBe(0);
    expect(valueAt(event, '$.detail.nothing')).toBeNull();
    expect(valueAt(event, '$.detail.items[5].sku')).toBeUndefined();
    expect(valueAt(event, '$.detail.items.sku')).toBeUndefined();
    expect(valueAt(event, '$.constructor')).toBeUndefined();
  });

  it('makes the event the input by default, or an object of the mapped values (missing keys left out)', () => {
    expect(triggeredInput(undefined, event)).toBe(event);
    expect(triggeredInput({ from: 'event' }, event)).toBe(event);
    expect(triggeredInput({ mapping: { first: '$.detail.items[0].sku', type: "$['detail-type']", none: '$.missing' } }, event)).toEqual({ first: 'a', type: 'order.placed' });
  });
});

it('keys a triggered run by trigger and event id', () => {
  expect(triggerIdempotencyKey('trg_1', 'd-1')).toBe('trigger:trg_1:d-1');
  expect(triggerIdempotencyKey('trg_2', 'd-1')).not.toBe(triggerIdempotencyKey('trg_1', 'd-1'));
});
