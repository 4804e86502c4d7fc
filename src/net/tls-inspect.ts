/**
 * Inspect a TLS endpoint, like a readable `openssl s_client`: connect, shake hands, and report what was agreed
 * (protocol, cipher, ALPN), how long the handshake took, the whole chain as the server sent it (names, SANs,
 * validity and days left, key type, fingerprints), and whether it verifies — with the reason when it does not.
 * A certificate that does not verify is reported, not thrown: that is what an inspection is for.
 *
 * @module
 */
import { checkOptionsObject, checkSignal, formatHostPort, parseInteger } from '../core/validate.js';
import { formatStreamAddress, parseStreamAddress, type StreamAddress } from './stream-address.js';
import { connectStream } from './stream-connect.js';
import type { CertificateInfo } from './tls-cert.js';
import { prepareTlsClient, type TlsClientOptions } from './tls-config.js';

/** Options of {@link inspectTls}. */
export interface InspectTlsOptions
  extends Pick<TlsClientOptions, 'ca' | 'servername' | 'alpn' | 'cert' | 'key'> {
  /** Port when the address has none. @default 443 */
  defaultPort?: number;
  /** Whole operation (lookup, connect, handshake), ms. @default 10000 */
  timeout?: number;
  /** Aborts it. */
  signal?: AbortSignal;
}

/** Defaults of {@link InspectTlsOptions}. */
export const TLS_INSPECT_DEFAULTS = { defaultPort: 443, timeout: 10_000 } as const;

/** What {@link inspectTls} found. */
export interface TlsInspection {
  /** The endpoint as given (`127.0.0.1:8443`, `unix:/run/s.sock`). */
  target: string;
  /** The address connected to (IP for TCP). */
  address: string | undefined;
  /** Milliseconds for TCP (lookup and connect). */
  connectMs: number;
  /** Milliseconds for the TLS handshake. */
  handshakeMs: number;
  /** `TLSv1.3`, ... */
  protocol: string | null;
  /** Cipher suite. */
  cipher: string;
  /** ALPN result, or `null`. */
  alpn: string | null;
  /** SNI sent, or `null`. */
  servername: string | null;
  /** Verification against the trusted CAs and the host name. */
  verification: { ok: boolean; code: string | null; reason: string | null };
  /** The chain as the server sent it, its own certificate first. */
  chain: CertificateInfo[];
}

/**
 * Connect to a TLS endpoint and report what it offers.
 *
 * @param target - `HOST`, `HOST:PORT`, `[v6]:PORT`, `unix:/path` (a `tls:` prefix is allowed and implied)
 * @param options - SNI, CA bundle, ALPN, client certificate, timeout
 * @returns the inspection (verification failures are part of it, not errors)
 * @throws {ValidationError} for a bad target or options
 * @throws {NetworkError} when the endpoint cannot be reached
 * @throws {TlsError} when no handshake is possible (not TLS, no shared protocol)
 * @throws {TimeoutError} when it does not finish within `timeout`
 * @example
 * ```ts
 * import { inspectTls } from 'soket';
 * const r = await inspectTls('127.0.0.1:8443', { servername: 'example.test' });
 * console.log(r.protocol, r.verification.ok ? 'ok' : r.verification.reason, r.chain[0]?.daysLeft);
 * ```
 */
export async function inspectTls(
  target: string | StreamAddress,
  options: InspectTlsOptions = {},
): Promise<TlsInspection> {
  checkOptionsObject(options, 'TLS inspection options');
  checkSignal(options.signal);
  // An address given parsed must be one from parseStreamAddress: formatStreamAddress checks that.
  if (typeof target !== 'string') formatStreamAddress(target);
  const defaultPort = parseInteger(options.defaultPort ?? TLS_INSPECT_DEFAULTS.defaultPort, 'default port', {
    min: 1,
    max: 65535,
  });
  const address =
    typeof target === 'string' ? parseStreamAddress(target, { defaultPort, what: 'TLS endpoint' }) : target;
  const tlsOptions: TlsClientOptions = { insecure: true };
  if (options.ca !== undefined) tlsOptions.ca = options.ca;
  if (options.servername !== undefined) tlsOptions.servername = options.servername;
  if (options.alpn !== undefined) tlsOptions.alpn = options.alpn;
  if (options.cert !== undefined) tlsOptions.cert = options.cert;
  if (options.key !== undefined) tlsOptions.key = options.key;
  const timeout = options.timeout ?? TLS_INSPECT_DEFAULTS.timeout;
  const connectOptions: Parameters<typeof connectStream>[1] = {
    tls: true,
    tlsOptions: prepareTlsClient({ ...tlsOptions, handshakeTimeout: timeout }),
    timeout,
  };
  if (options.signal) connectOptions.signal = options.signal;
  const c = await connectStream({ ...address, tls: true }, connectOptions);
  c.socket.destroy();
  const s = c.tls;
  if (!s) throw new Error('unreachable: a TLS connection without a session');
  return {
    target: formatStreamAddress({ ...address, tls: false }),
    address:
      c.remoteAddress !== undefined && c.remotePort !== undefined
        ? formatHostPort(c.remoteAddress, c.remotePort)
        : undefined,
    connectMs: c.connectMs,
    handshakeMs: s.handshakeMs,
    protocol: s.protocol,
    cipher: s.cipher,
    alpn: s.alpn,
    servername: s.servername,
    verification: { ok: s.verified, code: s.verifyCode, reason: s.verifyReason },
    chain: s.chain,
  };
}
