/**
 * What a command may use of the process: its input, its environment and its interrupt signal. Output is not
 * here on purpose: a command returns a result or a stream of events (`command.ts`) and `cli/main.ts` prints it.
 *
 * @module
 */

/** Colour functions; identity functions when colour is off. */
export interface Colors {
  enabled: boolean;
  bold(s: string): string;
  dim(s: string): string;
  red(s: string): string;
  green(s: string): string;
  yellow(s: string): string;
  cyan(s: string): string;
}

/** The command's view of the process. */
export interface Io {
  /** `--json` was given. Commands read it only to refuse combinations (raw data cannot be JSON). */
  json: boolean;
  /** `-v` was given. */
  verbose: boolean;
  /** Raw stdin. */
  stdin: NodeJS.ReadableStream;
  /** Whether stdin is a terminal. */
  stdinIsTTY: boolean;
  /** Fires on SIGINT, SIGTERM or SIGHUP. */
  signal: AbortSignal;
  /** Environment variables. */
  env: NodeJS.ProcessEnv;
}

const CODES = {
  bold: [1, 22],
  dim: [2, 22],
  red: [31, 39],
  green: [32, 39],
  yellow: [33, 39],
  cyan: [36, 39],
} as const;

/**
 * Colour functions, on only when asked for (a TTY, no `NO_COLOR`, not `TERM=dumb`).
 *
 * @example
 * ```ts
 * const c = makeColors(Boolean(process.stdout.isTTY) && !process.env.NO_COLOR);
 * c.green('open');
 * ```
 */
export function makeColors(enabled: boolean): Colors {
  const wrap =
    (name: keyof typeof CODES) =>
    (s: string): string =>
      enabled ? `\u001b[${CODES[name][0]}m${s}\u001b[${CODES[name][1]}m` : s;
  return {
    enabled,
    bold: wrap('bold'),
    dim: wrap('dim'),
    red: wrap('red'),
    green: wrap('green'),
    yellow: wrap('yellow'),
    cyan: wrap('cyan'),
  };
}

/**
 * Whether colour should be used on a stream: it is a TTY, `NO_COLOR` is unset or empty, `TERM` is not `dumb`.
 *
 * @example
 * ```ts
 * colorWanted(process.stdout.isTTY, process.env); // false when piped
 * ```
 */
export function colorWanted(isTTY: boolean | undefined, env: NodeJS.ProcessEnv): boolean {
  if (!isTTY) return false;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  return env.TERM !== 'dumb';
}
