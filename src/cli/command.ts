/**
 * The contract between `cli/main.ts` and the command files.
 *
 * A command file exports `register(program, run)`: it declares its arguments, options and help with commander
 * and wraps its action in `run`. The action checks its input, calls the library, and **returns** what it found:
 *
 * - a {@link ResultOutput} (one-shot work: `info`, `service`, `udp send`, `time`): `main.ts` prints it as text
 *   through the command's renderer, or with `--json` as **one JSON document**;
 * - a {@link StreamOutput} (long-running work: servers, `--watch`, batches, probes, the demo): an async
 *   iterable of events; `main.ts` prints each event as text through the renderer, or with `--json` as **one
 *   JSON object per line** (NDJSON). Every event object has an `event` field naming its type.
 *
 * Errors are thrown, never printed: `main.ts` prints them as one line (`soket: message`) or, with `--json`, as
 * `{"error":{"code","message"}}` (as the last line of a stream that fails midway). A command never writes to
 * stdout or stderr itself, and never exits: `main.ts` is the only module that does.
 *
 * Text renderers are pure: value → {@link Rendered}. A string is one or more lines for stdout (a newline is
 * added); bytes go to stdout unchanged (pipe modes); `{ out, err }` splits between stdout and stderr (servers
 * log on stderr and keep stdout for data). `main.ts` waits for stdout to drain before it pulls the next event,
 * so a slow reader of stdout slows the producer instead of filling memory.
 *
 * @module
 */
import type { Command } from 'commander';
import type { Colors } from './io.js';

/** Exit codes: 0 success, 1 the operation failed, 2 invalid usage or input, 130 interrupted. */
export const EXIT = { ok: 0, failed: 1, usage: 2, interrupted: 130 } as const;

/** What text rendering may use. */
export interface RenderContext {
  /** Colour functions (identity when colour is off). */
  color: Colors;
  /** `-v` was given. */
  verbose: boolean;
  /** Columns of the terminal on stderr, or 80. */
  columns: number;
}

/**
 * Text for one result or event: lines for stdout (a string, newline added), raw bytes for stdout, or a split
 * between stdout and stderr. `undefined` prints nothing (an event that only matters in JSON).
 */
export type Rendered =
  | string
  | Uint8Array
  | { out?: string | Uint8Array | undefined; err?: string | undefined }
  | undefined;

/** Turns a result or an event into text. */
export type Renderer<T> = (value: T, ctx: RenderContext) => Rendered;

/** A one-shot result. Build it with {@link result}. */
export interface ResultOutput<T> {
  readonly kind: 'result';
  readonly value: T;
  readonly text: Renderer<T>;
  /** The JSON document (default: the value itself). */
  readonly json: ((value: T) => unknown) | undefined;
  /** The exit code. @default 0 */
  readonly exitCode: number;
}

/** A progress bar for a stream (drawn by `main.ts` on a terminal's stderr, never with `--json`). */
export interface StreamProgress<E> {
  /** Items the stream will produce. */
  total: number;
  /** Shown before the bar, e.g. `resolve`. */
  label: string;
  /** Draw only for more items than this. @default the terminal's height */
  minTotal?: number;
  /** Whether an event finishes one item, and whether it succeeded: `true`/`false`, or `undefined` for neither. */
  tick(event: E): boolean | undefined;
}

/** A stream of events. Build it with {@link stream}. */
export interface StreamOutput<E> {
  readonly kind: 'stream';
  readonly events: AsyncIterable<E>;
  readonly text: Renderer<E>;
  /** One NDJSON line per event (default: the event itself). */
  readonly json: ((event: E) => unknown) | undefined;
  /** The exit code, asked once the stream has ended. @default 0 */
  readonly exitCode: () => number;
  readonly progress: StreamProgress<E> | undefined;
}

/** What an action returns. */
export type CommandOutput = ResultOutput<never> | StreamOutput<never>;

/**
 * A one-shot result.
 *
 * @param value - the result (also the JSON document unless `options.json` says otherwise)
 * @param text - its text renderer
 * @param options - `exitCode` (default 0), `json` to shape the JSON document
 * @example
 * ```ts
 * return result(info, (i, ctx) => `Host name  ${ctx.color.bold(i.hostname)}`);
 * ```
 */
export function result<T>(
  value: T,
  text: Renderer<T>,
  options: { exitCode?: number; json?: (value: T) => unknown } = {},
): CommandOutput {
  const out: ResultOutput<T> = {
    kind: 'result',
    value,
    text,
    json: options.json,
    exitCode: options.exitCode ?? EXIT.ok,
  };
  return out as unknown as CommandOutput;
}

/**
 * A stream of events.
 *
 * @param events - the events, e.g. an async generator
 * @param text - the text renderer of one event
 * @param options - `exitCode()` asked after the stream ends, `json` to shape each line, `progress`
 * @example
 * ```ts
 * return stream(watch(), (e) => `${e.offset}`, { exitCode: () => (samples > 0 ? EXIT.ok : EXIT.failed) });
 * ```
 */
export function stream<E>(
  events: AsyncIterable<E>,
  text: Renderer<E>,
  options: { exitCode?: () => number; json?: (event: E) => unknown; progress?: StreamProgress<E> } = {},
): CommandOutput {
  const out: StreamOutput<E> = {
    kind: 'stream',
    events,
    text,
    json: options.json,
    exitCode: options.exitCode ?? (() => EXIT.ok),
    progress: options.progress,
  };
  return out as unknown as CommandOutput;
}

/** Wraps a command action: gives it the `Io`; `main.ts` renders what it returns. */
export type Runner = <A extends unknown[]>(
  action: (io: import('./io.js').Io, ...args: A) => Promise<CommandOutput>,
) => (...args: A) => Promise<void>;

/** What every command file exports. */
export type Register = (program: Command, run: Runner) => void;

/**
 * Format help examples for `addHelpText('after', ...)`.
 *
 * @example
 * ```ts
 * cmd.addHelpText('after', examples(['soket service http', 'soket service 53/udp']));
 * ```
 */
export function examples(lines: string[]): string {
  return `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`;
}
