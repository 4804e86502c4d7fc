// contract: v2 (issue 10: batches are streams of `result` events and a `summary`; main.ts renders them)
/**
 * What `soket resolve` and `soket reverse` share: reading names or addresses from arguments, `--file PATH`
 * and stdin (`-`), each read as a stream with a size cap (and interruptible); and the batch as a stream of
 * events — one `result` per name as it is answered, then a `summary` — rendered as compact lines, `--short`
 * values, or one JSON object per line; main.ts draws the progress bar on a terminal.
 *
 * @module
 */
import { AbortError, type SoketError, TimeoutError, ValidationError } from '../core/errors.js';
import { readInputFile } from '../core/input-file.js';
import { escapeControl } from '../core/text.js';
import { parseInteger } from '../core/validate.js';
import type { BatchOutcome } from '../dns/batch.js';
import { EXIT, type RenderContext, stream } from './command.js';
import { formatMs } from './format.js';
import type { Io } from './io.js';

/** One input with where it came from, for messages. */
export interface BatchInput {
  value: string;
  /** `argument 2`, `names.txt line 3`, `stdin line 1`. */
  where: string;
}

/** The largest input file or stdin soket reads. */
const MAX_INPUT_BYTES = 64 * 1024 * 1024;

function tokens(text: string, source: string): BatchInput[] {
  const out: BatchInput[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    const content = line.replace(/#.*/, '');
    for (const value of content.split(/\s+/)) {
      if (value.length > 0) out.push({ value, where: `${source} line ${i + 1}` });
    }
  });
  return out;
}

/** Read a stream whole, up to {@link MAX_INPUT_BYTES}; stops (and closes it) when the signal fires. */
async function readCapped(input: NodeJS.ReadableStream, what: string, signal: AbortSignal): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  const iterator = (input as AsyncIterable<Buffer | string>)[Symbol.asyncIterator]();
  const aborted = new Promise<never>((_, reject) => {
    const onAbort = () => reject(new AbortError(`Reading ${what} was interrupted`));
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  aborted.catch(() => undefined);
  try {
    for (;;) {
      const next = await Promise.race([iterator.next(), aborted]);
      if (next.done) break;
      const chunk = next.value;
      const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      size += b.length;
      if (size > MAX_INPUT_BYTES)
        throw new ValidationError(`Input ${what} is larger than ${MAX_INPUT_BYTES} bytes`);
      chunks.push(b);
    }
  } finally {
    await iterator.return?.();
    (input as { destroy?: () => void }).destroy?.();
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function readStdin(io: Io): Promise<string> {
  return readCapped(io.stdin, 'on stdin', io.signal);
}

/**
 * Collect the batch's inputs: arguments (`-` reads stdin), then `--file PATH` (`-` is stdin too). Files hold
 * one or more names per line, separated by white space; `#` starts a comment.
 *
 * @param io - for stdin
 * @param args - the command's arguments
 * @param file - the `--file` option
 * @param noun - `name` or `address`, for the message when there is nothing
 * @returns the inputs in order
 * @throws {ValidationError} when there is nothing to look up, or the file cannot be read
 * @example
 * ```ts
 * const inputs = await readBatchInputs(io, ['-'], 'names.txt', 'name'); // stdin first, then the file
 * ```
 */
export async function readBatchInputs(
  io: Io,
  args: string[],
  file: string | undefined,
  noun: string,
): Promise<BatchInput[]> {
  const out: BatchInput[] = [];
  let stdinRead = false;
  const stdin = async () => {
    if (stdinRead) return;
    stdinRead = true;
    out.push(...tokens(await readStdin(io), 'stdin'));
  };
  for (const [i, arg] of args.entries()) {
    if (arg === '-') await stdin();
    else out.push({ value: arg, where: `argument ${i + 1}` });
  }
  if (file !== undefined) {
    if (file === '-') await stdin();
    else {
      let text: string;
      try {
        // a FIFO is polled by the event loop, never read in a libuv thread (which Ctrl-C could not stop)
        const bytes = await readInputFile(file, {
          maxBytes: MAX_INPUT_BYTES,
          signal: io.signal,
          what: '--file',
        });
        text = bytes.toString('utf8');
      } catch (err) {
        if (err instanceof ValidationError || err instanceof AbortError) throw err;
        const code = (err as { code?: string }).code;
        const why =
          code === 'ENOENT'
            ? 'no such file'
            : code === 'EISDIR'
              ? 'is a directory'
              : code === 'EACCES'
                ? 'permission denied'
                : (err as Error).message;
        throw new ValidationError(`Cannot read --file '${escapeControl(file)}': ${why}`);
      }
      out.push(...tokens(text, file));
    }
  }
  if (out.length === 0) {
    throw new ValidationError(
      `Give at least one ${noun} (as arguments, with --file PATH, or - to read stdin)`,
    );
  }
  return out;
}

/**
 * Check every input before any lookup, naming where a bad one came from.
 *
 * @param inputs - from {@link readBatchInputs}
 * @param check - throws `ValidationError` for a bad value
 * @returns what `check` returns for each input
 * @throws {ValidationError} `Invalid name 'x': ... (names.txt line 3)`
 * @example
 * ```ts
 * checkInputs(inputs, checkLookupName);
 * ```
 */
export function checkInputs<T>(inputs: BatchInput[], check: (value: string) => T): T[] {
  return inputs.map((input) => {
    try {
      return check(input.value);
    } catch (err) {
      if (err instanceof ValidationError && inputs.length > 1) {
        throw new ValidationError(`${err.message} (${input.where})`);
      }
      throw err;
    }
  });
}

/**
 * Commander option parser for repeatable flags (`-s A -s B`): collects every value.
 *
 * @example
 * ```ts
 * cmd.option('-s, --server <host[:port]>', 'repeatable', collect);
 * ```
 */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/**
 * Parse `--concurrency` (1 to 1024).
 *
 * @throws {ValidationError} when out of range
 * @example
 * ```ts
 * parseConcurrency('128'); // 128
 * ```
 */
export function parseConcurrency(value: string | undefined): number | undefined {
  return value === undefined ? undefined : parseInteger(value, '--concurrency', { min: 1, max: 1024 });
}

/** How one command renders its answers. */
export interface BatchRenderer<R> {
  /** `resolve` or `reverse`, for the bar. */
  label: string;
  /** `names` or `addresses`, for the summary. */
  nouns: string;
  /** What was asked of whom, for the summary: `127.0.0.1:5353, concurrency 64`. */
  describe: string;
  /** One compact line; `width` pads the query column. */
  text(query: string, result: R, width: number, ctx: RenderContext): string;
  /** `--short`: the bare values, one per line. */
  short(result: R): string[];
  /** The JSON fields of a success (besides `event`, `query`, `ok`, `elapsedMs`). */
  json(result: R): Record<string, unknown>;
}

/** The events of a batch (`soket resolve`, `soket reverse`). */
export type BatchEvent<R> =
  | { event: 'result'; query: string; ok: true; elapsedMs: number; result: R }
  | { event: 'result'; query: string; ok: false; elapsedMs: number; error: SoketError }
  | {
      event: 'summary';
      total: number;
      ok: number;
      failed: number;
      elapsedMs: number;
      perSecond: number;
      interrupted: boolean;
      via: string;
    };

function failureLine(error: SoketError, elapsedMs: number): string {
  return error instanceof TimeoutError ? error.message : `${error.message} [${formatMs(elapsedMs)}]`;
}

/**
 * A batch as a stream: one `result` event per input as it is answered, then a `summary`. Text: compact
 * lines (or `--short` values) on stdout, failures on stderr, the summary on stderr for batches of more than
 * one or when interrupted. Exit code 1 when any failed, 130 when interrupted.
 *
 * @param io - the command's io (its signal)
 * @param queries - the inputs as given (for the column width)
 * @param outcomes - from `resolveMany` / `reverseMany`
 * @param renderer - how to show an answer
 * @param short - `--short`
 * @returns the command's output
 * @example
 * ```ts
 * return batchStream(io, queries, resolveMany(queries, options), renderer, false);
 * ```
 */
export function batchStream<R>(
  io: Io,
  queries: string[],
  outcomes: AsyncIterable<BatchOutcome<R>>,
  renderer: BatchRenderer<R>,
  short: boolean,
) {
  const total = queries.length;
  const width = Math.min(40, Math.max(...queries.map((q) => q.length)));
  let ok = 0;
  let failed = 0;
  let interrupted = false;
  const events = (async function* (): AsyncGenerator<BatchEvent<R>> {
    const started = performance.now();
    try {
      for await (const o of outcomes) {
        const elapsedMs = Math.round(o.elapsedMs * 1000) / 1000;
        if (o.ok) {
          ok++;
          yield { event: 'result', query: o.query, ok: true, elapsedMs, result: o.result };
        } else {
          failed++;
          yield { event: 'result', query: o.query, ok: false, elapsedMs, error: o.error };
        }
      }
    } catch (err) {
      if (!(err instanceof AbortError) || !io.signal.aborted) throw err;
      interrupted = true;
    }
    const elapsed = performance.now() - started;
    yield {
      event: 'summary',
      total,
      ok,
      failed,
      elapsedMs: Math.round(elapsed * 1000) / 1000,
      perSecond: elapsed > 0 ? Math.round(((ok + failed) / elapsed) * 1000) : 0,
      interrupted,
      via: renderer.describe,
    };
  })();
  const text = (e: BatchEvent<R>, ctx: RenderContext) => {
    if (e.event === 'summary') {
      if (total <= 1 && !e.interrupted) return undefined;
      const done = e.ok + e.failed;
      return {
        err:
          `${e.interrupted ? `interrupted after ${done} of ${e.total} ${renderer.nouns}` : `${e.total} ${renderer.nouns}`}: ` +
          `${e.ok} ok, ${e.failed} failed in ${formatMs(e.elapsedMs)} (${e.perSecond} ${renderer.nouns}/s; ${e.via})`,
      };
    }
    if (!e.ok) return { err: `soket: ${escapeControl(failureLine(e.error, e.elapsedMs))}` };
    if (short) return renderer.short(e.result).map(escapeControl).join('\n') || undefined;
    return renderer.text(e.query, e.result, width, ctx);
  };
  const json = (e: BatchEvent<R>) => {
    if (e.event === 'summary') return e;
    if (!e.ok)
      return { event: 'result', query: e.query, ok: false, elapsedMs: e.elapsedMs, error: e.error.toJSON() };
    return { event: 'result', query: e.query, ok: true, elapsedMs: e.elapsedMs, ...renderer.json(e.result) };
  };
  return stream(events, text, {
    json,
    exitCode: () => (interrupted ? EXIT.interrupted : failed > 0 ? EXIT.failed : EXIT.ok),
    progress: {
      total,
      label: renderer.label,
      tick: (e) => (e.event === 'result' ? e.ok : undefined),
    },
  });
}
