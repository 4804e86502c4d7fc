/**
 * Turn what Node's resolvers throw (c-ares codes such as `ENOTFOUND`, getaddrinfo's `EAI_AGAIN`) into soket
 * errors whose message names the name, the record type and the server asked.
 *
 * @module
 */
import { AbortError, DnsError, type DnsErrorDetails, SoketError, TimeoutError } from '../core/errors.js';

/** What was being looked up, for messages. */
export interface LookupTarget extends DnsErrorDetails {
  /** Whether the system resolver (getaddrinfo/getnameinfo) was asked rather than a DNS server. */
  system: boolean;
  /** Queries sent per server (DNS protocol only), for timeout messages. */
  tries?: number;
  /** For reverse lookups: the PTR name asked for (`hostname` is then the address). */
  ptr?: string;
}

/**
 * The `target` text of a lookup timeout.
 *
 * @example
 * ```ts
 * timeoutTarget({ hostname: 'www.example.com', rrtype: 'A', server: '127.0.0.1:53', system: false });
 * // 'www.example.com (A query to 127.0.0.1:53)'
 * ```
 */
export function timeoutTarget(t: LookupTarget): string {
  return t.system
    ? `${t.hostname} (${t.server}, ${t.rrtype})`
    : `${t.hostname} (${t.rrtype} query to ${t.server})`;
}

/**
 * The detail suffix of a lookup timeout.
 *
 * @example
 * ```ts
 * timeoutDetail({ hostname: 'x', rrtype: 'A', server: 's', system: false, tries: 2 }); // '(2 tries)'
 * ```
 */
export function timeoutDetail(t: LookupTarget): string {
  return t.tries === undefined ? '' : `(${t.tries} ${t.tries === 1 ? 'try' : 'tries'})`;
}

function reverseMessage(code: string, t: LookupTarget): string | undefined {
  const { hostname: address, server } = t;
  if (t.system) {
    if (code === 'ENOTFOUND') return `Address ${address} has no name (${server}: getnameinfo)`;
    return undefined;
  }
  if (code === 'ENOTFOUND') {
    return `Address ${address} has no name: ${t.ptr} does not exist (NXDOMAIN; PTR query to ${server})`;
  }
  if (code === 'ENODATA') {
    return `Address ${address} has no name: ${t.ptr} has no PTR records (NOERROR, empty answer; PTR query to ${server})`;
  }
  return undefined;
}

function message(code: string, t: LookupTarget): string {
  if (t.ptr !== undefined) {
    const m = reverseMessage(code, t);
    if (m) return m;
  }
  const { hostname: name, rrtype: type, server } = t;
  if (t.system) {
    const via = `${server}, ${type}`;
    switch (code) {
      case 'ENOTFOUND':
        return `Name ${name} not found (${via})`;
      case 'ENODATA':
        return `Name ${name} has no ${type} data (${server})`;
      case 'EAI_AGAIN':
        return `Temporary failure looking up ${name} (${via}): the DNS server did not answer or failed`;
      case 'EAI_FAIL':
        return `Lookup of ${name} failed permanently (${via})`;
      default:
        return `Lookup of ${name} failed with ${code} (${via})`;
    }
  }
  const query = `${type} query to ${server}`;
  switch (code) {
    case 'ENOTFOUND':
      return `Name ${name} does not exist (NXDOMAIN; ${query})`;
    case 'ENODATA':
      return `Name ${name} has no ${type} records (NOERROR, empty answer; ${query})`;
    case 'EREFUSED':
      return `DNS server ${server} refused the ${type} query for ${name} (REFUSED)`;
    case 'ESERVFAIL':
      return `DNS server ${server} failed to answer the ${type} query for ${name} (SERVFAIL)`;
    case 'ENOTIMP':
      return `DNS server ${server} does not implement the ${type} query for ${name} (NOTIMP)`;
    case 'EFORMERR':
      return `DNS server ${server} rejected the ${type} query for ${name} as malformed (FORMERR)`;
    case 'EBADRESP':
      return `DNS server ${server} sent a malformed response to the ${type} query for ${name}`;
    case 'ECONNREFUSED':
      return `Cannot reach DNS server ${server}: connection refused (${type} query for ${name})`;
    default:
      return `Lookup of ${name} failed with ${code} (${query})`;
  }
}

/**
 * Map an error from `dns.lookup`, `dns.lookupService` or a `dns.promises.Resolver` method to a soket error.
 *
 * @param err - what Node threw
 * @param target - the name, type and server, for the message
 * @param elapsedMs - how long the lookup ran (for c-ares timeouts)
 * @returns a `DnsError`, a `TimeoutError` (`ETIMEOUT`), an `AbortError` (`ECANCELLED`) or the soket error given
 * @example
 * ```ts
 * resolver.resolve4(name).catch((e) => { throw lookupError(e, { hostname: name, rrtype: 'A', server, system: false }, 12); });
 * ```
 */
export function lookupError(err: unknown, target: LookupTarget, elapsedMs: number): SoketError {
  if (err instanceof SoketError) return err;
  const code = (err as { code?: unknown })?.code;
  if (code === 'ETIMEOUT' || code === 'ETIMEDOUT') {
    return new TimeoutError('lookup', timeoutTarget(target), Math.round(elapsedMs), timeoutDetail(target), {
      cause: err,
    });
  }
  if (code === 'ECANCELLED' || (err as Error)?.name === 'AbortError') {
    return new AbortError(`Lookup of ${target.hostname} was aborted`, { cause: err });
  }
  if (typeof code === 'string') {
    return new DnsError(message(code, target), code, target, { cause: err });
  }
  return new SoketError(
    `Lookup of ${target.hostname} (${target.rrtype}, ${target.server}) failed: ${(err as Error)?.message ?? String(err)}`,
    'SOKET_ERROR',
    { cause: err },
  );
}
