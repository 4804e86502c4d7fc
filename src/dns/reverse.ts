/**
 * Reverse lookups: the names of an IPv4 or IPv6 address, as the system sees them (getnameinfo, which also
 * reads /etc/hosts) or as PTR records over the DNS protocol from chosen servers.
 *
 * @module
 */
import dns from 'node:dns';
import type { StartedTask } from '../core/bounded.js';
import { debug } from '../core/debug.js';
import { ValidationError } from '../core/errors.js';
import { checkOptionsObject, checkSignal, parseAddress } from '../core/validate.js';
import { type LookupTarget, lookupError, timeoutDetail, timeoutTarget } from './lookup-error.js';
import { raceLookup } from './race.js';
import { createResolver, planResolve, type ResolverKind } from './resolve.js';

/** Options of {@link reverse} (and, with batch options, of `reverseMany`). */
export interface ReverseOptions {
  /**
   * `system`: getnameinfo (/etc/hosts, then DNS, as nsswitch says; one name). `dns`: a PTR query over the DNS
   * protocol (every PTR record), to `server` or to the servers in /etc/resolv.conf.
   * @default 'system', or 'dns' when `server` is given
   */
  resolver?: ResolverKind;
  /** DNS server(s) to ask, `HOST[:PORT]` (port 53 by default); a string may hold a comma-separated list. */
  server?: string | readonly string[];
  /** Limit for one address, all tries included, in ms; `0` for none. @default 5000 */
  timeout?: number;
  /** DNS protocol: queries sent to each server before giving up. @default 2 */
  tries?: number;
  /** Cancels the lookup (`AbortError`). */
  signal?: AbortSignal;
}

/** One address's answer. */
export interface ReverseResult {
  /** The address as looked up (brackets removed). */
  address: string;
  /** 4 or 6. */
  family: 4 | 6;
  /** The PTR name for it: `10.2.0.192.in-addr.arpa`, `...ip6.arpa`. */
  ptr: string;
  /** The names found (getnameinfo gives one; DNS every PTR record). */
  names: string[];
  /** Which resolver answered. */
  resolver: ResolverKind;
  /** The server(s) asked (`127.0.0.1:53`), or `the system resolver`. */
  server: string;
  /** How long the lookup took, in ms. */
  elapsedMs: number;
}

/**
 * The 8 groups of an IPv6 address as numbers (`::` expanded, an embedded IPv4 tail converted).
 *
 * @param address - a valid IPv6 address without brackets or zone
 */
function ipv6Groups(address: string): number[] {
  let text = address;
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [left = '', right] = text.split('::');
  const parse = (s: string) => (s === '' ? [] : s.split(':').map((g) => Number.parseInt(g, 16)));
  const head = parse(left);
  const tail = right === undefined ? [] : parse(right);
  const fill = right === undefined ? 0 : 8 - head.length - tail.length;
  return [...head, ...new Array<number>(fill).fill(0), ...tail];
}

/**
 * The domain name of an address's PTR record (RFC 1035 §3.5, RFC 3596 §2.5).
 *
 * @param address - an IPv4 or IPv6 address (brackets and a zone index are allowed)
 * @returns `4.3.2.1.in-addr.arpa` or 32 nibbles followed by `ip6.arpa`
 * @throws {ValidationError} when not an IP address
 * @example
 * ```ts
 * ptrName('192.0.2.10'); // '10.2.0.192.in-addr.arpa'
 * ptrName('2001:db8::1'); // '1.0.0.0. ... .8.b.d.0.1.0.0.2.ip6.arpa'
 * ```
 */
export function ptrName(address: string): string {
  const { address: ip, family } = parseAddress(address);
  if (family === 4) return `${ip.split('.').reverse().join('.')}.in-addr.arpa`;
  const nibbles = ipv6Groups(ip.split('%')[0] ?? ip)
    .map((g) => g.toString(16).padStart(4, '0'))
    .join('');
  return `${[...nibbles].reverse().join('.')}.ip6.arpa`;
}

/**
 * A checked set of reverse-lookup options, shared by a batch.
 * @internal
 */
export interface ReversePlan {
  resolver: ResolverKind;
  server: string;
  servers: ReturnType<typeof planResolve>['servers'];
  timeout: number | undefined;
  tries: number;
}

/**
 * Check reverse-lookup options once.
 * @internal
 */
export function planReverse(options: ReverseOptions): ReversePlan {
  checkOptionsObject(options, 'reverse lookup options');
  checkSignal(options.signal);
  const forward = planResolve({
    ...(options.resolver !== undefined ? { resolver: options.resolver } : {}),
    ...(options.server !== undefined ? { server: options.server } : {}),
    ...(options.timeout !== undefined ? { timeout: options.timeout } : {}),
    ...(options.tries !== undefined ? { tries: options.tries } : {}),
  });
  return {
    resolver: forward.resolver,
    server: forward.server,
    servers: forward.servers,
    timeout: forward.timeout,
    tries: forward.tries,
  };
}

/**
 * Check an address for a reverse lookup.
 *
 * @throws {ValidationError} when not an IPv4 or IPv6 address
 * @internal
 */
export function checkReverseAddress(address: string): { address: string; family: 4 | 6; ptr: string } {
  if (typeof address !== 'string') throw new ValidationError('Invalid IP address: expected a string');
  const parsed = parseAddress(address);
  return { ...parsed, ptr: ptrName(parsed.address) };
}

/**
 * Start one reverse lookup (see `startResolve`).
 * @internal
 */
export function startReverse(
  plan: ReversePlan,
  checked: { address: string; family: 4 | 6; ptr: string },
  context: {
    resolver?: dns.promises.Resolver | undefined;
    cancelOnStop?: boolean;
    signal?: AbortSignal | undefined;
  },
): StartedTask<ReverseResult> {
  const t0 = performance.now();
  const { resolver } = context;
  const target: LookupTarget =
    plan.resolver === 'system'
      ? { hostname: checked.address, rrtype: 'PTR', server: plan.server, system: true, ptr: checked.ptr }
      : {
          hostname: checked.address,
          rrtype: 'PTR',
          server: plan.server,
          system: false,
          tries: plan.tries,
          ptr: checked.ptr,
        };
  let work: Promise<string[]>;
  if (plan.resolver === 'system') {
    work = dns.promises.lookupService(checked.address, 0).then((r) => [r.hostname]);
  } else if (!resolver) {
    throw new Error('startReverse: a DNS plan needs a resolver');
  } else {
    work = resolver.resolvePtr(checked.ptr);
  }
  work = work.catch((err: unknown) => {
    throw lookupError(err, target, performance.now() - t0);
  });
  const settled = work.then(
    () => undefined,
    () => undefined,
  );
  const result = raceLookup(
    work,
    plan.timeout,
    context.signal,
    { target: timeoutTarget(target), detail: timeoutDetail(target) },
    context.cancelOnStop && resolver ? () => resolver.cancel() : undefined,
  ).then(
    (names): ReverseResult => ({
      address: checked.address,
      family: checked.family,
      ptr: checked.ptr,
      names,
      resolver: plan.resolver,
      server: plan.server,
      elapsedMs: performance.now() - t0,
    }),
  );
  return { result, settled };
}

/**
 * Find the names of an address: through the system resolver (getnameinfo: /etc/hosts, then DNS), or — with
 * `server` or `resolver: 'dns'` — every PTR record over the DNS protocol.
 *
 * @param address - an IPv4 or IPv6 address (`192.0.2.1`, `2001:db8::1`, `[::1]`)
 * @param options - `resolver`, `server`, `timeout`, `tries`, `signal`
 * @returns the names, the PTR name, the server asked and how long it took
 * @throws {ValidationError} when `address` is not an IP address, or for bad options
 * @throws {DnsError} `ENOTFOUND` (no name / NXDOMAIN), `ENODATA`, `EREFUSED`, `ESERVFAIL`, ...
 * @throws {TimeoutError} when no answer came within `timeout`
 * @throws {AbortError} when `signal` fires
 * @example
 * ```ts
 * import { reverse } from 'soket';
 * (await reverse('127.0.0.1')).names; // ['localhost']
 * (await reverse('192.0.2.10', { server: '127.0.0.1:5353' })).names; // ['www.example.test']
 * ```
 */
export async function reverse(address: string, options: ReverseOptions = {}): Promise<ReverseResult> {
  const plan = planReverse(options);
  const checked = checkReverseAddress(address);
  const resolver = plan.resolver === 'dns' ? createResolver(plan) : undefined;
  debug('dns', 'reverse', { address: checked.address, ptr: checked.ptr, server: plan.server });
  return startReverse(plan, checked, { resolver, cancelOnStop: true, signal: options.signal }).result;
}
