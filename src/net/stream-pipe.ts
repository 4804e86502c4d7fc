/**
 * One netcat session: an input stream (stdin) goes to a connection, and what the connection sends goes to a
 * sink (the CLI's stdout, through its bounded event queue), byte for byte in both directions.
 *
 * - The end of the input shuts down the connection's write side (FIN) unless `shutdown` is false; soket keeps
 *   reading until the peer closes, as `nc -N` does. When the peer finishes first, the rest of the input still
 *   goes to it (half-close is one direction only; nothing is lost) and soket's side ends with the input; an
 *   interactive input (a terminal) has no end to wait for, so then the session ends at once, as with nc.
 * - Backpressure both ways: a full sink pauses the connection; a connection that does not take data pauses
 *   the input. Memory stays bounded whatever the speeds.
 * - The input is borrowed, not consumed: when the session ends it is paused and left as it was, so a
 *   listener with `--keep` can hand the same stdin to the next client. An input that already ended gives the
 *   next client an immediate FIN.
 *
 * @module
 */
import net from 'node:net';
import { toSoketError, ValidationError } from '../core/errors.js';
import { checkBoolean, checkObject, checkSignal, describeValue } from '../core/validate.js';

/** Where the connection's bytes go. */
export interface PipeSink {
  /** Take a chunk; `false` asks the session to pause the connection until {@link onDrain} calls back. */
  push(chunk: Uint8Array): boolean;
  /** Call back once the sink has room again. */
  onDrain(callback: () => void): void;
}

/** Options of {@link pipeSession}. */
export interface PipeSessionOptions {
  /** What to send (stdin); `undefined`: nothing, shut down at once (with `shutdown`). */
  input?: NodeJS.ReadableStream | undefined;
  /** Where received bytes go. */
  sink: PipeSink;
  /** Shut down the write side at the end of the input. @default true */
  shutdown?: boolean;
  /** Cuts the session (the connection is destroyed). */
  signal?: AbortSignal;
}

/** How a session went. */
export interface PipeResult {
  /** Bytes received from the peer. */
  bytesIn: number;
  /** Bytes sent to the peer. */
  bytesOut: number;
  /** Milliseconds from start to close. */
  durationMs: number;
  /** `closed` (both sides finished), `reset` (the peer reset), `aborted`, or `error`. */
  end: 'closed' | 'reset' | 'aborted' | 'error';
  /** The error's message, for `reset` and `error`. */
  detail?: string;
}

function hasMethods(value: unknown, names: readonly string[]): boolean {
  return (
    value !== null &&
    typeof value === 'object' &&
    names.every((n) => typeof (value as Record<string, unknown>)[n] === 'function')
  );
}

/** The arguments of {@link pipeSession}, checked before any listener is added. */
function checkSession(socket: net.Socket, options: PipeSessionOptions): void {
  if (!(socket instanceof net.Socket)) {
    throw new ValidationError(`Invalid socket '${describeValue(socket)}': expected a connected net.Socket`);
  }
  checkObject(options, 'pipe session options');
  if (options.input !== undefined && !hasMethods(options.input, ['on', 'off', 'pause', 'resume'])) {
    throw new ValidationError(`Invalid input '${describeValue(options.input)}': expected a readable stream`);
  }
  if (!hasMethods(options.sink, ['push', 'onDrain'])) {
    throw new ValidationError(`Invalid sink '${describeValue(options.sink)}': expected { push, onDrain }`);
  }
  checkBoolean(options.shutdown, 'shutdown');
  checkSignal(options.signal);
}

/**
 * Run one session on a connected socket.
 *
 * @param socket - the connection (TCP, TLS or Unix; created with `allowHalfOpen` for half-close to work)
 * @param options - input, sink, shutdown, signal
 * @returns byte counts and how it ended, once the connection has closed
 * @throws {ValidationError} (as a rejection) for a socket that is not a `net.Socket`, an input that is not a
 *   readable stream, a sink without `push` and `onDrain`, or options of the wrong type
 * @example
 * ```ts
 * const r = await pipeSession(socket, { input: process.stdin, sink: { push: (b) => process.stdout.write(b), onDrain: (cb) => process.stdout.once('drain', cb) } });
 * console.error(`${r.bytesIn} in, ${r.bytesOut} out`);
 * ```
 */
export function pipeSession(socket: net.Socket, options: PipeSessionOptions): Promise<PipeResult> {
  try {
    checkSession(socket, options);
  } catch (err) {
    return Promise.reject(err);
  }
  const { input, sink, signal } = options;
  const shutdown = options.shutdown ?? true;
  const t0 = performance.now();
  const read0 = socket.bytesRead;
  const written0 = socket.bytesWritten;
  let end: PipeResult['end'] = 'closed';
  let detail: string | undefined;

  const onSocketData = (chunk: Buffer) => {
    if (!sink.push(chunk)) {
      socket.pause();
      sink.onDrain(() => socket.resume());
    }
  };
  socket.on('data', onSocketData);

  const inputEnded = () => (input as { readableEnded?: boolean } | undefined)?.readableEnded === true;
  const onInputData = (chunk: Buffer | string) => {
    if (socket.destroyed || socket.writableEnded) return;
    if (!socket.write(chunk)) input?.pause();
  };
  const onSocketDrain = () => input?.resume();
  let peerEnded = false;
  const onInputEnd = () => {
    if ((shutdown || peerEnded) && !socket.destroyed && !socket.writableEnded) socket.end();
  };
  if (input && !inputEnded()) {
    input.on('data', onInputData);
    input.on('end', onInputEnd);
    socket.on('drain', onSocketDrain);
    input.resume();
  } else if (shutdown) {
    socket.end();
  }
  const onAbort = () => {
    end = 'aborted';
    socket.destroy();
  };
  signal?.addEventListener('abort', onAbort, { once: true });

  return new Promise<PipeResult>((resolve) => {
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (end !== 'closed') return;
      if (err.code === 'ECONNRESET' || err.code === 'EPIPE') end = 'reset';
      else end = 'error';
      detail = toSoketError(err).message;
    });
    socket.once('close', () => {
      signal?.removeEventListener('abort', onAbort);
      socket.off('data', onSocketData);
      if (input) {
        input.off('data', onInputData);
        input.off('end', onInputEnd);
        input.pause();
      }
      const r: PipeResult = {
        bytesIn: socket.bytesRead - read0,
        bytesOut: socket.bytesWritten - written0,
        durationMs: performance.now() - t0,
        end,
      };
      if (detail !== undefined) r.detail = detail;
      resolve(r);
    });
    // The peer finished sending. Half-close is one direction only: the input keeps flowing to the peer until
    // it ends (then onInputEnd ends our side); with no input left, our side ends now. (Stopping here lost the
    // tail of stdin whenever the peer shut down its side before soket had written everything.)
    // An interactive input (a terminal) has no end to wait for: then the session ends as with nc.
    socket.once('end', () => {
      peerEnded = true;
      const interactive = (input as { isTTY?: boolean } | undefined)?.isTTY === true;
      if (input && !inputEnded() && !interactive) return;
      if (input) {
        input.off('data', onInputData);
        input.pause();
      }
      if (!socket.writableEnded) socket.end();
    });
  });
}
