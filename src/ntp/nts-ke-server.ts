/**
 * An NTS Key Establishment server (RFC 8915 §4) with the common server lifecycle: TLS 1.3 only, ALPN
 * `ntske/1` required, one request and one response per connection, then the server closes it.
 *
 * - A request that breaks RFC 8915's rules gets an Error record (0 for an unrecognized critical record, 1 for
 *   a bad request); one that asks for no protocol or AEAD algorithm soket has gets an empty Next Protocol or
 *   AEAD Algorithm record. A good one gets NTPv4, AEAD_AES_SIV_CMAC_256, the NTP port (when not 123) and
 *   server (when configured), and 8 cookies sealed with the shared {@link NtsCookieKeys}.
 * - The client's keys come from the TLS exporter (see `exportNtsKeys`); they never cross the wire.
 * - Each connection has a time limit (`sessionTimeout`, TLS handshake included) and the request a size limit
 *   (16 KiB); at most `maxConnections` are open at once (further ones are closed at once and counted).
 * - Without a certificate, an ephemeral self-signed one (ECDSA P-256, for the bind address and localhost) is
 *   made at `listen()`; its fingerprint and PEM are on {@link NtsKeServer.certificate}, so clients can trust or
 *   pin it.
 *
 * @module
 */
import net from 'node:net';
import tls from 'node:tls';
import {
  AEAD_AES_SIV_CMAC_256,
  decodeNtsKeRequest,
  encodeNtsKeResponse,
  NTS_KE_ALPN,
  NTS_KE_MAX_MESSAGE_LENGTH,
  NTS_KE_PORT,
  NTS_MAX_COOKIES,
  NTS_NEXT_PROTOCOL_NTPV4,
  NtsKeDecodeError,
  NtsKeErrorCode,
  ntsKeMessageLength,
} from '../codec/nts-ke.js';
import { debug } from '../core/debug.js';
import { toSoketError, ValidationError } from '../core/errors.js';
import { type InetAddress, listening, ServerLifecycle } from '../core/lifecycle.js';
import { formatHostPort, parseHost, parseInteger, parsePort } from '../core/validate.js';
import { createSelfSignedCertificate, describeCertificate } from '../net/tls-cert.js';
import { NtsCookieKeys } from './nts-cookies.js';
import { exportNtsKeys } from './nts-ke-client.js';

/** Options of {@link createNtsKeServer}. */
export interface NtsKeServerOptions {
  /** Address to bind. @default '127.0.0.1' */
  host?: string;
  /** TCP port; 0 picks a free one. @default 4460 */
  port?: number;
  /** Certificate chain (PEM). With `key`; without both, an ephemeral self-signed certificate is made. */
  cert?: string | Uint8Array;
  /** Private key (PEM). */
  key?: string | Uint8Array;
  /** The cookie keys, shared with the NTP server that will receive the cookies. @default new keys */
  cookieKeys?: NtsCookieKeys;
  /** The NTP port to announce (a Port Negotiation record is sent when it is not 123). @default 123 */
  ntpPort?: number;
  /** The NTP server to announce (Server Negotiation record), when it is not this server's address. */
  ntpServer?: string;
  /** Limit of one connection, TLS handshake to last byte, in ms. @default 10000 */
  sessionTimeout?: number;
  /** Most connections open at once. @default 1000 */
  maxConnections?: number;
  /** Closes the server when it fires. */
  signal?: AbortSignal;
}

/** The defaults of {@link NtsKeServerOptions}, in one place. */
export const NTS_KE_SERVER_DEFAULTS = {
  host: '127.0.0.1',
  port: NTS_KE_PORT,
  ntpPort: 123,
  sessionTimeout: 10_000,
  maxConnections: 1000,
} as const;

/** Counters of an {@link NtsKeServer}. */
export interface NtsKeServerStats {
  /** TCP connections accepted. */
  connections: number;
  /** Successful key exchanges (cookies sent). */
  keyExchanges: number;
  /** Cookies sent. */
  cookies: number;
  /** Responses with an Error record (a malformed or rule-breaking request). */
  errorResponses: number;
  /** Responses without a usable protocol or AEAD algorithm (the client asked for none soket has). */
  refused: number;
  /** Connections that failed, by reason. */
  failed: {
    /** TLS handshake failed (not TLS 1.3, bad record, client went away during the handshake). */
    tls: number;
    /** ALPN `ntske/1` was not agreed. */
    alpn: number;
    /** The session took longer than `sessionTimeout`. */
    timeout: number;
    /** Over `maxConnections`. */
    overload: number;
    /** Closed by the client before its request ended, or the request was over 16 KiB. */
    incomplete: number;
  };
}

/** Events of an {@link NtsKeServer}. */
export interface NtsKeServerEvents {
  /** A key exchange completed: who, and how many cookies it got. */
  keyExchange: [info: { address: string; port: number; cookies: number }];
}

/** The certificate an {@link NtsKeServer} serves. */
export interface NtsKeCertificate {
  /** PEM certificate (chain). */
  cert: string;
  /** SHA-256 fingerprint, colon-separated hex. */
  fingerprint256: string;
  /** `sha256:BASE64` pin for clients. */
  pin: string;
  /** Whether soket made it (no certificate was given). */
  selfSigned: boolean;
}

function pem(value: string | Uint8Array | undefined, what: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' && !(value instanceof Uint8Array)) {
    throw new ValidationError(`Invalid ${what}: expected PEM text or bytes`);
  }
  const text = typeof value === 'string' ? value : Buffer.from(value).toString('utf8');
  if (!text.includes('-----BEGIN')) throw new ValidationError(`Invalid ${what}: expected PEM text`);
  return text;
}

/**
 * An NTS-KE server. Made by {@link createNtsKeServer}, or `new NtsKeServer()` and `listen()`.
 *
 * @example
 * ```ts
 * const cookieKeys = new NtsCookieKeys();
 * const ntp = await createSntpServer({ port: 0, leap: 0, nts: cookieKeys });
 * const ke = await createNtsKeServer({ port: 0, cookieKeys, ntpPort: ntp.address.port });
 * console.log(ke.certificate.pin); // give it to clients
 * ```
 */
export class NtsKeServer extends ServerLifecycle<NtsKeServerStats, InetAddress, NtsKeServerEvents> {
  protected readonly kind = 'NTS-KE server';
  /** The cookie keys (share them with the NTP server). */
  readonly cookieKeys: NtsCookieKeys;
  readonly #host: string;
  readonly #port: number;
  readonly #cert: string | undefined;
  readonly #key: string | undefined;
  readonly #ntpPort: number;
  readonly #ntpServer: string | undefined;
  readonly #sessionTimeout: number;
  readonly #maxConnections: number;
  #server: tls.Server | undefined;
  #certificate: NtsKeCertificate | undefined;
  readonly #open = new Set<net.Socket>();
  readonly #stats: NtsKeServerStats = {
    connections: 0,
    keyExchanges: 0,
    cookies: 0,
    errorResponses: 0,
    refused: 0,
    failed: { tls: 0, alpn: 0, timeout: 0, overload: 0, incomplete: 0 },
  };

  /**
   * @param options - address, certificate, cookie keys, what to announce, limits, signal
   * @throws {ValidationError} for bad options (a certificate without a key, a bad port, ...)
   */
  constructor(options: NtsKeServerOptions = {}) {
    if (typeof options !== 'object' || options === null) {
      throw new ValidationError('Invalid NTS-KE server options: expected an object');
    }
    super(options.signal);
    this.#host = parseHost(options.host ?? NTS_KE_SERVER_DEFAULTS.host, 'listen address');
    if (net.isIP(this.#host) === 0) {
      throw new ValidationError(`Invalid listen address '${this.#host}': expected an IP address`);
    }
    this.#port = parsePort(options.port ?? NTS_KE_SERVER_DEFAULTS.port, { allowZero: true });
    this.#cert = pem(options.cert, 'certificate');
    this.#key = pem(options.key, 'key');
    if ((this.#cert === undefined) !== (this.#key === undefined)) {
      throw new ValidationError(
        'Give both a certificate and its key, or neither (for an ephemeral self-signed one)',
      );
    }
    this.#ntpPort = parsePort(options.ntpPort ?? NTS_KE_SERVER_DEFAULTS.ntpPort);
    if (
      options.ntpServer !== undefined &&
      (typeof options.ntpServer !== 'string' || !/^[\x21-\x7e]{1,255}$/.test(options.ntpServer))
    ) {
      throw new ValidationError(
        `Invalid NTP server to announce '${String(options.ntpServer)}': expected a host name or address`,
      );
    }
    this.#ntpServer = options.ntpServer;
    this.#sessionTimeout = parseInteger(
      options.sessionTimeout ?? NTS_KE_SERVER_DEFAULTS.sessionTimeout,
      'sessionTimeout',
      {
        min: 1,
        max: 3_600_000,
      },
    );
    this.#maxConnections = parseInteger(
      options.maxConnections ?? NTS_KE_SERVER_DEFAULTS.maxConnections,
      'maxConnections',
      {
        min: 1,
        max: 1_000_000,
      },
    );
    if (options.cookieKeys !== undefined && !(options.cookieKeys instanceof NtsCookieKeys)) {
      throw new ValidationError('Invalid cookieKeys: expected an NtsCookieKeys');
    }
    this.cookieKeys = options.cookieKeys ?? new NtsCookieKeys();
  }

  /** The certificate served (known once `listen()` resolved). */
  get certificate(): NtsKeCertificate {
    if (!this.#certificate) throw new ValidationError('The NTS-KE server has no certificate before listen()');
    return this.#certificate;
  }

  /** A copy of the counters. */
  stats(): NtsKeServerStats {
    return { ...this.#stats, failed: { ...this.#stats.failed } };
  }

  protected async start(): Promise<InetAddress> {
    let cert = this.#cert;
    let key = this.#key;
    let selfSigned = false;
    if (cert === undefined || key === undefined) {
      const hosts = this.#host === '0.0.0.0' || this.#host === '::' ? [] : [this.#host];
      const made = await createSelfSignedCertificate({ hosts, commonName: 'soket NTS-KE' });
      cert = made.cert;
      key = made.key;
      selfSigned = true;
    }
    let info: ReturnType<typeof describeCertificate>;
    try {
      info = describeCertificate(cert);
    } catch (err) {
      throw toSoketError(err, 'Cannot read the NTS-KE certificate');
    }
    this.#certificate = { cert, fingerprint256: info.fingerprint256, pin: info.pin, selfSigned };
    let server: tls.Server;
    try {
      server = tls.createServer({
        cert,
        key,
        minVersion: 'TLSv1.3',
        ALPNProtocols: [NTS_KE_ALPN],
        handshakeTimeout: this.#sessionTimeout,
      });
    } catch (err) {
      throw toSoketError(err, 'Cannot use the NTS-KE certificate and key');
    }
    server.on('connection', (socket: net.Socket) => {
      this.#stats.connections++;
      if (this.#open.size >= this.#maxConnections) {
        this.#stats.failed.overload++;
        socket.destroy();
        return;
      }
      this.#open.add(socket);
      socket.once('close', () => this.#open.delete(socket));
      socket.setTimeout(this.#sessionTimeout, () => {
        this.#stats.failed.timeout++;
        socket.destroy();
      });
    });
    server.on('tlsClientError', (err: Error & { code?: string }, socket) => {
      if (err.code === 'ERR_TLS_HANDSHAKE_TIMEOUT') this.#stats.failed.timeout++;
      else this.#stats.failed.tls++;
      debug('ntp', 'NTS-KE: TLS handshake failed', { error: err.message, code: err.code });
      socket.destroy();
    });
    server.on('secureConnection', (socket: tls.TLSSocket) => this.#session(socket));
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => {
        reject(toSoketError(err, `Cannot listen on ${formatHostPort(this.#host, this.#port)} (NTS-KE)`));
      };
      server.once('error', onError);
      server.listen({ host: this.#host, port: this.#port, exclusive: true }, () => {
        server.off('error', onError);
        resolve();
      });
    });
    server.on('error', (err) => this.reportError(toSoketError(err, 'NTS-KE server')));
    this.#server = server;
    const a = server.address() as net.AddressInfo;
    const address: InetAddress = { address: a.address, port: a.port, family: a.family === 'IPv6' ? 6 : 4 };
    debug('ntp', `NTS-KE server listening on ${formatHostPort(address.address, address.port)}`, {
      selfSigned,
      fingerprint: info.fingerprint256,
    });
    return address;
  }

  #session(socket: tls.TLSSocket): void {
    if (socket.alpnProtocol !== NTS_KE_ALPN) {
      this.#stats.failed.alpn++;
      socket.destroy();
      return;
    }
    const chunks: Buffer[] = [];
    let length = 0;
    let answered = false;
    socket.on('data', (chunk: Buffer) => {
      if (answered) return;
      chunks.push(chunk);
      length += chunk.length;
      const all = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, length);
      let end: number | undefined;
      try {
        end = ntsKeMessageLength(all, NTS_KE_MAX_MESSAGE_LENGTH);
      } catch {
        answered = true;
        this.#stats.failed.incomplete++;
        this.#respond(socket, encodeNtsKeResponse({ error: NtsKeErrorCode.badRequest }));
        return;
      }
      if (end === undefined) return;
      answered = true;
      this.#respond(socket, this.#answer(socket, new Uint8Array(all.subarray(0, end))));
    });
    socket.on('end', () => {
      if (!answered) {
        this.#stats.failed.incomplete++;
        socket.destroy();
      }
    });
    socket.on('error', (err) => {
      debug('ntp', 'NTS-KE: connection error', { error: err.message });
    });
  }

  #answer(socket: tls.TLSSocket, request: Uint8Array): Uint8Array {
    let r: ReturnType<typeof decodeNtsKeRequest>;
    try {
      r = decodeNtsKeRequest(request);
    } catch (err) {
      this.#stats.errorResponses++;
      const code = err instanceof NtsKeDecodeError ? err.ntsKeError : NtsKeErrorCode.badRequest;
      debug('ntp', 'NTS-KE: bad request', { error: (err as Error).message, code });
      return encodeNtsKeResponse({ error: code });
    }
    if (!r.nextProtocols.includes(NTS_NEXT_PROTOCOL_NTPV4)) {
      this.#stats.refused++;
      return encodeNtsKeResponse({});
    }
    if (!r.aeadAlgorithms.includes(AEAD_AES_SIV_CMAC_256)) {
      this.#stats.refused++;
      return encodeNtsKeResponse({ nextProtocol: NTS_NEXT_PROTOCOL_NTPV4 });
    }
    const keys = exportNtsKeys(socket, AEAD_AES_SIV_CMAC_256);
    const cookies: Uint8Array[] = [];
    for (let i = 0; i < NTS_MAX_COOKIES; i++) cookies.push(this.cookieKeys.seal(keys));
    keys.c2s.fill(0);
    keys.s2c.fill(0);
    this.#stats.keyExchanges++;
    this.#stats.cookies += cookies.length;
    this.emit('keyExchange', {
      address: socket.remoteAddress ?? '',
      port: socket.remotePort ?? 0,
      cookies: cookies.length,
    });
    return encodeNtsKeResponse({
      nextProtocol: NTS_NEXT_PROTOCOL_NTPV4,
      aeadAlgorithm: AEAD_AES_SIV_CMAC_256,
      ...(this.#ntpPort !== 123 ? { port: this.#ntpPort } : {}),
      ...(this.#ntpServer !== undefined ? { server: this.#ntpServer } : {}),
      cookies,
    });
  }

  #respond(socket: tls.TLSSocket, bytes: Uint8Array): void {
    socket.end(bytes);
  }

  protected async stop(timeout: number | undefined): Promise<void> {
    const server = this.#server;
    if (!server) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    if (timeout === 0 || this.#open.size === 0) {
      for (const s of this.#open) s.destroy();
    } else {
      const t = setTimeout(() => {
        for (const s of this.#open) s.destroy();
      }, timeout ?? this.#sessionTimeout);
      t.unref();
      await closed;
      clearTimeout(t);
      return;
    }
    await closed;
  }
}

/**
 * Start an NTS-KE server.
 *
 * @param options - address, certificate (or none for a self-signed one), cookie keys, NTP port/server to
 *   announce, limits, signal
 * @returns the server, listening
 * @throws {ValidationError} for bad options
 * @throws {NetworkError} when the address cannot be bound
 * @example
 * ```ts
 * const ke = await createNtsKeServer({ port: 0, ntpPort: 11123 });
 * const client = new NtsClient(`127.0.0.1:${ke.address.port}`, { ca: ke.certificate.cert });
 * ```
 */
export async function createNtsKeServer(options: NtsKeServerOptions = {}): Promise<NtsKeServer> {
  return listening(new NtsKeServer(options));
}
