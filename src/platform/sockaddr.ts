/**
 * `struct sockaddr_in` / `struct sockaddr_in6` as bytes, both ways: what bind(2), sendto(2) and
 * recvmmsg(2) take and give. Pure: no sockets. Linux lays them out as `sa_family` (16-bit, host order), then
 * the port (network order); macOS puts a length byte first and the family in one byte.
 *
 * @module
 */
import { isIP } from 'node:net';
import { ValidationError } from '../core/errors.js';
import { socketConstants } from './constants.js';

/** Bytes of a `struct sockaddr_in`. */
export const SOCKADDR_IN_SIZE = 16;
/** Bytes of a `struct sockaddr_in6`. */
export const SOCKADDR_IN6_SIZE = 28;

/** An address and port as the socket API sees them. */
export interface SockAddr {
  family: 4 | 6;
  address: string;
  port: number;
}

const bsd = process.platform === 'darwin';

function writeFamily(buf: Uint8Array, family: number, size: number): void {
  if (bsd) {
    buf[0] = size;
    buf[1] = family;
  } else {
    buf[0] = family & 0xff;
    buf[1] = family >>> 8;
  }
}

function readFamily(buf: Uint8Array, offset: number): number {
  return bsd ? (buf[offset + 1] as number) : (buf[offset] as number) | ((buf[offset + 1] as number) << 8);
}

function ipv4Bytes(address: string, out: Uint8Array, offset: number): void {
  const parts = address.split('.');
  for (let i = 0; i < 4; i++) out[offset + i] = Number(parts[i]);
}

function ipv6Bytes(address: string, out: Uint8Array, offset: number): void {
  let text = address;
  const zone = text.indexOf('%');
  if (zone !== -1) text = text.slice(0, zone);
  // An embedded IPv4 tail (::ffff:192.0.2.1) becomes two groups.
  const lastColon = text.lastIndexOf(':');
  const tail = text.slice(lastColon + 1);
  if (tail.includes('.')) {
    const b = new Uint8Array(4);
    ipv4Bytes(tail, b, 0);
    text = `${text.slice(0, lastColon + 1)}${(((b[0] as number) << 8) | (b[1] as number)).toString(16)}:${(((b[2] as number) << 8) | (b[3] as number)).toString(16)}`;
  }
  const [head = '', rest] = text.split('::');
  const h = head ? head.split(':') : [];
  const t = rest === undefined ? [] : rest ? rest.split(':') : [];
  const groups =
    rest === undefined ? h : [...h, ...new Array<string>(8 - h.length - t.length).fill('0'), ...t];
  for (let i = 0; i < 8; i++) {
    const g = Number.parseInt(groups[i] ?? '0', 16);
    out[offset + i * 2] = g >>> 8;
    out[offset + i * 2 + 1] = g & 0xff;
  }
}

/**
 * Encode an IP address and port as a sockaddr.
 *
 * @param address - an IPv4 or IPv6 literal
 * @param port - 0 to 65535
 * @returns the bytes (16 for IPv4, 28 for IPv6)
 * @throws {ValidationError} when `address` is not an IP literal
 * @example
 * ```ts
 * encodeSockaddr('127.0.0.1', 123).length; // 16
 * ```
 */
export function encodeSockaddr(address: string, port: number): Uint8Array {
  const family = isIP(address.split('%')[0] ?? '');
  const c = socketConstants();
  if (family === 4) {
    const buf = new Uint8Array(SOCKADDR_IN_SIZE);
    writeFamily(buf, c.AF_INET, SOCKADDR_IN_SIZE);
    buf[2] = port >>> 8;
    buf[3] = port & 0xff;
    ipv4Bytes(address, buf, 4);
    return buf;
  }
  if (family === 6) {
    const buf = new Uint8Array(SOCKADDR_IN6_SIZE);
    writeFamily(buf, c.AF_INET6, SOCKADDR_IN6_SIZE);
    buf[2] = port >>> 8;
    buf[3] = port & 0xff;
    ipv6Bytes(address, buf, 8);
    return buf;
  }
  throw new ValidationError(`Invalid address '${address}': expected an IPv4 or IPv6 literal`);
}

/**
 * The port of a sockaddr (network order at bytes 2–3 on every platform).
 *
 * @example
 * ```ts
 * sockaddrPort(encodeSockaddr('127.0.0.1', 123), 0); // 123
 * ```
 */
export function sockaddrPort(buf: Uint8Array, offset: number): number {
  return ((buf[offset + 2] as number) << 8) | (buf[offset + 3] as number);
}

/**
 * The address family of a sockaddr: 4, 6, or 0 for anything else.
 *
 * @example
 * ```ts
 * sockaddrFamily(encodeSockaddr('::1', 1), 0); // 6
 * ```
 */
export function sockaddrFamily(buf: Uint8Array, offset: number): 0 | 4 | 6 {
  const f = readFamily(buf, offset);
  const c = socketConstants();
  return f === c.AF_INET ? 4 : f === c.AF_INET6 ? 6 : 0;
}

/**
 * The address of a sockaddr as text, the way Node prints it (`127.0.0.1`, `::1`, `::ffff:127.0.0.1`).
 *
 * @example
 * ```ts
 * sockaddrAddress(encodeSockaddr('::ffff:127.0.0.1', 1), 0); // '::ffff:127.0.0.1'
 * ```
 */
export function sockaddrAddress(buf: Uint8Array, offset: number): string {
  const family = sockaddrFamily(buf, offset);
  if (family === 4) {
    return `${buf[offset + 4]}.${buf[offset + 5]}.${buf[offset + 6]}.${buf[offset + 7]}`;
  }
  if (family !== 6) return '';
  const a = offset + 8;
  // IPv4-mapped: ::ffff:a.b.c.d, as Node shows it
  let mapped = buf[a + 10] === 0xff && buf[a + 11] === 0xff;
  for (let i = 0; i < 10 && mapped; i++) if (buf[a + i] !== 0) mapped = false;
  if (mapped) return `::ffff:${buf[a + 12]}.${buf[a + 13]}.${buf[a + 14]}.${buf[a + 15]}`;
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(((buf[a + i * 2] as number) << 8) | (buf[a + i * 2 + 1] as number));
  // RFC 5952: the longest run (of two or more) of zero groups becomes ::, the first one on a tie
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  let text: string;
  if (best === -1) text = hex.join(':');
  else text = `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
  const scope =
    (buf[offset + 24] as number) |
    ((buf[offset + 25] as number) << 8) |
    ((buf[offset + 26] as number) << 16) |
    ((buf[offset + 27] as number) << 24);
  return scope !== 0 ? `${text}%${scope >>> 0}` : text;
}

/**
 * Decode a sockaddr.
 *
 * @returns family, address and port; `undefined` for a family other than IPv4/IPv6
 * @example
 * ```ts
 * decodeSockaddr(encodeSockaddr('127.0.0.1', 5000)); // { family: 4, address: '127.0.0.1', port: 5000 }
 * ```
 */
export function decodeSockaddr(buf: Uint8Array, offset = 0): SockAddr | undefined {
  const family = sockaddrFamily(buf, offset);
  if (family === 0) return undefined;
  return { family, address: sockaddrAddress(buf, offset), port: sockaddrPort(buf, offset) };
}
