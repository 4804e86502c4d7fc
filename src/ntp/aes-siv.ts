/**
 * AEAD_AES_SIV_CMAC_256 (RFC 5297 §6, the AEAD every NTS implementation has) and AES-CMAC (RFC 4493, the MAC
 * of RFC 8573 for NTP symmetric keys), from `@noble/ciphers` — a well-kept, audited, dependency-free
 * implementation whose `aessiv` is RFC 5297 SIV with any number of associated-data strings.
 *
 * Node's own crypto has no SIV mode (`crypto.getCiphers()` lists no `aes-*-siv`; OpenSSL 3 has it, but Node
 * does not expose it) and no CMAC, and WebCrypto has neither. The test file checks this module against the
 * RFC 5297 appendix A vectors, RFC 4493's CMAC vectors and chrony's own SIV unit-test vectors.
 *
 * The AEAD interface of RFC 5297 §6: `S2V(K1, AD, N, P)`, so the associated data comes first and the nonce is
 * the last associated-data string before the plaintext. The output is the 16-byte synthetic IV (the tag)
 * followed by the ciphertext, as NTS puts it on the wire.
 *
 * @module
 */
import { aessiv, cmac } from '@noble/ciphers/aes.js';
import { ValidationError } from '../core/errors.js';

/** Key length of AEAD_AES_SIV_CMAC_256: two AES-128 keys (S2V, then CTR). */
export const AES_SIV_CMAC_256_KEY_LENGTH = 32;
/** Length of the synthetic IV that starts every ciphertext. */
export const AES_SIV_TAG_LENGTH = 16;

function checkKey(key: Uint8Array): void {
  if (!(key instanceof Uint8Array) || key.length !== AES_SIV_CMAC_256_KEY_LENGTH) {
    throw new ValidationError(
      `Invalid AES-SIV-CMAC-256 key: ${key instanceof Uint8Array ? `${key.length} bytes` : typeof key}, expected 32 bytes`,
    );
  }
}

/**
 * Encrypt and authenticate (RFC 5297 §6 AEAD interface).
 *
 * @param key - 32 bytes
 * @param nonce - the nonce (any length of at least 1; NTS uses 16)
 * @param associatedData - authenticated, not encrypted
 * @param plaintext - encrypted and authenticated
 * @returns the 16-byte synthetic IV followed by the ciphertext
 * @throws {ValidationError} when the key is not 32 bytes
 * @example
 * ```ts
 * const key = new Uint8Array(32), nonce = new Uint8Array(16);
 * const sealed = aesSivSeal(key, nonce, new Uint8Array(48), new Uint8Array(0));
 * sealed.length; // 16
 * ```
 */
export function aesSivSeal(
  key: Uint8Array,
  nonce: Uint8Array,
  associatedData: Uint8Array,
  plaintext: Uint8Array,
): Uint8Array {
  checkKey(key);
  return aessiv(key, associatedData, nonce).encrypt(plaintext);
}

/**
 * Verify and decrypt (RFC 5297 §6 AEAD interface).
 *
 * @param key - 32 bytes
 * @param nonce - the nonce the sender used
 * @param associatedData - what the sender authenticated
 * @param sealed - the synthetic IV followed by the ciphertext
 * @returns the plaintext, or `undefined` when authentication fails (wrong key, altered data)
 * @throws {ValidationError} when the key is not 32 bytes
 * @example
 * ```ts
 * const key = new Uint8Array(32), nonce = new Uint8Array(16), ad = new Uint8Array(4);
 * aesSivOpen(key, nonce, ad, aesSivSeal(key, nonce, ad, new Uint8Array([1, 2]))); // Uint8Array [1, 2]
 * aesSivOpen(key, nonce, new Uint8Array(5), aesSivSeal(key, nonce, ad, new Uint8Array([1, 2]))); // undefined
 * ```
 */
export function aesSivOpen(
  key: Uint8Array,
  nonce: Uint8Array,
  associatedData: Uint8Array,
  sealed: Uint8Array,
): Uint8Array | undefined {
  checkKey(key);
  if (sealed.length < AES_SIV_TAG_LENGTH) return undefined;
  try {
    return aessiv(key, associatedData, nonce).decrypt(sealed);
  } catch {
    return undefined;
  }
}

/**
 * AES-CMAC (RFC 4493; AES-256 for a 32-byte key, as RFC 8573's AES256 key type).
 *
 * @param key - 16 bytes (AES-128) or 32 bytes (AES-256)
 * @param message - the data
 * @returns the 16-byte MAC
 * @throws {ValidationError} for another key length
 * @example
 * ```ts
 * aesCmac(new Uint8Array(16), new Uint8Array(0)).length; // 16
 * ```
 */
export function aesCmac(key: Uint8Array, message: Uint8Array): Uint8Array {
  if (!(key instanceof Uint8Array) || (key.length !== 16 && key.length !== 32)) {
    throw new ValidationError(`Invalid AES-CMAC key: expected 16 or 32 bytes`);
  }
  return cmac(message, key);
}
