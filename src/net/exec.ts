/**
 * Hand a connection to a program, like `ncat --exec`/`--sh-exec` and socat's `EXEC:`: the program's stdin
 * reads what the peer sends, what it writes to stdout goes to the peer, and its stderr comes back to soket
 * line by line (the CLI prints it as events). The peer's address is in its environment
 * (`SOKET_PEER_ADDR`, `SOKET_PEER_PORT`; `SOKET_LOCAL_ADDR`, `SOKET_LOCAL_PORT`).
 *
 * At the socket level: the program does not get the socket itself. soket sits between them and copies bytes
 * with backpressure both ways, so the program sees pipes (it can tell EOF from a closed connection the usual
 * way: read returns 0 when the peer shut down its side), and TLS or a Unix socket make no difference to it.
 * When the program closes its stdout (or exits), soket shuts down its side of the connection (FIN).
 *
 * `program` is run directly (no shell, `execve` with the arguments as given); `shell` runs `/bin/sh -c`.
 * A program that is not found is a `ValidationError` at {@link prepareExec}, before anything listens.
 *
 * @module
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import net from 'node:net';
import { ValidationError } from '../core/errors.js';
import {
  checkFunction,
  checkObject,
  checkOptionsObject,
  checkString,
  checkStringArray,
  describeValue,
} from '../core/validate.js';

/** What to run: a program with arguments (no shell), or a shell command line. */
export type ExecCommand = { program: string; args?: readonly string[] } | { shell: string };

/** A checked command, ready to run per connection. */
export interface ExecSpec {
  /** The file to execute (absolute when it was found on PATH). */
  file: string;
  /** Its arguments. */
  args: string[];
  /** How to show it: `cat -n`, `sh -c 'tr a-z A-Z'`. */
  display: string;
}

/**
 * Check a command and find its program on PATH.
 *
 * @param command - `{ program, args }` or `{ shell }`
 * @param env - the environment whose PATH is searched (default: this process's)
 * @returns the command ready to run
 * @throws {ValidationError} `Program 'nosuch' not found on PATH` or not executable; a command or
 *   environment of the wrong type
 * @example
 * ```ts
 * prepareExec({ program: 'cat', args: ['-n'] }); // { file: '/usr/bin/cat', args: ['-n'], display: 'cat -n' }
 * ```
 */
export function prepareExec(command: ExecCommand, env: NodeJS.ProcessEnv = process.env): ExecSpec {
  checkObject(command, 'exec command');
  checkEnv(env);
  if ('shell' in command) {
    if (typeof command.shell !== 'string' || command.shell.trim() === '') {
      throw new ValidationError('Invalid --sh: expected a command line');
    }
    return { file: '/bin/sh', args: ['-c', command.shell], display: `sh -c ${quote(command.shell)}` };
  }
  const { program } = command;
  const args = [...(checkStringArray(command.args, 'args') ?? [])];
  if (typeof program !== 'string' || program === '')
    throw new ValidationError('Invalid --exec: expected a program');
  const file = findProgram(program, env);
  return { file, args, display: [program, ...args].map(quote).join(' ') };
}

/** An environment: an object whose PATH, when set, is a string. */
function checkEnv(env: NodeJS.ProcessEnv): void {
  checkOptionsObject(env, 'environment');
  if (env.PATH !== undefined) checkString(env.PATH, 'environment PATH');
}

/** An address and port for the environment (`peer`, `local`). */
function checkEndpoint(value: { address: string; port: number } | undefined, what: string): void {
  if (value === undefined) return;
  if (
    value === null ||
    typeof value !== 'object' ||
    typeof value.address !== 'string' ||
    typeof value.port !== 'number'
  ) {
    throw new ValidationError(`Invalid ${what} '${describeValue(value)}': expected { address, port }`);
  }
}

/** The arguments of {@link runExec}, checked before anything runs. */
function checkRun(spec: ExecSpec, socket: net.Socket, options: RunExecOptions): void {
  checkObject(spec, 'exec spec');
  checkString(spec.file, 'exec spec file');
  if (checkStringArray(spec.args, 'exec spec args') === undefined) {
    throw new ValidationError('Invalid exec spec: expected one from prepareExec (no args)');
  }
  if (!(socket instanceof net.Socket)) {
    throw new ValidationError(`Invalid socket '${describeValue(socket)}': expected a connected net.Socket`);
  }
  checkOptionsObject(options, 'exec options');
  checkEndpoint(options.peer, 'peer');
  checkEndpoint(options.local, 'local');
  if (options.env !== undefined) checkEnv(options.env);
  checkFunction(options.onStderr, 'onStderr');
  checkFunction(options.onStart, 'onStart');
}

function quote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`;
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function findProgram(program: string, env: NodeJS.ProcessEnv): string {
  if (program.includes('/')) {
    if (executable(program)) return program;
    throw new ValidationError(`Program '${program}' does not exist or is not executable (--exec)`);
  }
  for (const dir of (env.PATH ?? '/usr/bin:/bin').split(':')) {
    const full = `${dir || '.'}/${program}`;
    if (executable(full)) return full;
  }
  throw new ValidationError(`Program '${program}' not found on PATH (--exec)`);
}

/** How a program run for a connection ended. */
export interface ExecResult {
  /** Exit code, or `null` when a signal ended it. */
  code: number | null;
  /** The signal that ended it, or `null`. */
  signal: NodeJS.Signals | null;
  /** Process id. */
  pid: number | undefined;
  /** Milliseconds it ran. */
  durationMs: number;
  /** Bytes from the peer to the program. */
  bytesIn: number;
  /** Bytes from the program to the peer. */
  bytesOut: number;
}

/** Options of {@link runExec}. */
export interface RunExecOptions {
  /** The peer, for the environment. */
  peer?: { address: string; port: number };
  /** The local end, for the environment. */
  local?: { address: string; port: number };
  /** Base environment (the peer variables are added). @default process.env */
  env?: NodeJS.ProcessEnv;
  /** Each line the program writes to stderr (without the newline; long lines cut at 64 KiB). */
  onStderr?: (line: string) => void;
  /** Called once the program runs. */
  onStart?: (pid: number | undefined) => void;
}

/**
 * Run a program for one connection: connection ↔ program stdin/stdout, with half-close both ways.
 *
 * @param spec - from {@link prepareExec}
 * @param socket - the connection (TCP, TLS or Unix)
 * @param options - peer addresses for the environment, a stderr line callback
 * @returns how the program ended, once it has exited and the connection is closed
 * @throws {ValidationError} (as a rejection) for a spec not from {@link prepareExec}, a socket that is not a
 *   `net.Socket`, or options of the wrong type
 * @example
 * ```ts
 * const spec = prepareExec({ program: 'tr', args: ['a-z', 'A-Z'] });
 * const server = new TcpServer({ port: 0 }, (conn) => {
 *   void runExec(spec, conn.socket, { peer: { address: conn.remoteAddress, port: conn.remotePort } });
 * });
 * ```
 */
export function runExec(
  spec: ExecSpec,
  socket: net.Socket,
  options: RunExecOptions = {},
): Promise<ExecResult> {
  try {
    checkRun(spec, socket, options);
  } catch (err) {
    return Promise.reject(err);
  }
  const env: NodeJS.ProcessEnv = { ...(options.env ?? process.env) };
  if (options.peer) {
    env.SOKET_PEER_ADDR = options.peer.address;
    env.SOKET_PEER_PORT = String(options.peer.port);
  }
  if (options.local) {
    env.SOKET_LOCAL_ADDR = options.local.address;
    env.SOKET_LOCAL_PORT = String(options.local.port);
  }
  const t0 = performance.now();
  const bytesRead0 = socket.bytesRead;
  const bytesWritten0 = socket.bytesWritten;
  // A program that vanished since prepareExec() makes spawn emit 'error' (code 127 below), not throw.
  const child: ChildProcess = spawn(spec.file, spec.args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
  options.onStart?.(child.pid);
  const stdin = child.stdin as NonNullable<ChildProcess['stdin']>;
  const stdout = child.stdout as NonNullable<ChildProcess['stdout']>;
  const stderr = child.stderr as NonNullable<ChildProcess['stderr']>;
  stdin.on('error', () => {}); // EPIPE when the program exits without reading all: the peer's data is dropped
  socket.on('error', () => {});
  socket.pipe(stdin); // peer FIN → program's stdin EOF
  stdout.pipe(socket); // program closes stdout → FIN to the peer
  let running = true;
  socket.on('close', () => {
    // The connection is gone: the program reads EOF and its writes fail, as with a socket. One that keeps
    // running regardless gets SIGTERM after a second, SIGKILL after five more.
    stdin.destroy();
    stdout.unpipe(socket);
    stdout.resume();
    const term = setTimeout(() => {
      if (running) child.kill('SIGTERM');
    }, 1000);
    const kill = setTimeout(() => {
      if (running) child.kill('SIGKILL');
    }, 6000);
    term.unref();
    kill.unref();
    void exited.then(() => {
      clearTimeout(term);
      clearTimeout(kill);
    });
  });
  let pending = '';
  const onLine = options.onStderr;
  stderr.setEncoding('utf8');
  stderr.on('data', (text: string) => {
    if (!onLine) return;
    pending += text;
    let nl = pending.indexOf('\n');
    while (nl !== -1) {
      onLine(pending.slice(0, nl));
      pending = pending.slice(nl + 1);
      nl = pending.indexOf('\n');
    }
    if (pending.length > 65536) {
      onLine(pending);
      pending = '';
    }
  });
  const exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> = new Promise<{
    code: number | null;
    signal: NodeJS.Signals | null;
  }>((resolve) => {
    child.once('error', () => resolve({ code: 127, signal: null }));
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  const socketClosed = new Promise<void>((resolve) => {
    if (socket.destroyed) resolve();
    else socket.once('close', () => resolve());
  });
  return exited.then(async (r) => {
    running = false;
    if (pending && onLine) onLine(pending);
    // The program is gone; once its output is flushed, the connection ends too.
    if (!socket.destroyed && !socket.writableEnded) socket.end();
    const t = setTimeout(() => socket.destroy(), 2000);
    await socketClosed;
    clearTimeout(t);
    return {
      ...r,
      pid: child.pid,
      durationMs: performance.now() - t0,
      bytesIn: socket.bytesRead - bytesRead0,
      bytesOut: socket.bytesWritten - bytesWritten0,
    };
  });
}

/**
 * Whether binding exec to an address exposes it beyond this machine (anything but loopback or a Unix socket).
 *
 * @param host - the bind address
 * @returns true for addresses other than 127.0.0.0/8 and ::1
 * @example
 * ```ts
 * execExposed('0.0.0.0'); // true: warn before handing a shell to the network
 * ```
 */
export function execExposed(host: string): boolean {
  return !(host.startsWith('127.') || host === '::1' || host === 'localhost' || host === '::ffff:127.0.0.1');
}
