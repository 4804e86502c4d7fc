/**
 * A `hexdump -C`-style dump of a conversation, like `ncat -x` and `socat -x`: each line is a direction mark
 * (`>` sent, `<` received), the offset of its first byte in that direction's stream, 16 bytes in hex (two
 * groups of eight) and the same bytes as ASCII (`.` for anything not printable):
 *
 * ```
 * > 00000000  48 65 6c 6c 6f 0a                                 |Hello.|
 * < 00000000  48 65 6c 6c 6f 0a                                 |Hello.|
 * ```
 *
 * Each read or write is dumped as it happens, so the lines show the order of the exchange; offsets count per
 * direction, so a line's offset is where its bytes sit in the stream sent (or received) so far. The output
 * holds printable ASCII only: network data can never reach a terminal raw through it.
 *
 * @module
 */
import { ValidationError } from './errors.js';
import { checkOptionsObject, describeValue } from './validate.js';

/** Which way bytes went: `out` sent by soket, `in` received by soket. */
export type HexDirection = 'in' | 'out';

/** Options of {@link hexLines} and {@link HexDumper}. */
export interface HexDumpOptions {
  /** The marks before each line. @default { out: '>', in: '<' } */
  marks?: { in: string; out: string };
}

/** The defaults of {@link HexDumpOptions}. */
export const HEXDUMP_DEFAULTS = { marks: { out: '>', in: '<' } } as const;

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/**
 * Dump bytes as `hexdump -C` lines.
 *
 * @param data - the bytes
 * @param offset - the offset of the first byte (lines show it in 8 hex digits, more past 4 GiB)
 * @param mark - text before each line (with a space after it), or '' for none
 * @returns one string per 16 bytes (none for empty data)
 * @example
 * ```ts
 * hexLines(Buffer.from('Hi\n'), 0, '>');
 * // ['> 00000000  48 69 0a                                          |Hi.|']
 * ```
 */
export function hexLines(data: Uint8Array, offset = 0, mark = ''): string[] {
  if (!(data instanceof Uint8Array)) {
    throw new ValidationError(`Invalid data '${describeValue(data)}': expected bytes (a Uint8Array)`);
  }
  if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) {
    throw new ValidationError(`Invalid offset '${describeValue(offset)}': expected a non-negative integer`);
  }
  if (typeof mark !== 'string') {
    throw new ValidationError(`Invalid mark '${describeValue(mark)}': expected a string`);
  }
  const lines: string[] = [];
  const prefix = mark ? `${mark} ` : '';
  for (let i = 0; i < data.length; i += 16) {
    let hex = '';
    let ascii = '';
    for (let j = 0; j < 16; j++) {
      if (j === 8) hex += ' ';
      const k = i + j;
      if (k < data.length) {
        const b = data[k] as number;
        hex += `${HEX[b]} `;
        ascii += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.';
      } else hex += '   ';
    }
    lines.push(`${prefix}${(offset + i).toString(16).padStart(8, '0')}  ${hex} |${ascii}|`);
  }
  return lines;
}

/**
 * A dump of both directions of one conversation, with an offset per direction.
 *
 * @example
 * ```ts
 * const dump = new HexDumper();
 * dump.lines('out', Buffer.from('ping\n')); // ['> 00000000  70 69 6e 67 0a ... |ping.|']
 * dump.lines('in', Buffer.from('pong\n'));  // ['< 00000000  70 6f 6e 67 0a ... |pong.|']
 * ```
 */
export class HexDumper {
  readonly #marks: { in: string; out: string };
  #offsets = { in: 0, out: 0 };

  /** @param options - the direction marks */
  constructor(options: HexDumpOptions = {}) {
    checkOptionsObject(options, 'hex dump options');
    const marks = options.marks ?? HEXDUMP_DEFAULTS.marks;
    if (
      marks === null ||
      typeof marks !== 'object' ||
      typeof marks.in !== 'string' ||
      typeof marks.out !== 'string'
    ) {
      throw new ValidationError(`Invalid marks '${describeValue(marks)}': expected { in, out } strings`);
    }
    this.#marks = marks;
  }

  /** Bytes dumped so far in each direction. */
  get offsets(): Readonly<{ in: number; out: number }> {
    return { ...this.#offsets };
  }

  /**
   * The lines for one read or write; advances that direction's offset.
   *
   * @param direction - `out` (sent) or `in` (received)
   * @param data - the bytes
   * @returns the lines (none for empty data)
   */
  lines(direction: HexDirection, data: Uint8Array): string[] {
    const lines = hexLines(data, this.#offsets[direction], this.#marks[direction]);
    this.#offsets[direction] += data.length;
    return lines;
  }
}
