/**
 * Host information: host name, FQDN, what the host name resolves to, the primary outbound addresses and every
 * interface. Unlike `gethostbyname(gethostname())` — which answers 127.0.1.1 on Debian and Ubuntu — the
 * primary address here is the one the kernel would use to reach the outside, found by connecting a UDP
 * socket (which sends nothing) and reading its local address.
 *
 * @module
 */
import dgram from 'node:dgram';
import dns from 'node:dns/promises';
import { isIP } from 'node:net';
import os from 'node:os';
import { Deadline, withTimeout } from '../core/deadline.js';
import { osErrorText, ValidationError } from '../core/errors.js';
import { checkSignal, checkTimeout, describeValue } from '../core/validate.js';

/** One address of one network interface. */
export interface InterfaceAddress {
  /** Interface name, e.g. `eth0`. */
  name: string;
  /** The address, e.g. `192.0.2.10` or `fe80::1`. */
  address: string;
  /** `IPv4` or `IPv6`. */
  family: 'IPv4' | 'IPv6';
  /** Address with prefix length, e.g. `192.0.2.10/24`. */
  cidr: string | null;
  /** Netmask, e.g. `255.255.255.0`. */
  netmask: string;
  /** Hardware address, e.g. `02:42:ac:11:00:02` (all zeros for loopback). */
  mac: string;
  /** Whether this is a loopback (internal) interface. */
  internal: boolean;
  /** IPv6 scope ID, when the address has one. */
  scopeId: number | null;
}

/** The address the kernel picks for outbound traffic of one family, or why there is none. */
export interface PrimaryAddress {
  /** The local address, or `null` when unavailable. */
  address: string | null;
  /** The interface that holds the address, or `null`. */
  interface: string | null;
  /** Why `address` is `null`, e.g. `no IPv6 default route (network unreachable)`. */
  unavailable: string | null;
}

/** What the host name resolves to through the system resolver (getaddrinfo: /etc/hosts, DNS, ...). */
export interface ResolvedHostname {
  /** Every address, in resolver order. */
  addresses: string[];
  /** Whether any of them is a loopback address (127.0.0.0/8 or ::1). */
  loopback: boolean;
  /** Why resolution failed, or `null`. */
  unavailable: string | null;
}

/** Everything {@link hostInfo} reports. The `--json` output of `soket info` is exactly this object. */
export interface HostInfo {
  /** `os.hostname()`, what gethostname(2) returns. */
  hostname: string;
  /** Fully qualified name: the first name with a dot that the host's addresses map back to, else the host name. */
  fqdn: string;
  /** The system resolver's answer for the host name. */
  resolved: ResolvedHostname;
  /** Primary outbound IPv4 and IPv6 addresses. */
  primary: { ipv4: PrimaryAddress; ipv6: PrimaryAddress };
  /** Every address of every interface. */
  interfaces: InterfaceAddress[];
  /** Things a user should know, e.g. that the host name resolves to a loopback address. */
  warnings: string[];
}

/** Options for {@link hostInfo}. */
export interface HostInfoOptions {
  /**
   * Destination used to ask the kernel for the IPv4 route. No packet is sent to it.
   * @default '192.0.2.1' (TEST-NET-1, RFC 5737; routed by the default route like any outside address)
   */
  probeIPv4?: string;
  /**
   * Destination used to ask the kernel for the IPv6 route. No packet is sent to it.
   * @default '2001:db8::1' (documentation prefix, RFC 3849)
   */
  probeIPv6?: string;
  /** Limit of the whole call (the host name lookup and the FQDN lookups), in ms. @default 2000 */
  timeout?: number;
  /** Cancels the resolver calls. */
  signal?: AbortSignal;
}

/** The defaults of {@link HostInfoOptions}, in one place. */
export const HOST_INFO_DEFAULTS = {
  probeIPv4: '192.0.2.1',
  probeIPv6: '2001:db8::1',
  timeout: 2000,
} as const;
const DEFAULTS = HOST_INFO_DEFAULTS;

/**
 * Whether an address is a loopback address (127.0.0.0/8, ::1, or IPv4-mapped loopback).
 *
 * @example
 * ```ts
 * isLoopback('127.0.1.1'); // true
 * ```
 */
export function isLoopback(address: string): boolean {
  if (typeof address !== 'string') {
    throw new ValidationError(`Invalid address '${describeValue(address)}': expected an IP address string`);
  }
  const a = address.toLowerCase();
  return a.startsWith('127.') || a === '::1' || a.startsWith('::ffff:127.');
}

/**
 * Every address of every interface, flattened.
 *
 * @example
 * ```ts
 * listInterfaces().filter((i) => !i.internal).map((i) => i.cidr);
 * ```
 */
export function listInterfaces(): InterfaceAddress[] {
  const out: InterfaceAddress[] = [];
  for (const [name, addrs] of Object.entries(os.networkInterfaces())) {
    for (const a of addrs ?? []) {
      out.push({
        name,
        address: a.address,
        family: a.family,
        cidr: a.cidr,
        netmask: a.netmask,
        mac: a.mac,
        internal: a.internal,
        scopeId: a.family === 'IPv6' ? a.scopeid : null,
      });
    }
  }
  return out;
}

/**
 * The local address the kernel would use to reach `destination`: connect a UDP socket (no packet is sent)
 * and read its local address.
 *
 * @param family - 4 or 6
 * @param destination - any address outside this machine; the default route decides
 * @returns the address and interface, or why there is none (no route, no IPv6, ...)
 * @example
 * ```ts
 * const { address } = await primaryAddress(4);
 * ```
 */
export function primaryAddress(family: 4 | 6, destination?: string): Promise<PrimaryAddress> {
  const target = destination ?? (family === 4 ? DEFAULTS.probeIPv4 : DEFAULTS.probeIPv6);
  const label = family === 4 ? 'IPv4' : 'IPv6';
  return new Promise((resolve) => {
    let socket: dgram.Socket;
    const fail = (err: NodeJS.ErrnoException) => {
      const code = err.code ?? 'error';
      const why =
        code === 'ENETUNREACH' || code === 'EHOSTUNREACH'
          ? `no ${label} default route (${osErrorText(code)})`
          : code === 'EAFNOSUPPORT' || code === 'EPROTONOSUPPORT'
            ? `${label} is not supported on this machine (${osErrorText(code)})`
            : code === 'EADDRNOTAVAIL'
              ? `no usable ${label} address for a route out (${osErrorText(code)})`
              : `${label} route lookup failed (${osErrorText(code)})`;
      resolve({ address: null, interface: null, unavailable: why });
      try {
        socket?.close();
      } catch {
        // already closed
      }
    };
    try {
      socket = dgram.createSocket(family === 4 ? 'udp4' : 'udp6');
    } catch (err) {
      fail(err as NodeJS.ErrnoException);
      return;
    }
    socket.once('error', fail);
    // Node calls back with the error when connect(2) fails (no route), instead of emitting 'error'.
    socket.connect(9, target, (err?: Error) => {
      if (err) {
        fail(err as NodeJS.ErrnoException);
        return;
      }
      const { address } = socket.address();
      socket.close();
      const iface = listInterfaces().find((i) => i.address === address);
      resolve({ address, interface: iface?.name ?? null, unavailable: null });
    });
  });
}

async function resolveHostname(
  hostname: string,
  options: HostInfoOptions,
  deadline: Deadline,
): Promise<ResolvedHostname> {
  try {
    const all = await withTimeout(
      () => dns.lookup(hostname, { all: true, verbatim: true }),
      {
        ...(deadline.remaining() !== undefined ? { timeout: deadline.remaining() as number } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      },
      { phase: 'lookup', target: `'${hostname}'` },
    );
    const addresses = all.map((a) => a.address);
    return { addresses, loopback: addresses.some(isLoopback), unavailable: null };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return {
      addresses: [],
      loopback: false,
      unavailable: e.code ? `${osErrorText(e.code)} (${e.code})` : e.message,
    };
  }
}

async function findFqdn(
  hostname: string,
  addresses: string[],
  options: HostInfoOptions,
  deadline: Deadline,
): Promise<string> {
  if (hostname.includes('.')) return hostname;
  for (const address of addresses) {
    if (deadline.expired()) break;
    try {
      const { hostname: name } = await withTimeout(
        () => dns.lookupService(address, 0),
        {
          ...(deadline.remaining() !== undefined ? { timeout: deadline.remaining() as number } : {}),
          ...(options.signal ? { signal: options.signal } : {}),
        },
        { phase: 'lookup', target: address },
      );
      if (name.includes('.') && name.split('.')[0] === hostname) return name;
    } catch {
      // try the next address
    }
  }
  return hostname;
}

/**
 * Gather host information. Never throws for a missing route, missing IPv6 or a host name that does not
 * resolve: each part says why it is unavailable instead.
 *
 * @param options - probe destinations (no packet is sent), resolver timeout, signal
 * @returns host name, FQDN, resolved addresses, primary addresses, interfaces and warnings
 * @example
 * ```ts
 * import { hostInfo } from 'soket';
 * const info = await hostInfo();
 * console.log(info.primary.ipv4.address ?? info.primary.ipv4.unavailable);
 * ```
 */
export async function hostInfo(options: HostInfoOptions = {}): Promise<HostInfo> {
  if (typeof options !== 'object' || options === null) {
    throw new ValidationError('Invalid host info options: expected an object');
  }
  checkSignal(options.signal);
  for (const [key, family] of [
    ['probeIPv4', 4],
    ['probeIPv6', 6],
  ] as const) {
    const v = options[key];
    if (v !== undefined && (typeof v !== 'string' || isIP(v) !== family)) {
      throw new ValidationError(`Invalid ${key} '${describeValue(v)}': expected an IPv${family} address`);
    }
  }
  const timeout = checkTimeout(options.timeout ?? DEFAULTS.timeout);
  const hostname = os.hostname();
  const deadline = new Deadline(timeout, `host name '${hostname}'`);
  const [resolved, ipv4, ipv6] = await Promise.all([
    resolveHostname(hostname, options, deadline),
    primaryAddress(4, options.probeIPv4),
    primaryAddress(6, options.probeIPv6),
  ]);
  const fqdn = await findFqdn(hostname, resolved.addresses, options, deadline);
  const warnings: string[] = [];
  if (resolved.loopback) {
    const lo = resolved.addresses.filter(isLoopback).join(', ');
    const better = ipv4.address ?? ipv6.address;
    warnings.push(
      `Host name '${hostname}' resolves to loopback ${lo} (the Debian/Ubuntu /etc/hosts convention), so gethostbyname(gethostname()) is not an address other hosts can reach${better ? `; the primary address is ${better}` : ''}`,
    );
  }
  if (resolved.unavailable)
    warnings.push(`Host name '${hostname}' does not resolve: ${resolved.unavailable}`);
  return { hostname, fqdn, resolved, primary: { ipv4, ipv6 }, interfaces: listInterfaces(), warnings };
}
