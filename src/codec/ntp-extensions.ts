/**
 * What follows the 48-byte NTP header, pure: extension fields (RFC 7822, RFC 5905 §7.5) and the MAC trailer
 * of symmetric-key authentication (RFC 5905 §7.3, RFC 8573), parsed deterministically the way RFC 7822 §7.5
 * and chrony do it, plus the body of the NTS Authenticator and Encrypted Extension Fields field (RFC 8915
 * §5.6).
 *
 * ```text
 *  0               1               2               3
 * |          Field Type           |      Length (whole field)     |
 * |                 Value, zero-padded to a multiple of 4          |
 * ```
 *
 * The tail of an NTPv4 packet is a sequence of extension fields, then optionally a MAC:
 * - every extension field is at least 16 bytes long, a multiple of 4, and ends inside the packet;
 * - 20 or 24 bytes left at a field boundary are a MAC (a 4-byte key ID and a 16- or 20-byte digest) — so a
 *   last extension field without a MAC after it must be at least 28 bytes long, or it would read as a MAC;
 * - 4 zero bytes and nothing else are a crypto-NAK (key ID 0, no digest).
 * NTPv3 and older have no extension fields: whatever follows the header is a MAC of 20 to 68 bytes.
 *
 * Anything else — a length that is not a multiple of 4, a field shorter than 16 bytes or running past the end,
 * 4..16 stray bytes — is a `BadPacketError`. Unknown field types decode and encode back unchanged.
 *
 * @module
 */
import { BadPacketError, ValidationError } from '../core/errors.js';
import { NTP_HEADER_LENGTH } from './ntp.js';

/** Extension field types soket knows (IANA "NTP Extension Field Types"). Others round-trip as numbers. */
export const NtpExtensionType = {
  /** RFC 8915 §5.3: random bytes the server echoes, binding a reply to its request. */
  uniqueIdentifier: 0x0104,
  /** RFC 8915 §5.4: an NTS cookie from the server. */
  ntsCookie: 0x0204,
  /** RFC 8915 §5.5: asks for one more cookie; as long as a cookie, contents ignored. */
  ntsCookiePlaceholder: 0x0304,
  /** RFC 8915 §5.6: the NTS Authenticator and Encrypted Extension Fields field; always the last field. */
  ntsAuthenticator: 0x0404,
} as const;

/** Shortest extension field, header included (RFC 7822 §3). */
export const NTP_MIN_EXTENSION_LENGTH = 16;
/** Shortest last extension field when no MAC follows: anything of 20 or 24 bytes would read as a MAC. */
export const NTP_MIN_LAST_EXTENSION_LENGTH = 28;
/** Shortest MAC: key ID and a 128-bit digest. */
export const NTP_MIN_MAC_LENGTH = 20;
/** Longest MAC in an NTPv4 packet (RFC 7822 §7.5): key ID and a 160-bit digest. */
export const NTP_MAX_V4_MAC_LENGTH = 24;
/** Longest MAC in an NTPv3 packet: key ID and a 512-bit digest. */
export const NTP_MAX_MAC_LENGTH = 68;
/** Most extension fields a decoder accepts in one packet. */
export const NTP_MAX_EXTENSION_FIELDS = 64;

/** One extension field. */
export interface NtpExtensionField {
  /** Field type, 0–65535 (see {@link NtpExtensionType}). */
  type: number;
  /** The value with its zero padding (length a multiple of 4). */
  body: Uint8Array;
  /** Where the field starts in the packet (decoded fields only). */
  offset?: number;
}

/** The MAC trailer of symmetric-key authentication. */
export interface NtpMac {
  /** Key ID, 32 bits; 0 with an empty digest is a crypto-NAK. */
  keyId: number;
  /** The digest (16 bytes for MD5 and CMAC, 20 for SHA1 and truncated SHA256 in NTPv4, ...). */
  digest: Uint8Array;
  /** Where the MAC starts in the packet: the MAC covers every byte before it. */
  offset: number;
}

/** What followed the header. */
export interface NtpTail {
  /** The extension fields, in order. */
  fields: NtpExtensionField[];
  /** The MAC trailer, when there is one. */
  mac?: NtpMac;
}

function versionOf(packet: Uint8Array): number {
  return ((packet[0] as number) >>> 3) & 7;
}

function u16(b: Uint8Array, at: number): number {
  return ((b[at] as number) << 8) | (b[at + 1] as number);
}

function u32(b: Uint8Array, at: number): number {
  return (
    (((b[at] as number) << 24) |
      ((b[at + 1] as number) << 16) |
      ((b[at + 2] as number) << 8) |
      (b[at + 3] as number)) >>>
    0
  );
}

/**
 * Walk the tail once. Calls `field` for each extension field, and returns the MAC's offset (or -1 for none);
 * returns a reason string when the tail is malformed. Shared by the decoder and the allocation-free check.
 */
function walk(
  packet: Uint8Array,
  length: number,
  field: ((type: number, start: number, end: number) => void) | undefined,
): number | string {
  if (length < NTP_HEADER_LENGTH)
    return `NTP packet is ${length} bytes, expected at least ${NTP_HEADER_LENGTH}`;
  const remainder = length - NTP_HEADER_LENGTH;
  if (remainder === 0) return -1;
  if (length % 4 !== 0) return `NTP packet is ${length} bytes, not a multiple of 4`;
  const version = versionOf(packet);
  if (version <= 3) {
    if (remainder < NTP_MIN_MAC_LENGTH || remainder > NTP_MAX_MAC_LENGTH) {
      return `NTPv${version} packet has ${remainder} bytes after the header, expected a MAC of ${NTP_MIN_MAC_LENGTH} to ${NTP_MAX_MAC_LENGTH} bytes`;
    }
    return NTP_HEADER_LENGTH;
  }
  if (remainder === 4) {
    return u32(packet, NTP_HEADER_LENGTH) === 0
      ? NTP_HEADER_LENGTH
      : 'NTP packet has a 4-byte tail that is not a crypto-NAK';
  }
  let at = NTP_HEADER_LENGTH;
  let count = 0;
  while (at < length) {
    const left = length - at;
    if (left <= NTP_MAX_V4_MAC_LENGTH) {
      if (left >= NTP_MIN_MAC_LENGTH) return at;
      return `NTP packet has ${left} bytes left at offset ${at}: too short for a MAC, and a last extension field needs ${NTP_MIN_LAST_EXTENSION_LENGTH}`;
    }
    const fieldLength = u16(packet, at + 2);
    if (fieldLength < NTP_MIN_EXTENSION_LENGTH || fieldLength % 4 !== 0) {
      return `NTP extension field at offset ${at} has length ${fieldLength}, expected a multiple of 4 of at least ${NTP_MIN_EXTENSION_LENGTH}`;
    }
    if (fieldLength > left) {
      return `NTP extension field at offset ${at} has length ${fieldLength}, but only ${left} bytes are left`;
    }
    if (++count > NTP_MAX_EXTENSION_FIELDS) {
      return `NTP packet has more than ${NTP_MAX_EXTENSION_FIELDS} extension fields`;
    }
    field?.(u16(packet, at), at, at + fieldLength);
    at += fieldLength;
  }
  return -1;
}

/**
 * Why the bytes after the header are not well-formed extension fields and MAC — or `undefined` when they are
 * (or there are none). Allocation-free: the server calls it on every request and drops those it faults.
 *
 * @param packet - a datagram of at least 48 bytes
 * @param length - how much of `packet` is the datagram. @default packet.length
 * @returns the reason, or `undefined` for a well-formed tail
 * @example
 * ```ts
 * const req = new Uint8Array(52); req[0] = 0x23; // NTPv4 client request with 4 stray non-zero bytes
 * req[51] = 1;
 * ntpTailError(req); // 'NTP packet has a 4-byte tail that is not a crypto-NAK'
 * ntpTailError(new Uint8Array(48)); // undefined
 * ```
 */
export function ntpTailError(packet: Uint8Array, length = packet.length): string | undefined {
  const r = walk(packet, length, undefined);
  return typeof r === 'string' ? r : undefined;
}

/**
 * Decode the extension fields and MAC after the header.
 *
 * @param packet - a whole NTP datagram
 * @returns the fields (bodies are views into `packet`) and the MAC
 * @throws {BadPacketError} when the tail is malformed (see the module notes)
 * @example
 * ```ts
 * const p = encodeNtpExtensions(encodeNtpPacket({ version: 4, mode: 3 }), [
 *   { type: NtpExtensionType.uniqueIdentifier, body: new Uint8Array(32) },
 * ]);
 * decodeNtpExtensions(p).fields[0]?.type; // 0x0104
 * ```
 */
export function decodeNtpExtensions(packet: Uint8Array): NtpTail {
  const fields: NtpExtensionField[] = [];
  const r = walk(packet, packet.length, (type, start, end) => {
    fields.push({ type, body: packet.subarray(start + 4, end), offset: start });
  });
  if (typeof r === 'string') throw new BadPacketError(r);
  if (r < 0) return { fields };
  return {
    fields,
    mac: { keyId: u32(packet, r), digest: packet.subarray(r + 4), offset: r },
  };
}

/**
 * Encode one extension field: the body is zero-padded to a multiple of 4 and to `minLength`.
 *
 * @param type - field type, 0–65535
 * @param body - the value
 * @param minLength - least length of the whole field. @default 16
 * @returns the field's bytes
 * @throws {ValidationError} when the type is out of range or the field would exceed 65535 bytes
 * @example
 * ```ts
 * encodeNtpExtensionField(NtpExtensionType.uniqueIdentifier, new Uint8Array(32)).length; // 36
 * ```
 */
export function encodeNtpExtensionField(
  type: number,
  body: Uint8Array,
  minLength = NTP_MIN_EXTENSION_LENGTH,
): Uint8Array {
  if (!Number.isInteger(type) || type < 0 || type > 0xffff) {
    throw new ValidationError(
      `Invalid NTP extension field type '${type}': expected an integer from 0 to 65535`,
    );
  }
  const padded = Math.max(roundUp4(4 + body.length), roundUp4(Math.max(NTP_MIN_EXTENSION_LENGTH, minLength)));
  if (padded > 0xfffc) {
    throw new ValidationError(`NTP extension field of ${body.length} bytes is too long: at most 65532 bytes`);
  }
  const out = new Uint8Array(padded);
  out[0] = type >>> 8;
  out[1] = type & 0xff;
  out[2] = padded >>> 8;
  out[3] = padded & 0xff;
  out.set(body, 4);
  return out;
}

/**
 * A header followed by extension fields and optionally a MAC, as one packet.
 *
 * @param header - the 48-byte header (from `encodeNtpPacket`)
 * @param fields - fields in order; each is padded as {@link encodeNtpExtensionField} does
 * @param mac - key ID and digest to append
 * @returns the packet
 * @throws {ValidationError} when the result would not decode back the same (a last field shorter than 28
 *   bytes without a MAC, a MAC that is not 20–24 bytes in NTPv4)
 * @example
 * ```ts
 * const req = encodeNtpExtensions(encodeNtpPacket({ version: 4, mode: 3 }), [], { keyId: 1, digest: new Uint8Array(16) });
 * req.length; // 68
 * ```
 */
export function encodeNtpExtensions(
  header: Uint8Array,
  fields: ReadonlyArray<Pick<NtpExtensionField, 'type' | 'body'>>,
  mac?: Pick<NtpMac, 'keyId' | 'digest'>,
): Uint8Array {
  if (header.length !== NTP_HEADER_LENGTH) {
    throw new ValidationError(`Invalid NTP header: ${header.length} bytes, expected ${NTP_HEADER_LENGTH}`);
  }
  const parts: Uint8Array[] = [header];
  fields.forEach((f, i) => {
    const last = i === fields.length - 1 && mac === undefined;
    parts.push(
      encodeNtpExtensionField(
        f.type,
        f.body,
        last ? NTP_MIN_LAST_EXTENSION_LENGTH : NTP_MIN_EXTENSION_LENGTH,
      ),
    );
  });
  if (mac) {
    if (!Number.isInteger(mac.keyId) || mac.keyId < 0 || mac.keyId > 0xffff_ffff) {
      throw new ValidationError(
        `Invalid NTP key ID '${mac.keyId}': expected an integer from 0 to 4294967295`,
      );
    }
    const m = new Uint8Array(4 + mac.digest.length);
    new DataView(m.buffer).setUint32(0, mac.keyId);
    m.set(mac.digest, 4);
    parts.push(m);
  }
  const out = concat(parts);
  const problem = ntpTailError(out);
  if (problem !== undefined) throw new ValidationError(`Cannot encode this NTP packet: ${problem}`);
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// NTS Authenticator and Encrypted Extension Fields (RFC 8915 §5.6)
//
//  |         Nonce Length          |       Ciphertext Length       |
//  |                 Nonce, padded to a multiple of 4               |
//  |               Ciphertext, padded to a multiple of 4            |
//  |                     Additional Padding                         |
// ---------------------------------------------------------------------------------------------------------

/** The decoded body of an NTS Authenticator field. */
export interface NtsAuthenticator {
  /** The AEAD nonce. */
  nonce: Uint8Array;
  /** The AEAD output: the synthetic IV (tag) and the encrypted extension fields. */
  ciphertext: Uint8Array;
}

/** Nonce space every authenticator reserves (chrony's rule, after RFC 8915 §5.6): at least 16 bytes. */
export const NTS_MIN_NONCE_SPACE = 16;

/**
 * Decode the body of an NTS Authenticator and Encrypted Extension Fields field.
 *
 * @param body - the field's body (after its 4-byte header)
 * @returns nonce and ciphertext (views into `body`)
 * @throws {BadPacketError} when the lengths run past the body, the nonce is empty, or the padding rule
 *   (at least 16 bytes reserved for the nonce) is broken
 * @example
 * ```ts
 * const body = encodeNtsAuthenticator(new Uint8Array(16), new Uint8Array(16));
 * decodeNtsAuthenticator(body).nonce.length; // 16
 * ```
 */
export function decodeNtsAuthenticator(body: Uint8Array): NtsAuthenticator {
  if (body.length < 4)
    throw new BadPacketError(`NTS authenticator body is ${body.length} bytes, expected at least 4`);
  const nonceLength = u16(body, 0);
  const ciphertextLength = u16(body, 2);
  if (nonceLength < 1) throw new BadPacketError('NTS authenticator has an empty nonce');
  const nonceSpace = Math.max(roundUp4(nonceLength), NTS_MIN_NONCE_SPACE);
  if (4 + nonceSpace + roundUp4(ciphertextLength) > body.length) {
    throw new BadPacketError(
      `NTS authenticator lengths (nonce ${nonceLength}, ciphertext ${ciphertextLength}) run past its ${body.length}-byte body`,
    );
  }
  const nonceAt = 4;
  const cipherAt = nonceAt + roundUp4(nonceLength);
  return {
    nonce: body.subarray(nonceAt, nonceAt + nonceLength),
    ciphertext: body.subarray(cipherAt, cipherAt + ciphertextLength),
  };
}

/**
 * Encode the body of an NTS Authenticator field, padded so that the whole field is at least `minFieldLength`
 * bytes and at least 16 bytes are reserved for the nonce.
 *
 * @param nonce - the AEAD nonce (1–65535 bytes)
 * @param ciphertext - the AEAD output
 * @param minFieldLength - least length of the whole field, header included. @default 28
 * @returns the body (without the field header)
 * @example
 * ```ts
 * encodeNtsAuthenticator(new Uint8Array(16), new Uint8Array(16)).length; // 36
 * ```
 */
export function encodeNtsAuthenticator(
  nonce: Uint8Array,
  ciphertext: Uint8Array,
  minFieldLength = NTP_MIN_LAST_EXTENSION_LENGTH,
): Uint8Array {
  if (nonce.length < 1 || nonce.length > 0xffff || ciphertext.length > 0xffff) {
    throw new ValidationError(
      `Invalid NTS authenticator: nonce of ${nonce.length} bytes and ciphertext of ${ciphertext.length} bytes`,
    );
  }
  const nonceSpace = roundUp4(nonce.length);
  const used = 4 + nonceSpace + roundUp4(ciphertext.length);
  const extra = Math.max(0, NTS_MIN_NONCE_SPACE - nonceSpace, roundUp4(minFieldLength) - 4 - used);
  const out = new Uint8Array(used + extra);
  out[0] = nonce.length >>> 8;
  out[1] = nonce.length & 0xff;
  out[2] = ciphertext.length >>> 8;
  out[3] = ciphertext.length & 0xff;
  out.set(nonce, 4);
  out.set(ciphertext, 4 + nonceSpace);
  return out;
}

/**
 * Decode extension fields that are not behind an NTP header: the plaintext of an NTS authenticator (its
 * encrypted extension fields). Every field must be at least 4 bytes, a multiple of 4, and end inside.
 *
 * @param bytes - concatenated fields
 * @returns the fields
 * @throws {BadPacketError} when a field is malformed
 * @example
 * ```ts
 * decodeNtpExtensionFields(encodeNtpExtensionField(0x0204, new Uint8Array(100))).length; // 1
 * ```
 */
export function decodeNtpExtensionFields(bytes: Uint8Array): NtpExtensionField[] {
  const fields: NtpExtensionField[] = [];
  let at = 0;
  while (at < bytes.length) {
    if (bytes.length - at < 4) throw new BadPacketError(`Truncated extension field at offset ${at}`);
    const len = u16(bytes, at + 2);
    if (len < 4 || len % 4 !== 0 || at + len > bytes.length) {
      throw new BadPacketError(`Extension field at offset ${at} has invalid length ${len}`);
    }
    if (fields.length >= NTP_MAX_EXTENSION_FIELDS) {
      throw new BadPacketError(`More than ${NTP_MAX_EXTENSION_FIELDS} extension fields`);
    }
    fields.push({ type: u16(bytes, at), body: bytes.subarray(at + 4, at + len), offset: at });
    at += len;
  }
  return fields;
}

function roundUp4(n: number): number {
  return (n + 3) & ~3;
}

/** @internal */
export function concat(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
