/**
 * Cutting a byte stream (stdin, a file, a pipe) into datagrams: one per line, the whole stream as one, or
 * fixed-size pieces. A datagram is a message with its own boundaries, so a stream has to be cut somewhere;
 * `nc -u` sends whatever each `read(2)` returned, which depends on timing. soket cuts on purpose.
 *
 * @module
 */
import { ValidationError } from '../core/errors.js';
import { checkBoolean, checkOptionsObject, describeValue } from '../core/validate.js';

/** How a stream is cut: `line` (each line one datagram, without its `\n` or `\r\n`), `none`, or a size. */
export type DatagramSplit = 'line' | 'none' | number;

/** The largest datagram {@link splitDatagrams} makes by default (IPv4's largest UDP payload). */
export const MAX_SPLIT_DATAGRAM = 65_507;

/**
 * Check a `--split` value: `line`, `none`, or a size in bytes from 1 to 65,527.
 *
 * @param value - `line`, `none`, `512`, or a number
 * @returns the split
 * @throws {ValidationError} otherwise
 * @example
 * ```ts
 * parseDatagramSplit('512'); // 512
 * ```
 */
export function parseDatagramSplit(value: string | number, what = 'split'): DatagramSplit {
  if (value === 'line' || value === 'none') return value;
  const n =
    typeof value === 'number'
      ? value
      : typeof value === 'string' && /^\d+$/.test(value.trim())
        ? Number(value)
        : Number.NaN;
  if (!Number.isInteger(n) || n < 1 || n > 65_527) {
    throw new ValidationError(
      `Invalid ${what} '${describeValue(value)}': expected line, none, or a datagram size in bytes from 1 to 65527`,
    );
  }
  return n;
}

/** Options of {@link splitDatagrams}. */
export interface SplitOptions {
  /** How to cut. @default 'line' */
  split?: DatagramSplit;
  /** The largest datagram allowed: a longer line, or a whole stream (`none`), is an error. @default 65507 */
  maxSize?: number;
  /** `line`: keep each line's `\n` (and `\r`) in its datagram, as netcat sends lines. @default false */
  keepNewline?: boolean;
}

function toBytes(chunk: Uint8Array | string): Uint8Array {
  return typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
}

/**
 * Cut a stream of chunks into datagrams.
 *
 * - `line`: each `\n`-terminated line is one datagram without its `\n` (and without a `\r` before it; with
 *   `keepNewline` both stay); a last line without `\n` is one too. An empty line is an empty datagram.
 * - `none`: everything until the end is one datagram.
 * - a number N: pieces of N bytes; the last may be shorter.
 *
 * @param input - the chunks (e.g. `process.stdin`)
 * @param options - `split` and `maxSize`
 * @returns the datagrams, as they become complete
 * @throws {ValidationError} when a line (or the whole input, with `none`) is longer than `maxSize`
 * @example
 * ```ts
 * for await (const d of splitDatagrams(process.stdin, { split: 'line' })) socket.send(d);
 * ```
 */
export async function* splitDatagrams(
  input: AsyncIterable<Uint8Array | string>,
  options: SplitOptions = {},
): AsyncGenerator<Uint8Array, void, undefined> {
  checkOptionsObject(options, 'split options');
  if (
    input === null ||
    typeof input !== 'object' ||
    typeof (input as AsyncIterable<unknown>)[Symbol.asyncIterator] !== 'function'
  ) {
    throw new ValidationError(`Invalid input '${describeValue(input)}': expected an async iterable of bytes`);
  }
  const split = parseDatagramSplit(options.split ?? 'line');
  const max = options.maxSize ?? MAX_SPLIT_DATAGRAM;
  if (typeof max !== 'number' || !Number.isInteger(max) || max < 1 || max > MAX_SPLIT_DATAGRAM) {
    throw new ValidationError(
      `Invalid maxSize '${describeValue(max)}': expected an integer from 1 to ${MAX_SPLIT_DATAGRAM}`,
    );
  }
  const keep = checkBoolean(options.keepNewline, 'keepNewline') ?? false;
  if (typeof split === 'number') {
    if (split > max) {
      throw new ValidationError(`Invalid split ${split}: larger than the largest datagram (${max} bytes)`);
    }
    let pending: Uint8Array[] = [];
    let size = 0;
    for await (const c of input) {
      let chunk = toBytes(c);
      while (chunk.length > 0) {
        const take = Math.min(split - size, chunk.length);
        pending.push(chunk.subarray(0, take));
        size += take;
        chunk = chunk.subarray(take);
        if (size === split) {
          yield pending.length === 1 ? (pending[0] as Uint8Array) : Buffer.concat(pending);
          pending = [];
          size = 0;
        }
      }
    }
    if (size > 0) yield Buffer.concat(pending);
    return;
  }
  if (split === 'none') {
    const all: Uint8Array[] = [];
    let size = 0;
    for await (const c of input) {
      const chunk = toBytes(c);
      size += chunk.length;
      if (size > max) {
        throw new ValidationError(
          `The input is more than ${max} bytes, too large for one datagram; cut it with --split line or --split BYTES`,
        );
      }
      all.push(chunk);
    }
    yield Buffer.concat(all);
    return;
  }
  let carry: Uint8Array[] = [];
  let carrySize = 0;
  const tooLong = () =>
    new ValidationError(
      `A line of more than ${max} bytes is too large for one datagram; cut it with --split BYTES`,
    );
  for await (const c of input) {
    let chunk = toBytes(c);
    for (;;) {
      const nl = chunk.indexOf(0x0a);
      if (nl === -1) {
        if (chunk.length > 0) {
          carry.push(chunk);
          carrySize += chunk.length;
          if (carrySize > max + 1) throw tooLong();
        }
        break;
      }
      const cut = keep ? nl + 1 : nl;
      let line: Uint8Array =
        carry.length === 0 ? chunk.subarray(0, cut) : Buffer.concat([...carry, chunk.subarray(0, cut)]);
      carry = [];
      carrySize = 0;
      if (!keep && line.length > 0 && line[line.length - 1] === 0x0d)
        line = line.subarray(0, line.length - 1);
      if (line.length > max) throw tooLong();
      yield line;
      chunk = chunk.subarray(nl + 1);
    }
  }
  if (carrySize > 0) {
    let line: Uint8Array = Buffer.concat(carry);
    if (!keep && line[line.length - 1] === 0x0d) line = line.subarray(0, line.length - 1);
    if (line.length > max) throw tooLong();
    yield line;
  }
}
