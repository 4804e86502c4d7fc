/**
 * DNS server addresses as users give them (`127.0.0.1`, `127.0.0.1:5353`, `::1`, `[::1]:5353`) and as
 * Node's c-ares `Resolver.setServers` wants them.
 *
 * @module
 */
import { isIP } from 'node:net';
import { ValidationError } from '../core/errors.js';
import { describeValue, formatHostPort, parseHostPort } from '../core/validate.js';

/** The DNS port, used when a server is given without one. */
export const DNS_PORT = 53;

/** A DNS server to ask. */
export interface DnsServer {
  /** An IPv4 or IPv6 address (c-ares takes addresses only, not names). */
  address: string;
  /** UDP/TCP port. */
  port: number;
  /** `127.0.0.1:5353`, `[::1]:53`: for messages and for `Resolver.setServers`. */
  text: string;
}

/**
 * Parse a DNS server given as `HOST[:PORT]`; the port defaults to 53. The host must be an IP address.
 *
 * @param value - `127.0.0.1`, `127.0.0.1:5353`, `::1`, `[::1]:5353`
 * @returns the address, port and their canonical text
 * @throws {ValidationError} when the host is not an IP address or the port is out of range
 * @example
 * ```ts
 * parseDnsServer('[::1]:5353'); // { address: '::1', port: 5353, text: '[::1]:5353' }
 * parseDnsServer('127.0.0.1'); // { address: '127.0.0.1', port: 53, text: '127.0.0.1:53' }
 * ```
 */
export function parseDnsServer(value: string): DnsServer {
  const { host, port } = parseHostPort(value, { defaultPort: DNS_PORT });
  const address = host.split('%')[0] ?? host;
  if (isIP(address) === 0) {
    throw new ValidationError(
      `Invalid DNS server '${value}': expected an IP address with an optional port (HOST[:PORT])`,
    );
  }
  return { address: host, port, text: formatHostPort(host, port) };
}

/**
 * Parse one or more DNS servers; each string may itself be a comma-separated list.
 *
 * @param value - a server, a comma-separated list, or an array of either
 * @returns the servers in order, without duplicates
 * @throws {ValidationError} on any bad entry or an empty list
 * @example
 * ```ts
 * parseDnsServers('127.0.0.1:5353,[::1]:5353').map((s) => s.text); // ['127.0.0.1:5353', '[::1]:5353']
 * ```
 */
export function parseDnsServers(value: string | readonly string[]): DnsServer[] {
  const list = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(list) || list.some((v) => typeof v !== 'string')) {
    throw new ValidationError(
      `Invalid DNS server '${describeValue(value)}': expected HOST[:PORT], a comma-separated list, or an array of them`,
    );
  }
  const parts = list
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter((v) => v.length > 0);
  if (parts.length === 0) throw new ValidationError('Invalid DNS server: must not be empty');
  const seen = new Set<string>();
  const out: DnsServer[] = [];
  for (const part of parts) {
    const server = parseDnsServer(part);
    if (seen.has(server.text)) continue;
    seen.add(server.text);
    out.push(server);
  }
  return out;
}

/**
 * The text for a server list in messages: `127.0.0.1:5353` or `127.0.0.1:53, [::1]:53`.
 *
 * @example
 * ```ts
 * describeServers(parseDnsServers('127.0.0.1,::1')); // '127.0.0.1:53, [::1]:53'
 * ```
 */
export function describeServers(servers: readonly DnsServer[]): string {
  return servers.map((s) => s.text).join(', ');
}

/**
 * Format what `Resolver.getServers()` returns (`127.0.0.1`, `127.0.0.1:5353`, `::1`, `[::1]:5353`) the
 * same way as {@link parseDnsServer}, adding the default port.
 *
 * @example
 * ```ts
 * normalizeServerText('::1'); // '[::1]:53'
 * ```
 */
export function normalizeServerText(value: string): string {
  try {
    return parseDnsServer(value).text;
  } catch {
    return value;
  }
}
