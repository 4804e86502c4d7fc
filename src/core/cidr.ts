/**
 * CIDR allow/deny lists for listeners (TCP, UDP, relays): `10.0.0.0/8`, `192.0.2.7` (one host), `::1`,
 * `2001:db8::/32`. A peer is checked against the deny rules first, then the allow rules:
 *
 * - a peer matching any `deny` rule is refused;
 * - otherwise, when there are `allow` rules, only a peer matching one of them is let in;
 * - otherwise (no allow rules) every peer is let in.
 *
 * IPv4 peers often reach a dual-stack (`::`) socket as IPv4-mapped IPv6 addresses (`::ffff:192.0.2.7`): those
 * match IPv4 rules as the IPv4 address they carry, and an IPv6 rule inside `::ffff:0:0/96` matches plain IPv4
 * peers too. A zone index (`fe80::1%eth0`) is ignored for matching. A rule with host bits set
 * (`10.1.2.3/8`) is taken as its network (`10.0.0.0/8`), as `ip route` and iptables do.
 *
 * Matching is a few integer operations per rule (IPv4 rules as 32-bit numbers, IPv6 as `bigint`s), cheap
 * enough to run for every new peer.
 *
 * @module
 */
import { isIPv4, isIPv6 } from 'node:net';
import { ValidationError } from './errors.js';
import { describeValue } from './validate.js';

/** One parsed CIDR rule. */
export interface CidrRule {
  /** 4 or 6. */
  readonly family: 4 | 6;
  /** The network in canonical text, with host bits cleared: `10.0.0.0/8`, `2001:db8::/32`. */
  readonly text: string;
  /** The prefix length: 0–32 (IPv4) or 0–128 (IPv6). */
  readonly prefix: number;
  /** The network address as a number (IPv4: 0 to 2³²−1) or a bigint (IPv6). */
  readonly network: number | bigint;
}

const V4_MAPPED_PREFIX = 0xffffn << 32n;
const V6_MASK_ALL = (1n << 128n) - 1n;

/** An IPv4 address in dotted quad → unsigned 32-bit number (the address is already known to be valid). */
function ipv4ToNumber(address: string): number {
  let n = 0;
  let part = 0;
  for (let i = 0; i < address.length; i++) {
    const c = address.charCodeAt(i);
    if (c === 46) {
      n = n * 256 + part;
      part = 0;
    } else part = part * 10 + (c - 48);
  }
  return n * 256 + part;
}

function numberToIpv4(n: number): string {
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

/** An IPv6 address (already known valid, zone removed) → bigint. Handles `::` and an embedded IPv4 tail. */
function ipv6ToBigint(address: string): bigint {
  let text = address;
  let tail: number[] = [];
  const lastColon = text.lastIndexOf(':');
  const last = text.slice(lastColon + 1);
  if (last.includes('.')) {
    const v4 = ipv4ToNumber(last);
    tail = [(v4 >>> 16) & 0xffff, v4 & 0xffff];
    text = `${text.slice(0, lastColon + 1)}${tail.length ? '0:0' : ''}`;
  }
  const [head = '', rest] = text.split('::') as [string, string | undefined];
  const headGroups = head === '' ? [] : head.split(':');
  const restGroups = rest === undefined || rest === '' ? [] : rest.split(':');
  const missing = 8 - headGroups.length - restGroups.length;
  const groups =
    rest === undefined ? headGroups : [...headGroups, ...Array(missing).fill('0'), ...restGroups];
  let n = 0n;
  for (const g of groups) n = (n << 16n) | BigInt(Number.parseInt(g, 16));
  if (tail.length) n = (n & ~0xffffffffn) | (BigInt(tail[0] as number) << 16n) | BigInt(tail[1] as number);
  return n;
}

function bigintToIpv6(n: bigint): string {
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((n >> BigInt(i * 16)) & 0xffffn));
  // The longest run of two or more zero groups becomes "::" (RFC 5952).
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart === -1) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

function stripZone(address: string): string {
  const i = address.indexOf('%');
  return i === -1 ? address : address.slice(0, i);
}

/**
 * Parse one CIDR rule: `ADDRESS/PREFIX`, or a bare address (a single host: /32 or /128). Brackets around an
 * IPv6 address are accepted (`[::1]/128`).
 *
 * @param text - the rule
 * @param what - what it is, for the message (`--allow`)
 * @returns the rule, with host bits cleared
 * @throws {ValidationError} for anything else: `Invalid --allow '10.0.0.0/33': prefix length must be 0 to 32`
 * @example
 * ```ts
 * parseCidr('10.1.2.3/8').text; // '10.0.0.0/8'
 * parseCidr('::1').text; // '::1/128'
 * ```
 */
export function parseCidr(text: string, what = 'CIDR'): CidrRule {
  if (typeof what !== 'string') what = 'CIDR';
  if (typeof text !== 'string') {
    throw new ValidationError(
      `Invalid ${what} '${describeValue(text)}': expected ADDRESS/PREFIX such as 10.0.0.0/8`,
    );
  }
  const raw = text.trim();
  const slash = raw.indexOf('/');
  let addr = slash === -1 ? raw : raw.slice(0, slash);
  const prefixText = slash === -1 ? undefined : raw.slice(slash + 1);
  if (addr.startsWith('[') && addr.endsWith(']')) addr = addr.slice(1, -1);
  const bad = (why: string) => new ValidationError(`Invalid ${what} '${text}': ${why}`);
  let family: 4 | 6;
  if (addr.includes('%')) throw bad('a zone index (%iface) has no place in a network rule');
  if (isIPv4(addr)) family = 4;
  else if (isIPv6(addr)) family = 6;
  else throw bad('expected an IPv4 or IPv6 address, optionally with /PREFIX, such as 10.0.0.0/8 or ::1');
  const max = family === 4 ? 32 : 128;
  let prefix = max;
  if (prefixText !== undefined) {
    if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > max) {
      throw bad(`prefix length must be 0 to ${max}`);
    }
    prefix = Number(prefixText);
  }
  if (family === 4) {
    const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
    const network = (ipv4ToNumber(addr) & mask) >>> 0;
    return { family, prefix, network, text: `${numberToIpv4(network)}/${prefix}` };
  }
  const mask = prefix === 0 ? 0n : (V6_MASK_ALL << BigInt(128 - prefix)) & V6_MASK_ALL;
  const network = ipv6ToBigint(addr) & mask;
  return { family, prefix, network, text: `${bigintToIpv6(network)}/${prefix}` };
}

/**
 * Parse a list of CIDR rules separated by commas or white space (`10.0.0.0/8, 192.168.0.0/16 ::1`). An array
 * is taken as several such lists (a repeated CLI flag). Empty items are an error, an empty list is not.
 *
 * @param text - the list, or several
 * @param what - what it is, for the message (`--deny`)
 * @returns the rules in order
 * @throws {ValidationError} naming the first bad rule
 * @example
 * ```ts
 * parseCidrList('10.0.0.0/8,::1').map((r) => r.text); // ['10.0.0.0/8', '::1/128']
 * ```
 */
export function parseCidrList(text: string | readonly string[], what = 'CIDR'): CidrRule[] {
  if (typeof what !== 'string') what = 'CIDR';
  const lists = typeof text === 'string' ? [text] : text;
  if (!Array.isArray(lists)) {
    throw new ValidationError(
      `Invalid ${what} '${describeValue(text)}': expected text such as 10.0.0.0/8,::1, or an array of such text`,
    );
  }
  const rules: CidrRule[] = [];
  for (const list of lists) {
    if (typeof list !== 'string') {
      throw new ValidationError(
        `Invalid ${what} '${describeValue(list)}': expected text such as 10.0.0.0/8,::1`,
      );
    }
    if (list.trim() === '') continue;
    const items = list.trim().split(/\s*,\s*|\s+/);
    for (const item of items) {
      if (item === '') throw new ValidationError(`Invalid ${what} '${list}': an empty item between commas`);
      rules.push(parseCidr(item, what));
    }
  }
  return rules;
}

/** The family and numeric value of a peer address, or `undefined` when it is not an IP address. */
function peerValue(address: string): { v4: number | undefined; v6: bigint | undefined } | undefined {
  if (isIPv4(address)) {
    const v4 = ipv4ToNumber(address);
    return { v4, v6: undefined };
  }
  const plain = stripZone(address);
  if (!isIPv6(plain)) return undefined;
  const v6 = ipv6ToBigint(plain);
  const v4 = v6 >> 32n === 0xffffn ? Number(v6 & 0xffffffffn) : undefined;
  return { v4, v6 };
}

function matches(rule: CidrRule, peer: { v4: number | undefined; v6: bigint | undefined }): boolean {
  if (rule.family === 4) {
    if (peer.v4 === undefined) return false;
    const mask = rule.prefix === 0 ? 0 : (0xffffffff << (32 - rule.prefix)) >>> 0;
    return (peer.v4 & mask) >>> 0 === rule.network;
  }
  const value = peer.v6 ?? (peer.v4 === undefined ? undefined : V4_MAPPED_PREFIX | BigInt(peer.v4));
  if (value === undefined) return false;
  const shift = BigInt(128 - rule.prefix);
  return value >> shift === (rule.network as bigint) >> shift;
}

/** Options of {@link createAccessList}. */
export interface AccessListOptions {
  /** Peers let in; none means every peer not denied. Text is parsed with {@link parseCidrList}. */
  allow?: string | readonly string[] | readonly CidrRule[] | undefined;
  /** Peers refused, before `allow` is looked at. */
  deny?: string | readonly string[] | readonly CidrRule[] | undefined;
}

function toRules(value: AccessListOptions['allow'], what: string): CidrRule[] {
  if (value === undefined) return [];
  if (typeof value === 'string') return parseCidrList(value, what);
  if (!Array.isArray(value)) {
    throw new ValidationError(
      `Invalid ${what} '${describeValue(value)}': expected CIDR text such as 10.0.0.0/8,::1, or an array`,
    );
  }
  if (value.length === 0) return [];
  if (typeof value[0] === 'string') return parseCidrList(value as readonly string[], what);
  return (value as readonly CidrRule[]).map((r) => {
    if (typeof r !== 'object' || r === null || typeof r.text !== 'string') {
      throw new ValidationError(`Invalid ${what} '${describeValue(r)}': expected a CIDR rule from parseCidr`);
    }
    return parseCidr(r.text, what);
  });
}

/** Rules handed to the constructor: parsed rules (from parseCidr), checked again. */
function checkRules(rules: readonly CidrRule[], what: string): readonly CidrRule[] {
  if (!Array.isArray(rules)) {
    throw new ValidationError(
      `Invalid ${what} '${describeValue(rules)}': expected an array of parseCidr rules`,
    );
  }
  return rules.map((r) => {
    if (typeof r !== 'object' || r === null || typeof (r as CidrRule).text !== 'string') {
      throw new ValidationError(`Invalid ${what} '${describeValue(r)}': expected a CIDR rule from parseCidr`);
    }
    return parseCidr(r.text, what);
  });
}

/**
 * An allow/deny list of peers. Made by {@link createAccessList}.
 *
 * @example
 * ```ts
 * const acl = createAccessList({ allow: '127.0.0.0/8', deny: '127.0.0.2' });
 * acl.allows('127.0.0.1'); // true
 * acl.allows('::ffff:127.0.0.2'); // false
 * ```
 */
export class AccessList {
  /** The allow rules (empty: every peer not denied). */
  readonly allow: readonly CidrRule[];
  /** The deny rules. */
  readonly deny: readonly CidrRule[];

  /** @internal Use {@link createAccessList}. */
  constructor(allow: readonly CidrRule[], deny: readonly CidrRule[]) {
    this.allow = checkRules(allow, 'allow rules');
    this.deny = checkRules(deny, 'deny rules');
  }

  /** Whether the list has any rule (a listener can skip checking when it has none). */
  get active(): boolean {
    return this.allow.length > 0 || this.deny.length > 0;
  }

  /**
   * Whether a peer is let in. An address that is not an IP address is refused when there are rules.
   *
   * @param address - the peer's address as a socket reports it (`192.0.2.7`, `::ffff:192.0.2.7`, `fe80::1%eth0`)
   * @returns `true` to let it in
   */
  allows(address: string): boolean {
    if (!this.active) return true;
    const peer = peerValue(address);
    if (peer === undefined) return false;
    for (const rule of this.deny) if (matches(rule, peer)) return false;
    if (this.allow.length === 0) return true;
    for (const rule of this.allow) if (matches(rule, peer)) return true;
    return false;
  }

  /**
   * Which rule decided, for logs: `deny 10.0.0.0/8`, `allow ::1/128`, `not in --allow`, or `no rules`.
   *
   * @param address - the peer's address
   * @returns a short reason
   */
  reason(address: string): string {
    if (!this.active) return 'no rules';
    const peer = peerValue(address);
    if (peer === undefined) return 'not an IP address';
    for (const rule of this.deny) if (matches(rule, peer)) return `deny ${rule.text}`;
    if (this.allow.length === 0) return 'not denied';
    for (const rule of this.allow) if (matches(rule, peer)) return `allow ${rule.text}`;
    return 'not in the allow list';
  }

  /** The rules as text, for `--json` and logs. */
  toJSON(): { allow: string[]; deny: string[] } {
    return { allow: this.allow.map((r) => r.text), deny: this.deny.map((r) => r.text) };
  }
}

/**
 * Build an allow/deny list from CIDR text or parsed rules.
 *
 * @param options - `allow` and `deny` rules (text such as `10.0.0.0/8,::1`, arrays of such text, or rules)
 * @returns the list; with no rules it lets every peer in
 * @throws {ValidationError} for a bad rule, naming it and whether it was in allow or deny
 * @example
 * ```ts
 * import { createAccessList } from 'soket';
 * const acl = createAccessList({ allow: ['10.0.0.0/8', '::1'] });
 * if (!acl.allows(socket.remoteAddress ?? '')) socket.destroy();
 * ```
 */
export function createAccessList(options: AccessListOptions = {}): AccessList {
  if (typeof options !== 'object' || options === null) {
    throw new ValidationError('Invalid access list options: expected { allow, deny }');
  }
  return new AccessList(toRules(options.allow, 'allow rule'), toRules(options.deny, 'deny rule'));
}
