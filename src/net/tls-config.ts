/**
 * TLS settings checked once, for servers and clients: PEM certificates and keys read and checked against each
 * other (a key that does not belong to its certificate is refused before anything listens), CA bundles, ALPN
 * lists, pins. Everything here is input checking: a bad file or value is a `ValidationError` naming it.
 *
 * @module
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { osErrorText, ValidationError } from '../core/errors.js';
import { readInputFileSync } from '../core/input-file.js';
import {
  checkBoolean,
  checkOptionsObject,
  checkStringArray,
  checkStringOrBytes,
  checkTimeout,
} from '../core/validate.js';
import {
  type CertificateInfo,
  createSelfSignedCertificate,
  describeCertificate,
  parsePin,
} from './tls-cert.js';

/** PEM text or bytes. */
export type Pem = string | Uint8Array;

/** Defaults of the TLS options, in one place. */
export const TLS_DEFAULTS = {
  /** How long a TLS handshake may take, in ms. */
  handshakeTimeout: 10_000,
} as const;

/** TLS settings of a server (or a relay's listening side). */
export interface TlsServerOptions {
  /** The certificate (chain), PEM. With no `cert` and `key`, an ephemeral self-signed one is made. */
  cert?: Pem;
  /** Its private key, PEM. */
  key?: Pem;
  /** Require client certificates signed by these CAs (PEM). @default none: clients are not asked */
  clientCa?: Pem;
  /** Protocols offered with ALPN, most preferred first (`h2`, `http/1.1`). @default none */
  alpn?: readonly string[];
  /** Milliseconds a client has to finish its handshake. @default 10000 */
  handshakeTimeout?: number;
  /** Names and addresses for the self-signed certificate's subjectAltName (with localhost). @default [] */
  selfSignedHosts?: readonly string[];
}

/** A server's TLS settings, checked and ready: what `tls.createServer` takes, and what to tell the user. */
export interface PreparedTlsServer {
  /** Options for `tls.createServer`. */
  secure: {
    cert: string | Buffer;
    key: string | Buffer;
    ca?: string | Buffer;
    requestCert: boolean;
    rejectUnauthorized: boolean;
    ALPNProtocols?: string[];
    handshakeTimeout: number;
  };
  /** The server's own certificate. */
  certificate: CertificateInfo;
  /** Whether the certificate was made here (ephemeral, self-signed). */
  selfSigned: boolean;
  /** Things worth a warning (an expired certificate). */
  warnings: string[];
}

/** The largest PEM file read (a certificate chain with its key is a few kB; a CA bundle about 200 kB). */
const PEM_MAX_BYTES = 4 * 1024 * 1024;

/**
 * Read a PEM file for a TLS option.
 *
 * @param path - the file
 * @param what - the option, for messages (`--cert`)
 * @returns its bytes
 * @throws {ValidationError} when it cannot be read: `Cannot read --cert /etc/x.pem: no such file`
 * @example
 * ```ts
 * const cert = readPemFile('server.pem', '--cert');
 * ```
 */
export function readPemFile(path: string, what: string): Buffer {
  if (typeof what !== 'string') what = 'PEM file';
  if (typeof path !== 'string' || path === '') {
    throw new ValidationError(`Invalid ${what} path '${String(path)}': expected a file path`);
  }
  try {
    // capped: /dev/zero or a huge file named as a certificate is refused, not read without end
    return readInputFileSync(path, { maxBytes: PEM_MAX_BYTES, what });
  } catch (err) {
    if (err instanceof ValidationError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    const text =
      code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : osErrorText(code);
    throw new ValidationError(`Cannot read ${what} ${path}: ${text}`, { cause: err });
  }
}

function certificates(pem: Pem, what: string): X509Certificate[] {
  const text = typeof pem === 'string' ? pem : Buffer.from(pem).toString('latin1');
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0)
    throw new ValidationError(`${what} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  return blocks.map((b, i) => {
    try {
      return new X509Certificate(b);
    } catch (err) {
      throw new ValidationError(`${what}: certificate ${i + 1} does not parse: ${(err as Error).message}`, {
        cause: err,
      });
    }
  });
}

/**
 * Check a certificate and key pair: both parse, and the key is the certificate's.
 *
 * @param cert - the certificate (chain), PEM; the first one is the server's
 * @param key - the private key, PEM
 * @param names - how to name them in messages (`--cert c.pem`, `--key k.pem`)
 * @returns the first certificate
 * @throws {ValidationError} `--key k.pem does not match the certificate in --cert c.pem`
 * @example
 * ```ts
 * checkKeyPair(certPem, keyPem);
 * ```
 */
export function checkKeyPair(
  cert: Pem,
  key: Pem,
  names: { cert: string; key: string } = { cert: 'cert', key: 'key' },
): X509Certificate {
  const [leaf] = certificates(cert, names.cert) as [X509Certificate];
  let keyObject: ReturnType<typeof createPrivateKey>;
  try {
    keyObject = createPrivateKey(typeof key === 'string' ? key : Buffer.from(key));
  } catch (err) {
    throw new ValidationError(`${names.key} holds no usable PEM private key: ${(err as Error).message}`, {
      cause: err,
    });
  }
  if (!leaf.checkPrivateKey(keyObject)) {
    throw new ValidationError(`${names.key} does not match the certificate in ${names.cert}`);
  }
  return leaf;
}

/**
 * Parse an ALPN list: protocol names separated by commas (`h2,http/1.1`).
 *
 * @param value - the list, or an array of names
 * @param what - the option, for messages
 * @returns the names
 * @throws {ValidationError} for an empty name or one over 255 bytes
 * @example
 * ```ts
 * parseAlpn('h2,http/1.1'); // ['h2', 'http/1.1']
 * ```
 */
export function parseAlpn(value: string | readonly string[], what = '--alpn'): string[] {
  const names =
    typeof value === 'string'
      ? value.split(',').map((s) => s.trim())
      : [...(checkStringArray(value, typeof what === 'string' ? what : 'ALPN list') ?? [])];
  if (names.length === 0) throw new ValidationError(`Invalid ${what}: expected names such as h2,http/1.1`);
  for (const n of names) {
    if (typeof n !== 'string' || n.length === 0 || Buffer.byteLength(n) > 255) {
      throw new ValidationError(`Invalid ${what} '${String(value)}': each protocol name is 1 to 255 bytes`);
    }
  }
  return names;
}

/**
 * Check a server's TLS settings and make what `tls.createServer` needs. Without a certificate, an ephemeral
 * self-signed one is made for `selfSignedHosts` and localhost.
 *
 * @param options - certificate, key, client CA, ALPN, handshake timeout
 * @returns the settings and the server certificate's facts
 * @throws {ValidationError} for a certificate without a key (or the reverse), unparsable PEM, a key that
 *   does not match, a bad ALPN list or timeout, or an option of the wrong type
 * @example
 * ```ts
 * const tls = await prepareTlsServer({ cert: readPemFile('c.pem', '--cert'), key: readPemFile('k.pem', '--key') });
 * console.log(tls.certificate.fingerprint256);
 * ```
 */
export async function prepareTlsServer(options: TlsServerOptions = {}): Promise<PreparedTlsServer> {
  checkOptionsObject(options, 'TLS server options');
  for (const pem of ['cert', 'key', 'clientCa'] as const) checkStringOrBytes(options[pem], pem);
  checkStringArray(options.selfSignedHosts, 'selfSignedHosts');
  // a list here: the comma-separated text is the CLI's, read by parseAlpn
  checkStringArray(options.alpn, 'alpn');
  if ((options.cert === undefined) !== (options.key === undefined)) {
    throw new ValidationError(
      options.cert === undefined
        ? 'A TLS key needs its certificate (--cert)'
        : 'A TLS certificate needs its key (--key)',
    );
  }
  const handshakeTimeout =
    checkTimeout(options.handshakeTimeout, { what: 'TLS handshake timeout' }) ??
    TLS_DEFAULTS.handshakeTimeout;
  let cert: string | Buffer;
  let key: string | Buffer;
  let selfSigned = false;
  if (options.cert !== undefined && options.key !== undefined) {
    checkKeyPair(options.cert, options.key, { cert: 'the certificate (--cert)', key: 'the key (--key)' });
    cert = typeof options.cert === 'string' ? options.cert : Buffer.from(options.cert);
    key = typeof options.key === 'string' ? options.key : Buffer.from(options.key);
  } else {
    const made = await createSelfSignedCertificate({
      hosts: (options.selfSignedHosts ?? []).filter(
        (h) => h !== '0.0.0.0' && h !== '::' && (isIP(h) !== 0 || h.length > 0),
      ),
    });
    cert = made.cert;
    key = made.key;
    selfSigned = true;
  }
  const certificate = describeCertificate(
    certificates(cert, 'the certificate (--cert)')[0] as X509Certificate,
  );
  const warnings: string[] = [];
  if (certificate.expired) warnings.push(`The server certificate expired on ${certificate.validTo}`);
  if (certificate.notYetValid)
    warnings.push(`The server certificate is not valid before ${certificate.validFrom}`);
  const secure: PreparedTlsServer['secure'] = {
    cert,
    key,
    requestCert: options.clientCa !== undefined,
    rejectUnauthorized: options.clientCa !== undefined,
    handshakeTimeout,
  };
  if (options.clientCa !== undefined) {
    certificates(options.clientCa, 'the client CA (--client-ca)');
    secure.ca = typeof options.clientCa === 'string' ? options.clientCa : Buffer.from(options.clientCa);
  }
  if (options.alpn !== undefined) secure.ALPNProtocols = parseAlpn(options.alpn);
  return { secure, certificate, selfSigned, warnings };
}

/** TLS settings of a client (or a relay's upstream side). */
export interface TlsClientOptions {
  /** Trust these CAs (PEM) instead of the system's. @default the system CAs */
  ca?: Pem;
  /** Accept any certificate (verification is still done and reported). @default false */
  insecure?: boolean;
  /** Server name for SNI and for the certificate check. @default the host, when it is a name */
  servername?: string;
  /** Protocols offered with ALPN. @default none */
  alpn?: readonly string[];
  /** Accept exactly this certificate: `sha256:BASE64` or `sha256:HEX` (or its 32-byte digest). @default none */
  pin?: string | Uint8Array;
  /** A client certificate (PEM), for servers that ask for one. */
  cert?: Pem;
  /** Its private key (PEM). */
  key?: Pem;
  /** Milliseconds for the handshake. @default 10000 */
  handshakeTimeout?: number;
}

/** A client's TLS settings, checked. */
export interface PreparedTlsClient {
  ca: string | Buffer | undefined;
  insecure: boolean;
  servername: string | undefined;
  alpn: string[] | undefined;
  pin: Buffer | undefined;
  cert: string | Buffer | undefined;
  key: string | Buffer | undefined;
  handshakeTimeout: number;
}

/**
 * Check a client's TLS settings.
 *
 * @param options - CA, pin, SNI, ALPN, client certificate
 * @returns the checked settings
 * @throws {ValidationError} for a malformed pin, unparsable PEM, a client key that does not match its
 *   certificate, a bad ALPN list, `insecure` with `pin` (a pin is stricter than any CA; pick one), or an option
 *   of the wrong type
 * @example
 * ```ts
 * const c = prepareTlsClient({ pin: 'sha256:...' });
 * ```
 */
export function prepareTlsClient(options: TlsClientOptions = {}): PreparedTlsClient {
  checkOptionsObject(options, 'TLS client options');
  for (const pem of ['ca', 'cert', 'key'] as const) checkStringOrBytes(options[pem], pem);
  checkBoolean(options.insecure, 'insecure');
  checkStringArray(options.alpn, 'alpn');
  if ((options.cert === undefined) !== (options.key === undefined)) {
    throw new ValidationError(
      options.cert === undefined
        ? 'A client key needs its certificate (--cert)'
        : 'A client certificate needs its key (--key)',
    );
  }
  if (options.insecure && options.pin !== undefined) {
    throw new ValidationError(
      'Options --insecure and --pin cannot be used together (a pin accepts one certificate)',
    );
  }
  let pin: Buffer | undefined;
  if (options.pin !== undefined) {
    if (typeof options.pin === 'string') pin = parsePin(options.pin);
    else if (options.pin instanceof Uint8Array && options.pin.length === 32) pin = Buffer.from(options.pin);
    else throw new ValidationError('Invalid pin: expected sha256:BASE64, sha256:HEX or 32 bytes');
  }
  if (options.ca !== undefined) certificates(options.ca, 'the CA bundle (--ca)');
  if (options.cert !== undefined && options.key !== undefined) {
    checkKeyPair(options.cert, options.key, {
      cert: 'the client certificate (--cert)',
      key: 'the client key (--key)',
    });
  }
  const buf = (p: Pem | undefined) =>
    p === undefined ? undefined : typeof p === 'string' ? p : Buffer.from(p);
  if (
    options.servername !== undefined &&
    (typeof options.servername !== 'string' || options.servername === '')
  ) {
    throw new ValidationError('Invalid --servername: expected a host name');
  }
  return {
    ca: buf(options.ca),
    insecure: Boolean(options.insecure),
    servername: options.servername,
    alpn: options.alpn === undefined ? undefined : parseAlpn(options.alpn),
    pin,
    cert: buf(options.cert),
    key: buf(options.key),
    handshakeTimeout:
      checkTimeout(options.handshakeTimeout, { what: 'TLS handshake timeout' }) ??
      TLS_DEFAULTS.handshakeTimeout,
  };
}
