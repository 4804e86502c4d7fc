/**
 * The listening half every stream server shares (TCP server, relay): bind a TCP address or a Unix socket,
 * check each new peer against an allow/deny list at accept (before any byte is read, before any TLS work),
 * and wrap accepted sockets in TLS when asked. What happens next is the server's business: it gets each
 * ready socket through a callback.
 *
 * Unix sockets: a socket file that a live server still listens on is never replaced (`EADDRINUSE`); a stale
 * one (nothing accepts on it: a server that died) is removed first; a file that is not a socket is left alone
 * (`EEXIST`). The socket is created with its mode already restricted (`unixPerm`, through the umask, so
 * there is no moment when it is more open than asked) and set exactly with chmod after. The listener removes
 * its own socket file when it closes (only if the file is still the one it made). Abstract names
 * (`unix:@name`) have no file.
 *
 * @module
 */
import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import type { AccessList } from '../core/cidr.js';
import { debug } from '../core/debug.js';
import { NetworkError, toSoketError } from '../core/errors.js';
import type { InetAddress, ServerAddress, UnixAddress } from '../core/lifecycle.js';
import { formatHostPort } from '../core/validate.js';
import {
  formatStreamAddress,
  nodeUnixPath,
  type StreamAddress,
  type UnixStreamAddress,
} from './stream-address.js';
import type { PreparedTlsServer } from './tls-config.js';

/** Options of {@link StreamListener}. */
export interface StreamListenerOptions {
  /** Where to listen (its `tls` flag is ignored: pass `tls` settings to enable TLS). */
  address: StreamAddress;
  /** Kernel accept queue length. @default 511 */
  backlog?: number;
  /** With `::`, IPv6 only. @default false */
  ipv6Only?: boolean;
  /** SO_REUSEPORT. @default false */
  reusePort?: boolean;
  /** In a cluster worker: bind its own socket. @default false */
  exclusive?: boolean;
  /** TCP_NODELAY on accepted sockets. @default true */
  noDelay?: boolean;
  /** Mode of the Unix socket file (e.g. 0o660). @default the umask's */
  unixPerm?: number;
  /** TLS on accepted sockets (from `prepareTlsServer`). @default none */
  tls?: PreparedTlsServer;
  /** Peers let in (TCP only; a Unix peer has no address). @default everyone */
  access?: AccessList;
}

/** Who connected. */
export interface StreamPeer {
  /** IP address, or `unix` for a Unix socket peer. */
  remoteAddress: string;
  /** Port, or 0 for a Unix peer. */
  remotePort: number;
  /** `127.0.0.1:50000`, `[::1]:50000` or `unix`. */
  peer: string;
}

/** Callbacks of {@link StreamListener}. */
export interface StreamListenerHandlers {
  /** A socket is ready (TLS finished, when TLS is on). */
  connection(socket: net.Socket, peer: StreamPeer): void;
  /** A peer the access list refused; its socket was already destroyed. */
  denied?(peer: StreamPeer, reason: string): void;
  /** A TLS handshake failed or timed out; its socket was already destroyed. */
  tlsError?(error: Error, peer: StreamPeer): void;
  /** accept(2) failed (EMFILE, ...). */
  acceptError?(error: NodeJS.ErrnoException): void;
  /** A raw socket was accepted, before access checks and TLS (for counting). Return false to drop it. */
  accepted?(socket: net.Socket): boolean;
}

/**
 * A listener for TCP or Unix stream sockets, with access control and TLS.
 *
 * @example
 * ```ts
 * const l = new StreamListener({ address: parseStreamAddress('unix:/tmp/s.sock'), unixPerm: 0o660 }, {
 *   connection: (socket) => socket.pipe(socket),
 * });
 * const where = await l.listen();
 * // ...
 * l.close();
 * ```
 */
export class StreamListener {
  /** The Node server that accepts. */
  readonly server: net.Server;
  readonly #options: StreamListenerOptions;
  readonly #handlers: StreamListenerHandlers;
  readonly #tls: tls.Server | undefined;
  #address: ServerAddress | undefined;
  #unixIno: number | undefined;
  #closed = false;

  /**
   * @param options - address, backlog, Unix mode, TLS, access list
   * @param handlers - what to do with ready sockets, refusals and TLS failures
   */
  constructor(options: StreamListenerOptions, handlers: StreamListenerHandlers) {
    this.#options = options;
    this.#handlers = handlers;
    this.server = net.createServer({
      allowHalfOpen: true,
      noDelay: options.noDelay ?? true,
      pauseOnConnect: false,
    });
    this.server.on('connection', (socket: net.Socket) => this.#onRaw(socket));
    if (options.tls) {
      const t = tls.createServer({ ...options.tls.secure, allowHalfOpen: true });
      t.on('secureConnection', (secure: tls.TLSSocket) => {
        const peer = (secure as unknown as { [PEER]?: StreamPeer })[PEER] ?? peerOf(secure, this.#isUnix);
        this.#handlers.connection(secure, peer);
      });
      t.on('tlsClientError', (err: Error, secure: tls.TLSSocket) => {
        const peer = (secure as unknown as { [PEER]?: StreamPeer })[PEER] ?? peerOf(secure, this.#isUnix);
        secure.destroy();
        this.#handlers.tlsError?.(err, peer);
      });
      this.#tls = t;
    }
  }

  get #isUnix(): boolean {
    return this.#options.address.kind === 'unix';
  }

  /** Where it listens (after {@link listen}). */
  get address(): ServerAddress | undefined {
    return this.#address;
  }

  #onRaw(socket: net.Socket): void {
    if (this.#handlers.accepted && !this.#handlers.accepted(socket)) return;
    const access = this.#options.access;
    const unix = this.#isUnix;
    if (access?.active && !unix) {
      const address = socket.remoteAddress ?? '';
      if (!access.allows(address)) {
        const peer = peerOf(socket, false);
        socket.destroy();
        this.#handlers.denied?.(peer, access.reason(address));
        return;
      }
    }
    if (this.#tls) {
      // Remember the peer: a TLS socket that fails early may no longer know its address.
      (socket as unknown as { [PEER]?: StreamPeer })[PEER] = peerOf(socket, unix);
      this.#tls.emit('connection', socket);
      return;
    }
    this.#handlers.connection(socket, peerOf(socket, unix));
  }

  /**
   * Bind and listen.
   *
   * @returns the address (the real port when 0 was asked for)
   * @throws {NetworkError} `EADDRINUSE` (also: a live server owns the Unix socket), `EEXIST` (a file that is not
   *   a socket), `EACCES`, ...
   */
  async listen(): Promise<ServerAddress> {
    const a = this.#options.address;
    const where = formatStreamAddress({ ...a, tls: false });
    if (a.kind === 'unix' && !a.abstract) await clearStaleSocket(a, where);
    const server = this.server;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => {
        server.off('listening', onListening);
        reject(toSoketError(err, `Cannot listen on ${where}`));
      };
      const onListening = () => {
        server.off('error', onError);
        resolve();
      };
      server.once('error', onError);
      server.once('listening', onListening);
      if (a.kind === 'unix') {
        listenPath(server, a, this.#options.unixPerm, this.#options.backlog ?? 511);
      } else {
        const o: net.ListenOptions & { reusePort?: boolean } = {
          host: a.host,
          port: a.port,
          backlog: this.#options.backlog ?? 511,
          ipv6Only: this.#options.ipv6Only ?? false,
          exclusive: this.#options.exclusive ?? false,
        };
        if (this.#options.reusePort) o.reusePort = true;
        server.listen(o);
      }
    });
    server.on('error', (err) => this.#handlers.acceptError?.(err as NodeJS.ErrnoException));
    if (a.kind === 'unix') {
      if (!a.abstract) this.#unixIno = finishUnix(server, a.path, this.#options.unixPerm, where);
      const address: UnixAddress = { family: 'unix', path: a.path, abstract: a.abstract };
      this.#address = address;
    } else {
      const info = server.address() as net.AddressInfo;
      const address: InetAddress = {
        family: info.family === 'IPv6' || (info.family as unknown) === 6 ? 6 : 4,
        address: info.address,
        port: info.port,
      };
      this.#address = address;
    }
    debug('stream', 'listening', { address: this.#address });
    return this.#address;
  }

  /** Stop accepting (open connections are the server's) and remove the Unix socket file this listener made. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.server.close();
    const a = this.#options.address;
    if (a.kind === 'unix' && !a.abstract) removeOwnUnixSocket(a.path, this.#unixIno);
  }
}

const PEER = Symbol('soket.streamPeer');

/** Start listening on a Unix path; the umask makes the file no more open than `perm` from its birth. */
function listenPath(
  server: net.Server,
  a: UnixStreamAddress,
  perm: number | undefined,
  backlog: number,
): void {
  // bind(2) happens inside listen(), synchronously: nothing else runs while the umask is changed.
  const old = perm !== undefined && !a.abstract ? process.umask(0o777 & ~perm) : undefined;
  try {
    server.listen({ path: nodeUnixPath(a), backlog });
  } finally {
    if (old !== undefined) process.umask(old);
  }
}

/** After listening on a Unix path: set the exact mode; returns the file's inode (to remove only our own). */
function finishUnix(server: net.Server, path: string, perm: number | undefined, where: string): number {
  try {
    if (perm !== undefined) chmodSync(path, perm);
    return lstatSync(path).ino;
  } catch (err) {
    server.close();
    throw toSoketError(err, `Cannot set the mode of ${where}`);
  }
}

/**
 * Listen on a Unix stream socket with soket's rules (a live server's socket is never replaced, a stale one is
 * removed, the mode is set from creation on). For servers that keep their own `net.Server`.
 *
 * @param server - a Node server, not yet listening
 * @param address - the path, or `@name` (abstract)
 * @param options - `unixPerm`, `backlog`
 * @returns the socket file's inode (for {@link removeOwnUnixSocket}), or undefined for an abstract name
 * @throws {NetworkError} `EADDRINUSE` when a live server owns the path, `EEXIST` when it is not a socket
 */
export async function listenUnix(
  server: net.Server,
  address: { path: string; abstract: boolean },
  options: { unixPerm?: number; backlog?: number } = {},
): Promise<number | undefined> {
  const a: UnixStreamAddress = { kind: 'unix', path: address.path, abstract: address.abstract, tls: false };
  const where = formatStreamAddress(a);
  if (!a.abstract) await clearStaleSocket(a, where);
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error) => {
      server.off('listening', onListening);
      reject(toSoketError(err, `Cannot listen on ${where}`));
    };
    const onListening = () => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    listenPath(server, a, options.unixPerm, options.backlog ?? 511);
  });
  return a.abstract ? undefined : finishUnix(server, a.path, options.unixPerm, where);
}

/**
 * Remove a Unix socket file if it is still the one this process made (same inode).
 *
 * @param path - the socket file
 * @param ino - its inode when it was made
 */
export function removeOwnUnixSocket(path: string, ino: number | undefined): void {
  if (ino === undefined) return;
  try {
    if (lstatSync(path).ino === ino) unlinkSync(path);
  } catch {
    // already gone (libuv removes it on close, too)
  }
}

function peerOf(socket: net.Socket, unix: boolean): StreamPeer {
  if (unix) return { remoteAddress: 'unix', remotePort: 0, peer: 'unix' };
  const remoteAddress = socket.remoteAddress ?? 'unknown';
  const remotePort = socket.remotePort ?? 0;
  return { remoteAddress, remotePort, peer: formatHostPort(remoteAddress, remotePort) };
}

/**
 * Before binding a Unix socket path: refuse when a live server owns it or it is not a socket; remove it when
 * it is a stale socket (connecting to it is refused).
 */
async function clearStaleSocket(a: UnixStreamAddress, where: string): Promise<void> {
  let st: ReturnType<typeof lstatSync>;
  try {
    st = lstatSync(a.path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw toSoketError(err, `Cannot listen on ${where}`);
  }
  if (!st.isSocket()) {
    throw new NetworkError(`Cannot listen on ${where}: the path exists and is not a socket`, 'EEXIST');
  }
  const live = await new Promise<boolean>((resolve) => {
    const probe = net.connect({ path: a.path });
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (live) {
    throw new NetworkError(`Cannot listen on ${where}: another server is listening on it`, 'EADDRINUSE');
  }
  try {
    unlinkSync(a.path);
    debug('stream', 'removed a stale Unix socket', { path: a.path });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
      throw toSoketError(err, `Cannot remove the stale ${where}`);
  }
}
