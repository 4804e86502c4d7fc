/**
 * A TLS client: a TCP connection from {@link connectTcp} (or any connected stream, e.g. a Unix socket), then
 * a TLS handshake with its own deadline, and a report of what was agreed (protocol, cipher, ALPN) and whom
 * soket talked to (the peer certificate and its chain).
 *
 * Certificate checks, in order of strictness:
 * - `pin`: the peer's certificate must be exactly the pinned one (SHA-256 of its DER); nothing else counts.
 * - default: the chain must lead to a trusted CA (the system's, or `ca`) and the certificate must be for the
 *   host (its SANs: DNS names, or IP addresses for an IP host) — or for `servername` when given.
 * - `insecure`: anything is accepted; the check is still run and its result reported.
 *
 * Node's own rejection is switched off so the handshake finishes and the result can be reported; soket then
 * applies the rule above and destroys the socket with a {@link TlsError} naming the reason.
 *
 * @module
 */

import { createRequire } from 'node:module';
import net from 'node:net';
import { Duplex } from 'node:stream';
import type tls from 'node:tls';
import { Deadline, throwIfAborted } from '../core/deadline.js';
import {
  AbortError,
  SoketError,
  TimeoutError,
  TlsError,
  toSoketError,
  ValidationError,
} from '../core/errors.js';
import { checkObject, checkSignal, checkString, describeValue, formatHostPort } from '../core/validate.js';
import { type ConnectTcpOptions, connectTcp, type TcpConnection } from './tcp-client.js';
import { type CertificateInfo, describeCertificate, pinMatches } from './tls-cert.js';
import { type PreparedTlsClient, prepareTlsClient, type TlsClientOptions } from './tls-config.js';

// node:tls is required on first use: every `soket resolve` and `soket tcp` start-up would load it (about 7 ms)
// for the few runs that speak TLS.
let tlsModule: typeof tls | undefined;
function lazyTls(): typeof tls {
  tlsModule ??= createRequire(import.meta.url)('node:tls') as typeof tls;
  return tlsModule;
}

/** What a TLS handshake agreed on, and the peer's certificates. */
export interface TlsSession {
  /** `TLSv1.3`, `TLSv1.2`. */
  protocol: string | null;
  /** The cipher suite's standard name (`TLS_AES_256_GCM_SHA384`). */
  cipher: string;
  /** The protocol ALPN chose, or `null`. */
  alpn: string | null;
  /** The name sent with SNI, or `null` (none is sent for an IP address). */
  servername: string | null;
  /** Milliseconds the handshake took. */
  handshakeMs: number;
  /** Whether the chain leads to a trusted CA and the certificate is for the host. */
  verified: boolean;
  /** Why not: OpenSSL's or Node's code (`CERT_HAS_EXPIRED`, `ERR_TLS_CERT_ALTNAME_INVALID`), or `null`. */
  verifyCode: string | null;
  /** The same in words, or `null`. */
  verifyReason: string | null;
  /** How the certificate was accepted: by verification, by the pin, or by `insecure`. */
  accepted: 'verified' | 'pinned' | 'insecure';
  /** The peer's certificate, or `null` if it sent none. */
  certificate: CertificateInfo | null;
  /** The chain as the peer sent it, its own certificate first. */
  chain: CertificateInfo[];
}

/** A connected TLS socket. */
export interface TlsConnection extends Omit<TcpConnection, 'socket'> {
  /** The TLS socket: read and write plaintext. */
  socket: tls.TLSSocket;
  /** What was agreed and whom soket talked to. */
  tls: TlsSession;
}

/** Options of {@link connectTls}: those of {@link connectTcp} and the TLS settings. */
export interface ConnectTlsOptions extends ConnectTcpOptions, TlsClientOptions {}

/** Options of {@link startTls}. */
export interface StartTlsOptions {
  /** The host the certificate must be for (a name or an IP address); absent: only the chain is checked. */
  host?: string;
  /** How to name the peer in messages (`127.0.0.1:443`, `unix:/run/s.sock`). */
  target: string;
  /** The checked TLS settings. */
  tls: PreparedTlsClient;
  /** Aborts the handshake. */
  signal?: AbortSignal;
  /** An overall deadline the handshake must also meet. */
  deadline?: Deadline;
}

const VERIFY_TEXT: Record<string, string> = {
  CERT_HAS_EXPIRED: 'the certificate has expired',
  CERT_NOT_YET_VALID: 'the certificate is not yet valid',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'the certificate is self-signed and not trusted',
  SELF_SIGNED_CERT_IN_CHAIN: 'the chain ends in a self-signed certificate that is not trusted',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'the issuer is not among the trusted CAs',
  UNABLE_TO_GET_ISSUER_CERT: 'the issuer certificate was not found',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'the certificate cannot be verified against a trusted CA',
  CERT_SIGNATURE_FAILURE: 'a signature in the chain does not verify',
  CERT_REVOKED: 'the certificate was revoked',
  CERT_UNTRUSTED: 'the certificate is not trusted',
  INVALID_CA: 'a certificate in the chain is not a valid CA',
  INVALID_PURPOSE: 'the certificate is not for TLS servers',
  PIN_MISMATCH: 'the certificate is not the pinned one',
  NO_CERTIFICATE: 'the peer sent no certificate',
};

/**
 * Words for a verification code.
 *
 * @param code - OpenSSL's or Node's code
 * @returns a short reason
 * @example
 * ```ts
 * verifyText('CERT_HAS_EXPIRED'); // 'the certificate has expired'
 * ```
 */
export function verifyText(code: string): string {
  return VERIFY_TEXT[code] ?? code.toLowerCase().replace(/_/g, ' ');
}

/** The arguments of {@link startTls}, checked before the handshake. */
function checkStart(socket: net.Socket, options: StartTlsOptions): void {
  if (!(socket instanceof Duplex)) {
    throw new ValidationError(
      `Invalid socket '${describeValue(socket)}': expected a connected stream socket`,
    );
  }
  checkObject(options, 'TLS start options');
  checkString(options.target, 'target');
  if (options.host !== undefined) checkString(options.host, 'host');
  const c = options.tls as Partial<PreparedTlsClient> | null;
  if (
    c === null ||
    typeof c !== 'object' ||
    typeof c.insecure !== 'boolean' ||
    typeof c.handshakeTimeout !== 'number'
  ) {
    throw new ValidationError(
      `Invalid tls '${describeValue(c)}': expected the settings prepareTlsClient() returns`,
    );
  }
  checkSignal(options.signal);
  if (options.deadline !== undefined && !(options.deadline instanceof Deadline)) {
    throw new ValidationError(`Invalid deadline '${describeValue(options.deadline)}': expected a Deadline`);
  }
}

/**
 * Run a TLS handshake on a connected socket, with a deadline, and check the peer's certificate.
 *
 * @param socket - a connected stream socket (TCP or Unix)
 * @param options - the host to check, the settings, a signal and deadline
 * @returns the TLS socket and the session's facts
 * @throws {ValidationError} (as a rejection) for a socket that is not a stream, or options of the wrong type
 * @throws {TlsError} when the handshake fails or the certificate is not accepted
 * @throws {TimeoutError} phase `handshake`
 * @throws {AbortError} when the signal fires
 * @example
 * ```ts
 * const raw = net.connect({ path: '/run/app.sock' });
 * await once(raw, 'connect');
 * const { socket, session } = await startTls(raw, { target: 'unix:/run/app.sock', tls: prepareTlsClient({ insecure: true }) });
 * ```
 */
export function startTls(
  socket: net.Socket,
  options: StartTlsOptions,
): Promise<{ socket: tls.TLSSocket; session: TlsSession }> {
  try {
    checkStart(socket, options);
  } catch (err) {
    return Promise.reject(err);
  }
  const c = options.tls;
  const { target, host, signal } = options;
  throwIfAborted(signal, `TLS handshake with ${target}`);
  const servername = c.servername ?? (host !== undefined && net.isIP(host) === 0 ? host : undefined);
  const identity = c.servername ?? host;
  const connectOptions: tls.ConnectionOptions = {
    socket,
    rejectUnauthorized: false,
    checkServerIdentity: identity === undefined ? () => undefined : lazyTls().checkServerIdentity,
  };
  if (identity !== undefined) connectOptions.host = identity;
  if (servername !== undefined) connectOptions.servername = servername;
  if (c.ca !== undefined) connectOptions.ca = c.ca;
  if (c.alpn !== undefined) connectOptions.ALPNProtocols = c.alpn;
  if (c.cert !== undefined) connectOptions.cert = c.cert;
  if (c.key !== undefined) connectOptions.key = c.key;
  const limit = options.deadline ? options.deadline.cap(c.handshakeTimeout) : c.handshakeTimeout;
  const overallBinds = options.deadline?.remaining() !== undefined && (limit ?? 0) < c.handshakeTimeout;
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const secure = lazyTls().connect(connectOptions);
    let done = false;
    const finish = (err: SoketError | undefined) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      secure.off('error', onError);
      if (err) {
        secure.destroy();
        socket.destroy();
        reject(err);
      }
    };
    const timer = setTimeout(() => {
      finish(
        overallBinds && options.deadline
          ? options.deadline.error()
          : new TimeoutError('handshake', target, limit ?? c.handshakeTimeout),
      );
    }, limit ?? c.handshakeTimeout);
    const onAbort = () =>
      finish(
        signal?.reason instanceof SoketError
          ? signal.reason
          : new AbortError(`TLS handshake with ${target} was aborted`),
      );
    const onError = (err: Error) => finish(handshakeError(err, target));
    signal?.addEventListener('abort', onAbort, { once: true });
    secure.once('error', onError);
    secure.once('secureConnect', () => {
      if (done) return;
      const session = describeSession(secure, identity, c, performance.now() - t0);
      if (c.pin && session.accepted !== 'pinned') {
        const got = session.certificate?.pin ?? 'none';
        finish(new TlsError(`Certificate of ${target} is not the pinned one (it is ${got})`, 'PIN_MISMATCH'));
        return;
      }
      if (session.accepted === 'verified' && !session.verified) {
        finish(
          new TlsError(
            `Certificate of ${target} is not trusted: ${session.verifyReason ?? session.verifyCode}`,
            session.verifyCode ?? 'UNTRUSTED',
          ),
        );
        return;
      }
      finish(undefined);
      resolve({ socket: secure, session });
    });
  });
}

function handshakeError(err: Error, target: string): SoketError {
  if (err instanceof SoketError) return err;
  const e = err as NodeJS.ErrnoException & { reason?: string };
  if (typeof e.code === 'string' && e.code.startsWith('ERR_SSL')) {
    const why = (e.reason ?? e.message).replace(/^.*routines:/, '');
    return new TlsError(`TLS handshake with ${target} failed: ${why}`, e.code, { cause: err });
  }
  if (e.code === 'ECONNRESET' || e.code === 'EPIPE') {
    return new TlsError(`TLS handshake with ${target} failed: the peer closed the connection`, e.code, {
      cause: err,
    });
  }
  return toSoketError(err, `TLS handshake with ${target} failed`);
}

function describeSession(
  secure: tls.TLSSocket,
  identity: string | undefined,
  c: PreparedTlsClient,
  handshakeMs: number,
): TlsSession {
  const peer = secure.getPeerX509Certificate();
  const chain: CertificateInfo[] = [];
  const seen = new Set<string>();
  for (let x = peer; x && !seen.has(x.fingerprint256); x = x.issuerCertificate) {
    seen.add(x.fingerprint256);
    chain.push(describeCertificate(x));
  }
  let verifyCode: string | null = null;
  let verifyReason: string | null = null;
  if (!peer) {
    verifyCode = 'NO_CERTIFICATE';
    verifyReason = verifyText(verifyCode);
  } else if (!secure.authorized) {
    const err = secure.authorizationError as unknown as Error | string | null;
    verifyCode = typeof err === 'string' ? err : ((err as NodeJS.ErrnoException | null)?.code ?? 'UNTRUSTED');
    verifyReason = verifyText(verifyCode);
    if (verifyCode === 'ERR_TLS_CERT_ALTNAME_INVALID' && identity !== undefined) {
      const detail = lazyTls().checkServerIdentity(identity, secure.getPeerCertificate());
      verifyReason = detail
        ? `the certificate is not for ${identity}: ${detail.message.replace(/^Hostname\/IP does not match certificate's altnames: /, '')}`
        : verifyReason;
    }
  }
  let accepted: TlsSession['accepted'] = 'verified';
  if (c.pin) accepted = peer && pinMatches(peer.raw, c.pin) ? 'pinned' : 'verified';
  else if (c.insecure) accepted = 'insecure';
  const cipher = secure.getCipher();
  const alpn = secure.alpnProtocol;
  return {
    protocol: secure.getProtocol(),
    cipher: cipher.standardName ?? cipher.name,
    alpn: typeof alpn === 'string' ? alpn : null,
    servername: (secure as tls.TLSSocket & { servername?: string | false }).servername || null,
    handshakeMs,
    verified: verifyCode === null,
    verifyCode,
    verifyReason,
    accepted,
    certificate: peer ? describeCertificate(peer) : null,
    chain,
  };
}

/**
 * Open a TLS connection: TCP with {@link connectTcp}'s phases and timeouts, then the handshake (its own
 * `handshakeTimeout`, within the overall `timeout`), then the certificate check (see the module notes).
 *
 * @param options - host, port, timeouts, and the TLS settings (`ca`, `insecure`, `servername`, `alpn`, `pin`,
 *   client `cert`/`key`)
 * @returns the TLS socket, the TCP facts, and what the handshake agreed on
 * @throws {ValidationError} for bad options (a malformed pin, a key that does not match its certificate)
 * @throws {TlsError} `Certificate of 127.0.0.1:8443 is not trusted: the certificate has expired`
 * @throws {TimeoutError} phases `lookup`, `connect`, `handshake`, `overall`
 * @throws {NetworkError} when the TCP connection fails
 * @example
 * ```ts
 * import { connectTls } from 'soket';
 * const { socket, tls } = await connectTls({ host: '127.0.0.1', port: 8443, pin: 'sha256:...' });
 * console.log(tls.protocol, tls.cipher, tls.certificate?.subject);
 * socket.end('hello\n');
 * ```
 */
export async function connectTls(options: ConnectTlsOptions): Promise<TlsConnection> {
  const c = prepareTlsClient(options);
  const tcp = await connectTcp(options);
  const target = formatHostPort(options.host.replace(/^\[|\]$/g, ''), tcp.remotePort);
  const deadline = options.timeout
    ? new Deadline(options.timeout - tcp.lookupMs - tcp.connectMs, target)
    : undefined;
  const start: StartTlsOptions = { host: options.host.replace(/^\[|\]$/g, ''), target, tls: c };
  if (options.signal) start.signal = options.signal;
  if (deadline) start.deadline = deadline;
  const { socket, session } = await startTls(tcp.socket, start);
  return { ...tcp, socket, tls: session };
}
