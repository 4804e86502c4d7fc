/**
 * Read a file the user named (a services database, a list of names) whole, safely: with a size cap, without
 * blocking the event loop, and stoppable. FIFOs and sockets (`<(command)`, `mkfifo`) are read through the
 * event loop like a pipe, never by a thread-pool read: a FIFO whose writer has not come yet would otherwise
 * hold a libuv thread in open(2) or read(2) forever, and a process cannot even exit while one does.
 *
 * @module
 */
import { close, closeSync, constants, fstat, open, openSync, read, readSync } from 'node:fs';
import net from 'node:net';
import { promisify } from 'node:util';
import { abortError } from './deadline.js';
import { ValidationError } from './errors.js';

/** Options of {@link readInputFile}. */
export interface ReadInputOptions {
  /** Most bytes read; more is a `ValidationError`. */
  maxBytes: number;
  /** Stops the read at once (`AbortError`), even while waiting for a FIFO's writer. */
  signal?: AbortSignal | undefined;
  /** What the file is, for messages: `services file`, `--file`. @default 'file' */
  what?: string;
}

/** The error a read past `maxBytes` throws (a `ValidationError`, with the limit). */
export class InputTooLargeError extends ValidationError {
  /** The limit that was passed, in bytes. */
  readonly maxBytes: number;
  constructor(what: string, path: string, maxBytes: number) {
    super(`The ${what} '${path}' is larger than ${formatBytes(maxBytes)}`);
    this.maxBytes = maxBytes;
  }
}

function formatBytes(n: number): string {
  if (n >= 1024 * 1024 && n % (1024 * 1024) === 0) return `${n / 1024 / 1024} MiB`;
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024} KiB`;
  return `${n} bytes`;
}

/**
 * Read a file whole, up to `maxBytes`.
 *
 * @param path - the file; regular files, devices, FIFOs and sockets are all read as streams
 * @param options - `maxBytes`, `signal`, `what`
 * @returns the bytes
 * @throws {InputTooLargeError} (a `ValidationError`) past `maxBytes`
 * @throws {AbortError} when `signal` fires
 * @throws the file system's error (`ENOENT`, `EACCES`, `EISDIR`, ...) when it cannot be opened or read
 * @example
 * ```ts
 * const bytes = await readInputFile('names.txt', { maxBytes: 64 << 20, signal, what: '--file' });
 * ```
 */
export async function readInputFile(path: string, options: ReadInputOptions): Promise<Buffer> {
  const { maxBytes, signal, what = 'file' } = options;
  if (signal?.aborted) throw abortError(signal, `Reading ${what} '${path}'`);
  // O_NONBLOCK: opening a FIFO must not wait for its writer in a thread (regular files ignore the flag)
  // (a raw descriptor, not a FileHandle: the stream below owns and closes it)
  const fd = await promisify(open)(path, constants.O_RDONLY | constants.O_NONBLOCK);
  let stream: net.Socket | undefined;
  try {
    const info = await promisify(fstat)(fd);
    if (info.isDirectory()) {
      throw Object.assign(new Error(`EISDIR: illegal operation on a directory, read '${path}'`), {
        code: 'EISDIR',
      });
    }
    // the event loop polls a FIFO or socket; one with no writer yet is simply not readable yet
    if (info.isFIFO() || info.isSocket()) stream = new net.Socket({ fd, readable: true, writable: false });
  } catch (err) {
    close(fd, () => undefined);
    throw err;
  }
  // Files and devices: plain reads of 64 KiB (fs.createReadStream would load the stream machinery, a few ms
  // of every `soket service` start-up, for one small file).
  const iterator = stream ? (stream as AsyncIterable<Buffer>)[Symbol.asyncIterator]() : fileChunks(fd);
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(abortError(signal as AbortSignal, `Reading ${what} '${path}'`));
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
  });
  aborted.catch(() => undefined);
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for (;;) {
      const next = await Promise.race([iterator.next(), aborted]);
      if (next.done) break;
      const chunk = typeof next.value === 'string' ? Buffer.from(next.value) : next.value;
      size += chunk.length;
      if (size > maxBytes) throw new InputTooLargeError(what, path, maxBytes);
      chunks.push(chunk);
    }
  } finally {
    if (onAbort) signal?.removeEventListener('abort', onAbort);
    if (stream) stream.destroy();
    else void iterator.return?.();
  }
  return Buffer.concat(chunks, size);
}

/**
 * The chunks of a file or device, read 64 KiB at a time; `return()` closes `fd` once no read is in flight (a
 * descriptor closed under a thread-pool read could be reused by another open before the read ends).
 */
function fileChunks(fd: number): AsyncIterator<Buffer> {
  const readChunk = promisify(read);
  let inflight: Promise<unknown> = Promise.resolve();
  return {
    next() {
      const chunk = Buffer.allocUnsafe(64 * 1024);
      const r = readChunk(fd, chunk, 0, chunk.length, null).then(({ bytesRead }) =>
        bytesRead === 0
          ? { done: true as const, value: undefined }
          : { done: false as const, value: chunk.subarray(0, bytesRead) },
      );
      inflight = r.catch(() => undefined);
      return r;
    },
    async return() {
      await inflight;
      close(fd, () => undefined);
      return { done: true, value: undefined };
    },
  };
}

/**
 * Read a small file whole, synchronously, up to `maxBytes` (for start-up inputs such as certificates): a
 * device or a huge file is refused after `maxBytes` instead of read without end. A FIFO still blocks (a
 * synchronous read cannot be interrupted): where that matters, use {@link readInputFile}.
 *
 * @param path - the file
 * @param options - `maxBytes`, `what`
 * @returns the bytes
 * @throws {InputTooLargeError} (a `ValidationError`) past `maxBytes`
 * @throws the file system's error (`ENOENT`, `EACCES`, `EISDIR`, ...)
 * @example
 * ```ts
 * const pem = readInputFileSync('server.pem', { maxBytes: 1 << 20, what: '--cert' });
 * ```
 */
export function readInputFileSync(path: string, options: Omit<ReadInputOptions, 'signal'>): Buffer {
  const { maxBytes, what = 'file' } = options;
  const fd = openSync(path, 'r');
  try {
    const chunks: Buffer[] = [];
    let size = 0;
    for (;;) {
      const chunk = Buffer.allocUnsafe(64 * 1024);
      const n = readSync(fd, chunk, 0, chunk.length, null);
      if (n === 0) break;
      size += n;
      if (size > maxBytes) throw new InputTooLargeError(what, path, maxBytes);
      chunks.push(chunk.subarray(0, n));
    }
    return Buffer.concat(chunks, size);
  } finally {
    closeSync(fd);
  }
}
