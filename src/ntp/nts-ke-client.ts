/**
 * The client side of NTS Key Establishment (RFC 8915 §4): one TLS 1.3 connection with ALPN `ntske/1` to the
 * NTS-KE server (TCP port 4460), one request (NTPv4, AEAD_AES_SIV_CMAC_256), one response (cookies, and
 * perhaps another NTP server or port), and the two AEAD keys exported from the TLS session with the RFC 5705
 * exporter (label `EXPORTER-network-time-security`, context = protocol ID 0 ‖ AEAD ID 15 ‖ 0x00 for
 * client-to-server, 0x01 for server-to-client).
 *
 * The certificate is verified as for any TLS client (system CAs, or `ca`; `servername` names the host to
 * check; a `pin` accepts exactly one certificate). A server that does not speak TLS 1.3 or does not agree to
 * `ntske/1` is refused.
 *
 * @module
 */
import tls from 'node:tls';
import {
  AEAD_AES_SIV_CMAC_256,
  decodeNtsKeResponse,
  encodeNtsKeRequest,
  NTS_KE_ALPN,
  NTS_KE_MAX_MESSAGE_LENGTH,
  NTS_KE_PORT,
  NTS_MAX_COOKIES,
  NTS_NEXT_PROTOCOL_NTPV4,
  NtsKeErrorCode,
  ntsKeMessageLength,
} from '../codec/nts-ke.js';
import { Deadline, throwIfAborted } from '../core/deadline.js';
import { debug } from '../core/debug.js';
import {
  AbortError,
  BadPacketError,
  NtsError,
  SoketError,
  TimeoutError,
  TlsError,
  toSoketError,
  ValidationError,
} from '../core/errors.js';
import { checkSignal, checkTimeout, formatHostPort, parseHostPort, parsePort } from '../core/validate.js';
import { connectTcp } from '../net/tcp-client.js';
import { parsePin, pinMatches } from '../net/tls-cert.js';
import { AES_SIV_CMAC_256_KEY_LENGTH } from './aes-siv.js';

/** The RFC 5705 exporter label of NTS (RFC 8915 §5.1). */
export const NTS_EXPORTER_LABEL = 'EXPORTER-network-time-security';

/** Options of {@link ntsKeyExchange}. */
export interface NtsKeyExchangeOptions {
  /** NTS-KE port, used when the server is not given as `HOST:PORT`. @default 4460 */
  port?: number;
  /** Trusted certificates (PEM text) instead of the system's CAs: e.g. the server's self-signed certificate. */
  ca?: string | Uint8Array | Array<string | Uint8Array>;
  /** The name the certificate must carry (and SNI), when it is not the host given. @default the host */
  servername?: string;
  /** Accept exactly this certificate (`sha256:BASE64` or 64 hex digits), whoever signed it. */
  pin?: string;
  /** Limit of the whole exchange (connect, TLS, records) in ms; 0 for none. @default 5000 */
  timeout?: number;
  /** Address family: 4 or 6. @default whatever the name resolves to first */
  family?: 4 | 6;
  /** Cancels the exchange. */
  signal?: AbortSignal;
}

/** The defaults of {@link NtsKeyExchangeOptions}, in one place. */
export const NTS_KE_DEFAULTS = { port: NTS_KE_PORT, timeout: 5000 } as const;

/** What a key exchange gives: the keys, the cookies and where to send NTP requests. */
export interface NtsKeResult {
  /** The NTS-KE server as `HOST:PORT`. */
  keServer: string;
  /** The address the TLS connection went to. */
  keAddress: string;
  /** The NTP server to ask: the Server Negotiation record's, or the NTS-KE server's host. */
  ntpServer: string;
  /** The NTP port: the Port Negotiation record's, or 123. */
  ntpPort: number;
  /** The AEAD algorithm (15, AEAD_AES_SIV_CMAC_256). */
  aeadAlgorithm: number;
  /** Client-to-server key (requests are sealed with it). */
  c2s: Uint8Array;
  /** Server-to-client key (replies are verified with it). */
  s2c: Uint8Array;
  /** The cookies, in the order given (at most 8 are kept). */
  cookies: Uint8Array[];
  /** Warning codes the server sent. */
  warnings: number[];
  /** The TLS session: protocol, cipher and the server certificate's SHA-256 fingerprint. */
  tls: { protocol: string; cipher: string; fingerprint256: string | undefined };
  /** Milliseconds from the start to the last byte of the response. */
  durationMs: number;
}

const ERROR_TEXT: Record<number, string> = {
  [NtsKeErrorCode.unrecognizedCriticalRecord]: 'unrecognized critical record',
  [NtsKeErrorCode.badRequest]: 'bad request',
  [NtsKeErrorCode.internalServerError]: 'internal server error',
};

/**
 * The two AEAD keys of an NTS-KE session (RFC 8915 §5.1).
 *
 * @param socket - a TLS 1.3 socket after the handshake
 * @param aeadAlgorithm - the negotiated AEAD algorithm @default 15
 * @returns client-to-server and server-to-client keys
 * @example
 * ```ts
 * const { c2s, s2c } = exportNtsKeys(tlsSocket);
 * ```
 */
export function exportNtsKeys(
  socket: tls.TLSSocket,
  aeadAlgorithm: number = AEAD_AES_SIV_CMAC_256,
): { c2s: Uint8Array; s2c: Uint8Array } {
  const context = (direction: number) =>
    Buffer.from([
      NTS_NEXT_PROTOCOL_NTPV4 >> 8,
      NTS_NEXT_PROTOCOL_NTPV4 & 0xff,
      aeadAlgorithm >> 8,
      aeadAlgorithm & 0xff,
      direction,
    ]);
  const length = AES_SIV_CMAC_256_KEY_LENGTH;
  return {
    c2s: new Uint8Array(socket.exportKeyingMaterial(length, NTS_EXPORTER_LABEL, context(0))),
    s2c: new Uint8Array(socket.exportKeyingMaterial(length, NTS_EXPORTER_LABEL, context(1))),
  };
}

/** Node's and OpenSSL's TLS failures (no syscall) become TlsErrors naming the server. */
function tlsError(err: unknown, target: string): SoketError {
  if (err instanceof SoketError && !(err.code === 'SOKET_ERROR')) return err;
  const e = (err instanceof SoketError ? err.cause : err) as {
    code?: unknown;
    syscall?: unknown;
    message?: unknown;
  };
  if (e && typeof e === 'object' && e.syscall === undefined && typeof e.code === 'string') {
    return new TlsError(`TLS with NTS-KE server ${target} failed: ${String(e.message)}`, e.code, {
      cause: err,
    });
  }
  return toSoketError(err, `NTS-KE with ${target}`);
}

function checkCa(ca: NtsKeyExchangeOptions['ca']): Array<string | Uint8Array> | undefined {
  if (ca === undefined) return undefined;
  const list = Array.isArray(ca) ? ca : [ca];
  for (const c of list) {
    if (typeof c !== 'string' && !(c instanceof Uint8Array)) {
      throw new ValidationError('Invalid ca: expected PEM text (a string or bytes)');
    }
    if (
      !String(typeof c === 'string' ? c : Buffer.from(c).toString('latin1')).includes(
        '-----BEGIN CERTIFICATE-----',
      )
    ) {
      throw new ValidationError('Invalid ca: expected PEM certificates (-----BEGIN CERTIFICATE-----)');
    }
  }
  return list;
}

/**
 * Check the key-exchange options an {@link NtsClient} keeps for later (port, CA, pin, server name, family),
 * so that a bad one is a `ValidationError` when the client is made, not at its first query.
 *
 * @param options - as given
 * @throws {ValidationError} for a bad option
 * @internal
 */
export function checkNtsKeOptions(options: Omit<NtsKeyExchangeOptions, 'signal' | 'timeout'>): void {
  if (typeof options !== 'object' || options === null) {
    throw new ValidationError('Invalid NTS options: expected an object');
  }
  if (options.port !== undefined) parsePort(options.port);
  checkCa(options.ca);
  if (options.pin !== undefined) parsePin(options.pin, 'pin');
  const { servername, family } = options;
  if (servername !== undefined && (typeof servername !== 'string' || servername.length === 0)) {
    throw new ValidationError('Invalid servername: expected a host name');
  }
  if (family !== undefined && family !== 4 && family !== 6) {
    throw new ValidationError(`Invalid address family '${String(family)}': expected 4 or 6`);
  }
}

/**
 * Run NTS-KE with a server: TLS 1.3 + `ntske/1`, one request, one response, keys exported.
 *
 * @param server - the NTS-KE server, `HOST` or `HOST:PORT` (port 4460 by default)
 * @param options - port, ca, servername, pin, timeout, family, signal
 * @returns keys, cookies, and the NTP server and port to use
 * @throws {ValidationError} for bad options
 * @throws {TlsError} when the handshake fails or the certificate is not accepted (`reason` says why)
 * @throws {NtsError} when the server does not agree to `ntske/1`, sends an Error record, offers no cookies, or
 *   does not accept NTPv4 with AEAD_AES_SIV_CMAC_256
 * @throws {BadPacketError} when the response does not decode
 * @throws {TimeoutError} phase `overall` when the exchange takes longer than `timeout`
 * @throws {NetworkError} when the server cannot be reached
 * @throws {AbortError} when the signal fires
 * @example
 * ```ts
 * import { readFileSync } from 'node:fs';
 * const ke = await ntsKeyExchange('127.0.0.1:4460', { ca: readFileSync('c.pem', 'utf8') });
 * console.log(ke.cookies.length, `${ke.ntpServer}:${ke.ntpPort}`);
 * ```
 */
export async function ntsKeyExchange(
  server: string,
  options: NtsKeyExchangeOptions = {},
): Promise<NtsKeResult> {
  if (typeof server !== 'string')
    throw new ValidationError(`Invalid NTS-KE server '${String(server)}': expected HOST[:PORT]`);
  if (typeof options !== 'object' || options === null)
    throw new ValidationError('Invalid NTS-KE options: expected an object');
  checkSignal(options.signal);
  const { host, port } = parseHostPort(server, {
    defaultPort: options.port === undefined ? NTS_KE_DEFAULTS.port : parsePort(options.port),
  });
  const timeout = checkTimeout(options.timeout ?? NTS_KE_DEFAULTS.timeout);
  const ca = checkCa(options.ca);
  const pin = options.pin === undefined ? undefined : parsePin(options.pin, 'pin');
  const servername = options.servername;
  if (servername !== undefined && (typeof servername !== 'string' || servername.length === 0)) {
    throw new ValidationError('Invalid servername: expected a host name');
  }
  if (options.family !== undefined && options.family !== 4 && options.family !== 6) {
    throw new ValidationError(`Invalid address family '${String(options.family)}': expected 4 or 6`);
  }
  const target = formatHostPort(host, port);
  throwIfAborted(options.signal, `NTS-KE with ${target}`);
  const started = performance.now();
  const deadline = new Deadline(timeout, `NTS-KE server ${target}`);

  const conn = await connectTcp({
    host,
    port,
    ...(options.family !== undefined ? { family: options.family } : {}),
    ...(timeout !== undefined ? { connectTimeout: deadline.remaining() as number } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const checkName = servername ?? host;
  const socket = tls.connect({
    socket: conn.socket,
    ...(isIpLiteral(checkName) ? {} : { servername: checkName }),
    host: checkName,
    ALPNProtocols: [NTS_KE_ALPN],
    minVersion: 'TLSv1.3',
    ...(ca ? { ca: ca.map((c) => (typeof c === 'string' ? c : Buffer.from(c))) } : {}),
    ...(pin
      ? {
          // A pin replaces the chain and name checks: exactly this certificate, whoever signed it.
          rejectUnauthorized: false,
        }
      : {}),
  });

  try {
    const response = await new Promise<Uint8Array>((resolve, reject) => {
      let done = false;
      const chunks: Buffer[] = [];
      let length = 0;
      const finish = (err: unknown, value?: Uint8Array) => {
        if (done) return;
        done = true;
        if (timer) clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        if (value) resolve(value);
        else reject(err);
      };
      const left = deadline.remaining();
      const timer =
        left === undefined
          ? undefined
          : setTimeout(
              () => finish(new TimeoutError('overall', `NTS-KE server ${target}`, timeout ?? 0)),
              left,
            );
      const onAbort = () => finish(new AbortError(`NTS-KE with ${target} was aborted`));
      options.signal?.addEventListener('abort', onAbort, { once: true });
      socket.once('error', (err) => finish(tlsError(err, target)));
      socket.once('secureConnect', () => {
        if (pin) {
          const cert = socket.getPeerX509Certificate();
          if (!cert?.raw || !pinMatches(cert.raw, pin)) {
            finish(
              new TlsError(`Certificate of NTS-KE server ${target} does not match the pin`, 'PIN_MISMATCH'),
            );
            return;
          }
        }
        if (socket.alpnProtocol !== NTS_KE_ALPN) {
          finish(
            new NtsError(
              `NTS-KE server ${target} did not agree to ALPN '${NTS_KE_ALPN}' (got ${socket.alpnProtocol ? `'${socket.alpnProtocol}'` : 'none'})`,
            ),
          );
          return;
        }
        debug('ntp', `NTS-KE: TLS up with ${target}`, {
          protocol: socket.getProtocol(),
          cipher: socket.getCipher()?.name,
        });
        socket.write(encodeNtsKeRequest({}));
      });
      socket.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        length += chunk.length;
        try {
          const all = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, length);
          const end = ntsKeMessageLength(all, NTS_KE_MAX_MESSAGE_LENGTH);
          if (end !== undefined) finish(undefined, new Uint8Array(all.subarray(0, end)));
        } catch (err) {
          finish(err);
        }
      });
      socket.once('end', () =>
        finish(new NtsError(`NTS-KE server ${target} closed the connection before its response ended`)),
      );
    });

    const r = decodeNtsKeResponse(response);
    if (r.error !== undefined) {
      throw new NtsError(
        `NTS-KE server ${target} sent error ${r.error} (${ERROR_TEXT[r.error] ?? 'unknown error'})`,
      );
    }
    if (r.nextProtocol !== NTS_NEXT_PROTOCOL_NTPV4) {
      throw new NtsError(`NTS-KE server ${target} does not offer NTPv4 as the next protocol`);
    }
    if (r.aeadAlgorithm !== AEAD_AES_SIV_CMAC_256) {
      throw new NtsError(
        `NTS-KE server ${target} ${r.aeadAlgorithm === undefined ? 'accepts no AEAD algorithm soket has' : `chose AEAD algorithm ${r.aeadAlgorithm}, not AEAD_AES_SIV_CMAC_256 (15)`}`,
      );
    }
    if (r.cookies.length === 0) throw new NtsError(`NTS-KE server ${target} sent no cookies`);
    const keys = exportNtsKeys(socket, r.aeadAlgorithm);
    const cert = socket.getPeerX509Certificate();
    const result: NtsKeResult = {
      keServer: target,
      keAddress: conn.remoteAddress,
      ntpServer: r.server ?? host,
      ntpPort: r.port ?? 123,
      aeadAlgorithm: r.aeadAlgorithm,
      ...keys,
      cookies: r.cookies.slice(0, NTS_MAX_COOKIES).map((c) => new Uint8Array(c)),
      warnings: r.warnings,
      tls: {
        protocol: socket.getProtocol() ?? 'unknown',
        cipher: socket.getCipher()?.name ?? 'unknown',
        fingerprint256: cert?.fingerprint256,
      },
      durationMs: performance.now() - started,
    };
    debug('ntp', `NTS-KE with ${target} done`, {
      cookies: result.cookies.length,
      ntp: formatHostPort(result.ntpServer, result.ntpPort),
      ms: Math.round(result.durationMs),
    });
    return result;
  } catch (err) {
    if (err instanceof BadPacketError) {
      throw new BadPacketError(`NTS-KE server ${target} sent a malformed response: ${err.message}`, {
        cause: err,
      });
    }
    throw err;
  } finally {
    socket.end();
    socket.destroy();
  }
}

function isIpLiteral(host: string): boolean {
  return /^[0-9.]+$/.test(host) || host.includes(':');
}
