/**
 * Flags shared by the UDP commands for sources, broadcast and multicast: one definition, one parser.
 *
 * | flag | option | commands |
 * | --- | --- | --- |
 * | `--source ADDR[:PORT]` | `source` (bind before sending) | send, connect |
 * | `--broadcast` | `broadcast` (SO_BROADCAST) | send, connect |
 * | `--ttl N` / `--hops N` | `multicastTtl` for a multicast destination (0–255), else `ttl` (1–255) | send, connect |
 * | `--multicast-iface NAME\|ADDR` | `multicastInterface` (IP_MULTICAST_IF / IPV6_MULTICAST_IF) | send, connect |
 * | `--multicast-loop` / `--no-multicast-loop` | `multicastLoopback` (IP_MULTICAST_LOOP) | send, connect |
 * | `--join GROUP[,GROUP...]` | `join` (IP_ADD_MEMBERSHIP, `GROUP@SOURCE` source-specific) | listen |
 * | `--iface NAME\|ADDR` | `iface` (the interface to join on) | listen |
 *
 * @module
 */
import type { Command } from 'commander';
import { ValidationError } from '../core/errors.js';
import { exclusive, parseInteger } from '../core/validate.js';
import type { SourceAddress } from '../net/udp-connect.js';
import { parseSourceAddress } from '../net/udp-connect.js';
import { isMulticastAddress, parseMulticastJoins, resolveInterface } from '../net/udp-multicast.js';

/** Flags of {@link addUdpSendFlags}. */
export interface UdpSendFlags {
  source?: string;
  broadcast?: boolean;
  ttl?: string;
  hops?: string;
  multicastIface?: string;
  multicastLoop?: boolean;
}

/** Flags of {@link addUdpJoinFlags}. */
export interface UdpJoinFlags {
  join?: string[];
  iface?: string;
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/**
 * Declare `--source`, `--broadcast`, `--hops`, `--multicast-iface` and `--multicast-loop` (`--ttl` comes from
 * the socket option flags; for a multicast destination it sets the multicast TTL).
 *
 * @param cmd - the command
 * @returns the command
 */
export function addUdpSendFlags(cmd: Command): Command {
  return cmd
    .option('--source <addr[:port]>', 'send from this local address (and port): bind before sending')
    .option('--broadcast', 'SO_BROADCAST: allow sending to a broadcast address (255.255.255.255, 10.0.0.255)')
    .option('--hops <n>', 'IPv6 name of --ttl: hop limit (for a multicast group 0-255, else 1-255)')
    .option('--multicast-iface <name|addr>', 'IP_MULTICAST_IF: the interface multicast leaves by')
    .option(
      '--multicast-loop',
      'IP_MULTICAST_LOOP on: this host’s own group members get a copy (the default)',
    )
    .option('--no-multicast-loop', 'IP_MULTICAST_LOOP off: no copy for this host’s own members');
}

/**
 * Declare `--join` (repeatable) and `--iface`.
 *
 * @param cmd - the command
 * @returns the command
 */
export function addUdpJoinFlags(cmd: Command): Command {
  return cmd
    .option(
      '--join <groups>',
      'join multicast groups: 239.1.2.3, ff02::1:3%eth0, 232.1.1.1@SOURCE (comma-separated, repeatable)',
      collect,
    )
    .option('--iface <name|addr>', 'the interface to join the groups on (default: the route to the group)');
}

/** What {@link udpSendOptionsFromFlags} makes of the flags. */
export interface UdpSendFlagOptions {
  source?: SourceAddress;
  broadcast?: boolean;
  multicastTtl?: number;
  multicastInterface?: string;
  multicastLoopback?: boolean;
  /** The unicast hop limit (IP_TTL), for the socket options. */
  ttl?: number;
}

/**
 * Check the send flags. `--ttl`/`--hops` set the multicast TTL when HOST is a multicast address (0 keeps
 * datagrams on this host), otherwise the unicast hop limit (1–255).
 *
 * @param flags - the parsed flags
 * @param host - the destination as given
 * @returns the options
 * @throws {ValidationError} for a bad source, a TTL out of range, an unknown interface, `--ttl` with `--hops`
 */
export function udpSendOptionsFromFlags(flags: UdpSendFlags, host: string): UdpSendFlagOptions {
  exclusive({ '--ttl': flags.ttl !== undefined, '--hops': flags.hops !== undefined });
  const out: UdpSendFlagOptions = {};
  if (flags.source !== undefined) out.source = parseSourceAddress(flags.source, '--source');
  if (flags.broadcast) out.broadcast = true;
  const multicast = isMulticastAddress(host.replace(/^\[|\]$/g, ''));
  const ttlText = flags.ttl ?? flags.hops;
  if (ttlText !== undefined) {
    const flag = flags.ttl !== undefined ? '--ttl' : '--hops';
    if (multicast) out.multicastTtl = parseInteger(ttlText, flag, { min: 0, max: 255 });
    else {
      const n = parseInteger(ttlText, flag, { min: 0, max: 255 });
      if (n === 0) {
        throw new ValidationError(
          `Invalid ${flag} '0': a TTL of 0 keeps multicast on this host; unicast needs 1 to 255`,
        );
      }
      out.ttl = n;
    }
  }
  if (flags.multicastIface !== undefined) {
    resolveInterface(flags.multicastIface, '--multicast-iface');
    out.multicastInterface = flags.multicastIface;
  }
  if (typeof flags.multicastLoop === 'boolean') out.multicastLoopback = flags.multicastLoop;
  return out;
}

/**
 * Check the join flags.
 *
 * @param flags - the parsed flags
 * @returns `join` and `iface` for the server options (absent when not given)
 * @throws {ValidationError} for a bad group, an unknown interface, or `--iface` without `--join`
 */
export function udpJoinOptionsFromFlags(flags: UdpJoinFlags): { join?: string[]; iface?: string } {
  const out: { join?: string[]; iface?: string } = {};
  if (flags.join !== undefined) {
    parseMulticastJoins(flags.join, '--join');
    out.join = flags.join;
  }
  if (flags.iface !== undefined) {
    if (flags.join === undefined)
      throw new ValidationError('Option --iface names the interface for --join: give --join too');
    resolveInterface(flags.iface, '--iface');
    out.iface = flags.iface;
  }
  return out;
}

/**
 * The address a listener binds by default when it joins groups and no host was given: the wildcard of the
 * groups' family (a socket bound to 127.0.0.1 receives no multicast).
 *
 * @param join - the `--join` values
 * @returns `0.0.0.0` or `::`
 */
export function wildcardForJoins(join: readonly string[]): string {
  const groups = parseMulticastJoins(join, '--join');
  const families = new Set(groups.map((g) => g.family));
  if (families.size > 1) {
    throw new ValidationError(
      'Option --join mixes IPv4 and IPv6 groups: one socket receives one family; run two listeners',
    );
  }
  return families.has(6) ? '::' : '0.0.0.0';
}

/** Strip `ttl` from flags before the socket option parser sees them (the UDP commands handle it). */
export function withoutTtl<T extends Record<string, unknown>>(flags: T): T {
  const { ttl: _ttl, ...rest } = flags;
  return rest as T;
}
