import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bearerToken, generateToken, hashToken, roleAllows, tokenPrefix, tokensEqual } from '#shared/domain/tokens';

describe('tokens', () => {
  it('generates distinct, prefixed, URL-safe tokens', () => {
    const tokens = new Set(Array.from({ length: 200 }, generateToken));

    expect(tokens.size).toBe(200);
    for (const token of tokens) expect(token).toMatch(new RegExp(`^${tokenPrefix}[A-Za-z0-9_-]{43}$`));
  });

  it('stores a token only as its SHA-256 digest', () => {
    expect(hashToken('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('compares tokens by value', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (a, b) => {
        expect(tokensEqual(a, b)).toBe(a === b);
      }),
    );
  });

  it('reads the token from a Bearer header and refuses anything else', () => {
    const token = generateToken();

    expect(bearerToken(`Bearer ${token}`)).toBe(token);
    expect(bearerToken(`bearer ${token}`)).toBe(token);
    expect(bearerToken(undefined)).toBeUndefined();
    expect(bearerToken(`Basic ${token}`)).toBeUndefined();
    expect(bearerToken('Bearer short')).toBeUndefined();
    expect(bearerToken(`Bearer ${token} extra`)).toBeUndefined();
  });

  it('orders roles viewer < editor < admin', () => {
    expect(roleAllows('admin', 'editor')).toBe(true);
    expect(roleAllows('editor', 'editor')).toBe(true);
    expect(roleAllows('viewer', 'editor')).toBe(false);
    expect(roleAllows('editor', 'admin')).toBe(false);
  });
});
