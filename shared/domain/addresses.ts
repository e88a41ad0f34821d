import { BlockList, isIP } from 'node:net';

/**
 * Which IP addresses an agent call may connect to (SSRF, DESIGN §7): public ones always;
 * private ranges when the project lists them (`settings.allowPrivateAgents`); loopback,
 * unspecified and link-local (the metadata service at 169.254.169.254) only when a listed CIDR
 * lies inside that range itself, so a broad `0.0.0.0/0` or `10.0.0.0/7` never opens them by accident.
 */

type Family = 'ipv4' | 'ipv6';
type Range = [network: string, prefix: number, family: Family];

const nonPublicRanges: Array<[kind: string, ranges: Range[]]> = [
  ['loopback', [['127.0.0.0', 8, 'ipv4'], ['::1', 128, 'ipv6']]],
  ['unspecified', [['0.0.0.0', 8, 'ipv4'], ['::', 128, 'ipv6']]],
  ['private', [['10.0.0.0', 8, 'ipv4'], ['172.16.0.0', 12, 'ipv4'], ['192.168.0.0', 16, 'ipv4'], ['fc00::', 7, 'ipv6']]],
  // 169.254.169.254 is the instance metadata service: the classic SSRF prize.
  ['link-local', [['169.254.0.0', 16, 'ipv4'], ['fe80::', 10, 'ipv6']]],
  ['carrier-grade NAT', [['100.64.0.0', 10, 'ipv4']]],
];

/** Kinds a project can open only with a CIDR inside the range (never by a broader one). */
const explicitOnlyKinds = new Set(['loopback', 'unspecified', 'link-local']);

const familyOf = (address: string): Family | undefined => ({ 4: 'ipv4', 6: 'ipv6' } as const)[isIP(address) as 4 | 6];

const listOf = (ranges: Range[]): BlockList => {
  const list = new BlockList();
  for (const [network, prefix, family] of ranges) list.addSubnet(network, prefix, family);
  return list;
};

// node:net BlockList also matches IPv4-mapped IPv6 addresses (::ffff:127.0.0.1) against IPv4 ranges.
const kindLists = nonPublicRanges.map(([kind, ranges]) => ({ kind, ranges, list: listOf(ranges) }));

/** The kind of non-public range an IP address is in (`loopback`, `private`, `link-local`…), or undefined for a public one. */
export const nonPublicAddressKind = (address: string): string | undefined => {
  const family = familyOf(address);
  if (!family) return 'unrecognised';
  return kindLists.find(({ list }) => list.check(address, family))?.kind;
};

export interface Cidr {
  network: string;
  prefix: number;
  family: Family;
}

/** `10.0.0.0/8` or `fd00::/8` → its parts; undefined when it is not a CIDR (an address, a slash, a prefix in range). */
export const parseCidr = (text: string): Cidr | undefined => {
  const match = /^([0-9A-Fa-f:.]+)\/([0-9]{1,3})$/.exec(text);
  if (!match) return undefined;
  const [, network = '', digits = ''] = match;
  const family = familyOf(network);
  const prefix = Number(digits);
  if (!family || prefix > (family === 'ipv4' ? 32 : 128)) return undefined;
  return { network, prefix, family };
};

/** Whether `inner` lies wholly inside `outer`: its network is in it and it is at least as narrow. */
const within = (inner: Cidr, [network, prefix, family]: Range): boolean =>
  inner.family === family && inner.prefix >= prefix && listOf([[network, prefix, family]]).check(inner.network, inner.family);

/**
 * The check an agent call's address must pass: undefined when it may be connected to, else the
 * kind of range that refuses it. `allowed` are the project's CIDRs (already valid).
 */
export const createAddressPolicy = (allowed: readonly string[]): ((address: string) => string | undefined) => {
  const cidrs = allowed.map(parseCidr).filter((cidr): cidr is Cidr => cidr !== undefined);
  const lists = cidrs.map((cidr) => ({ cidr, list: listOf([[cidr.network, cidr.prefix, cidr.family]]) }));
  return (address) => {
    const kind = nonPublicAddressKind(address);
    if (!kind || kind === 'unrecognised') return kind;
    const family = familyOf(address)!;
    const { ranges } = kindLists.find((entry) => entry.kind === kind)!;
    const opens = lists.some(({ cidr, list }) => list.check(address, family) && (!explicitOnlyKinds.has(kind) || ranges.some((range) => within(cidr, range))));
    return opens ? undefined : kind;
  };
};
