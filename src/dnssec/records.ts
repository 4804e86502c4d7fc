/**
 * The records DNSSEC validation works on, and the RDATA of the DNSSEC types read from their wire form
 * (RFC 4034 §2–§5, RFC 5155 §3): DNSKEY, DS, RRSIG, NSEC, NSEC3 and the type bit maps. A record is kept as its
 * owner name, type, class, TTL and **raw, uncompressed RDATA**: signatures are computed over bytes, so the
 * validator never works from a re-encoding of parsed fields.
 *
 * Malformed RDATA is a `BadPacketError` naming the record.
 *
 * @module
 */
import { formatDnsName, lowerName, nameToWire, wireToLabels } from '../codec/dns-name.js';
import { keyTag } from '../codec/dns-rdata.js';
import { DNSSEC_ALGORITHMS, dnsTypeName } from '../codec/dns-types.js';
import { BadPacketError } from '../core/errors.js';

/** One resource record as DNSSEC sees it. */
export interface DnssecRecord {
  /** Owner name, presentation form, absolute (`www.example.test.`), case as received. */
  name: string;
  /** Type number (1 = A, 46 = RRSIG, ...). */
  type: number;
  /** Class number (1 = IN). */
  class: number;
  /** TTL in seconds. */
  ttl: number;
  /** RDATA in uncompressed wire form. */
  rdata: Uint8Array;
}

/** Record type numbers used by the validator. */
export const T = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  AAAA: 28,
  DNAME: 39,
  DS: 43,
  RRSIG: 46,
  NSEC: 47,
  DNSKEY: 48,
  NSEC3: 50,
} as const;

/** A DNSKEY's RDATA (RFC 4034 §2.1). */
export interface Dnskey {
  flags: number;
  protocol: number;
  algorithm: number;
  publicKey: Uint8Array;
  /** The key tag (RFC 4034 Appendix B). */
  keyTag: number;
  /** Flag bit 7: a zone key (only zone keys may sign zone data). */
  zoneKey: boolean;
  /** Flag bit 15: secure entry point (a KSK, by convention). */
  sep: boolean;
  /** Flag bit 8: revoked (RFC 5011); a revoked key validates nothing. */
  revoked: boolean;
}

/** A DS's RDATA (RFC 4034 §5.1). */
export interface Ds {
  keyTag: number;
  algorithm: number;
  digestType: number;
  digest: Uint8Array;
}

/** An RRSIG's RDATA (RFC 4034 §3.1). */
export interface Rrsig {
  typeCovered: number;
  algorithm: number;
  /** Labels of the original owner name, a leading `*` not counted. */
  labels: number;
  originalTtl: number;
  /** Seconds since 1970, modulo 2^32 (serial number arithmetic, RFC 1982). */
  expiration: number;
  inception: number;
  keyTag: number;
  /** The signer (the zone), presentation form. */
  signer: string;
  signature: Uint8Array;
  /** RDATA without the signature, the signer in canonical (lower-case) form: the start of the signed data. */
  signedFields: Uint8Array;
}

/** An NSEC's RDATA (RFC 4034 §4.1). */
export interface Nsec {
  /** The next owner name, presentation form. */
  next: string;
  /** Types present at the owner name. */
  types: Set<number>;
}

/** An NSEC3's RDATA (RFC 5155 §3.2). */
export interface Nsec3 {
  hashAlgorithm: number;
  flags: number;
  /** Flag bit 0: this span may hide unsigned delegations. */
  optOut: boolean;
  iterations: number;
  salt: Uint8Array;
  /** The next hashed owner name (raw hash bytes). */
  nextHashed: Uint8Array;
  types: Set<number>;
}

function bad(record: string, why: string): never {
  throw new BadPacketError(`Malformed ${record} record: ${why}`);
}

function u16(b: Uint8Array, p: number): number {
  return ((b[p] as number) << 8) | (b[p + 1] as number);
}

function u32(b: Uint8Array, p: number): number {
  return (
    (((b[p] as number) << 24) |
      ((b[p + 1] as number) << 16) |
      ((b[p + 2] as number) << 8) |
      (b[p + 3] as number)) >>>
    0
  );
}

/**
 * Length of the uncompressed name at `p` in `b`, or throws.
 * @internal
 */
export function nameLength(b: Uint8Array, p: number, what: string): number {
  let q = p;
  for (;;) {
    const len = b[q];
    if (len === undefined) bad(what, 'a name runs past the end of the RDATA');
    if (len === 0) return q + 1 - p;
    if (len > 63)
      bad(what, `label length byte ${len} (compressed or reserved) in a name that must be uncompressed`);
    q += 1 + len;
    if (q - p > 255) bad(what, 'a name longer than 255 bytes');
  }
}

/** The key tag of a DNSKEY RDATA (RFC 4034 Appendix B), from the DNS codec. */
export { keyTag };

/**
 * Read a DNSKEY RDATA.
 *
 * @throws {BadPacketError} when it is shorter than 4 bytes
 * @example
 * ```ts
 * parseDnskey(record.rdata).keyTag;
 * ```
 */
export function parseDnskey(rdata: Uint8Array): Dnskey {
  if (rdata.length < 4) bad('DNSKEY', `RDATA is ${rdata.length} bytes, expected at least 4`);
  const flags = u16(rdata, 0);
  return {
    flags,
    protocol: rdata[2] as number,
    algorithm: rdata[3] as number,
    publicKey: rdata.subarray(4),
    keyTag: keyTag(rdata),
    zoneKey: (flags & 0x0100) !== 0,
    sep: (flags & 0x0001) !== 0,
    revoked: (flags & 0x0080) !== 0,
  };
}

/**
 * Read a DS (or CDS) RDATA.
 *
 * @throws {BadPacketError} when it is shorter than 4 bytes
 * @example
 * ```ts
 * parseDs(record.rdata).digestType; // 2 (SHA-256)
 * ```
 */
export function parseDs(rdata: Uint8Array): Ds {
  if (rdata.length < 5) bad('DS', `RDATA is ${rdata.length} bytes, expected at least 5`);
  return {
    keyTag: u16(rdata, 0),
    algorithm: rdata[2] as number,
    digestType: rdata[3] as number,
    digest: rdata.subarray(4),
  };
}

/**
 * Read an RRSIG RDATA.
 *
 * @throws {BadPacketError} when fields are missing, the signer name is malformed, or the signature is empty
 * @example
 * ```ts
 * const sig = parseRrsig(record.rdata);
 * sig.signer; // 'example.test.'
 * ```
 */
export function parseRrsig(rdata: Uint8Array): Rrsig {
  if (rdata.length < 19) bad('RRSIG', `RDATA is ${rdata.length} bytes, expected at least 19`);
  const nlen = nameLength(rdata, 18, 'RRSIG');
  const signerWire = rdata.subarray(18, 18 + nlen);
  const signature = rdata.subarray(18 + nlen);
  if (signature.length === 0) bad('RRSIG', 'the signature is empty');
  const signer = formatDnsName(wireToLabels(signerWire));
  const signedFields = new Uint8Array(18 + nlen);
  signedFields.set(rdata.subarray(0, 18), 0);
  signedFields.set(lowerWire(signerWire), 18);
  return {
    typeCovered: u16(rdata, 0),
    algorithm: rdata[2] as number,
    labels: rdata[3] as number,
    originalTtl: u32(rdata, 4),
    expiration: u32(rdata, 8),
    inception: u32(rdata, 12),
    keyTag: u16(rdata, 16),
    signer,
    signature,
    signedFields,
  };
}

/**
 * Read a type bit map (RFC 4034 §4.1.2): windows in increasing order, 1 to 32 bytes each, no trailing zero
 * bytes required by the RFC but tolerated.
 *
 * @throws {BadPacketError} for a window out of order, a bad length, or bytes past the end
 * @example
 * ```ts
 * parseTypeBitmap(Uint8Array.of(0, 1, 0x40)); // Set { 1 } (A)
 * ```
 */
export function parseTypeBitmap(bytes: Uint8Array, what = 'NSEC'): Set<number> {
  const types = new Set<number>();
  let p = 0;
  let last = -1;
  while (p < bytes.length) {
    if (p + 2 > bytes.length) bad(what, 'type bit map window header runs past the end');
    const window = bytes[p] as number;
    const len = bytes[p + 1] as number;
    if (window <= last) bad(what, `type bit map window ${window} out of order`);
    if (len < 1 || len > 32) bad(what, `type bit map window ${window} has length ${len}, expected 1 to 32`);
    if (p + 2 + len > bytes.length) bad(what, `type bit map window ${window} runs past the end`);
    for (let i = 0; i < len; i++) {
      const octet = bytes[p + 2 + i] as number;
      for (let bit = 0; bit < 8; bit++) if (octet & (0x80 >> bit)) types.add(window * 256 + i * 8 + bit);
    }
    last = window;
    p += 2 + len;
  }
  return types;
}

/**
 * Read an NSEC RDATA.
 *
 * @throws {BadPacketError} for a malformed next name or bit map
 * @example
 * ```ts
 * parseNsec(record.rdata).next; // 'b.example.test.'
 * ```
 */
export function parseNsec(rdata: Uint8Array): Nsec {
  const nlen = nameLength(rdata, 0, 'NSEC');
  return {
    next: formatDnsName(wireToLabels(rdata.subarray(0, nlen))),
    types: parseTypeBitmap(rdata.subarray(nlen), 'NSEC'),
  };
}

/**
 * Read an NSEC3 RDATA.
 *
 * @throws {BadPacketError} for fields past the end, an empty hash, or a malformed bit map
 * @example
 * ```ts
 * parseNsec3(record.rdata).optOut;
 * ```
 */
export function parseNsec3(rdata: Uint8Array): Nsec3 {
  if (rdata.length < 6) bad('NSEC3', `RDATA is ${rdata.length} bytes, expected at least 6`);
  const saltLen = rdata[4] as number;
  const hashAt = 5 + saltLen;
  if (hashAt >= rdata.length) bad('NSEC3', 'the salt runs past the end');
  const hashLen = rdata[hashAt] as number;
  if (hashLen === 0) bad('NSEC3', 'the next hashed owner name is empty');
  if (hashAt + 1 + hashLen > rdata.length) bad('NSEC3', 'the next hashed owner name runs past the end');
  const flags = rdata[1] as number;
  return {
    hashAlgorithm: rdata[0] as number,
    flags,
    optOut: (flags & 1) !== 0,
    iterations: u16(rdata, 2),
    salt: rdata.subarray(5, hashAt),
    nextHashed: rdata.subarray(hashAt + 1, hashAt + 1 + hashLen),
    types: parseTypeBitmap(rdata.subarray(hashAt + 1 + hashLen), 'NSEC3'),
  };
}

/** ASCII upper case → lower case in an uncompressed wire-form name (length bytes are never letters). */
export function lowerWire(wire: Uint8Array): Uint8Array {
  const out = Uint8Array.from(wire);
  let p = 0;
  while (p < out.length) {
    const len = out[p] as number;
    if (len === 0) break;
    for (let i = p + 1; i <= p + len; i++) {
      const c = out[i] as number;
      if (c >= 0x41 && c <= 0x5a) out[i] = c + 32;
    }
    p += len + 1;
  }
  return out;
}

/** The lower-cased wire form of a presentation name. */
export function canonicalWire(name: string): Uint8Array {
  return lowerWire(nameToWire(name));
}

/** A name's canonical text: lower case, absolute. */
export function canonicalName(name: string): string {
  return lowerName(name.endsWith('.') ? name : `${name}.`);
}

/** `ED25519 (15)`, `RSASHA256 (8)`, `ALG99 (99)`. */
export function algorithmText(algorithm: number): string {
  return DNSSEC_ALGORITHMS[algorithm] ?? `ALG${algorithm}`;
}

/** `RRSIG A`, `RRSIG TYPE65280`. */
export function typeText(type: number): string {
  return dnsTypeName(type);
}
