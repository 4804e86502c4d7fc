/**
 * Text formatting helpers shared by the commands: aligned columns, durations, sizes.
 *
 * @module
 */

// biome-ignore lint/suspicious/noControlCharactersInRegex: matching ANSI escapes is the point
const ANSI = /\u001b\[[0-9;]*m/g;

/** Visible width of a string, ignoring ANSI colour codes. */
export function visibleWidth(s: string): number {
  return s.replace(ANSI, '').length;
}

/**
 * Align rows into columns separated by two spaces; the last column is not padded.
 *
 * @param rows - cells per row
 * @param indent - prefix for every line
 * @example
 * ```ts
 * table([['http', '80/tcp'], ['domain', '53/udp']]); // 'http    80/tcp\ndomain  53/udp'
 * ```
 */
export function table(rows: string[][], indent = ''): string {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, visibleWidth(cell));
    });
  }
  return rows
    .map(
      (row) =>
        indent +
        row
          .map((cell, i) =>
            i === row.length - 1 ? cell : cell + ' '.repeat((widths[i] ?? 0) - visibleWidth(cell)),
          )
          .join('  ')
          .trimEnd(),
    )
    .join('\n');
}

/**
 * A duration for people: `850 µs`, `12.3 ms`, `2.50 s`.
 *
 * @example
 * ```ts
 * formatMs(0.85); // '850 µs'
 * ```
 */
export function formatMs(ms: number): string {
  const abs = Math.abs(ms);
  if (abs < 1) return `${(ms * 1000).toFixed(0)} µs`;
  if (abs < 100) return `${ms.toFixed(1)} ms`;
  if (abs < 10_000) return `${ms.toFixed(0)} ms`;
  return `${(ms / 1000).toFixed(2)} s`;
}

/**
 * A byte count for people: `512 B`, `208 KiB`, `4.0 MiB`.
 *
 * @example
 * ```ts
 * formatBytes(212992); // '208 KiB'
 * ```
 */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(n % 1024 === 0 ? 0 : 1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}
