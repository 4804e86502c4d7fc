/**
 * The cryptography of DNSSEC, with `node:crypto` only: DS digests (RFC 4034 §5.1.4; SHA-1, SHA-256 (RFC 4509),
 * SHA-384 (RFC 6605)) and RRSIG signature verification for RSA/SHA-1, RSA/SHA-256 and RSA/SHA-512 (RFC 3110,
 * RFC 5702), ECDSA P-256/SHA-256 and P-384/SHA-384 (RFC 6605), Ed25519 and Ed448 (RFC 8080). Public keys
 * arrive in their DNSKEY wire form and are turned into `KeyObject`s through JWK.
 *
 * @module
 */
import { createHash, createPublicKey, type KeyObject, verify } from 'node:crypto';
import { canonicalWire } from './records.js';

/** DS digest types soket computes, by number: node:crypto hash name. */
const DIGESTS: Readonly<Record<number, string>> = { 1: 'sha1', 2: 'sha256', 4: 'sha384' };

/** Names of the DS digest types (IANA). */
export const DIGEST_TYPES: Readonly<Record<number, string>> = {
  1: 'SHA-1',
  2: 'SHA-256',
  3: 'GOST',
  4: 'SHA-384',
};

/** Signature algorithms soket verifies, by number. */
const ALGORITHMS: Readonly<
  Record<number, { kind: 'rsa' | 'ec' | 'okp'; hash: string | null; curve?: string; size?: number }>
> = {
  5: { kind: 'rsa', hash: 'sha1' },
  7: { kind: 'rsa', hash: 'sha1' },
  8: { kind: 'rsa', hash: 'sha256' },
  10: { kind: 'rsa', hash: 'sha512' },
  13: { kind: 'ec', hash: 'sha256', curve: 'P-256', size: 32 },
  14: { kind: 'ec', hash: 'sha384', curve: 'P-384', size: 48 },
  15: { kind: 'okp', hash: null, curve: 'Ed25519', size: 32 },
  16: { kind: 'okp', hash: null, curve: 'Ed448', size: 57 },
};

/**
 * Whether soket can verify signatures of this DNSKEY algorithm.
 *
 * @example
 * ```ts
 * algorithmSupported(15); // true (Ed25519)
 * algorithmSupported(12); // false (GOST)
 * ```
 */
export function algorithmSupported(algorithm: number): boolean {
  return ALGORITHMS[algorithm] !== undefined;
}

/**
 * Whether soket can compute this DS digest type.
 *
 * @example
 * ```ts
 * digestSupported(2); // true (SHA-256)
 * ```
 */
export function digestSupported(digestType: number): boolean {
  return DIGESTS[digestType] !== undefined;
}

/**
 * The digest of a DNSKEY for a DS record: hash(owner name in canonical wire form | DNSKEY RDATA).
 *
 * @param owner - the DNSKEY's owner (the zone)
 * @param dnskeyRdata - the DNSKEY's RDATA
 * @param digestType - 1 (SHA-1), 2 (SHA-256) or 4 (SHA-384)
 * @returns the digest, or `undefined` for a digest type soket does not compute
 * @example
 * ```ts
 * Buffer.from(dsDigest('.', rootKsk, 2)!).toString('hex').toUpperCase(); // 'E06D44B8...'
 * ```
 */
export function dsDigest(owner: string, dnskeyRdata: Uint8Array, digestType: number): Uint8Array | undefined {
  const hash = DIGESTS[digestType];
  if (!hash) return undefined;
  return createHash(hash).update(canonicalWire(owner)).update(dnskeyRdata).digest();
}

function b64url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}

const keyCache = new Map<string, KeyObject | null>();

/**
 * A `KeyObject` for a DNSKEY's public key, or `null` when the key bytes do not form a key of that algorithm.
 * Cached by algorithm and key bytes.
 */
function publicKey(algorithm: number, key: Uint8Array): KeyObject | null {
  const id = `${algorithm}:${b64url(key)}`;
  const cached = keyCache.get(id);
  if (cached !== undefined) return cached;
  let out: KeyObject | null = null;
  try {
    out = makeKey(algorithm, key);
  } catch {
    out = null;
  }
  if (keyCache.size > 1000) keyCache.clear();
  keyCache.set(id, out);
  return out;
}

function makeKey(algorithm: number, key: Uint8Array): KeyObject | null {
  const alg = ALGORITHMS[algorithm];
  if (!alg) return null;
  if (alg.kind === 'rsa') {
    // RFC 3110 §2: exponent length (1 byte, or 0 then 2 bytes), exponent, modulus.
    if (key.length < 3) return null;
    let p = 1;
    let expLen = key[0] as number;
    if (expLen === 0) {
      expLen = ((key[1] as number) << 8) | (key[2] as number);
      p = 3;
    }
    if (expLen === 0 || p + expLen >= key.length) return null;
    const e = key.subarray(p, p + expLen);
    const n = key.subarray(p + expLen);
    return createPublicKey({ key: { kty: 'RSA', n: b64url(n), e: b64url(e) }, format: 'jwk' });
  }
  const size = alg.size as number;
  if (alg.kind === 'ec') {
    if (key.length !== 2 * size) return null;
    return createPublicKey({
      key: {
        kty: 'EC',
        crv: alg.curve as string,
        x: b64url(key.subarray(0, size)),
        y: b64url(key.subarray(size)),
      },
      format: 'jwk',
    });
  }
  if (key.length !== size) return null;
  return createPublicKey({ key: { kty: 'OKP', crv: alg.curve as string, x: b64url(key) }, format: 'jwk' });
}

/** What {@link verifySignature} found. */
export type VerifyOutcome = 'valid' | 'invalid' | 'bad-key' | 'unsupported';

/**
 * Verify a DNSSEC signature.
 *
 * @param algorithm - the DNSKEY/RRSIG algorithm number
 * @param key - the DNSKEY's public key field
 * @param data - the signed data ({@link signedData})
 * @param signature - the RRSIG's signature field
 * @returns `valid`, `invalid`, `bad-key` (the key bytes are not a key of that algorithm) or `unsupported`
 * @example
 * ```ts
 * verifySignature(15, dnskey.publicKey, signedData(sig, rrset), sig.signature); // 'valid'
 * ```
 */
export function verifySignature(
  algorithm: number,
  key: Uint8Array,
  data: Uint8Array,
  signature: Uint8Array,
): VerifyOutcome {
  const alg = ALGORITHMS[algorithm];
  if (!alg) return 'unsupported';
  const k = publicKey(algorithm, key);
  if (!k) return 'bad-key';
  try {
    if (alg.kind === 'ec') {
      if (signature.length !== 2 * (alg.size as number)) return 'invalid';
      return verify(alg.hash, data, { key: k, dsaEncoding: 'ieee-p1363' }, signature) ? 'valid' : 'invalid';
    }
    return verify(alg.hash, data, k, signature) ? 'valid' : 'invalid';
  } catch {
    return 'invalid';
  }
}
