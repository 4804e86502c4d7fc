/**
 * Broadcast and multicast on UDP sockets: checking what a user asks for (groups, interfaces, TTLs) before a
 * socket exists, and applying it to a bound `dgram.Socket`.
 *
 * At the socket level:
 * - **SO_BROADCAST** (`broadcast`) lets a socket send to a broadcast address (`255.255.255.255`, or a subnet's
 *   `10.0.0.255`). Without it Linux refuses such a `connect(2)` or `sendto(2)` with `EACCES`, so a program
 *   cannot flood a LAN by accident. Receiving broadcasts needs no option: a socket bound to the wildcard
 *   address (`0.0.0.0`) on the port gets them.
 * - **IP_ADD_MEMBERSHIP** / **IPV6_JOIN_GROUP** (`join`) ask the kernel to receive a multicast group on one
 *   interface: it sends an IGMP/MLD report so switches and routers forward the group there, and delivers the
 *   group's datagrams to sockets bound to the port (on the wildcard address or the group address).
 *   **IP_ADD_SOURCE_MEMBERSHIP** / **MCAST_JOIN_SOURCE_GROUP** (`GROUP@SOURCE`) receive only what one source
 *   sends to the group (source-specific multicast, IGMPv3/MLDv2).
 * - **IP_MULTICAST_TTL** / **IPV6_MULTICAST_HOPS** (`multicastTtl`) limit how many routers a multicast
 *   datagram crosses (1, the default, keeps it on the local link; 0 keeps it on this host);
 *   **IP_MULTICAST_IF** / **IPV6_MULTICAST_IF** (`multicastInterface`) pick the interface it leaves by
 *   (otherwise the route to the group decides); **IP_MULTICAST_LOOP** (`multicastLoopback`) says whether this
 *   host's own sockets that joined the group get a copy (on by default).
 *
 * @module
 */
import type dgram from 'node:dgram';
import { existsSync } from 'node:fs';
import { isIPv4, isIPv6 } from 'node:net';
import os from 'node:os';
import { parseCidr } from '../core/cidr.js';
import { NetworkError, type SoketError, toSoketError, ValidationError } from '../core/errors.js';
import { describeValue } from '../core/validate.js';

/** One group to join, as {@link parseMulticastJoin} returns it. */
export interface MulticastJoin {
  /** The group address (without a zone): `239.1.2.3`, `ff02::1:3`. */
  group: string;
  /** 4 or 6. */
  family: 4 | 6;
  /** For a source-specific join (`GROUP@SOURCE`), the only sender to receive from. */
  source?: string;
  /** The interface named in the group (`ff02::1%eth0`), when it was. */
  iface?: string;
}

/** A local interface resolved for multicast use. */
export interface MulticastInterface {
  /** The interface name (`eth0`). */
  name: string;
  /** Its IPv4 address (IPv4 sockets name interfaces by address), when it has one. */
  ipv4: string | undefined;
  /** How an IPv6 socket names it: `::%eth0`. */
  ipv6Scope: string;
}

/** Options for sending broadcast and multicast datagrams, shared by `udpConnect`, `udpRequest` and servers. */
export interface UdpSendGroupOptions {
  /** SO_BROADCAST: allow sending to broadcast addresses. @default false */
  broadcast?: boolean;
  /** IP_MULTICAST_TTL / IPV6_MULTICAST_HOPS: 0 (this host) to 255. @default 1 (the kernel's: this link) */
  multicastTtl?: number;
  /** IP_MULTICAST_IF / IPV6_MULTICAST_IF: the interface multicast leaves by, a name (`eth0`) or an address. */
  multicastInterface?: string;
  /** IP_MULTICAST_LOOP: whether this host's own group members get a copy. @default true (the kernel's) */
  multicastLoopback?: boolean;
}

/** Options for receiving multicast, on UDP servers. */
export interface UdpJoinOptions {
  /** Groups to join: `239.1.2.3`, `ff02::1:3%eth0`, `232.1.1.1@10.0.0.5` (source-specific). */
  join?: string | readonly string[];
  /** The interface to join on (a name or an address); otherwise the kernel picks by route. */
  iface?: string;
}

const V4_MULTICAST = parseCidr('224.0.0.0/4');

function toBigV6(address: string): bigint {
  return parseCidr(`${address}/128`).network as bigint;
}

function checkAddressArgument(address: unknown): void {
  if (typeof address !== 'string') {
    throw new ValidationError(`Invalid address '${describeValue(address)}': expected an IP address string`);
  }
}

/**
 * Whether an address is a multicast address (224.0.0.0/4 or ff00::/8).
 *
 * @param address - an IP address (an IPv6 zone is ignored)
 * @example
 * ```ts
 * isMulticastAddress('239.1.2.3'); // true
 * isMulticastAddress('ff02::1%eth0'); // true
 * ```
 */
export function isMulticastAddress(address: string): boolean {
  checkAddressArgument(address);
  const a = address.split('%')[0] ?? '';
  if (isIPv4(a)) return parseCidr(`${a}/4`).network === V4_MULTICAST.network;
  if (isIPv6(a)) return toBigV6(a) >> 120n === 0xffn;
  return false;
}

/**
 * Whether an IPv4 address is a broadcast address here: `255.255.255.255`, or the directed broadcast address
 * of a subnet on one of this host's interfaces (`10.0.0.255` for 10.0.0.1/24).
 *
 * @param address - an IPv4 address
 * @example
 * ```ts
 * isBroadcastAddress('255.255.255.255'); // true
 * ```
 */
export function isBroadcastAddress(address: string): boolean {
  checkAddressArgument(address);
  if (!isIPv4(address)) return false;
  if (address === '255.255.255.255') return true;
  const value = parseCidr(address).network as number;
  for (const addrs of Object.values(os.networkInterfaces())) {
    for (const a of addrs ?? []) {
      if (a.family !== 'IPv4' || a.internal) continue;
      const prefix = Number(a.cidr?.split('/')[1] ?? 32);
      if (prefix >= 31) continue;
      const net = parseCidr(`${a.address}/${prefix}`).network as number;
      const bcast = (net | (2 ** (32 - prefix) - 1)) >>> 0;
      if (bcast === value) return true;
    }
  }
  return false;
}

function interfaceExists(name: string): boolean {
  if (os.networkInterfaces()[name] !== undefined) return true;
  return (
    process.platform === 'linux' && /^[\w.:@-]{1,15}$/.test(name) && existsSync(`/sys/class/net/${name}`)
  );
}

function knownInterfaces(): string {
  return Object.keys(os.networkInterfaces()).join(', ') || 'none';
}

/**
 * Find a local interface by name or by one of its addresses.
 *
 * @param value - `eth0`, `10.0.0.1`, `fe80::1%eth0`
 * @param what - what it is, for the message (`--iface`)
 * @returns its name, its IPv4 address and its IPv6 scope form
 * @throws {ValidationError} when no interface has that name or address, listing the interfaces
 * @example
 * ```ts
 * resolveInterface('lo'); // { name: 'lo', ipv4: '127.0.0.1', ipv6Scope: '::%lo' }
 * ```
 */
export function resolveInterface(value: string, what = 'interface'): MulticastInterface {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new ValidationError(`Invalid ${what} '${String(value)}': expected an interface name or address`);
  }
  const v = value.trim();
  const ifaces = os.networkInterfaces();
  const ipv4Of = (name: string) => ifaces[name]?.find((a) => a.family === 'IPv4')?.address;
  const plain = v.split('%')[0] ?? '';
  if (isIPv4(plain) || isIPv6(plain)) {
    // An address: find the interface that holds it (an IPv4 socket could use the address as is, but IPv6
    // needs the interface's index, and a typo should fail here, not as EADDRNOTAVAIL later).
    for (const [name, addrs] of Object.entries(ifaces)) {
      for (const a of addrs ?? []) {
        if (a.address.toLowerCase() === plain.toLowerCase()) {
          return { name, ipv4: a.family === 'IPv4' ? a.address : ipv4Of(name), ipv6Scope: `::%${name}` };
        }
      }
    }
    throw new ValidationError(
      `Invalid ${what} '${value}': no interface of this host has that address (interfaces: ${knownInterfaces()})`,
    );
  }
  if (!interfaceExists(v)) {
    throw new ValidationError(
      `Invalid ${what} '${value}': no such interface (interfaces: ${knownInterfaces()})`,
    );
  }
  return { name: v, ipv4: ipv4Of(v), ipv6Scope: `::%${v}` };
}

/**
 * Parse one multicast group to join: `GROUP`, `GROUP%IFACE` (IPv6), or `GROUP@SOURCE` for a source-specific
 * join. The group must be in 224.0.0.0/4 or ff00::/8; a source must be a unicast address of the same family.
 *
 * @param text - `239.1.2.3`, `ff02::1:3%eth0`, `232.1.1.1@10.0.0.5`, `[ff3e::1]@[2001:db8::5]`
 * @param what - what it is, for the message (`--join`)
 * @returns the group, its family, the source and interface when given
 * @throws {ValidationError} for anything else, naming the value
 * @example
 * ```ts
 * parseMulticastJoin('232.1.1.1@10.0.0.5'); // { group: '232.1.1.1', family: 4, source: '10.0.0.5' }
 * ```
 */
export function parseMulticastJoin(text: string, what = 'multicast group'): MulticastJoin {
  if (typeof text !== 'string') {
    throw new ValidationError(`Invalid ${what} '${String(text)}': expected a group such as 239.1.2.3`);
  }
  const raw = text.trim();
  const at = raw.indexOf('@');
  const unbracket = (s: string) => (s.startsWith('[') && s.endsWith(']') ? s.slice(1, -1) : s);
  const groupText = unbracket(at === -1 ? raw : raw.slice(0, at));
  const sourceText = at === -1 ? undefined : unbracket(raw.slice(at + 1));
  const pct = groupText.indexOf('%');
  const group = pct === -1 ? groupText : groupText.slice(0, pct);
  const iface = pct === -1 ? undefined : groupText.slice(pct + 1);
  const family = isIPv4(group) ? 4 : isIPv6(group) ? 6 : 0;
  if (family === 0) {
    throw new ValidationError(
      `Invalid ${what} '${text}': expected a multicast address such as 239.1.2.3 or ff02::1:3%eth0`,
    );
  }
  if (!isMulticastAddress(group)) {
    throw new ValidationError(
      `Invalid ${what} '${text}': ${group} is not a multicast address (IPv4 groups are in 224.0.0.0/4, IPv6 in ff00::/8)`,
    );
  }
  if (iface !== undefined) {
    if (family === 4) {
      throw new ValidationError(
        `Invalid ${what} '${text}': %INTERFACE is for IPv6 groups; use --iface for IPv4`,
      );
    }
    resolveInterface(iface, `interface of ${what} '${text}'`);
  }
  const out: MulticastJoin = { group, family };
  if (iface !== undefined) out.iface = iface;
  if (sourceText !== undefined) {
    const sFamily = isIPv4(sourceText) ? 4 : isIPv6(sourceText) && !sourceText.includes('%') ? 6 : 0;
    if (sFamily === 0) {
      throw new ValidationError(`Invalid ${what} '${text}': the source after @ must be an IP address`);
    }
    if (sFamily !== family) {
      throw new ValidationError(
        `Invalid ${what} '${text}': the source ${sourceText} is IPv${sFamily} but the group is IPv${family}`,
      );
    }
    if (isMulticastAddress(sourceText)) {
      throw new ValidationError(`Invalid ${what} '${text}': the source must be a unicast address`);
    }
    out.source = sourceText;
  }
  return out;
}

/**
 * Parse a list of groups separated by commas (an array is several lists, as a repeated flag gives).
 *
 * @param text - `239.1.2.3,239.1.2.4` or `['ff02::1:3%eth0', '232.1.1.1@10.0.0.5']`
 * @param what - for the message
 * @returns the groups in order
 * @throws {ValidationError} naming the first bad group
 * @example
 * ```ts
 * parseMulticastJoins('239.1.2.3,239.1.2.4').length; // 2
 * ```
 */
export function parseMulticastJoins(
  text: string | readonly string[],
  what = 'multicast group',
): MulticastJoin[] {
  const lists = typeof text === 'string' ? [text] : text;
  if (!Array.isArray(lists)) {
    throw new ValidationError(
      `Invalid ${what} '${describeValue(text)}': expected groups such as 239.1.2.3, or an array of them`,
    );
  }
  const out: MulticastJoin[] = [];
  for (const list of lists) {
    if (typeof list !== 'string') {
      throw new ValidationError(`Invalid ${what} '${String(list)}': expected a group such as 239.1.2.3`);
    }
    for (const item of list.split(',')) {
      if (item.trim() === '')
        throw new ValidationError(`Invalid ${what} '${list}': an empty item between commas`);
      out.push(parseMulticastJoin(item, what));
    }
  }
  return out;
}

/**
 * Check a multicast TTL (IPv4) or hop limit (IPv6).
 *
 * @param value - 0 to 255
 * @param what - for the message (`--ttl`)
 * @returns the value
 * @throws {ValidationError} when out of range
 * @example
 * ```ts
 * checkMulticastTtl(1); // 1
 * ```
 */
export function checkMulticastTtl(value: unknown, what = 'multicastTtl'): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 255) {
    throw new ValidationError(`Invalid ${what} '${String(value)}': expected an integer from 0 to 255`);
  }
  return value;
}

/** The checked form of {@link UdpSendGroupOptions}. */
export interface CheckedSendGroupOptions {
  broadcast: boolean;
  multicastTtl: number | undefined;
  multicastInterface: MulticastInterface | undefined;
  multicastLoopback: boolean | undefined;
}

/**
 * Check the broadcast/multicast send options up front (before any socket exists).
 *
 * @param options - the options as given
 * @returns them checked, the interface resolved
 * @throws {ValidationError} for a TTL out of range, an unknown interface, a non-boolean flag
 * @example
 * ```ts
 * checkSendGroupOptions({ multicastTtl: 4, multicastInterface: 'lo' });
 * ```
 */
export function checkSendGroupOptions(options: UdpSendGroupOptions): CheckedSendGroupOptions {
  const bool = (v: unknown, name: string) => {
    if (v !== undefined && typeof v !== 'boolean') {
      throw new ValidationError(`Invalid ${name} '${String(v)}': expected true or false`);
    }
    return v as boolean | undefined;
  };
  return {
    broadcast: bool(options.broadcast, 'broadcast') ?? false,
    multicastTtl: options.multicastTtl === undefined ? undefined : checkMulticastTtl(options.multicastTtl),
    multicastInterface:
      options.multicastInterface === undefined
        ? undefined
        : resolveInterface(options.multicastInterface, 'multicastInterface'),
    multicastLoopback: bool(options.multicastLoopback, 'multicastLoopback'),
  };
}

/**
 * Apply broadcast/multicast send options to a bound socket (SO_BROADCAST, IP_MULTICAST_TTL/IPV6_MULTICAST_HOPS,
 * IP_MULTICAST_IF/IPV6_MULTICAST_IF, IP_MULTICAST_LOOP).
 *
 * @param socket - a bound dgram socket
 * @param family - its family
 * @param o - checked options
 * @throws {ValidationError} when an IPv4 socket is told to use an interface without an IPv4 address
 * @throws {NetworkError} when the kernel refuses an option
 * @example
 * ```ts
 * applySendGroupOptions(socket, 4, checkSendGroupOptions({ broadcast: true }));
 * ```
 */
export function applySendGroupOptions(socket: dgram.Socket, family: 4 | 6, o: CheckedSendGroupOptions): void {
  try {
    if (o.broadcast) socket.setBroadcast(true);
    if (o.multicastTtl !== undefined) socket.setMulticastTTL(o.multicastTtl);
    if (o.multicastLoopback !== undefined) socket.setMulticastLoopback(o.multicastLoopback);
    if (o.multicastInterface !== undefined) {
      const i = o.multicastInterface;
      if (family === 4) {
        if (i.ipv4 === undefined) {
          throw new ValidationError(`Invalid multicastInterface '${i.name}': it has no IPv4 address`);
        }
        socket.setMulticastInterface(i.ipv4);
      } else socket.setMulticastInterface(i.ipv6Scope);
    }
  } catch (err) {
    throw toSoketError(err, 'Cannot set the broadcast/multicast options');
  }
}

/**
 * Join multicast groups on a bound socket (IP_ADD_MEMBERSHIP, IPV6_JOIN_GROUP, or the source-specific
 * IP_ADD_SOURCE_MEMBERSHIP / MCAST_JOIN_SOURCE_GROUP).
 *
 * @param socket - a socket bound to the wildcard address (or the group) and the group's port
 * @param family - the socket's family; every group must be of it
 * @param joins - groups from {@link parseMulticastJoins}
 * @param iface - the interface to join on, unless a group names its own (`%eth0`)
 * @returns what was joined, as text (`239.1.2.3 on eth0`)
 * @throws {ValidationError} for a group of the other family, or an IPv4 join on an interface without IPv4
 * @throws {NetworkError} when the kernel refuses (`ENODEV`: no multicast route; `EADDRINUSE`: joined twice)
 * @example
 * ```ts
 * joinGroups(socket, 4, parseMulticastJoins('239.1.2.3'), resolveInterface('eth0'));
 * ```
 */
export function joinGroups(
  socket: dgram.Socket,
  family: 4 | 6,
  joins: readonly MulticastJoin[],
  iface?: MulticastInterface,
): string[] {
  if (socket === null || typeof socket !== 'object' || typeof socket.addMembership !== 'function') {
    throw new ValidationError(`Invalid socket '${describeValue(socket)}': expected a dgram socket`);
  }
  if (family !== 4 && family !== 6) {
    throw new ValidationError(`Invalid family '${describeValue(family)}': expected 4 or 6`);
  }
  if (!Array.isArray(joins) || joins.some((j) => j === null || typeof j !== 'object')) {
    throw new ValidationError(
      `Invalid groups '${describeValue(joins)}': expected joins from parseMulticastJoins`,
    );
  }
  if (
    iface !== undefined &&
    (iface === null || typeof iface !== 'object' || typeof iface.name !== 'string')
  ) {
    throw new ValidationError(
      `Invalid interface '${describeValue(iface)}': expected one from resolveInterface`,
    );
  }
  const done: string[] = [];
  for (const j of joins) {
    if (j.family !== family) {
      throw new ValidationError(
        `Cannot join ${j.group}: it is an IPv${j.family} group and the socket is IPv${family} (bind ${j.family === 6 ? '[::]' : '0.0.0.0'})`,
      );
    }
    const i = j.iface !== undefined ? resolveInterface(j.iface) : iface;
    let ifaceArg: string | undefined;
    if (i !== undefined) {
      if (family === 4) {
        if (i.ipv4 === undefined) {
          throw new ValidationError(`Cannot join ${j.group} on ${i.name}: the interface has no IPv4 address`);
        }
        ifaceArg = i.ipv4;
      } else ifaceArg = i.ipv6Scope;
    }
    const label = `${j.source !== undefined ? `${j.source}→` : ''}${j.group}${i !== undefined ? ` on ${i.name}` : ''}`;
    try {
      if (j.source !== undefined) {
        if (ifaceArg !== undefined) socket.addSourceSpecificMembership(j.source, j.group, ifaceArg);
        else socket.addSourceSpecificMembership(j.source, j.group);
      } else if (ifaceArg !== undefined) socket.addMembership(j.group, ifaceArg);
      else socket.addMembership(j.group);
    } catch (err) {
      throw joinError(err, label);
    }
    done.push(label);
  }
  return done;
}

function joinError(err: unknown, label: string): SoketError {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENODEV') {
    return new NetworkError(
      `Cannot join ${label}: no interface for it (ENODEV): give an interface, or add a multicast route (ip route add 224.0.0.0/4 dev IFACE)`,
      code,
      { cause: err, syscall: 'setsockopt' },
    );
  }
  return toSoketError(err, `Cannot join ${label}`);
}

/**
 * Turn a failed `connect`/`send` on a UDP socket into a soket error whose message says why. `EACCES` there
 * almost always means the destination is a broadcast address and SO_BROADCAST is off: say so, and name the
 * option that turns it on.
 *
 * @param err - the error from dgram
 * @param where - the destination, `10.0.0.255:9`
 * @param broadcast - whether SO_BROADCAST was on
 * @returns the error to throw or report
 * @example
 * ```ts
 * socket.connect(9, '10.0.0.255', (err) => { if (err) reject(udpSendError(err, '10.0.0.255:9', false)); });
 * ```
 */
export function udpSendError(err: unknown, where: string, broadcast: boolean): SoketError {
  const e = err as NodeJS.ErrnoException;
  if (e?.code === 'EACCES' && !broadcast) {
    const host = where.startsWith('[') ? where.slice(1, where.indexOf(']')) : (where.split(':')[0] ?? '');
    const known = isBroadcastAddress(host);
    return new NetworkError(
      `Cannot send to ${where}: permission denied (EACCES): ${
        known ? `${host} is a broadcast address and` : 'if it is a broadcast address,'
      } sending there needs SO_BROADCAST, which is off (set broadcast: true; on the command line --broadcast)`,
      'EACCES',
      { cause: err, ...(e.syscall ? { syscall: e.syscall } : {}) },
    );
  }
  if (e?.code === 'ENETUNREACH' && isMulticastAddress(where.replace(/^\[|\]?:\d+$/g, ''))) {
    return new NetworkError(
      `Cannot send to ${where}: network unreachable (ENETUNREACH): no route for the group; give a multicast interface (multicastInterface, --multicast-iface) or add a multicast route`,
      'ENETUNREACH',
      { cause: err, ...(e.syscall ? { syscall: e.syscall } : {}) },
    );
  }
  return toSoketError(err, `Cannot send to ${where}`);
}
