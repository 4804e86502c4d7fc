/**
 * DNS over HTTPS (RFC 8484): the DNS message is the body of a `POST` (`Content-Type: application/dns-message`)
 * or, base64url-encoded without padding, the `dns` parameter of a `GET`; the answer is the body of a `200`
 * response of the same media type. soket offers HTTP/2 and HTTP/1.1 with ALPN and speaks what the server
 * picks: over HTTP/2 every query of a batch is a stream on one connection; over HTTP/1.1 each query has a
 * connection of its own. The message ID is 0 (RFC 8484 §4.1: HTTP already pairs request and response).
 *
 * @module
 */
import type http from 'node:http';
import type http2 from 'node:http2';
import { createRequire } from 'node:module';
import { isIP } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { SoketError, ValidationError } from '../core/errors.js';
import { formatHostPort } from '../core/validate.js';
import { connectTls, type TlsSession } from '../net/tls-client.js';
import type { TlsClientOptions } from '../net/tls-config.js';

// node:http2 and node:http are required on first use: loading them costs every `soket resolve` start-up
// (about 15 ms) and only DoH needs them.
const load = createRequire(import.meta.url);
let httpModule: typeof http | undefined;
let http2Module: typeof http2 | undefined;
const lazyHttp = (): typeof http => {
  httpModule ??= load('node:http') as typeof http;
  return httpModule;
};
const lazyHttp2 = (): typeof http2 => {
  http2Module ??= load('node:http2') as typeof http2;
  return http2Module;
};

/** The media type of DNS messages over HTTP. */
export const DNS_MESSAGE_MEDIA_TYPE = 'application/dns-message';

/** A DoH endpoint, checked. */
export interface DohEndpoint {
  /** The URL, `{?dns}` template removed: `https://127.0.0.1:8443/dns-query`. */
  url: URL;
  /** Where to connect: the URL's host, or an address given instead. */
  address: string;
  port: number;
}

/**
 * Check a DoH URL: `https://HOST[:PORT]/PATH`, optionally ending in the RFC 8484 template `{?dns}`.
 *
 * @param value - the URL as given
 * @returns the endpoint (port 443 unless given)
 * @throws {ValidationError} for anything that is not an https URL with a host
 * @example
 * ```ts
 * parseDohUrl('https://127.0.0.1:8443/dns-query{?dns}').url.href; // 'https://127.0.0.1:8443/dns-query'
 * ```
 */
export function parseDohUrl(value: string): DohEndpoint {
  const text = typeof value === 'string' ? value.trim().replace(/\{\?dns\}$/, '') : '';
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ValidationError(`Invalid DoH URL '${value}': expected https://HOST[:PORT]/PATH`);
  }
  if (url.protocol !== 'https:') {
    throw new ValidationError(
      `Invalid DoH URL '${value}': the scheme must be https (RFC 8484), not ${url.protocol.slice(0, -1)}`,
    );
  }
  if (url.hostname === '') throw new ValidationError(`Invalid DoH URL '${value}': no host`);
  if (url.username || url.password)
    throw new ValidationError(`Invalid DoH URL '${value}': credentials are not allowed`);
  if (url.hash) throw new ValidationError(`Invalid DoH URL '${value}': a fragment is not allowed`);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return { url, address: host, port: url.port ? Number(url.port) : 443 };
}

/** What a DoH exchange got back. */
export interface DohReply {
  bytes: Buffer;
  /** `2` or `1.1`. */
  httpVersion: string;
}

/** A connection to the endpoint: an HTTP/2 session, or a TLS socket for one HTTP/1.1 request. */
type Connection =
  | { kind: 'h2'; session: http2.ClientHttp2Session }
  | { kind: 'h1'; socket: TLSSocket; taken: boolean };

/** The largest body accepted: one DNS message. */
const MAX_BODY = 65_535;

function base64url(b: Uint8Array): string {
  return Buffer.from(b).toString('base64').replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/**
 * A DoH client for one endpoint: one HTTP/2 session shared by all queries, or a connection per query over
 * HTTP/1.1.
 *
 * @example
 * ```ts
 * const doh = new DohClient(parseDohUrl('https://127.0.0.1:8443/dns-query'), { ca }, 'POST');
 * const reply = await doh.query(message, { timeout: 2000 });
 * doh.close();
 * ```
 */
export class DohClient {
  readonly endpoint: DohEndpoint;
  readonly #tls: TlsClientOptions;
  readonly #method: 'POST' | 'GET';
  #session: Promise<Connection> | undefined;
  #h1 = false;
  #closed = false;
  readonly #requests = new Set<{ destroy(): void }>();
  /** The last TLS session's facts. */
  tls: TlsSession | undefined;

  constructor(endpoint: DohEndpoint, tls: TlsClientOptions, method: 'POST' | 'GET') {
    this.endpoint = endpoint;
    this.#tls = tls;
    this.#method = method;
  }

  get target(): string {
    return this.endpoint.url.href;
  }

  async #connect(timeout: number | undefined, signal: AbortSignal | undefined) {
    const { address, port, url } = this.endpoint;
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const servername = this.#tls.servername ?? (isIP(host) === 0 ? host : undefined);
    const c = await connectTls({
      host: address,
      port,
      ...this.#tls,
      ...(servername ? { servername } : {}),
      alpn: ['h2', 'http/1.1'],
      ...(timeout ? { connectTimeout: timeout, handshakeTimeout: timeout } : {}),
      ...(signal ? { signal } : {}),
    });
    this.tls = c.tls;
    return c;
  }

  /** Connect; HTTP/2 when the server picks it with ALPN, else the connection is for one HTTP/1.1 request. */
  async #open(timeout: number | undefined, signal: AbortSignal | undefined): Promise<Connection> {
    const c = await this.#connect(timeout, signal);
    if (c.tls.alpn !== 'h2') return { kind: 'h1', socket: c.socket, taken: false };
    const session = lazyHttp2().connect(this.endpoint.url.origin, { createConnection: () => c.socket });
    session.on('error', () => undefined);
    return { kind: 'h2', session };
  }

  /**
   * Send one DNS message and read the answer's bytes.
   *
   * @param message - the query (ID 0)
   * @param options - `timeout` for connecting; `signal` cancels this request; `connectSignal` a connection
   *   opened for it (shared by later requests, so not this request's own signal)
   * @throws {SoketError} code `EBADRESP` for a status other than 200, another media type or an oversized body
   * @throws {TlsError}, {NetworkError}, {TimeoutError} from connecting
   */
  async query(
    message: Uint8Array,
    options: {
      timeout?: number | undefined;
      signal?: AbortSignal | undefined;
      connectSignal?: AbortSignal | undefined;
    } = {},
  ): Promise<DohReply> {
    for (;;) {
      if (this.#closed) throw new SoketError(`DoH client for ${this.target} is closed`, 'SOKET_CLOSED');
      if (this.#h1) {
        const c = await this.#connect(options.timeout, options.signal);
        return this.#h1Request(c.socket, message, options.signal);
      }
      if (!this.#session) {
        const opening = this.#open(options.timeout, options.connectSignal);
        this.#session = opening;
        opening.catch(() => {
          if (this.#session === opening) this.#session = undefined;
        });
      }
      const c = await this.#session;
      if (c.kind === 'h1') {
        // The server speaks HTTP/1.1: this connection serves one request; later ones open their own.
        this.#h1 = true;
        this.#session = undefined;
        if (c.taken) continue;
        c.taken = true;
        return this.#h1Request(c.socket, message, options.signal);
      }
      if (c.session.closed || c.session.destroyed) {
        this.#session = undefined;
        continue;
      }
      return this.#h2(c.session, message, options.signal);
    }
  }

  #path(message: Uint8Array): string {
    const { url } = this.endpoint;
    if (this.#method === 'POST') return `${url.pathname}${url.search}`;
    return `${url.pathname}${url.search ? `${url.search}&` : '?'}dns=${base64url(message)}`;
  }

  #check(status: number, type: string | undefined, via: string): void {
    if (status !== 200) {
      throw new SoketError(`DoH server ${this.target} answered HTTP ${status}${via}`, 'EBADRESP');
    }
    const media = (type ?? '').split(';')[0]?.trim().toLowerCase();
    if (media !== DNS_MESSAGE_MEDIA_TYPE) {
      throw new SoketError(
        `DoH server ${this.target} answered with Content-Type '${type ?? ''}', not ${DNS_MESSAGE_MEDIA_TYPE}${via}`,
        'EBADRESP',
      );
    }
  }

  #h2(
    session: http2.ClientHttp2Session,
    message: Uint8Array,
    signal: AbortSignal | undefined,
  ): Promise<DohReply> {
    return new Promise<DohReply>((resolve, reject) => {
      const headers: http2.OutgoingHttpHeaders = {
        ':method': this.#method,
        ':path': this.#path(message),
        accept: DNS_MESSAGE_MEDIA_TYPE,
      };
      if (this.#method === 'POST') {
        headers['content-type'] = DNS_MESSAGE_MEDIA_TYPE;
        headers['content-length'] = message.length;
      }
      const req = session.request(headers, signal ? { signal } : {});
      this.#requests.add(req);
      const chunks: Buffer[] = [];
      let size = 0;
      const done = () => this.#requests.delete(req);
      req.on('response', (h) => {
        try {
          this.#check(Number(h[':status']), h['content-type'] as string | undefined, ' (HTTP/2)');
        } catch (err) {
          done();
          req.close(lazyHttp2().constants.NGHTTP2_CANCEL);
          reject(err);
        }
      });
      req.on('data', (b: Buffer) => {
        size += b.length;
        if (size > MAX_BODY) {
          done();
          req.close(lazyHttp2().constants.NGHTTP2_CANCEL);
          reject(new SoketError(`DoH server ${this.target} sent a body over ${MAX_BODY} bytes`, 'EBADRESP'));
          return;
        }
        chunks.push(b);
      });
      req.on('end', () => {
        done();
        resolve({ bytes: Buffer.concat(chunks), httpVersion: '2' });
      });
      req.on('error', (err) => {
        done();
        reject(err);
      });
      req.end(this.#method === 'POST' ? Buffer.from(message) : undefined);
    });
  }

  #h1Request(socket: TLSSocket, message: Uint8Array, signal: AbortSignal | undefined): Promise<DohReply> {
    return new Promise<DohReply>((resolve, reject) => {
      const { url } = this.endpoint;
      const headers: http.OutgoingHttpHeaders = {
        host: url.host,
        accept: DNS_MESSAGE_MEDIA_TYPE,
        connection: 'close',
      };
      if (this.#method === 'POST') {
        headers['content-type'] = DNS_MESSAGE_MEDIA_TYPE;
        headers['content-length'] = message.length;
      }
      const req = lazyHttp().request({
        createConnection: () => socket,
        method: this.#method,
        path: this.#path(message),
        headers,
        ...(signal ? { signal } : {}),
      });
      const entry = { destroy: () => req.destroy() };
      this.#requests.add(entry);
      const finish = () => {
        this.#requests.delete(entry);
        socket.destroy();
      };
      req.on('response', (res) => {
        try {
          this.#check(res.statusCode ?? 0, res.headers['content-type'], ' (HTTP/1.1)');
        } catch (err) {
          finish();
          reject(err);
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (b: Buffer) => {
          size += b.length;
          if (size > MAX_BODY) {
            finish();
            reject(
              new SoketError(`DoH server ${this.target} sent a body over ${MAX_BODY} bytes`, 'EBADRESP'),
            );
            return;
          }
          chunks.push(b);
        });
        res.on('end', () => {
          finish();
          resolve({ bytes: Buffer.concat(chunks), httpVersion: '1.1' });
        });
        res.on('error', (err) => {
          finish();
          reject(err);
        });
      });
      req.on('error', (err) => {
        finish();
        reject(err);
      });
      req.end(this.#method === 'POST' ? Buffer.from(message) : undefined);
    });
  }

  /** Close the session and any request in flight. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const r of this.#requests) r.destroy();
    this.#requests.clear();
    const s = this.#session;
    this.#session = undefined;
    s?.then(
      (c) => (c.kind === 'h2' ? c.session.destroy() : c.socket.destroy()),
      () => undefined,
    );
  }
}

/** `HOST:PORT` of an endpoint, for messages. @internal */
export function dohTarget(e: DohEndpoint): string {
  return formatHostPort(e.address, e.port);
}
