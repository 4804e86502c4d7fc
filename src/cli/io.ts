/**
 * What a command may use to talk to the world. `cli/main.ts` builds it from the process's streams; commands
 * never touch `process.stdout`, `process.stderr` or `process.exit` themselves, so they can be run in tests.
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
  /** `--json` was given: print one machine-readable result on stdout. */
  json: boolean;
  /** `-v` was given. */
  verbose: boolean;
  /** Colours for stdout text. */
  color: Colors;
  /** Write a line (a newline is added) to stdout. */
  out(line: string): void;
  /** Write a line (a newline is added) to stderr. */
  err(line: string): void;
  /** Print a JSON value on stdout (pretty-printed). */
  printJson(value: unknown): void;
  /** Raw stdout, for binary data (netcat-style piping). */
  stdout: NodeJS.WritableStream;
  /** Raw stdin. */
  stdin: NodeJS.ReadableStream;
  /** Whether stdin is a terminal. */
  stdinIsTTY: boolean;
  /** Whether stderr is a terminal (progress bars go there). */
  stderrIsTTY: boolean;
  /** Columns of the terminal on stderr, or 80. */
  columns: number;
  /** Fires on SIGINT or SIGTERM. */
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
