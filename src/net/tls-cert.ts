/**
 * X.509 certificates for soket's TLS: an ephemeral self-signed certificate for a listener that was given none
 * (ECDSA P-256, made with `@peculiar/x509` on `node:crypto`'s WebCrypto), the facts a person checks about a
 * certificate (subject, issuer, SANs, validity, key type, fingerprints), and certificate pins.
 *
 * A pin names exactly one certificate: the SHA-256 digest of its DER encoding, written `sha256:` and then
 * base64 (`sha256:q1Xz...=`) or hex (64 digits, colons allowed: the form `openssl x509 -fingerprint -sha256`
 * prints). A client given a pin accepts that certificate and no other, whoever signed it.
 *
 * @module
 */
import { createHash, X509Certificate as NodeX509, randomBytes, webcrypto } from 'node:crypto';
import { createRequire } from 'node:module';
import { isIP } from 'node:net';
import type * as X509Lib from '@peculiar/x509';
import { ValidationError } from '../core/errors.js';

let x509Lib: typeof X509Lib | undefined;

/**
 * @peculiar/x509, loaded on first use: it is a third of every CLI bundle that can speak TLS and most runs
 * never touch a certificate (the bundles keep it external, scripts/build-cli.mjs). It needs the Reflect
 * metadata API, which its dependency injection container asks for on load.
 */
function loadX509(): typeof X509Lib {
  if (x509Lib === undefined) {
    const load = createRequire(import.meta.url);
    load('reflect-metadata');
    x509Lib = load('@peculiar/x509') as typeof X509Lib;
  }
  return x509Lib;
}

/** Options of {@link createSelfSignedCertificate}. Defaults in {@link SELF_SIGNED_DEFAULTS}. */
export interface SelfSignedOptions {
  /**
   * Names and addresses the certificate is for (its subjectAltName): DNS names and IP addresses. `localhost`,
   * `127.0.0.1` and `::1` are always added. @default []
   */
  hosts?: readonly string[];
  /** The subject's common name. @default the first of `hosts`, else 'soket' */
  commonName?: string;
  /** Days it is valid from now (it is also valid from an hour ago, for clocks a little behind). @default 30 */
  days?: number;
  /** The current time, for tests. @default new Date() */
  now?: Date;
}

/** Defaults of {@link SelfSignedOptions}. */
export const SELF_SIGNED_DEFAULTS = {
  days: 30,
  commonName: 'soket',
  hosts: ['localhost', '127.0.0.1', '::1'],
} as const;

/** A certificate and its private key, in PEM. */
export interface CertificateBundle {
  /** The certificate, PEM (`-----BEGIN CERTIFICATE-----`). */
  cert: string;
  /** The private key, PKCS #8 PEM (`-----BEGIN PRIVATE KEY-----`). */
  key: string;
  /** SHA-256 of the DER certificate, colon-separated upper-case hex (as `openssl x509 -fingerprint -sha256`). */
  fingerprint256: string;
  /** The same digest as a pin for `--pin`: `sha256:` and base64. */
  pin: string;
}

/**
 * Make an ephemeral self-signed certificate: ECDSA P-256 signed with SHA-256, for TLS servers and clients
 * (extended key usages serverAuth and clientAuth), not a CA. Use it when a server has no certificate of its
 * own and its clients pin it (`pin`), or trust exactly this certificate (`ca: bundle.cert`).
 *
 * @param options - hosts for the subjectAltName, common name, validity
 * @returns the certificate, its key and its fingerprint
 * @throws {ValidationError} for a host that is neither a DNS name nor an IP address, or bad days
 * @example
 * ```ts
 * import { createSelfSignedCertificate } from 'soket';
 * const { cert, key, pin } = await createSelfSignedCertificate({ hosts: ['192.0.2.1'] });
 * // tls.createServer({ cert, key }) ... ; clients connect with { pin }
 * ```
 */
export async function createSelfSignedCertificate(
  options: SelfSignedOptions = {},
): Promise<CertificateBundle> {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new ValidationError(`Invalid certificate options '${String(options)}': expected an object`);
  }
  if (options.hosts !== undefined && !Array.isArray(options.hosts)) {
    throw new ValidationError(
      `Invalid certificate hosts '${String(options.hosts)}': expected an array of names and addresses`,
    );
  }
  if (options.commonName !== undefined && typeof options.commonName !== 'string') {
    throw new ValidationError(
      `Invalid certificate commonName '${String(options.commonName)}': expected a string`,
    );
  }
  if (options.now !== undefined && !(options.now instanceof Date && Number.isFinite(options.now.getTime()))) {
    throw new ValidationError(
      `Invalid certificate time (now) '${String(options.now)}': expected a valid Date`,
    );
  }
  const days = options.days ?? SELF_SIGNED_DEFAULTS.days;
  if (!Number.isFinite(days) || days <= 0 || days > 3650) {
    throw new ValidationError(
      `Invalid certificate validity '${String(days)}' days: expected more than 0, up to 3650`,
    );
  }
  const hosts = [...(options.hosts ?? [])];
  for (const h of hosts) {
    if (
      typeof h !== 'string' ||
      (isIP(h) === 0 && !/^(?=.{1,253}$)(\*\.)?[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?$/.test(h))
    ) {
      throw new ValidationError(
        `Invalid certificate host '${String(h)}': expected a DNS name or an IP address`,
      );
    }
  }
  const all = [
    ...new Set([...hosts.map((h) => (isIP(h) ? h : h.toLowerCase())), ...SELF_SIGNED_DEFAULTS.hosts]),
  ];
  const commonName = options.commonName ?? hosts[0] ?? SELF_SIGNED_DEFAULTS.commonName;
  const now = options.now ?? new Date();
  const x509 = loadX509();
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  // @peculiar/x509 is typed with the DOM's WebCrypto types; node:crypto's webcrypto is the same API.
  type X509Crypto = Parameters<typeof X509Lib.X509CertificateGenerator.createSelfSigned>[1];
  type X509Keys = Parameters<typeof X509Lib.X509CertificateGenerator.createSelfSigned>[0]['keys'];
  const crypto = webcrypto as unknown as NonNullable<X509Crypto>;
  const keys = (await webcrypto.subtle.generateKey(algorithm, true, [
    'sign',
    'verify',
  ])) as unknown as X509Keys;
  const serial = randomBytes(16);
  serial[0] = (serial[0] as number) & 0x7f; // a positive INTEGER
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: serial.toString('hex'),
      name: [{ CN: [commonName.replace(/[,+="<>#;\\]/g, '_')] }],
      notBefore: new Date(now.getTime() - 3_600_000),
      notAfter: new Date(now.getTime() + days * 86_400_000),
      signingAlgorithm: algorithm,
      keys,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([
          x509.ExtendedKeyUsage.serverAuth,
          x509.ExtendedKeyUsage.clientAuth,
        ]),
        new x509.SubjectAlternativeNameExtension(
          all.map((h) => ({ type: isIP(h) ? ('ip' as const) : ('dns' as const), value: h })),
        ),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
      ],
    },
    crypto,
  );
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey as unknown as webcrypto.CryptoKey);
  const der = Buffer.from(cert.rawData);
  return {
    cert: cert.toString('pem'),
    key: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY'),
    fingerprint256: fingerprintHex(der),
    pin: `sha256:${createHash('sha256').update(der).digest('base64')}`,
  };
}

function fingerprintHex(der: Uint8Array): string {
  return createHash('sha256')
    .update(der)
    .digest('hex')
    .toUpperCase()
    .replace(/(..)(?=.)/g, '$1:');
}

/** A certificate's facts, as a person checks them. */
export interface CertificateInfo {
  /** Subject distinguished name, RFC 4514 style (`CN=example.com, O=Example`). */
  subject: string;
  /** Issuer distinguished name. */
  issuer: string;
  /** Subject alternative names: `DNS:example.com`, `IP:192.0.2.1`, `email:...`, `URI:...`. */
  subjectAltNames: string[];
  /** Serial number, hex. */
  serialNumber: string;
  /** Start of validity, ISO 8601. */
  validFrom: string;
  /** End of validity, ISO 8601. */
  validTo: string;
  /** Whole days from `now` until `validTo` (negative once expired). */
  daysLeft: number;
  /** `validTo` is past. */
  expired: boolean;
  /** `validFrom` is still ahead. */
  notYetValid: boolean;
  /** The public key: `EC P-256`, `RSA 2048`, `Ed25519`. */
  keyType: string;
  /** The signature algorithm: `ECDSA with SHA-256`, `RSA with SHA-256`. */
  signatureAlgorithm: string;
  /** Whether it is a CA certificate (basicConstraints CA:TRUE). */
  ca: boolean;
  /** Subject and issuer are the same name. */
  selfIssued: boolean;
  /** SHA-256 of the DER certificate, colon-separated hex. */
  fingerprint256: string;
  /** SHA-1 of the DER certificate, colon-separated hex (what older tools show). */
  fingerprint1: string;
  /** The SHA-256 pin: `sha256:` and base64, for `--pin`. */
  pin: string;
}

/**
 * The facts of a certificate: names, validity, key, fingerprints.
 *
 * @param certificate - DER bytes, PEM text, or a `node:crypto` `X509Certificate`
 * @param now - the time `daysLeft` and `expired` are measured against (default: now)
 * @returns its description
 * @throws {ValidationError} when the bytes are not a certificate
 * @example
 * ```ts
 * const info = describeCertificate(socket.getPeerX509Certificate()!);
 * console.log(info.subject, info.daysLeft, info.fingerprint256);
 * ```
 */
export function describeCertificate(
  certificate: Uint8Array | string | NodeX509,
  now: Date = new Date(),
): CertificateInfo {
  let node: NodeX509;
  try {
    node = certificate instanceof NodeX509 ? certificate : new NodeX509(certificate);
  } catch (err) {
    throw new ValidationError(`Not an X.509 certificate: ${(err as Error).message}`, { cause: err });
  }
  const der = node.raw;
  const x509 = loadX509();
  const cert = new x509.X509Certificate(der);
  const from = cert.notBefore;
  const to = cert.notAfter;
  const sans: string[] = [];
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  for (const n of san?.names.toJSON() ?? []) {
    const tag = {
      dns: 'DNS',
      ip: 'IP',
      email: 'email',
      url: 'URI',
      dn: 'DirName',
      guid: 'GUID',
      upn: 'UPN',
      id: 'RID',
    }[n.type as string];
    sans.push(`${tag ?? n.type}:${n.value}`);
  }
  const sig = cert.signatureAlgorithm as { name?: string; hash?: { name?: string } };
  return {
    subject: cert.subject,
    issuer: cert.issuer,
    subjectAltNames: sans,
    serialNumber: cert.serialNumber,
    validFrom: from.toISOString(),
    validTo: to.toISOString(),
    daysLeft: Math.floor((to.getTime() - now.getTime()) / 86_400_000),
    expired: to.getTime() < now.getTime(),
    notYetValid: from.getTime() > now.getTime(),
    keyType: keyType(node),
    signatureAlgorithm: sig.hash?.name ? `${sig.name ?? '?'} with ${sig.hash.name}` : (sig.name ?? 'unknown'),
    ca: node.ca,
    selfIssued: cert.subject === cert.issuer,
    fingerprint256: fingerprintHex(der),
    fingerprint1: node.fingerprint,
    pin: `sha256:${createHash('sha256').update(der).digest('base64')}`,
  };
}

function keyType(cert: NodeX509): string {
  const key = cert.publicKey;
  const type = key.asymmetricKeyType ?? 'unknown';
  const d = key.asymmetricKeyDetails ?? {};
  if (type === 'ec') {
    const curves: Record<string, string> = { prime256v1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521' };
    return `EC ${curves[d.namedCurve ?? ''] ?? d.namedCurve ?? ''}`.trim();
  }
  if (type === 'rsa' || type === 'rsa-pss') return `${type.toUpperCase()} ${d.modulusLength ?? ''}`.trim();
  if (type === 'ed25519') return 'Ed25519';
  if (type === 'ed448') return 'Ed448';
  return type;
}

/**
 * Parse a certificate pin: `sha256:` and the SHA-256 of the DER certificate in base64 (44 characters) or hex
 * (64 digits, colons allowed).
 *
 * @param text - the pin
 * @param what - what it is, for messages
 * @returns the 32-byte digest
 * @throws {ValidationError} for any other form
 * @example
 * ```ts
 * parsePin('sha256:' + 'ab'.repeat(32)).length; // 32
 * ```
 */
export function parsePin(text: string, what = '--pin'): Buffer {
  const m = /^sha256:(.+)$/i.exec(typeof text === 'string' ? text.trim() : '');
  if (m) {
    const body = m[1] as string;
    const hex = body.replace(/:/g, '');
    if (/^[0-9a-f]{64}$/i.test(hex)) return Buffer.from(hex, 'hex');
    if (/^[A-Za-z0-9+/]{43}=$/.test(body)) return Buffer.from(body, 'base64');
  }
  throw new ValidationError(
    `Invalid ${what} '${String(text)}': expected sha256: and the certificate's SHA-256 in base64 (44 characters) or hex (64 digits)`,
  );
}

/**
 * Whether a certificate is the pinned one.
 *
 * @param der - the certificate's DER bytes
 * @param pin - a digest from {@link parsePin}
 * @returns true when SHA-256(der) equals the pin
 * @example
 * ```ts
 * pinMatches(socket.getPeerX509Certificate()!.raw, parsePin(pinText));
 * ```
 */
export function pinMatches(der: Uint8Array, pin: Uint8Array): boolean {
  const digest = createHash('sha256').update(der).digest();
  return digest.length === pin.length && digest.equals(pin);
}
