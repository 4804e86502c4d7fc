/**
 * Small pieces shared by the DNS codec files: a bounds-checked reader over a message (every read past its
 * limit is a `BadPacketError` naming what was read and where), a growing writer, IP address and base32hex
 * text, and the character-string escaping of zone files.
 *
 * @module
 * @internal
 */
import { isIPv4, isIPv6 } from 'node:net';
import { BadPacketError, ValidationError } from '../core/errors.js';
import { readName, type WireName } from './dns-name.js';

/**
 * Reads fields from `msg` between `pos` and `limit`; names may point anywhere before them in `msg`.
 * @internal
 */
export class WireReader {
  pos: number;
  constructor(
    readonly msg: Uint8Array,
    start: number,
    readonly limit: number,
    /** What is being read, for messages: `A record at offset 40` (a function: built only on failure). */
    readonly what: string | (() => string),
  ) {
    this.pos = start;
  }

  fail(field: string, detail = 'runs past the end of its data'): never {
    throw new BadPacketError(
      `${typeof this.what === 'string' ? this.what : this.what()}: ${field} ${detail}`,
    );
  }

  need(n: number, field: string): void {
    if (this.pos + n > this.limit) this.fail(field);
  }

  u8(field: string): number {
    this.need(1, field);
    return this.msg[this.pos++] as number;
  }

  u16(field: string): number {
    this.need(2, field);
    const v = ((this.msg[this.pos] as number) << 8) | (this.msg[this.pos + 1] as number);
    this.pos += 2;
    return v;
  }

  u32(field: string): number {
    this.need(4, field);
    const m = this.msg;
    const p = this.pos;
    const v =
      (((m[p] as number) << 24) >>> 0) +
      ((m[p + 1] as number) << 16) +
      ((m[p + 2] as number) << 8) +
      (m[p + 3] as number);
    this.pos += 4;
    return v;
  }

  bytes(n: number, field: string): Uint8Array {
    this.need(n, field);
    const out = this.msg.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  rest(): Uint8Array {
    return this.bytes(this.limit - this.pos, 'data');
  }

  /** A character-string: a length byte and that many bytes. */
  string(field: string): Uint8Array {
    const len = this.u8(`${field} length`);
    return this.bytes(len, field);
  }

  name(field: string, compression: boolean): WireName {
    if (this.pos >= this.limit) this.fail(field);
    const n = readName(this.msg, this.pos, compression);
    if (n.end > this.limit) this.fail(field);
    this.pos = n.end;
    return n;
  }

  remaining(): number {
    return this.limit - this.pos;
  }

  /** Fail unless everything up to the limit was read. */
  end(): void {
    if (this.pos !== this.limit) {
      this.fail(
        `${this.limit - this.pos} byte${this.limit - this.pos === 1 ? '' : 's'}`,
        'left over after the last field',
      );
    }
  }
}

/**
 * Appends bytes to a growing buffer.
 * @internal
 */
export class WireWriter {
  #buf = new Uint8Array(512);
  length = 0;

  #room(n: number): void {
    if (this.length + n <= this.#buf.length) return;
    let size = this.#buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.#buf.subarray(0, this.length));
    this.#buf = next;
  }

  u8(v: number): void {
    this.#room(1);
    this.#buf[this.length++] = v & 0xff;
  }

  u16(v: number): void {
    this.#room(2);
    this.#buf[this.length++] = (v >>> 8) & 0xff;
    this.#buf[this.length++] = v & 0xff;
  }

  u32(v: number): void {
    this.#room(4);
    this.#buf[this.length++] = (v >>> 24) & 0xff;
    this.#buf[this.length++] = (v >>> 16) & 0xff;
    this.#buf[this.length++] = (v >>> 8) & 0xff;
    this.#buf[this.length++] = v & 0xff;
  }

  bytes(b: Uint8Array): void {
    this.#room(b.length);
    this.#buf.set(b, this.length);
    this.length += b.length;
  }

  /** Write a u16 at an earlier position (a length filled in afterwards). */
  patch16(at: number, v: number): void {
    this.#buf[at] = (v >>> 8) & 0xff;
    this.#buf[at + 1] = v & 0xff;
  }

  /** A character-string (length byte, then the bytes). */
  string(b: Uint8Array, field: string): void {
    if (b.length > 255) {
      throw new ValidationError(`${field} is ${b.length} bytes; a character-string holds at most 255`);
    }
    this.u8(b.length);
    this.bytes(b);
  }

  result(): Uint8Array {
    return this.#buf.slice(0, this.length);
  }
}

/** Unsigned 16/32-bit integers for the encoder: checked, never wrapped. */
export function checkUint(value: number, bits: 8 | 16 | 32, field: string): number {
  const max = bits === 32 ? 0xffffffff : (1 << bits) - 1;
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new ValidationError(`Invalid ${field} ${String(value)}: expected an integer from 0 to ${max}`);
  }
  return value;
}

/** `192.0.2.1` from 4 bytes. */
export function ipv4Text(b: Uint8Array, at = 0): string {
  return `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
}

/**
 * An IPv6 address as text (RFC 5952: lower case, the longest run of two or more zero groups as `::`), with
 * the last 32 bits in dotted form for IPv4-mapped (`::ffff:192.0.2.1`) and IPv4-compatible addresses, as BIND
 * (and so dig) prints them.
 */
export function ipv6Text(b: Uint8Array): string {
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push(((b[i] as number) << 8) | (b[i + 1] as number));
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestLen < 2) bestStart = -1;
  const v4 =
    bestStart === 0 && (bestLen === 6 || (bestLen === 5 && words[5] === 0xffff))
      ? ipv4Text(b.subarray(12, 16))
      : undefined;
  let out = '';
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      out += '::';
      i += bestLen - 1;
      continue;
    }
    if (v4 !== undefined && i === 6) {
      out += `${out.endsWith(':') ? '' : ':'}${v4}`;
      break;
    }
    if (out.length > 0 && !out.endsWith(':')) out += ':';
    out += (words[i] as number).toString(16);
  }
  return out;
}

/** 4 bytes from `192.0.2.1`. */
export function ipv4Bytes(text: string, field: string): Uint8Array {
  if (!isIPv4(text)) throw new ValidationError(`Invalid ${field} '${text}': expected an IPv4 address`);
  return Uint8Array.from(text.split('.').map(Number));
}

/** 16 bytes from an IPv6 address (with `::` and an optional dotted IPv4 tail; a zone index is dropped). */
export function ipv6Bytes(text: string, field: string): Uint8Array {
  let t = text.split('%')[0] ?? '';
  if (!isIPv6(t)) throw new ValidationError(`Invalid ${field} '${text}': expected an IPv6 address`);
  let tail: number[] = [];
  const lastColon = t.lastIndexOf(':');
  const last = t.slice(lastColon + 1);
  if (last.includes('.')) {
    const v4 = ipv4Bytes(last, field);
    tail = [((v4[0] as number) << 8) | (v4[1] as number), ((v4[2] as number) << 8) | (v4[3] as number)];
    t = t.slice(0, lastColon + 1);
    if (!t.endsWith('::')) t = t.slice(0, -1);
  }
  const parse = (s: string) => (s === '' ? [] : s.split(':').map((g) => Number.parseInt(g, 16)));
  const gap = t.indexOf('::');
  let words: number[];
  if (gap < 0) words = [...parse(t), ...tail];
  else {
    const left = parse(t.slice(0, gap));
    const right = parse(t.slice(gap + 2));
    const fill = 8 - left.length - right.length - tail.length;
    words = [...left, ...new Array<number>(fill).fill(0), ...right, ...tail];
  }
  const out = new Uint8Array(16);
  words.forEach((w, i) => {
    out[2 * i] = (w >>> 8) & 0xff;
    out[2 * i + 1] = w & 0xff;
  });
  return out;
}

const B32HEX = '0123456789ABCDEFGHIJKLMNOPQRSTUV';

/** Base32 with the extended hex alphabet, upper case, no padding (RFC 4648 §7; NSEC3 hashed names). */
export function base32hex(b: Uint8Array): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const byte of b) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += B32HEX[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    value &= (1 << bits) - 1;
  }
  if (bits > 0) out += B32HEX[(value << (5 - bits)) & 31];
  return out;
}

/** The bytes of a base32hex string (case-insensitive, padding ignored). */
export function fromBase32hex(text: string, field: string): Uint8Array {
  const clean = text.toUpperCase().replace(/=+$/, '');
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (const c of clean) {
    const v = B32HEX.indexOf(c);
    if (v < 0) throw new ValidationError(`Invalid ${field} '${text}': not base32hex`);
    value = (value << 5) | v;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
    value &= (1 << bits) - 1;
  }
  return Uint8Array.from(out);
}

/** Upper-case hex of bytes (`-` is not added here). */
export function hexUpper(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex').toUpperCase();
}

/** Bytes of a hex string (white space ignored). */
export function fromHex(text: string, field: string): Uint8Array {
  const clean = text.replace(/\s+/g, '');
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(clean)) {
    throw new ValidationError(`Invalid ${field} '${text}': expected an even number of hex digits`);
  }
  return new Uint8Array(Buffer.from(clean, 'hex'));
}

/** Base64 of bytes. */
export function base64(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');
}

/** Bytes of a base64 string (white space ignored). */
export function fromBase64(text: string, field: string): Uint8Array {
  const clean = text.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(clean) || clean.length % 4 === 1) {
    throw new ValidationError(`Invalid ${field}: not base64`);
  }
  return new Uint8Array(Buffer.from(clean, 'base64'));
}

/**
 * The inside of a quoted character-string as zone files and dig show it: `"` and `\` escaped with a
 * backslash, bytes outside printable ASCII (and so every control character) as `\DDD`.
 */
export function escapeString(b: Uint8Array): string {
  let s = '';
  for (const c of b) {
    if (c === 0x22 || c === 0x5c) s += `\\${String.fromCharCode(c)}`;
    else if (c >= 0x20 && c < 0x7f) s += String.fromCharCode(c);
    else s += `\\${String(c).padStart(3, '0')}`;
  }
  return s;
}

/** A character-string in quotes, escaped (see {@link escapeString}). */
export function quoteString(b: Uint8Array): string {
  return `"${escapeString(b)}"`;
}

const decoder = new TextDecoder('utf-8');
const encoder = new TextEncoder();

/** Bytes as text for structured fields: UTF-8 (invalid sequences become U+FFFD; `rdata` keeps the bytes). */
export function utf8(b: Uint8Array): string {
  return decoder.decode(b);
}

/** Text as UTF-8 bytes. */
export function utf8Bytes(s: string): Uint8Array {
  return encoder.encode(s);
}
