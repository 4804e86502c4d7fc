/**
 * Validation of user input: ports, hosts, addresses, durations and counts. Every function either returns a
 * normalised value or throws a `ValidationError` whose message quotes the bad value and says what was expected.
 *
 * @module
 */
import { isIP } from 'node:net';
import { ValidationError } from './errors.js';

const INTEGER = /^[+-]?\d+$/;

function quote(value: unknown): string {
  return `'${describeValue(value)}'`;
}

/**
 * A value as text for a message, whatever its type (a symbol, an object without `toString`, a bigint): never
 * throws. Strings and numbers appear as themselves, objects as their JSON (cut to 60 characters).
 *
 * @example
 * ```ts
 * describeValue(Symbol('x')); // 'Symbol(x)'
 * describeValue({ a: 1 }); // '{"a":1}'
 * ```
 */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'function') return `function ${value.name || '(anonymous)'}`;
  if (value !== null && typeof value === 'object') {
    try {
      const json = JSON.stringify(value);
      if (json !== undefined) return json.length > 60 ? `${json.slice(0, 57)}...` : json;
    } catch {
      // a cycle, a bigint inside: fall through to the tag
    }
    return Object.prototype.toString.call(value);
  }
  return String(value);
}

/** `what` as a label; a label that is not a string is a caller's bug, not the user's: named generically. */
function label(what: unknown, fallback: string): string {
  return typeof what === 'string' ? what : fallback;
}

/** Text of a number-or-string input, or undefined when it is neither (then it is invalid). */
function numericText(value: unknown): string | undefined {
  if (typeof value === 'number') return String(value);
  if (typeof value === 'string') return value.trim();
  return undefined;
}

/**
 * Check that an options argument is an object (or absent). Options from plain JavaScript can be anything;
 * `null`, a string or a number there is a `ValidationError`, not a `TypeError` later.
 *
 * @param value - the options as given
 * @param what - what they are, for the message (`probe options`)
 * @returns the options, or `{}` when absent
 * @throws {ValidationError} when not an object
 * @example
 * ```ts
 * const o = checkOptionsObject(options, 'probe options');
 * ```
 */
export function checkOptionsObject<T extends object>(value: T | undefined, what = 'options'): T {
  if (value === undefined) return {} as T;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ValidationError(`Invalid ${label(what, 'options')} ${quote(value)}: expected an object`);
  }
  return value;
}

/**
 * Check a string argument.
 *
 * @param value - the argument as given
 * @param what - what it is, for the message
 * @returns the string
 * @throws {ValidationError} when not a string
 * @example
 * ```ts
 * checkString(name, 'service name');
 * ```
 */
export function checkString(value: unknown, what: string): string {
  if (typeof value !== 'string') {
    throw new ValidationError(`Invalid ${label(what, 'argument')} ${quote(value)}: expected a string`);
  }
  return value;
}

/**
 * Check an optional boolean option.
 *
 * @throws {ValidationError} when set and not `true` or `false`
 * @example
 * ```ts
 * const fallback = checkBoolean(options.fallback, 'fallback') ?? true;
 * ```
 */
export function checkBoolean(value: unknown, what: string): boolean | undefined {
  if (value === undefined || typeof value === 'boolean') return value;
  throw new ValidationError(`Invalid ${label(what, 'option')} ${quote(value)}: expected true or false`);
}

/**
 * Check an optional `signal` option.
 *
 * @throws {ValidationError} when set and not an `AbortSignal`
 * @example
 * ```ts
 * checkSignal(options.signal);
 * ```
 */
export function checkSignal(value: unknown, what = 'signal'): AbortSignal | undefined {
  if (value === undefined || value instanceof AbortSignal) return value;
  throw new ValidationError(`Invalid ${label(what, 'signal')} ${quote(value)}: expected an AbortSignal`);
}

/**
 * Check a required object argument (a question, a spec, a prepared setting): not absent, `null`, an array
 * or a primitive. For an options argument that may be absent, see {@link checkOptionsObject}.
 *
 * @param value - the argument as given
 * @param what - what it is, for the message
 * @returns the object
 * @throws {ValidationError} when not an object
 * @example
 * ```ts
 * checkObject(question, 'DNS question');
 * ```
 */
export function checkObject<T extends object>(value: T, what: string): T {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ValidationError(`Invalid ${label(what, 'argument')} ${quote(value)}: expected an object`);
  }
  return value;
}

/**
 * Check an optional function option (a callback, a custom transport).
 *
 * @throws {ValidationError} when set and not a function
 * @example
 * ```ts
 * const onEvent = checkFunction(options.onEvent, 'onEvent');
 * ```
 */
export function checkFunction<T>(value: T | undefined, what: string): T | undefined {
  if (value === undefined || typeof value === 'function') return value;
  throw new ValidationError(`Invalid ${label(what, 'option')} ${quote(value)}: expected a function`);
}

/**
 * Check an optional list of strings (host names, protocol names).
 *
 * @throws {ValidationError} when set and not an array of strings
 * @example
 * ```ts
 * checkStringArray(options.hosts, 'hosts');
 * ```
 */
export function checkStringArray(value: unknown, what: string): readonly string[] | undefined {
  if (value === undefined) return undefined;
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value;
  throw new ValidationError(`Invalid ${label(what, 'option')} ${quote(value)}: expected an array of strings`);
}

/**
 * Check the input list of a batch and copy it: an array or other iterable, not a string (whose characters are
 * not names). The items are the caller's to check.
 *
 * @param value - the list as given
 * @param what - what it is, for the message (`names`)
 * @returns its items, in an array of their own
 * @throws {ValidationError} when not an iterable object
 * @example
 * ```ts
 * const queries = checkList(names, 'names');
 * ```
 */
export function checkList<T>(value: Iterable<T>, what: string): T[] {
  if (
    value === null ||
    typeof value !== 'object' ||
    typeof (value as Iterable<T>)[Symbol.iterator] !== 'function'
  ) {
    throw new ValidationError(
      `Invalid ${label(what, 'list')} ${quote(value)}: expected an array (or other iterable)`,
    );
  }
  return [...value];
}

/**
 * Check an optional text-or-bytes option (PEM, a payload): a string or a `Uint8Array` (a `Buffer` is one).
 *
 * @throws {ValidationError} when set and neither
 * @example
 * ```ts
 * checkStringOrBytes(options.ca, 'ca');
 * ```
 */
export function checkStringOrBytes(value: unknown, what: string): string | Uint8Array | undefined {
  if (value === undefined || typeof value === 'string' || value instanceof Uint8Array) return value;
  throw new ValidationError(`Invalid ${label(what, 'option')} ${quote(value)}: expected a string or bytes`);
}

/** Options for {@link parsePort}. */
export interface PortOptions {
  /** Accept 0 ("pick a free port"), as listeners do. @default false */
  allowZero?: boolean;
  /** What the port is, for the message. @default 'port' */
  what?: string;
}

/**
 * Parse and check a TCP/UDP port number.
 *
 * @param value - a number or a decimal string
 * @param options - `allowZero` for listeners
 * @returns the port as a number
 * @throws {ValidationError} when not an integer from 1 (or 0) to 65535
 * @example
 * ```ts
 * parsePort('8080'); // 8080
 * parsePort('0', { allowZero: true }); // 0
 * ```
 */
export function parsePort(value: string | number, options: PortOptions = {}): number {
  const { allowZero = false, what = 'port' } = checkOptionsObject(options, 'port options');
  const min = allowZero ? 0 : 1;
  const text = numericText(value);
  const n = text !== undefined && INTEGER.test(text) ? Number(text) : Number.NaN;
  if (!Number.isInteger(n) || n < min || n > 65535) {
    throw new ValidationError(
      `Invalid ${label(what, 'port')} ${quote(value)}: expected an integer from ${min} to 65535`,
    );
  }
  return n;
}

/** Options for {@link parseInteger}. */
export interface IntegerOptions {
  /** Smallest accepted value. @default 0 */
  min?: number;
  /** Largest accepted value. @default Number.MAX_SAFE_INTEGER */
  max?: number;
}

/**
 * Parse and check an integer (a count, a size).
 *
 * @param value - a number or a decimal string
 * @param what - what it is, for the message (`--concurrency`)
 * @param options - `min` and `max`, inclusive
 * @returns the integer
 * @throws {ValidationError} when not an integer in range
 * @example
 * ```ts
 * parseInteger('16', '--concurrency', { min: 1, max: 1000 }); // 16
 * ```
 */
export function parseInteger(value: string | number, what: string, options: IntegerOptions = {}): number {
  const { min = 0, max = Number.MAX_SAFE_INTEGER } = checkOptionsObject(options, 'integer options');
  const text = numericText(value);
  const n = text !== undefined && INTEGER.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    const range =
      max === Number.MAX_SAFE_INTEGER ? `an integer of at least ${min}` : `an integer from ${min} to ${max}`;
    throw new ValidationError(`Invalid ${label(what, 'number')} ${quote(value)}: expected ${range}`);
  }
  return n;
}

const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/i;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Options for {@link parseDuration}. */
export interface DurationOptions {
  /** Accept 0. @default true */
  allowZero?: boolean;
  /** Largest accepted value in milliseconds. @default 2147483647 (the largest Node timer) */
  maxMs?: number;
}

/**
 * Parse a duration in milliseconds. A bare number is milliseconds; the suffixes `ms`, `s`, `m` and `h` are
 * accepted (`1.5s` is 1500).
 *
 * @param value - a number of ms or a string like `500`, `250ms`, `2s`
 * @param what - what it is, for the message (`--timeout`)
 * @returns whole milliseconds
 * @throws {ValidationError} when negative, not a number, or too large for a timer
 * @example
 * ```ts
 * parseDuration('2s', '--timeout'); // 2000
 * ```
 */
export function parseDuration(
  value: string | number,
  what = 'duration',
  options: DurationOptions = {},
): number {
  const { allowZero = true, maxMs = 2_147_483_647 } = checkOptionsObject(options, 'duration options');
  let ms: number;
  if (typeof value === 'number') {
    ms = value;
  } else if (typeof value !== 'string') {
    ms = Number.NaN;
  } else {
    const m = DURATION.exec(value.trim());
    ms = m ? Number(m[1]) * (UNIT_MS[(m[2] ?? 'ms').toLowerCase()] ?? 1) : Number.NaN;
  }
  if (!Number.isFinite(ms) || ms < 0 || (!allowZero && ms === 0) || ms > maxMs) {
    throw new ValidationError(
      `Invalid ${label(what, 'duration')} ${quote(value)}: expected ${allowZero ? 'a' : 'a positive'} duration in ms (or with s, m, h) up to ${maxMs} ms`,
    );
  }
  return Math.round(ms);
}

/** Options for {@link parseTimeout}. */
export interface TimeoutCheckOptions {
  /** What it is, for the message. @default 'timeout' */
  what?: string;
}

/**
 * Check a library `timeout` option: a finite, non-negative number of ms, or `undefined`/`0` for none.
 *
 * @param value - the option as given
 * @returns the timeout in ms, or `undefined` when there is none
 * @throws {ValidationError} when negative or not a number
 * @example
 * ```ts
 * checkTimeout(5000); // 5000
 * checkTimeout(undefined); // undefined
 * ```
 */
export function checkTimeout(
  value: number | undefined,
  options: TimeoutCheckOptions = {},
): number | undefined {
  if (value === undefined || value === 0) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > 2_147_483_647) {
    throw new ValidationError(
      `Invalid ${label(checkOptionsObject(options, 'timeout options').what, 'timeout')} ${quote(value)}: expected a non-negative number of ms up to 2147483647`,
    );
  }
  return value;
}

const LABEL = /^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$/;

/**
 * Whether a string is a syntactically valid host name (RFC 1123 labels, underscores tolerated for SRV-style
 * names, a trailing dot allowed).
 *
 * @example
 * ```ts
 * isHostname('www.example.com'); // true
 * isHostname('bad..name'); // false
 * ```
 */
export function isHostname(value: string): boolean {
  if (typeof value !== 'string') return false;
  const name = value.endsWith('.') ? value.slice(0, -1) : value;
  if (name.length === 0 || name.length > 253) return false;
  const labels = name.split('.');
  // A name whose last label is all digits would be read as an IPv4 address by resolvers and browsers alike
  // (`999.1.1.1`, `1.2.3`): it is a malformed address, not a name (no top-level domain is numeric).
  if (/^\d+$/.test(labels[labels.length - 1] ?? '')) return false;
  return labels.every((label) => LABEL.test(label));
}

/**
 * Check a host given by a user: an IPv4 or IPv6 address (brackets removed) or a host name.
 *
 * @param value - `example.com`, `127.0.0.1`, `::1` or `[::1]`
 * @param what - what it is, for the message
 * @returns the host without brackets
 * @throws {ValidationError} when empty or neither an address nor a valid name
 * @example
 * ```ts
 * parseHost('[::1]'); // '::1'
 * ```
 */
export function parseHost(value: string, what = 'host'): string {
  if (typeof value !== 'string') {
    throw new ValidationError(
      `Invalid ${label(what, 'host')} ${quote(value)}: expected a host name or an IP address`,
    );
  }
  what = label(what, 'host');
  const v = value.trim();
  const unbracketed = v.startsWith('[') && v.endsWith(']') ? v.slice(1, -1) : v;
  if (unbracketed.length === 0) throw new ValidationError(`Invalid ${what}: must not be empty`);
  if (isIP(unbracketed) !== 0) return unbracketed;
  if (unbracketed.includes('%') && isIP(unbracketed.split('%')[0] ?? '') === 6) return unbracketed;
  if (/^[\d.]+$/.test(unbracketed)) {
    throw new ValidationError(`Invalid ${what} ${quote(value)}: not a valid IPv4 address`);
  }
  if (!isHostname(unbracketed)) {
    throw new ValidationError(`Invalid ${what} ${quote(value)}: not an IP address or a valid host name`);
  }
  return unbracketed;
}

/** An IP address with its family. */
export interface ParsedAddress {
  address: string;
  family: 4 | 6;
}

/**
 * Check an IP address (IPv4 or IPv6, brackets allowed).
 *
 * @param value - `192.0.2.1`, `2001:db8::1` or `[2001:db8::1]`
 * @returns the address and its family
 * @throws {ValidationError} when not an IP address
 * @example
 * ```ts
 * parseAddress('::1'); // { address: '::1', family: 6 }
 * ```
 */
export function parseAddress(value: string, what = 'IP address'): ParsedAddress {
  what = label(what, 'IP address');
  const v = checkString(value, what).trim();
  const unbracketed = v.startsWith('[') && v.endsWith(']') ? v.slice(1, -1) : v;
  const family = isIP(unbracketed);
  if (family === 0) throw new ValidationError(`Invalid ${what} ${quote(value)}: not an IPv4 or IPv6 address`);
  return { address: unbracketed, family: family as 4 | 6 };
}

/** A host and port, as given to listeners (`[HOST:]PORT`) and clients (`HOST:PORT`). */
export interface HostPort {
  host: string;
  port: number;
}

/** Options for {@link parseHostPort}. */
export interface HostPortOptions {
  /** Host to use when only a port is given. When absent, the host is required. */
  defaultHost?: string;
  /** Port to use when only a host is given. When absent, the port is required. */
  defaultPort?: number;
  /** Accept port 0. @default false */
  allowZero?: boolean;
}

/**
 * Parse `HOST:PORT`, `[IPv6]:PORT`, a bare `PORT` (with `defaultHost`) or a bare host (with `defaultPort`).
 * A bare IPv6 address without brackets is taken as a host.
 *
 * @returns host (without brackets) and port
 * @throws {ValidationError} on a bad host or port, or a missing part without a default
 * @example
 * ```ts
 * parseHostPort('8080', { defaultHost: '127.0.0.1' }); // { host: '127.0.0.1', port: 8080 }
 * parseHostPort('[::1]:53'); // { host: '::1', port: 53 }
 * ```
 */
export function parseHostPort(value: string, options: HostPortOptions = {}): HostPort {
  checkOptionsObject(options, 'address options');
  const v = checkString(value, 'address').trim();
  const portOpts = { allowZero: options.allowZero ?? false };
  if (v.length === 0) throw new ValidationError('Invalid address: must not be empty');
  if (/^\d+$/.test(v)) {
    if (options.defaultHost === undefined) {
      throw new ValidationError(`Invalid address ${quote(value)}: expected HOST:PORT`);
    }
    return { host: options.defaultHost, port: parsePort(v, portOpts) };
  }
  let host: string;
  let port: string | undefined;
  const bracket = /^\[([^\]]+)\](?::(.*))?$/.exec(v);
  if (bracket) {
    host = bracket[1] ?? '';
    port = bracket[2];
  } else if (isIP(v) === 6 || (v.match(/:/g)?.length ?? 0) > 1) {
    host = v;
  } else {
    const i = v.lastIndexOf(':');
    host = i === -1 ? v : v.slice(0, i);
    port = i === -1 ? undefined : v.slice(i + 1);
  }
  const h = parseHost(host);
  if (port === undefined || port === '') {
    if (options.defaultPort === undefined)
      throw new ValidationError(`Invalid address ${quote(value)}: missing port`);
    return { host: h, port: options.defaultPort };
  }
  return { host: h, port: parsePort(port, portOpts) };
}

/**
 * Format a host and port for messages: `127.0.0.1:80`, `[::1]:80`.
 *
 * @example
 * ```ts
 * formatHostPort('::1', 53); // '[::1]:53'
 * ```
 */
export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * Check that exactly one of several mutually exclusive options is set, or none.
 *
 * @param options - option name → whether it is set
 * @throws {ValidationError} naming the conflicting options
 * @example
 * ```ts
 * exclusive({ '-4': true, '-6': false }); // ok
 * ```
 */
export function exclusive(options: Record<string, boolean | undefined>): void {
  const set = Object.entries(options)
    .filter(([, on]) => on)
    .map(([name]) => name);
  if (set.length > 1) throw new ValidationError(`Options ${set.join(' and ')} cannot be used together`);
}
