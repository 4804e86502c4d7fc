/**
 * Domain names (RFC 1035 §3.1, §4.1.4, §5.1): the wire form (length-prefixed labels, a zero byte for the
 * root, compression pointers when reading a message) and the presentation form (`www.example.test.`, with
 * `\.`, `\\` and `\DDD` escapes for bytes that are not plain printable ASCII, as dig and zone files show them).
 *
 * Reading never trusts the message: a pointer must point strictly before the previous one (so compression
 * loops and forward pointers are impossible), labels must lie inside the message, the 0x40/0x80 label types are
 * rejected, and a name longer than 255 bytes on the wire is an error — each a `BadPacketError` naming the offset.
 * Names given as text are checked the same way (`ValidationError`: label over 63 bytes, name over 255).
 *
 * Presentation names in soket are absolute: they end with a dot (`.` is the root). Case is kept as received.
 *
 * @module
 */
import { BadPacketError, ValidationError } from '../core/errors.js';

/** Longest label, in bytes (RFC 1035 §2.3.4). */
export const MAX_LABEL_LENGTH = 63;

/** Longest name on the wire, in bytes, length bytes and the root's zero byte included (RFC 1035 §2.3.4). */
export const MAX_NAME_LENGTH = 255;

/** A name read from a message. */
export interface WireName {
  /** Presentation form, absolute: `www.example.test.` or `.`. */
  name: string;
  /** The uncompressed wire form (labels and the final zero byte), case as received. */
  wire: Uint8Array;
  /** Offset just past the name where it was read (past its first pointer, if compressed). */
  end: number;
}

/** Bytes that stand for themselves in a label; everything else is escaped. */
function plain(b: number): boolean {
  return (
    b > 0x20 && b < 0x7f && b !== 0x22 && b !== 0x28 && b !== 0x29 && b !== 0x2e && b !== 0x3b && b !== 0x5c
  );
}

/**
 * The presentation form of one label: printable ASCII as is; `.`, `"`, `(`, `)`, `;` and `\` with a backslash;
 * any other byte as `\DDD` (decimal).
 *
 * @example
 * ```ts
 * labelText(new TextEncoder().encode('a.b')); // 'a\\.b'
 * ```
 */
export function labelText(label: Uint8Array): string {
  let simple = true;
  for (let i = 0; i < label.length; i++) {
    if (!plain(label[i] as number)) {
      simple = false;
      break;
    }
  }
  if (simple) return String.fromCharCode.apply(null, label as unknown as number[]);
  let s = '';
  for (const b of label) {
    if (plain(b)) s += String.fromCharCode(b);
    else if (b > 0x20 && b < 0x7f) s += `\\${String.fromCharCode(b)}`;
    else s += `\\${String(b).padStart(3, '0')}`;
  }
  return s;
}

/**
 * The presentation form of a name given as labels.
 *
 * @param labels - the labels, without the root's empty label
 * @returns `www.example.test.`, or `.` for the root
 * @example
 * ```ts
 * formatDnsName([new TextEncoder().encode('example'), new TextEncoder().encode('test')]); // 'example.test.'
 * ```
 */
export function formatDnsName(labels: readonly Uint8Array[]): string {
  if (labels.length === 0) return '.';
  return `${labels.map(labelText).join('.')}.`;
}

/**
 * Parse a name in presentation form into its labels: `\.`, `\\` and `\DDD` escapes, an optional final dot
 * (every name is taken as absolute), characters beyond ASCII as their UTF-8 bytes (convert internationalised
 * names to their `xn--` form first).
 *
 * @param text - `www.example.test`, `www.example.test.`, `.`, `a\.b.example.`
 * @returns the labels (none for the root)
 * @throws {ValidationError} for an empty label, a label over 63 bytes, a name over 255 bytes, a bad escape
 * @example
 * ```ts
 * parseDnsName('www.example.test').length; // 3
 * ```
 */
export function parseDnsName(text: string): Uint8Array[] {
  if (typeof text !== 'string' || text.length === 0) {
    throw new ValidationError('Invalid name: must not be empty');
  }
  if (text === '.') return [];
  if (PLAIN_NAME.test(text)) return plainLabels(text);
  const labels: Uint8Array[] = [];
  let current: number[] = [];
  let total = 1;
  const fail = (why: string): never => {
    throw new ValidationError(`Invalid name '${text}': ${why}`);
  };
  const finish = () => {
    if (current.length === 0) fail('empty label (two dots in a row, or a leading dot)');
    if (current.length > MAX_LABEL_LENGTH) {
      fail(
        `label '${labelText(Uint8Array.from(current))}' is ${current.length} bytes, the limit is ${MAX_LABEL_LENGTH}`,
      );
    }
    total += current.length + 1;
    labels.push(Uint8Array.from(current));
    current = [];
  };
  const utf8 = ENCODER;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (c === '.') {
      finish();
      continue;
    }
    if (c === '\\') {
      const next = text[i + 1];
      if (next === undefined) fail('ends with a lone backslash');
      if (/^\d$/.test(next as string)) {
        const digits = text.slice(i + 1, i + 4);
        if (!/^\d{3}$/.test(digits)) fail(`escape '\\${digits}' needs three decimal digits`);
        const value = Number(digits);
        if (value > 255) fail(`escape '\\${digits}' is over 255`);
        current.push(value);
        i += 3;
      } else {
        current.push(...utf8.encode(next as string));
        i += 1;
      }
      continue;
    }
    const code = c.charCodeAt(0);
    if (code < 0x80) current.push(code);
    else {
      const cp = text.codePointAt(i) as number;
      const ch = String.fromCodePoint(cp);
      current.push(...utf8.encode(ch));
      i += ch.length - 1;
    }
  }
  if (current.length > 0) finish();
  if (total > MAX_NAME_LENGTH) fail(`it is ${total} bytes on the wire, the limit is ${MAX_NAME_LENGTH}`);
  return labels;
}

const ENCODER = new TextEncoder();

/** A name without escapes or other bytes: letters, digits, '-' and '_' labels, an optional final dot. */
const PLAIN_NAME = /^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\.?$/;

/**
 * The wire length of a plain name — labels of letters, digits, `-` and `_`, an optional final dot — that is
 * within the limits (63 bytes a label, 255 in all), or -1 for any other text (escapes, other bytes, the root,
 * a label or name too long: {@link parseDnsName} says what is wrong). Nothing is allocated: a batch checks
 * thousands of names with it.
 *
 * @example
 * ```ts
 * plainNameWireLength('www.example.test'); // 18
 * plainNameWireLength('a\\.b'); // -1
 * ```
 * @internal
 */
export function plainNameWireLength(text: string): number {
  if (!PLAIN_NAME.test(text)) return -1;
  let label = 0;
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) === 0x2e) label = 0;
    else if (++label > MAX_LABEL_LENGTH) return -1;
  }
  const wire = text.charCodeAt(text.length - 1) === 0x2e ? text.length + 1 : text.length + 2;
  return wire > MAX_NAME_LENGTH ? -1 : wire;
}

/** The labels of a plain name, checked for the limits (the common case, without the general parser). */
function plainLabels(text: string): Uint8Array[] {
  const parts = (text.endsWith('.') ? text.slice(0, -1) : text).split('.');
  const labels: Uint8Array[] = [];
  let total = 1;
  for (const part of parts) {
    if (part.length > MAX_LABEL_LENGTH) {
      throw new ValidationError(
        `Invalid name '${text}': label '${part}' is ${part.length} bytes, the limit is ${MAX_LABEL_LENGTH}`,
      );
    }
    total += part.length + 1;
    const label = new Uint8Array(part.length);
    for (let i = 0; i < part.length; i++) label[i] = part.charCodeAt(i);
    labels.push(label);
  }
  if (total > MAX_NAME_LENGTH) {
    throw new ValidationError(
      `Invalid name '${text}': it is ${total} bytes on the wire, the limit is ${MAX_NAME_LENGTH}`,
    );
  }
  return labels;
}

/**
 * A name's uncompressed wire form.
 *
 * @param name - presentation form (see {@link parseDnsName}) or labels
 * @returns length-prefixed labels and the final zero byte
 * @throws {ValidationError} for a name that cannot be encoded
 * @example
 * ```ts
 * Buffer.from(nameToWire('a.test')).toString('hex'); // '0161047465737400'
 * ```
 */
export function nameToWire(name: string | readonly Uint8Array[]): Uint8Array {
  const labels = typeof name === 'string' ? parseDnsName(name) : name;
  let size = 1;
  for (const l of labels) size += l.length + 1;
  const out = new Uint8Array(size);
  let p = 0;
  for (const l of labels) {
    out[p++] = l.length;
    out.set(l, p);
    p += l.length;
  }
  out[p] = 0;
  return out;
}

/**
 * The labels of a name in uncompressed wire form.
 *
 * @throws {BadPacketError} when the bytes are not exactly one uncompressed name
 * @example
 * ```ts
 * wireToLabels(nameToWire('a.test')).length; // 2
 * ```
 */
export function wireToLabels(wire: Uint8Array): Uint8Array[] {
  const labels: Uint8Array[] = [];
  let p = 0;
  for (;;) {
    const len = wire[p];
    if (len === undefined) throw new BadPacketError('Name in wire form has no final zero byte');
    if (len === 0) break;
    if (len > MAX_LABEL_LENGTH) throw new BadPacketError(`Label length ${len} in an uncompressed name`);
    if (p + 1 + len > wire.length) throw new BadPacketError('Label runs past the end of the name');
    labels.push(wire.subarray(p + 1, p + 1 + len));
    p += 1 + len;
  }
  if (p + 1 !== wire.length) throw new BadPacketError('Bytes after the end of a name in wire form');
  return labels;
}

/**
 * Read a (possibly compressed) name from a message.
 *
 * @param msg - the whole message (pointers are offsets into it)
 * @param start - where the name starts
 * @param allowCompression - whether pointers may appear (RFC 3597 §4: only in the well-known types' RDATA)
 * @returns the name's presentation form, its uncompressed wire form and where reading stopped
 * @throws {BadPacketError} for a name past the end, a forward or looping pointer, a reserved label type, or a
 *   name over 255 bytes
 * @example
 * ```ts
 * readName(message, 12).name; // 'www.example.test.'
 * ```
 */
export function readName(msg: Uint8Array, start: number, allowCompression = true): WireName {
  const { parts, end } = readLabels(msg, start, allowCompression);
  return { name: formatDnsName(parts), wire: nameToWire(parts), end };
}

/** Names already read in one message, by offset: their text (`label.` per label) and wire length. @internal */
export type NameMemo = Map<number, { text: string; size: number }>;

/**
 * Read a name's presentation form only (no wire copy), for owner names and questions. With `memo`, a pointer
 * to a name already read in this message (most owners point at the question) reuses its text.
 * @internal
 */
export function readNameText(msg: Uint8Array, start: number, memo?: NameMemo): { name: string; end: number } {
  let text = '';
  let pos = start;
  let end = -1;
  let lowest = start;
  let total = 1;
  for (;;) {
    const len = msg[pos];
    if (len === undefined) {
      throw new BadPacketError(
        `Name at offset ${start} runs past the end of the message (${msg.length} bytes)`,
      );
    }
    if (len === 0) {
      if (end < 0) end = pos + 1;
      break;
    }
    const kind = len & 0xc0;
    if (kind === 0xc0) {
      const low = msg[pos + 1];
      if (low === undefined) {
        throw new BadPacketError(`Compression pointer at offset ${pos} runs past the end of the message`);
      }
      const target = ((len & 0x3f) << 8) | low;
      if (end < 0) end = pos + 2;
      if (target >= lowest) {
        throw new BadPacketError(
          `Compression pointer at offset ${pos} points to ${target}, not before ${lowest} (a loop or a forward pointer)`,
        );
      }
      const known = memo?.get(target);
      if (known) {
        total += known.size - 1;
        if (total > MAX_NAME_LENGTH) {
          throw new BadPacketError(`Name at offset ${start} is longer than ${MAX_NAME_LENGTH} bytes`);
        }
        text += known.text;
        break;
      }
      lowest = target;
      pos = target;
      continue;
    }
    if (kind !== 0) throw new BadPacketError(`Reserved label type 0x${kind.toString(16)} at offset ${pos}`);
    if (pos + 1 + len > msg.length) {
      throw new BadPacketError(
        `Label at offset ${pos} runs past the end of the message (${msg.length} bytes)`,
      );
    }
    total += len + 1;
    if (total > MAX_NAME_LENGTH) {
      throw new BadPacketError(`Name at offset ${start} is longer than ${MAX_NAME_LENGTH} bytes`);
    }
    let label = '';
    let simple = true;
    for (let i = pos + 1; i <= pos + len; i++) {
      const b = msg[i] as number;
      if (!plain(b)) {
        simple = false;
        break;
      }
      label += String.fromCharCode(b);
    }
    text += `${simple ? label : labelText(msg.subarray(pos + 1, pos + 1 + len))}.`;
    pos += 1 + len;
  }
  memo?.set(start, { text, size: total });
  return { name: text === '' ? '.' : text, end };
}

function readLabels(
  msg: Uint8Array,
  start: number,
  allowCompression: boolean,
): { parts: Uint8Array[]; end: number } {
  const parts: Uint8Array[] = [];
  let pos = start;
  let end = -1;
  let lowest = start;
  let total = 1;
  for (;;) {
    const len = msg[pos];
    if (len === undefined) {
      throw new BadPacketError(
        `Name at offset ${start} runs past the end of the message (${msg.length} bytes)`,
      );
    }
    if (len === 0) {
      if (end < 0) end = pos + 1;
      break;
    }
    const kind = len & 0xc0;
    if (kind === 0xc0) {
      if (!allowCompression) {
        throw new BadPacketError(`Name at offset ${start} is compressed where compression is not allowed`);
      }
      const low = msg[pos + 1];
      if (low === undefined) {
        throw new BadPacketError(`Compression pointer at offset ${pos} runs past the end of the message`);
      }
      const target = ((len & 0x3f) << 8) | low;
      if (end < 0) end = pos + 2;
      if (target >= lowest) {
        throw new BadPacketError(
          `Compression pointer at offset ${pos} points to ${target}, not before ${lowest} (a loop or a forward pointer)`,
        );
      }
      lowest = target;
      pos = target;
      continue;
    }
    if (kind !== 0) {
      throw new BadPacketError(`Reserved label type 0x${kind.toString(16)} at offset ${pos}`);
    }
    if (pos + 1 + len > msg.length) {
      throw new BadPacketError(
        `Label at offset ${pos} runs past the end of the message (${msg.length} bytes)`,
      );
    }
    total += len + 1;
    if (total > MAX_NAME_LENGTH) {
      throw new BadPacketError(`Name at offset ${start} is longer than ${MAX_NAME_LENGTH} bytes`);
    }
    parts.push(msg.subarray(pos + 1, pos + 1 + len));
    pos += 1 + len;
  }
  return { parts, end };
}

/**
 * Lower-case ASCII letters only (DNS names compare case-insensitively in ASCII, RFC 4343).
 *
 * @example
 * ```ts
 * lowerName('WWW.Example.TEST.'); // 'www.example.test.'
 * ```
 */
export function lowerName(name: string): string {
  return name.replace(/[A-Z]/g, (c) => c.toLowerCase());
}

/**
 * Whether two presentation names are the same name (ASCII case-insensitive; a missing final dot is added).
 *
 * @example
 * ```ts
 * sameName('WWW.example.test', 'www.example.test.'); // true
 * ```
 */
export function sameName(a: string, b: string): boolean {
  const abs = (n: string) => (n.endsWith('.') && !n.endsWith('\\.') ? n : `${n}.`);
  return lowerName(abs(a)) === lowerName(abs(b));
}

/**
 * Writes names into a message being built, compressing owner names against names already written
 * (RFC 1035 §4.1.4). Only offsets below 0x4000 can be pointed to.
 * @internal
 */
export class NameCompressor {
  readonly #seen = new Map<string, number>();

  /**
   * The wire bytes for `labels` written at `offset`, pointing at an earlier suffix where one exists.
   */
  encode(labels: readonly Uint8Array[], offset: number, compress: boolean): Uint8Array {
    const chunks: number[] = [];
    for (let i = 0; i < labels.length; i++) {
      const key = labels
        .slice(i)
        .map((l) => lowerName(labelText(l)))
        .join('.');
      const at = compress ? this.#seen.get(key) : undefined;
      if (at !== undefined) {
        chunks.push(0xc0 | (at >> 8), at & 0xff);
        return Uint8Array.from(chunks);
      }
      const here = offset + chunks.length;
      if (compress && here < 0x4000) this.#seen.set(key, here);
      const label = labels[i] as Uint8Array;
      chunks.push(label.length, ...label);
    }
    chunks.push(0);
    return Uint8Array.from(chunks);
  }
}
