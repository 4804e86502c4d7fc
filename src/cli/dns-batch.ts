/**
 * What `soket resolve` and `soket reverse` share: reading names or addresses from arguments, `--file PATH`
 * and stdin (`-`); streaming each answer as text, `--short` or one element of a JSON array; a progress bar
 * on a terminal; and the closing summary on stderr.
 *
 * @module
 */
import { readFile } from 'node:fs/promises';
import { AbortError, type SoketError, TimeoutError, ValidationError } from '../core/errors.js';
import { parseInteger } from '../core/validate.js';
import type { BatchOutcome } from '../dns/batch.js';
import { EXIT } from './command.js';
import { formatMs } from './format.js';
import type { Io } from './io.js';
import { createProgress } from './progress.js';

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

async function readStdin(io: Io): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of io.stdin) {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    size += b.length;
    if (size > MAX_INPUT_BYTES)
      throw new ValidationError(`Input on stdin is larger than ${MAX_INPUT_BYTES} bytes`);
    chunks.push(b);
  }
  return Buffer.concat(chunks).toString('utf8');
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
        const data = await readFile(file);
        if (data.length > MAX_INPUT_BYTES) throw new Error(`larger than ${MAX_INPUT_BYTES} bytes`);
        text = data.toString('utf8');
      } catch (err) {
        const code = (err as { code?: string }).code;
        const why =
          code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (err as Error).message;
        throw new ValidationError(`Cannot read --file '${file}': ${why}`);
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
  text(query: string, result: R, width: number, io: Io): string;
  /** `--short`: the bare values, one per line. */
  short(result: R): string[];
  /** The JSON element fields of a success (besides `query`, `ok`, `elapsedMs`). */
  json(result: R): Record<string, unknown>;
}

function failureLine(error: SoketError, elapsedMs: number): string {
  return error instanceof TimeoutError ? error.message : `${error.message} [${formatMs(elapsedMs)}]`;
}

/**
 * Print a batch's outcomes as they arrive and the closing summary; returns the exit code (1 when any failed,
 * 130 when interrupted). `--json` prints one array whose elements are streamed.
 *
 * @param io - the command's io
 * @param queries - the inputs as given (for the column width)
 * @param outcomes - from `resolveMany` / `reverseMany`
 * @param renderer - how to print an answer
 * @param short - `--short`
 * @returns the exit code
 * @example
 * ```ts
 * return printBatch(io, queries, resolveMany(queries, options), renderer, false);
 * ```
 */
export async function printBatch<R>(
  io: Io,
  queries: string[],
  outcomes: AsyncIterable<BatchOutcome<R>>,
  renderer: BatchRenderer<R>,
  short: boolean,
): Promise<number> {
  const total = queries.length;
  const width = Math.min(40, Math.max(...queries.map((q) => q.length)));
  const bar = createProgress(io, { total, label: renderer.label });
  const started = performance.now();
  let ok = 0;
  let failed = 0;
  let pendingJson: string | undefined;
  let interrupted = false;
  if (io.json) io.out('[');
  const emitJson = (element: Record<string, unknown>) => {
    if (pendingJson !== undefined) io.out(`  ${pendingJson},`);
    pendingJson = JSON.stringify(element);
  };
  try {
    for await (const o of outcomes) {
      const elapsedMs = Math.round(o.elapsedMs * 1000) / 1000;
      bar.tick(o.ok);
      if (o.ok) {
        ok++;
        if (io.json) emitJson({ query: o.query, ok: true, elapsedMs, ...renderer.json(o.result) });
        else if (short) for (const line of renderer.short(o.result)) bar.out(line);
        else bar.out(renderer.text(o.query, o.result, width, io));
      } else {
        failed++;
        if (io.json) emitJson({ query: o.query, ok: false, elapsedMs, error: o.error.toJSON() });
        else bar.err(`soket: ${failureLine(o.error, o.elapsedMs)}`);
      }
    }
  } catch (err) {
    if (!(err instanceof AbortError) || !io.signal.aborted) {
      bar.done();
      if (io.json && pendingJson !== undefined) io.out(`  ${pendingJson}`);
      if (io.json) io.out(']');
      throw err;
    }
    interrupted = true;
  }
  bar.done();
  if (io.json) {
    if (pendingJson !== undefined) io.out(`  ${pendingJson}`);
    io.out(']');
  }
  const elapsed = performance.now() - started;
  if (total > 1 || interrupted) {
    const rate = elapsed > 0 ? Math.round(((ok + failed) / elapsed) * 1000) : 0;
    const done = ok + failed;
    io.err(
      `${interrupted ? `interrupted after ${done} of ${total} ${renderer.nouns}` : `${total} ${renderer.nouns}`}: ` +
        `${ok} ok, ${failed} failed in ${formatMs(elapsed)} (${rate} ${renderer.nouns}/s; ${renderer.describe})`,
    );
  }
  if (interrupted) return EXIT.interrupted;
  return failed > 0 ? EXIT.failed : EXIT.ok;
}
