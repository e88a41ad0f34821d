import { describe, expect, it } from 'vitest';
import { createAddressPolicy, parseCidr } from '#shared/domain/addresses';

describe('agent address policy', () => {
  it('allows public addresses and refuses every non-public range by default', () => {
    const refused = createAddressPolicy([]);

    expect(refused('93.184.215.14')).toBeUndefined();
    expect(refused('2606:4700::1111')).toBeUndefined();
    expect(['10.0.0.5', '127.0.0.1', '169.254.169.254', '::1', 'fe80::1', '0.0.0.0', '100.64.0.1', '::ffff:10.0.0.5'].map(refused)).toEqual([
      'private', 'loopback', 'link-local', 'loopback', 'link-local', 'unspecified', 'carrier-grade NAT', 'private',
    ]);
  });

  it('opens the private ranges a project lists, IPv4-mapped IPv6 addresses included', () => {
    const refused = createAddressPolicy(['10.0.0.0/8', 'fd00::/8']);

    expect(refused('10.20.30.40')).toBeUndefined();
    expect(refused('::ffff:10.20.30.40')).toBeUndefined();
    expect(refused('fd12::1')).toBeUndefined();
    expect(refused('192.168.1.1')).toBe('private');
    expect(refused('fc00::1')).toBe('private');
  });

  it('opens loopback and link-local only for a CIDR inside them, never for a broader one', () => {
    expect(createAddressPolicy(['0.0.0.0/0', '::/0'])('127.0.0.1')).toBe('loopback');
    expect(createAddressPolicy(['0.0.0.0/0'])('169.254.169.254')).toBe('link-local');
    expect(createAddressPolicy(['0.0.0.0/0'])('10.1.1.1')).toBeUndefined();
    expect(createAddressPolicy(['169.254.0.0/15'])('169.254.169.254')).toBe('link-local');
    expect(createAddressPolicy(['127.0.0.0/8'])('127.0.0.1')).toBeUndefined();
    expect(createAddressPolicy(['127.0.0.0/8'])('::ffff:127.0.0.1')).toBeUndefined();
    expect(createAddressPolicy(['169.254.169.254/32'])('169.254.169.254')).toBeUndefined();
    expect(createAddressPolicy(['169.254.169.254/32'])('169.254.169.253')).toBe('link-local');
  });

  it('parses CIDRs and nothing else', () => {
    expect(parseCidr('10.0.0.0/8')).toEqual({ network: '10.0.0.0', prefix: 8, family: 'ipv4' });
    expect(parseCidr('fd00::/8')).toEqual({ network: 'fd00::', prefix: 8, family: 'ipv6' });
    for (const bad of ['10.0.0.0', '10.0.0.0/33', '::/129', 'example.com/8', '10.0.0/8', '/8', '10.0.0.0/8 ']) expect(parseCidr(bad), bad).toBeUndefined();
  });
});
