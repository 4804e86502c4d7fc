/**
 * The one address syntax of soket's stream commands and of the library's stream functions:
 *
 * | text                   | meaning                                                        |
 * | ---------------------- | -------------------------------------------------------------- |
 * | `HOST:PORT`            | TCP (`tcp:HOST:PORT` says the same)                            |
 * | `[v6]:PORT`            | TCP over IPv6                                                  |
 * | `PORT`, `:PORT`        | TCP on the default host (listeners: 127.0.0.1)                 |
 * | `unix:/path/to.sock`   | a Unix domain stream socket (a file)                           |
 * | `unix:@name`           | a socket in Linux's abstract namespace (no file)               |
 * | `tls:HOST:PORT`        | TLS over TCP (`tls:unix:/path` is TLS over a Unix socket)      |
 *
 * Other schemes (`udp:`) are not stream addresses: {@link addressScheme} names the scheme so a caller (the
 * relay) can dispatch on it before parsing.
 *
 * A Unix socket's path goes into `sun_path` of `struct sockaddr_un`: 108 bytes on Linux, the last of them
 * the terminating NUL for a file path, so a path may be 107 bytes at most (an abstract name likewise: its
 * first byte is the NUL that marks the namespace). libuv used to cut longer paths short silently; soket refuses
 * them with the limit named.
 *
 * @module
 */
import { isIP } from 'node:net';
import { ValidationError } from '../core/errors.js';
import { formatHostPort, parseHost, parsePort } from '../core/validate.js';

/** Size of `sun_path` in Linux's `struct sockaddr_un`. */
export const UNIX_PATH_MAX = 108;

const SCHEMES = new Set(['tcp', 'tls', 'unix', 'udp', 'udp4', 'udp6']);

/** A TCP (or TLS over TCP) address. */
export interface TcpStreamAddress {
  kind: 'tcp';
  /** Host name or IP address (no brackets). */
  host: string;
  /** Port (0 only where allowed: listeners). */
  port: number;
  /** TLS on top. */
  tls: boolean;
}

/** A Unix domain stream socket (or TLS over one). */
export interface UnixStreamAddress {
  kind: 'unix';
  /** The socket file's path, or `@name` for the abstract namespace. */
  path: string;
  /** In Linux's abstract namespace (no file). */
  abstract: boolean;
  /** TLS on top. */
  tls: boolean;
}

/** Any stream address. */
export type StreamAddress = TcpStreamAddress | UnixStreamAddress;

/** Options of {@link parseStreamAddress}. */
export interface StreamAddressOptions {
  /** Host used for `PORT` and `:PORT`. When absent, a host is required. */
  defaultHost?: string;
  /** Port used for a bare `HOST` (e.g. 443 for `soket tls HOST`). When absent, a port is required. */
  defaultPort?: number;
  /** Accept port 0 (listeners). @default false */
  allowZero?: boolean;
  /** What the address is, for messages (`listen address`, `target`). @default 'address' */
  what?: string;
}

/**
 * The scheme of an address text: `tcp`, `tls`, `unix`, or another word before a colon (`udp`), without
 * parsing the rest. `HOST:PORT` and `[v6]:PORT` are `tcp`.
 *
 * @param text - an address as a user typed it
 * @returns the scheme in lower case
 * @example
 * ```ts
 * addressScheme('udp:127.0.0.1:53'); // 'udp'
 * addressScheme('127.0.0.1:80'); // 'tcp'
 * ```
 */
export function addressScheme(text: string): string {
  if (typeof text !== 'string')
    throw new ValidationError(`Invalid address '${String(text)}': expected a string`);
  const m = /^([a-z][a-z0-9]*):/i.exec(text.trim());
  if (!m) return 'tcp';
  const word = (m[1] as string).toLowerCase();
  // `localhost:80` has a word before the colon too: only known schemes count (so `tls:443` is TLS on port 443).
  return SCHEMES.has(word) ? word : 'tcp';
}

/**
 * Parse a stream address (see the module notes for the forms).
 *
 * @param text - `HOST:PORT`, `[v6]:PORT`, `PORT`, `:PORT`, `unix:/path`, `unix:@name`, `tls:HOST:PORT`
 * @param options - default host and port, whether port 0 is allowed, what it is for messages
 * @returns the address
 * @throws {ValidationError} for a malformed address, a bad host or port, an empty or over-long Unix path
 *   (`Unix socket path ... is 120 bytes; the kernel allows at most 107 (sun_path is 108 bytes with the NUL)`),
 *   or a scheme that is not a stream (`udp:`)
 * @example
 * ```ts
 * parseStreamAddress('unix:/run/app.sock'); // { kind: 'unix', path: '/run/app.sock', abstract: false, tls: false }
 * parseStreamAddress('tls:127.0.0.1:8443'); // { kind: 'tcp', host: '127.0.0.1', port: 8443, tls: true }
 * parseStreamAddress(':8080', { defaultHost: '127.0.0.1' }); // { kind: 'tcp', host: '127.0.0.1', port: 8080, tls: false }
 * ```
 */
export function parseStreamAddress(text: string, options: StreamAddressOptions = {}): StreamAddress {
  if (options === null || typeof options !== 'object') {
    throw new ValidationError(`Invalid address options '${String(options)}': expected an object`);
  }
  const what = typeof options.what === 'string' ? options.what : 'address';
  if (options.defaultPort !== undefined)
    parsePort(options.defaultPort, { allowZero: true, what: 'default port' });
  if (typeof text !== 'string') throw new ValidationError(`Invalid ${what}: expected a string`);
  let rest = text.trim();
  if (rest.length === 0) throw new ValidationError(`Invalid ${what}: must not be empty`);
  let tls = false;
  const scheme = addressScheme(rest);
  if (scheme === 'tls') {
    tls = true;
    rest = rest.slice(4);
    if (/^tls:/i.test(rest)) throw new ValidationError(`Invalid ${what} '${text}': tls: given twice`);
  } else if (scheme === 'tcp' && /^tcp:/i.test(rest)) {
    rest = rest.slice(4);
  } else if (scheme !== 'tcp' && scheme !== 'unix') {
    throw new ValidationError(
      `Invalid ${what} '${text}': ${scheme}: is not a stream address (expected HOST:PORT, unix:/path, unix:@name or tls:HOST:PORT)`,
    );
  }
  if (/^unix:/i.test(rest)) return { ...parseUnix(rest.slice(5), text, what), tls };
  return { ...parseTcp(rest, text, what, options), tls };
}

function parseUnix(path: string, text: string, what: string): Omit<UnixStreamAddress, 'tls'> {
  if (path.length === 0 || path === '@') {
    throw new ValidationError(`Invalid ${what} '${text}': expected unix:/path/to.sock or unix:@name`);
  }
  if (path.includes('\0')) throw new ValidationError(`Invalid ${what} '${text}': the path holds a NUL byte`);
  const abstract = path.startsWith('@');
  const bytes = Buffer.byteLength(abstract ? path.slice(1) : path);
  const max = UNIX_PATH_MAX - 1;
  if (bytes > max) {
    throw new ValidationError(
      abstract
        ? `Unix socket name '${path}' is ${bytes} bytes; the kernel allows at most ${max} (sun_path is ${UNIX_PATH_MAX} bytes, the first a NUL)`
        : `Unix socket path '${path}' is ${bytes} bytes; the kernel allows at most ${max} (sun_path is ${UNIX_PATH_MAX} bytes with the final NUL)`,
    );
  }
  return { kind: 'unix', path, abstract };
}

function parseTcp(
  rest: string,
  text: string,
  what: string,
  options: StreamAddressOptions,
): Omit<TcpStreamAddress, 'tls'> {
  const portOptions = { allowZero: options.allowZero ?? false, what: 'port' };
  const hostOnly = (host: string) => {
    if (options.defaultPort === undefined) {
      throw new ValidationError(`Invalid ${what} '${text}': missing port (expected HOST:PORT)`);
    }
    return {
      kind: 'tcp' as const,
      host: parseHost(host),
      port: options.defaultPort,
    };
  };
  const portOnly = (port: string) => {
    if (options.defaultHost === undefined) {
      throw new ValidationError(`Invalid ${what} '${text}': missing host (expected HOST:PORT)`);
    }
    return { kind: 'tcp' as const, host: options.defaultHost, port: parsePort(port, portOptions) };
  };
  if (/^\d+$/.test(rest)) return portOnly(rest);
  if (/^:\d*$/.test(rest)) return portOnly(rest.slice(1));
  const bracket = /^\[([^\]]*)\](?::(.*))?$/.exec(rest);
  if (bracket) {
    const host = bracket[1] as string;
    if (isIP(host.split('%')[0] ?? '') !== 6) {
      throw new ValidationError(`Invalid ${what} '${text}': brackets hold an IPv6 address, not '${host}'`);
    }
    if (bracket[2] === undefined || bracket[2] === '') return hostOnly(host);
    return { kind: 'tcp', host: parseHost(host), port: parsePort(bracket[2], portOptions) };
  }
  if (rest.startsWith('[')) throw new ValidationError(`Invalid ${what} '${text}': unclosed '['`);
  const colons = rest.split(':').length - 1;
  if (colons === 0) return hostOnly(rest);
  if (colons > 1) {
    if (isIP(rest) === 6) return hostOnly(rest);
    throw new ValidationError(`Invalid ${what} '${text}': write an IPv6 address in brackets: [::1]:PORT`);
  }
  const i = rest.lastIndexOf(':');
  const host = rest.slice(0, i);
  const port = rest.slice(i + 1);
  if (port === '') return hostOnly(host);
  return {
    kind: 'tcp',
    host: parseHost(host),
    port: parsePort(port, portOptions),
  };
}

/**
 * Format a stream address the way {@link parseStreamAddress} reads it.
 *
 * @param address - an address
 * @returns `127.0.0.1:80`, `[::1]:80`, `unix:/run/a.sock`, `unix:@name`, `tls:127.0.0.1:443`
 * @example
 * ```ts
 * formatStreamAddress({ kind: 'tcp', host: '::1', port: 443, tls: true }); // 'tls:[::1]:443'
 * ```
 */
export function formatStreamAddress(address: StreamAddress): string {
  const a = address as unknown as { kind?: unknown; path?: unknown; host?: unknown; port?: unknown } | null;
  const valid =
    a !== null &&
    typeof a === 'object' &&
    (a.kind === 'unix'
      ? typeof a.path === 'string'
      : a.kind === 'tcp' && typeof a.host === 'string' && typeof a.port === 'number');
  if (!valid) {
    throw new ValidationError(
      `Invalid stream address '${String(address)}': expected one from parseStreamAddress`,
    );
  }
  const base = address.kind === 'unix' ? `unix:${address.path}` : formatHostPort(address.host, address.port);
  return address.tls ? `tls:${base}` : base;
}

/**
 * The path Node's `net` takes for a Unix address: the file path, or the abstract name behind a NUL byte.
 *
 * @param address - a Unix address
 * @returns the path for `net.connect({ path })` and `server.listen({ path })`
 * @example
 * ```ts
 * nodeUnixPath({ kind: 'unix', path: '@soket', abstract: true, tls: false }); // '\u0000soket'
 * ```
 */
export function nodeUnixPath(address: UnixStreamAddress): string {
  return address.abstract ? `\0${address.path.slice(1)}` : address.path;
}

/**
 * Parse a Unix socket file mode given as octal text (`0660`, `660`, `0o660`) or a number.
 *
 * @param value - the mode
 * @param what - what it is, for messages
 * @returns the mode bits (0 to 0o777)
 * @throws {ValidationError} when not an octal mode up to 0777
 * @example
 * ```ts
 * parseUnixPerm('0660'); // 0o660
 * ```
 */
export function parseUnixPerm(value: string | number, what = 'Unix socket mode'): number {
  if (typeof value === 'number') {
    if (Number.isInteger(value) && value >= 0 && value <= 0o777) return value;
  } else if (typeof value === 'string') {
    const m = /^(?:0o?)?([0-7]{1,3})$/i.exec(value.trim());
    if (m) return Number.parseInt(m[1] as string, 8);
  }
  throw new ValidationError(`Invalid ${what} '${String(value)}': expected an octal mode such as 0660`);
}
