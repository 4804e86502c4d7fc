/**
 * Signing for DNSSEC unit tests, with node:crypto: make a zone key of any algorithm soket verifies, its DNSKEY
 * RDATA and DS, and RRSIGs over RRsets — so validator tests can build small signed zones in memory (and break
 * them on purpose) without a name server.
 */
import { createHash, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { nameToWire } from '../../src/codec/dns-name.js';
import { signedData } from '../../src/dnssec/canonical.js';
import { canonicalWire, type DnssecRecord, keyTag, parseRrsig, T } from '../../src/dnssec/records.js';

/** A zone key. */
export interface TestKey {
  algorithm: number;
  flags: number;
  privateKey: KeyObject;
  /** DNSKEY RDATA. */
  rdata: Uint8Array;
  keyTag: number;
}

const HASH: Record<number, string | null> = {
  5: 'sha1',
  8: 'sha256',
  10: 'sha512',
  13: 'sha256',
  14: 'sha384',
  15: null,
  16: null,
};

/** A new key: algorithm 8, 10 (RSA 1024 bits, for speed), 13, 14, 15 or 16; flags 257 (KSK) or 256 (ZSK). */
export function makeKey(algorithm: number, flags = 257): TestKey {
  let pair: { publicKey: KeyObject; privateKey: KeyObject };
  let publicKey: Uint8Array;
  if (algorithm === 5 || algorithm === 8 || algorithm === 10) {
    pair = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const jwk = pair.publicKey.export({ format: 'jwk' });
    const e = Buffer.from(jwk.e as string, 'base64url');
    const n = Buffer.from(jwk.n as string, 'base64url');
    publicKey = Buffer.concat([Buffer.from([e.length]), e, n]);
  } else if (algorithm === 13 || algorithm === 14) {
    pair = generateKeyPairSync('ec', { namedCurve: algorithm === 13 ? 'P-256' : 'P-384' });
    const jwk = pair.publicKey.export({ format: 'jwk' });
    publicKey = Buffer.concat([
      Buffer.from(jwk.x as string, 'base64url'),
      Buffer.from(jwk.y as string, 'base64url'),
    ]);
  } else if (algorithm === 15 || algorithm === 16) {
    pair = algorithm === 15 ? generateKeyPairSync('ed25519') : generateKeyPairSync('ed448');
    const jwk = pair.publicKey.export({ format: 'jwk' });
    publicKey = Buffer.from(jwk.x as string, 'base64url');
  } else {
    throw new Error(`makeKey: algorithm ${algorithm} not supported here`);
  }
  const rdata = Uint8Array.from([flags >> 8, flags & 0xff, 3, algorithm, ...publicKey]);
  return { algorithm, flags, privateKey: pair.privateKey, rdata, keyTag: keyTag(rdata) };
}

/** A record. */
export function rr(name: string, type: number, rdata: Uint8Array, ttl = 3600): DnssecRecord {
  return { name, type, class: 1, ttl, rdata };
}

/** DS RDATA for a key of `owner` (digest type 1, 2 or 4). */
export function dsRdata(owner: string, key: TestKey, digestType = 2): Uint8Array {
  const hash = digestType === 1 ? 'sha1' : digestType === 4 ? 'sha384' : 'sha256';
  const digest = createHash(hash).update(canonicalWire(owner)).update(key.rdata).digest();
  return Uint8Array.from([key.keyTag >> 8, key.keyTag & 0xff, key.algorithm, digestType, ...digest]);
}

/** Options of {@link signRrset}. */
export interface SignOptions {
  /** Seconds since 1970. @default now - 3600 */
  inception?: number;
  /** @default now + 86400 */
  expiration?: number;
  /** The labels field. @default the owner's label count (a leading `*` not counted) */
  labels?: number;
  /** The signer name. @default `zone` */
  signer?: string;
}

/** An RRSIG record over `rrset` by `key` of `zone`. */
export function signRrset(
  rrset: DnssecRecord[],
  key: TestKey,
  zone: string,
  options: SignOptions = {},
): DnssecRecord {
  const first = rrset[0] as DnssecRecord;
  const now = Math.floor(Date.now() / 1000);
  const labelsOf =
    first.name === '.'
      ? 0
      : first.name
          .replace(/\.$/, '')
          .split('.')
          .filter((l) => l !== '*').length;
  const fields = Buffer.alloc(18);
  fields.writeUInt16BE(first.type, 0);
  fields[2] = key.algorithm;
  fields[3] = options.labels ?? labelsOf;
  fields.writeUInt32BE(first.ttl, 4);
  fields.writeUInt32BE((options.expiration ?? now + 86400) >>> 0, 8);
  fields.writeUInt32BE((options.inception ?? now - 3600) >>> 0, 12);
  fields.writeUInt16BE(key.keyTag, 16);
  const withoutSig = Buffer.concat([fields, nameToWire(options.signer ?? zone)]);
  // Parse a placeholder to get the signed-data prefix exactly as the validator builds it.
  const sig = parseRrsig(Buffer.concat([withoutSig, Buffer.from([0])]));
  const data = signedData(sig, rrset);
  const hash = HASH[key.algorithm] ?? null;
  const signature =
    key.algorithm === 13 || key.algorithm === 14
      ? sign(hash, data, { key: key.privateKey, dsaEncoding: 'ieee-p1363' })
      : sign(hash, data, key.privateKey);
  return rr(first.name, T.RRSIG, Buffer.concat([withoutSig, signature]), first.ttl);
}

/** RDATA of a name (NS, CNAME, DNAME). */
export function nameRdata(name: string): Uint8Array {
  return nameToWire(name);
}

/** A type bit map (RFC 4034 §4.1.2) for the given types. */
export function typeBitmap(types: number[]): Uint8Array {
  const windows = new Map<number, number[]>();
  for (const t of types) {
    const w = t >> 8;
    const bits = windows.get(w) ?? [];
    const i = (t & 0xff) >> 3;
    while (bits.length <= i) bits.push(0);
    bits[i] = (bits[i] as number) | (0x80 >> (t & 7));
    windows.set(w, bits);
  }
  const out: number[] = [];
  for (const w of [...windows.keys()].sort((a, b) => a - b)) {
    const bits = windows.get(w) as number[];
    out.push(w, bits.length, ...bits);
  }
  return Uint8Array.from(out);
}

/** NSEC RDATA. */
export function nsecRdata(next: string, types: number[]): Uint8Array {
  return Buffer.concat([nameToWire(next), typeBitmap(types)]);
}

/** NSEC3 RDATA. */
export function nsec3Rdata(
  nextHashed: Uint8Array,
  types: number[],
  options: { salt?: Uint8Array; iterations?: number; optOut?: boolean } = {},
): Uint8Array {
  const salt = options.salt ?? new Uint8Array();
  const head = Buffer.alloc(5);
  head[0] = 1;
  head[1] = options.optOut ? 1 : 0;
  head.writeUInt16BE(options.iterations ?? 0, 2);
  head[4] = salt.length;
  return Buffer.concat([head, salt, Buffer.from([nextHashed.length]), nextHashed, typeBitmap(types)]);
}

/** A RDATA. */
export function aRdata(address: string): Uint8Array {
  return Uint8Array.from(address.split('.').map(Number));
}
