import { describe, expect, it } from 'vitest';
import { findSecretRefs, isSecretRef } from '#shared/domain/secrets';

describe('secret references', () => {
  it('finds every reference in an input, with its path, in document order', () => {
    const input = {
      url: 'https://agent.example.com',
      bearerToken: { $secret: 'agent-token' },
      headers: { 'X-Api-Key': { $secret: 'team-key' }, 'X-Team': 'blue' },
      body: { nested: [{ deeper: { $secret: 'in-body' } }, 'plain'] },
    };

    expect(findSecretRefs(input)).toEqual([
      { name: 'agent-token', path: ['bearerToken'] },
      { name: 'team-key', path: ['headers', 'X-Api-Key'] },
      { name: 'in-body', path: ['body', 'nested', 0, 'deeper'] },
    ]);
  });

  it('finds a reference that is the whole input, and none in values without one', () => {
    expect(findSecretRefs({ $secret: 'whole' })).toEqual([{ name: 'whole', path: [] }]);
    expect(findSecretRefs(undefined)).toEqual([]);
    expect(findSecretRefs(['a', 1, null, { secret: 'not a reference' }])).toEqual([]);
  });

  it('takes only the exact shape as a reference', () => {
    expect(isSecretRef({ $secret: 'ok-name_1.v2' })).toBe(true);
    expect(isSecretRef({ $secret: 'has space' })).toBe(false);
    expect(isSecretRef({ $secret: 'ok', extra: true })).toBe(false);
    expect(isSecretRef('ok')).toBe(false);
  });

  it('walks inputs nested far deeper than a recursive walk could', () => {
    let deep: unknown = { $secret: 'bottom' };
    for (let depth = 0; depth < 20_000; depth += 1) deep = [deep];

    const [found] = findSecretRefs(deep);

    expect(found?.name).toBe('bottom');
    expect(found?.path).toHaveLength(20_000);
  });
});
