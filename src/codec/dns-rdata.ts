/**
 * RDATA: the typed data of each resource record type soket parses, read from and written to the wire, and
 * shown in presentation form exactly as dig (BIND 9.18, `+nosplit`) shows it. A type soket does not parse keeps
 * its bytes and is shown in the generic form of RFC 3597 (`\# 4 0A000001`).
 *
 * Parsed: A, AAAA, NS, CNAME, DNAME, PTR, MX, TXT, SPF, SOA, SRV, CAA, NAPTR, SSHFP, TLSA, SMIMEA, SVCB, HTTPS,
 * DS, CDS, DNSKEY, CDNSKEY, RRSIG, NSEC, NSEC3, NSEC3PARAM, HINFO. Each reader checks its type's layout
 * against RDLENGTH (a field past the end, or bytes left over, is a `BadPacketError`). Compression pointers are
 * followed only in the types RFC 3597 §4 allows them in; elsewhere (RRSIG, NSEC, SVCB, ...) a pointer is an
 * error, as the RFCs for those types forbid compression.
 *
 * Every record also keeps `rdata`: its RDATA with every compressed name expanded (and so independent of the
 * message it came in) — the bytes DNSSEC's canonical form starts from (RFC 4034 §6.2).
 *
 * @module
 */
import { ValidationError } from '../core/errors.js';
import { nameToWire, parseDnsName } from './dns-name.js';
import { readSvcParams, type SvcParam, svcParamText, writeSvcParams } from './dns-svcb.js';
import { dnsTypeName, dnsTypeNumber } from './dns-types.js';
import {
  base32hex,
  base64,
  checkUint,
  fromBase32hex,
  fromBase64,
  fromHex,
  hexUpper,
  ipv4Bytes,
  ipv4Text,
  ipv6Bytes,
  ipv6Text,
  quoteString,
  utf8,
  utf8Bytes,
  WireReader,
  WireWriter,
} from './dns-wire.js';

/** An A record: an IPv4 address. */
export interface AData {
  format: 'a';
  address: string;
}
/** An AAAA record: an IPv6 address. */
export interface AaaaData {
  format: 'aaaa';
  address: string;
}
/** NS, CNAME, DNAME, PTR (and the obsolete MD, MF, MB, MG, MR): one domain name. */
export interface NameData {
  format: 'name';
  target: string;
}
/** MX (RFC 1035). */
export interface MxData {
  format: 'mx';
  preference: number;
  exchange: string;
}
/**
 * TXT and SPF: one or more character-strings. `strings` holds them as UTF-8 text (an invalid sequence becomes
 * U+FFFD); the exact bytes are in the record's `rdata` and, escaped, in its presentation form.
 */
export interface TxtData {
  format: 'txt';
  strings: string[];
}
/** SOA (RFC 1035 §3.3.13). */
export interface SoaData {
  format: 'soa';
  mname: string;
  rname: string;
  serial: number;
  refresh: number;
  retry: number;
  expire: number;
  minimum: number;
}
/** SRV (RFC 2782). */
export interface SrvData {
  format: 'srv';
  priority: number;
  weight: number;
  port: number;
  target: string;
}
/** CAA (RFC 8659): flags (128 = critical), a tag such as `issue`, its value. */
export interface CaaData {
  format: 'caa';
  flags: number;
  tag: string;
  value: string;
}
/** NAPTR (RFC 3403). */
export interface NaptrData {
  format: 'naptr';
  order: number;
  preference: number;
  flags: string;
  services: string;
  regexp: string;
  replacement: string;
}
/** SSHFP (RFC 4255, 6594, 7479): the fingerprint as upper-case hex. */
export interface SshfpData {
  format: 'sshfp';
  algorithm: number;
  fingerprintType: number;
  fingerprint: string;
}
/** TLSA (RFC 6698) and SMIMEA (RFC 8162): the certificate association data as upper-case hex. */
export interface TlsaData {
  format: 'tlsa';
  usage: number;
  selector: number;
  matchingType: number;
  data: string;
}
/** SVCB and HTTPS (RFC 9460): priority 0 is AliasMode; `.` as target means the owner name itself. */
export interface SvcbData {
  format: 'svcb';
  priority: number;
  target: string;
  params: SvcParam[];
}
/** DS, CDS (RFC 4034 §5, RFC 7344), also DLV and TA: the digest as upper-case hex. */
export interface DsData {
  format: 'ds';
  keyTag: number;
  algorithm: number;
  digestType: number;
  digest: string;
}
/** DNSKEY, CDNSKEY (RFC 4034 §2, RFC 7344), also KEY: the public key in base64; `keyTag` computed (RFC 4034 App. B). */
export interface DnskeyData {
  format: 'dnskey';
  flags: number;
  protocol: number;
  algorithm: number;
  publicKey: string;
  keyTag: number;
}
/** RRSIG (RFC 4034 §3), also SIG: times are seconds since 1970 modulo 2^32 (RFC 4034 §3.1.5). */
export interface RrsigData {
  format: 'rrsig';
  typeCovered: string;
  algorithm: number;
  labels: number;
  originalTtl: number;
  expiration: number;
  inception: number;
  keyTag: number;
  signerName: string;
  signature: string;
}
/** NSEC (RFC 4034 §4). */
export interface NsecData {
  format: 'nsec';
  nextName: string;
  types: string[];
}
/** NSEC3 (RFC 5155 §3): salt as upper-case hex (`-` when empty), next hashed owner in base32hex. */
export interface Nsec3Data {
  format: 'nsec3';
  hashAlgorithm: number;
  flags: number;
  iterations: number;
  salt: string;
  nextHashedOwner: string;
  types: string[];
}
/** NSEC3PARAM (RFC 5155 §4). */
export interface Nsec3ParamData {
  format: 'nsec3param';
  hashAlgorithm: number;
  flags: number;
  iterations: number;
  salt: string;
}
/** HINFO (RFC 1035, RFC 8482 uses it to answer ANY). */
export interface HinfoData {
  format: 'hinfo';
  cpu: string;
  os: string;
}
/** A type soket does not parse: the bytes are the record's `rdata`, shown as `\# len hex` (RFC 3597 §5). */
export interface UnknownData {
  format: 'unknown';
}

/** The typed RDATA of one record; `format` tells which shape it has. */
export type RData =
  | AData
  | AaaaData
  | NameData
  | MxData
  | TxtData
  | SoaData
  | SrvData
  | CaaData
  | NaptrData
  | SshfpData
  | TlsaData
  | SvcbData
  | DsData
  | DnskeyData
  | RrsigData
  | NsecData
  | Nsec3Data
  | Nsec3ParamData
  | HinfoData
  | UnknownData;

/** The RDATA format of each parsed type number. */
const FORMATS: ReadonlyMap<number, RData['format']> = new Map<number, RData['format']>([
  [1, 'a'],
  [28, 'aaaa'],
  [2, 'name'],
  [3, 'name'],
  [4, 'name'],
  [5, 'name'],
  [7, 'name'],
  [8, 'name'],
  [9, 'name'],
  [12, 'name'],
  [39, 'name'],
  [15, 'mx'],
  [16, 'txt'],
  [99, 'txt'],
  [6, 'soa'],
  [33, 'srv'],
  [257, 'caa'],
  [35, 'naptr'],
  [44, 'sshfp'],
  [52, 'tlsa'],
  [53, 'tlsa'],
  [64, 'svcb'],
  [65, 'svcb'],
  [43, 'ds'],
  [59, 'ds'],
  [32768, 'ds'],
  [32769, 'ds'],
  [48, 'dnskey'],
  [60, 'dnskey'],
  [25, 'dnskey'],
  [46, 'rrsig'],
  [24, 'rrsig'],
  [47, 'nsec'],
  [50, 'nsec3'],
  [51, 'nsec3param'],
  [13, 'hinfo'],
]);

/**
 * Types whose RDATA names a receiver must (RFC 1035 types) or should (RP, AFSDB, RT, SIG, PX, NXT, NAPTR, SRV)
 * decompress (RFC 3597 §4); DNAME is accepted too, as BIND does. Everywhere else a pointer is malformed.
 */
const COMPRESSIBLE = new Set([2, 3, 4, 5, 6, 7, 8, 9, 12, 14, 15, 17, 18, 21, 24, 26, 30, 33, 35, 39]);

/**
 * The RDATA format soket parses for a type number, or `unknown`.
 *
 * @example
 * ```ts
 * rdataFormat(65); // 'svcb'
 * rdataFormat(65280); // 'unknown'
 * ```
 */
export function rdataFormat(type: number): RData['format'] {
  return FORMATS.get(type) ?? 'unknown';
}

/** A record's RDATA read from a message. @internal */
export interface DecodedRdata {
  data: RData;
  /** RDATA with compressed names expanded. */
  rdata: Uint8Array;
}

/**
 * Read one record's RDATA.
 *
 * @param msg - the whole message (compression pointers are offsets into it)
 * @param offset - where the RDATA starts
 * @param length - RDLENGTH
 * @param type - the record's type number
 * @param where - for messages, e.g. `MX record at offset 45`
 * @throws {BadPacketError} when the RDATA does not have its type's layout
 * @internal
 */
export function readRdata(
  msg: Uint8Array,
  offset: number,
  length: number,
  type: number,
  where: string | (() => string),
): DecodedRdata {
  const format = rdataFormat(type);
  // A copy (Buffer's slice would be a view): the record must not keep the message alive or change with it.
  const copy = () => {
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i++) out[i] = msg[offset + i] as number;
    return out;
  };
  if (format === 'unknown') return { data: { format }, rdata: copy() };
  if (format === 'a' && length === 4)
    return { data: { format, address: ipv4Text(msg, offset) }, rdata: copy() };
  const r = new WireReader(msg, offset, offset + length, where);
  const raw = msg.subarray(offset, offset + length);
  const compress = COMPRESSIBLE.has(type);
  const names: Array<[number, number, Uint8Array]> = [];
  const name = (field: string) => {
    const at = r.pos;
    const n = r.name(field, compress);
    names.push([at - offset, n.end - offset, n.wire]);
    return n.name;
  };
  const data = decodeFormat(format, r, name, raw);
  r.end();
  return { data, rdata: expand(raw, names) };
}

/** Replace each (possibly compressed) name in `raw` by its uncompressed wire form. */
function expand(raw: Uint8Array, names: Array<[number, number, Uint8Array]>): Uint8Array {
  const compressed = names.some(([from, to, wire]) => to - from !== wire.length);
  if (!compressed) return Uint8Array.prototype.slice.call(raw);
  const w = new WireWriter();
  let p = 0;
  for (const [from, to, wire] of names) {
    w.bytes(raw.subarray(p, from));
    w.bytes(wire);
    p = to;
  }
  w.bytes(raw.subarray(p));
  return w.result();
}

function decodeFormat(
  format: Exclude<RData['format'], 'unknown'>,
  r: WireReader,
  name: (field: string) => string,
  raw: Uint8Array,
): RData {
  switch (format) {
    case 'a':
      if (r.remaining() !== 4) r.fail('address', `is ${r.remaining()} bytes, expected 4`);
      return { format, address: ipv4Text(r.bytes(4, 'address')) };
    case 'aaaa':
      if (r.remaining() !== 16) r.fail('address', `is ${r.remaining()} bytes, expected 16`);
      return { format, address: ipv6Text(r.bytes(16, 'address')) };
    case 'name':
      return { format, target: name('target') };
    case 'mx':
      return { format, preference: r.u16('preference'), exchange: name('exchange') };
    case 'txt': {
      const strings: string[] = [];
      while (r.remaining() > 0) strings.push(utf8(r.string('character-string')));
      return { format, strings };
    }
    case 'soa':
      return {
        format,
        mname: name('MNAME'),
        rname: name('RNAME'),
        serial: r.u32('SERIAL'),
        refresh: r.u32('REFRESH'),
        retry: r.u32('RETRY'),
        expire: r.u32('EXPIRE'),
        minimum: r.u32('MINIMUM'),
      };
    case 'srv':
      return {
        format,
        priority: r.u16('priority'),
        weight: r.u16('weight'),
        port: r.u16('port'),
        target: name('target'),
      };
    case 'caa': {
      const flags = r.u8('flags');
      const tag = r.string('tag');
      if (tag.length === 0) r.fail('tag', 'is empty');
      return { format, flags, tag: utf8(tag), value: utf8(r.rest()) };
    }
    case 'naptr':
      return {
        format,
        order: r.u16('order'),
        preference: r.u16('preference'),
        flags: utf8(r.string('flags')),
        services: utf8(r.string('services')),
        regexp: utf8(r.string('regexp')),
        replacement: name('replacement'),
      };
    case 'sshfp':
      return {
        format,
        algorithm: r.u8('algorithm'),
        fingerprintType: r.u8('fingerprint type'),
        fingerprint: hexUpper(r.rest()),
      };
    case 'tlsa':
      return {
        format,
        usage: r.u8('certificate usage'),
        selector: r.u8('selector'),
        matchingType: r.u8('matching type'),
        data: hexUpper(r.rest()),
      };
    case 'svcb':
      return { format, priority: r.u16('SvcPriority'), target: name('TargetName'), params: readSvcParams(r) };
    case 'ds':
      return {
        format,
        keyTag: r.u16('key tag'),
        algorithm: r.u8('algorithm'),
        digestType: r.u8('digest type'),
        digest: hexUpper(r.rest()),
      };
    case 'dnskey':
      return {
        format,
        flags: r.u16('flags'),
        protocol: r.u8('protocol'),
        algorithm: r.u8('algorithm'),
        publicKey: base64(r.rest()),
        keyTag: keyTag(raw),
      };
    case 'rrsig':
      return {
        format,
        typeCovered: dnsTypeName(r.u16('type covered')),
        algorithm: r.u8('algorithm'),
        labels: r.u8('labels'),
        originalTtl: r.u32('original TTL'),
        expiration: r.u32('signature expiration'),
        inception: r.u32('signature inception'),
        keyTag: r.u16('key tag'),
        signerName: name("signer's name"),
        signature: base64(r.rest()),
      };
    case 'nsec':
      return { format, nextName: name('next domain name'), types: readTypeBitmap(r) };
    case 'nsec3': {
      const hashAlgorithm = r.u8('hash algorithm');
      const flags = r.u8('flags');
      const iterations = r.u16('iterations');
      const salt = r.string('salt');
      const hash = r.string('next hashed owner name');
      if (hash.length === 0) r.fail('next hashed owner name', 'is empty');
      return {
        format,
        hashAlgorithm,
        flags,
        iterations,
        salt: salt.length === 0 ? '-' : hexUpper(salt),
        nextHashedOwner: base32hex(hash),
        types: readTypeBitmap(r),
      };
    }
    case 'nsec3param': {
      const hashAlgorithm = r.u8('hash algorithm');
      const flags = r.u8('flags');
      const iterations = r.u16('iterations');
      const salt = r.string('salt');
      return { format, hashAlgorithm, flags, iterations, salt: salt.length === 0 ? '-' : hexUpper(salt) };
    }
    case 'hinfo':
      return { format, cpu: utf8(r.string('CPU')), os: utf8(r.string('OS')) };
  }
}

/**
 * The type bit maps of NSEC and NSEC3 (RFC 4034 §4.1.2): windows in increasing order, each 1 to 32 bytes.
 * Trailing zero bytes in a window are tolerated.
 */
function readTypeBitmap(r: WireReader): string[] {
  const types: string[] = [];
  let lastWindow = -1;
  while (r.remaining() > 0) {
    const window = r.u8('type bit map window');
    if (window <= lastWindow) r.fail(`type bit map window ${window}`, `does not follow window ${lastWindow}`);
    lastWindow = window;
    const len = r.u8('type bit map length');
    if (len < 1 || len > 32) r.fail('type bit map length', `is ${len}, expected 1 to 32`);
    const bits = r.bytes(len, 'type bit map');
    for (let i = 0; i < len; i++) {
      const b = bits[i] as number;
      for (let j = 0; j < 8; j++) if (b & (0x80 >> j)) types.push(dnsTypeName(window * 256 + i * 8 + j));
    }
  }
  return types;
}

function writeTypeBitmap(w: WireWriter, types: readonly string[]): void {
  const numbers = [...new Set(types.map(dnsTypeNumber))].sort((a, b) => a - b);
  const windows = new Map<number, number[]>();
  for (const t of numbers) {
    const list = windows.get(t >> 8) ?? [];
    list.push(t & 0xff);
    windows.set(t >> 8, list);
  }
  for (const [window, low] of windows) {
    const len = ((low[low.length - 1] as number) >> 3) + 1;
    const bits = new Uint8Array(len);
    for (const t of low) bits[t >> 3] = (bits[t >> 3] as number) | (0x80 >> (t & 7));
    w.u8(window);
    w.u8(len);
    w.bytes(bits);
  }
}

/**
 * The key tag of a DNSKEY RDATA (RFC 4034 Appendix B; algorithm 1 uses the key's modulus bits).
 *
 * @param rdata - the DNSKEY RDATA
 * @returns the tag, 0 to 65535
 * @example
 * ```ts
 * keyTag(rr.rdata); // 20326 for the root KSK-2017
 * ```
 */
export function keyTag(rdata: Uint8Array): number {
  if (rdata[3] === 1) {
    return rdata.length >= 4
      ? (((rdata[rdata.length - 3] ?? 0) << 8) | (rdata[rdata.length - 2] ?? 0)) & 0xffff
      : 0;
  }
  let ac = 0;
  for (let i = 0; i < rdata.length; i++) ac += i & 1 ? (rdata[i] as number) : (rdata[i] as number) << 8;
  ac += (ac >>> 16) & 0xffff;
  return ac & 0xffff;
}

/** Options of {@link rdataText}. */
export interface RdataTextOptions {
  /**
   * The time RRSIG times are read against, in ms since 1970: a 32-bit time is taken as the moment nearest to
   * it (serial number arithmetic, RFC 4034 §3.1.5), as BIND does. @default the times as unsigned seconds since 1970
   */
  now?: number;
}

function rrsigTime(t: number, now: number | undefined): string {
  let seconds = t;
  if (now !== undefined) {
    const ref = Math.floor(now / 1000);
    const diff = ((t - ref) | 0) as number;
    seconds = ref + diff;
  }
  const d = new Date(seconds * 1000);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getUTCFullYear(), 4)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}`;
}

/**
 * The presentation form of a record's RDATA, as dig (BIND 9.18, `+nosplit`) prints it. For a record whose
 * type soket does not parse: RFC 3597's `\# LENGTH HEX`.
 *
 * @param data - the typed RDATA
 * @param rdata - the RDATA bytes (used for types shown in generic form, and for TXT's exact bytes)
 * @param options - `now` for RRSIG times
 * @returns e.g. `10 mail.example.test.`, `"v=spf1 -all"`, `\# 4 0A000001`
 * @example
 * ```ts
 * rdataText({ format: 'mx', preference: 10, exchange: 'mail.example.test.' }, rdata); // '10 mail.example.test.'
 * ```
 */
export function rdataText(data: RData, rdata: Uint8Array, options: RdataTextOptions = {}): string {
  switch (data.format) {
    case 'a':
    case 'aaaa':
      return data.address;
    case 'name':
      return data.target;
    case 'mx':
      return `${data.preference} ${data.exchange}`;
    case 'txt':
      return txtText(rdata);
    case 'soa':
      return `${data.mname} ${data.rname} ${data.serial} ${data.refresh} ${data.retry} ${data.expire} ${data.minimum}`;
    case 'srv':
      return `${data.priority} ${data.weight} ${data.port} ${data.target}`;
    case 'caa': {
      const tagLen = rdata[1] ?? 0;
      return `${data.flags} ${data.tag} ${quoteString(rdata.subarray(2 + tagLen))}`;
    }
    case 'naptr':
      return `${data.order} ${data.preference} ${naptrStrings(rdata)} ${data.replacement}`;
    case 'sshfp':
      return `${data.algorithm} ${data.fingerprintType}${data.fingerprint ? ` ${data.fingerprint}` : ''}`;
    case 'tlsa':
      return `${data.usage} ${data.selector} ${data.matchingType}${data.data ? ` ${data.data}` : ''}`;
    case 'svcb':
      return [String(data.priority), data.target, ...data.params.map(svcParamText)].join(' ');
    case 'ds':
      return `${data.keyTag} ${data.algorithm} ${data.digestType}${data.digest ? ` ${data.digest}` : ''}`;
    case 'dnskey':
      return `${data.flags} ${data.protocol} ${data.algorithm}${data.publicKey ? ` ${data.publicKey}` : ''}`;
    case 'rrsig':
      return [
        data.typeCovered,
        data.algorithm,
        data.labels,
        data.originalTtl,
        rrsigTime(data.expiration, options.now),
        rrsigTime(data.inception, options.now),
        data.keyTag,
        data.signerName,
        data.signature,
      ]
        .join(' ')
        .trimEnd();
    case 'nsec':
      return [data.nextName, ...data.types].join(' ');
    case 'nsec3':
      return [
        data.hashAlgorithm,
        data.flags,
        data.iterations,
        data.salt,
        data.nextHashedOwner,
        ...data.types,
      ].join(' ');
    case 'nsec3param':
      return `${data.hashAlgorithm} ${data.flags} ${data.iterations} ${data.salt}`;
    case 'hinfo': {
      const cpuLen = rdata[0] ?? 0;
      return `${quoteString(rdata.subarray(1, 1 + cpuLen))} ${quoteString(rdata.subarray(2 + cpuLen))}`;
    }
    case 'unknown':
      return genericRdataText(rdata);
  }
}

/**
 * RFC 3597 §5 generic presentation of RDATA: `\# LENGTH HEX` (`\# 0` when empty).
 *
 * @example
 * ```ts
 * genericRdataText(Uint8Array.of(10, 0, 0, 1)); // '\\# 4 0A000001'
 * ```
 */
export function genericRdataText(rdata: Uint8Array): string {
  return rdata.length === 0 ? '\\# 0' : `\\# ${rdata.length} ${hexUpper(rdata)}`;
}

function txtText(rdata: Uint8Array): string {
  const parts: string[] = [];
  for (let p = 0; p < rdata.length; ) {
    const len = rdata[p] as number;
    parts.push(quoteString(rdata.subarray(p + 1, p + 1 + len)));
    p += 1 + len;
  }
  return parts.length ? parts.join(' ') : '""';
}

function naptrStrings(rdata: Uint8Array): string {
  const parts: string[] = [];
  let p = 4;
  for (let i = 0; i < 3; i++) {
    const len = rdata[p] ?? 0;
    parts.push(quoteString(rdata.subarray(p + 1, p + 1 + len)));
    p += 1 + len;
  }
  return parts.join(' ');
}

/**
 * Encode typed RDATA to wire bytes (names uncompressed, as DNSSEC's canonical form and RFC 3597 want).
 *
 * @param type - the record type (mnemonic, `TYPEnnn` or number); it must use `data.format`
 * @param data - the typed RDATA; `unknown` cannot be encoded (give the bytes instead)
 * @returns the RDATA
 * @throws {ValidationError} for a value out of range or a format that does not fit the type
 * @example
 * ```ts
 * encodeRdata('MX', { format: 'mx', preference: 10, exchange: 'mail.example.test.' });
 * ```
 */
export function encodeRdata(type: string | number, data: RData): Uint8Array {
  const n = dnsTypeNumber(type);
  const expected = rdataFormat(n);
  if (data.format !== expected) {
    throw new ValidationError(
      `RDATA of format '${data.format}' does not fit type ${dnsTypeName(n)} (it takes '${expected}')`,
    );
  }
  const w = new WireWriter();
  const str = (s: string, field: string) => w.string(utf8Bytes(s), field);
  const name = (s: string) => w.bytes(nameToWire(parseDnsName(s)));
  switch (data.format) {
    case 'a':
      w.bytes(ipv4Bytes(data.address, 'A address'));
      break;
    case 'aaaa':
      w.bytes(ipv6Bytes(data.address, 'AAAA address'));
      break;
    case 'name':
      name(data.target);
      break;
    case 'mx':
      w.u16(checkUint(data.preference, 16, 'MX preference'));
      name(data.exchange);
      break;
    case 'txt':
      for (const s of data.strings) str(s, 'TXT string');
      break;
    case 'soa':
      name(data.mname);
      name(data.rname);
      for (const f of ['serial', 'refresh', 'retry', 'expire', 'minimum'] as const) {
        w.u32(checkUint(data[f], 32, `SOA ${f}`));
      }
      break;
    case 'srv':
      w.u16(checkUint(data.priority, 16, 'SRV priority'));
      w.u16(checkUint(data.weight, 16, 'SRV weight'));
      w.u16(checkUint(data.port, 16, 'SRV port'));
      name(data.target);
      break;
    case 'caa':
      w.u8(checkUint(data.flags, 8, 'CAA flags'));
      str(data.tag, 'CAA tag');
      w.bytes(utf8Bytes(data.value));
      break;
    case 'naptr':
      w.u16(checkUint(data.order, 16, 'NAPTR order'));
      w.u16(checkUint(data.preference, 16, 'NAPTR preference'));
      str(data.flags, 'NAPTR flags');
      str(data.services, 'NAPTR services');
      str(data.regexp, 'NAPTR regexp');
      name(data.replacement);
      break;
    case 'sshfp':
      w.u8(checkUint(data.algorithm, 8, 'SSHFP algorithm'));
      w.u8(checkUint(data.fingerprintType, 8, 'SSHFP fingerprint type'));
      w.bytes(fromHex(data.fingerprint, 'SSHFP fingerprint'));
      break;
    case 'tlsa':
      w.u8(checkUint(data.usage, 8, 'TLSA usage'));
      w.u8(checkUint(data.selector, 8, 'TLSA selector'));
      w.u8(checkUint(data.matchingType, 8, 'TLSA matching type'));
      w.bytes(fromHex(data.data, 'TLSA data'));
      break;
    case 'svcb':
      w.u16(checkUint(data.priority, 16, 'SvcPriority'));
      name(data.target);
      writeSvcParams(w, data.params);
      break;
    case 'ds':
      w.u16(checkUint(data.keyTag, 16, 'DS key tag'));
      w.u8(checkUint(data.algorithm, 8, 'DS algorithm'));
      w.u8(checkUint(data.digestType, 8, 'DS digest type'));
      w.bytes(fromHex(data.digest, 'DS digest'));
      break;
    case 'dnskey':
      w.u16(checkUint(data.flags, 16, 'DNSKEY flags'));
      w.u8(checkUint(data.protocol, 8, 'DNSKEY protocol'));
      w.u8(checkUint(data.algorithm, 8, 'DNSKEY algorithm'));
      w.bytes(fromBase64(data.publicKey, 'DNSKEY public key'));
      break;
    case 'rrsig':
      w.u16(dnsTypeNumber(data.typeCovered));
      w.u8(checkUint(data.algorithm, 8, 'RRSIG algorithm'));
      w.u8(checkUint(data.labels, 8, 'RRSIG labels'));
      w.u32(checkUint(data.originalTtl, 32, 'RRSIG original TTL'));
      w.u32(checkUint(data.expiration, 32, 'RRSIG expiration'));
      w.u32(checkUint(data.inception, 32, 'RRSIG inception'));
      w.u16(checkUint(data.keyTag, 16, 'RRSIG key tag'));
      name(data.signerName);
      w.bytes(fromBase64(data.signature, 'RRSIG signature'));
      break;
    case 'nsec':
      name(data.nextName);
      writeTypeBitmap(w, data.types);
      break;
    case 'nsec3': {
      w.u8(checkUint(data.hashAlgorithm, 8, 'NSEC3 hash algorithm'));
      w.u8(checkUint(data.flags, 8, 'NSEC3 flags'));
      w.u16(checkUint(data.iterations, 16, 'NSEC3 iterations'));
      w.string(data.salt === '-' ? new Uint8Array(0) : fromHex(data.salt, 'NSEC3 salt'), 'NSEC3 salt');
      const hash = fromBase32hex(data.nextHashedOwner, 'NSEC3 next hashed owner');
      if (hash.length === 0) throw new ValidationError('NSEC3 next hashed owner name must not be empty');
      w.string(hash, 'NSEC3 next hashed owner');
      writeTypeBitmap(w, data.types);
      break;
    }
    case 'nsec3param':
      w.u8(checkUint(data.hashAlgorithm, 8, 'NSEC3PARAM hash algorithm'));
      w.u8(checkUint(data.flags, 8, 'NSEC3PARAM flags'));
      w.u16(checkUint(data.iterations, 16, 'NSEC3PARAM iterations'));
      w.string(
        data.salt === '-' ? new Uint8Array(0) : fromHex(data.salt, 'NSEC3PARAM salt'),
        'NSEC3PARAM salt',
      );
      break;
    case 'hinfo':
      str(data.cpu, 'HINFO CPU');
      str(data.os, 'HINFO OS');
      break;
    case 'unknown':
      throw new ValidationError(
        `RDATA of type ${dnsTypeName(n)} has no parsed form: give its bytes as rdata`,
      );
  }
  const out = w.result();
  if (out.length > 0xffff)
    throw new ValidationError(`RDATA of ${out.length} bytes is over the 65535-byte limit`);
  return out;
}

/**
 * Decode RDATA bytes given on their own (no message around them, so no compression).
 *
 * @param type - the record type
 * @param rdata - the RDATA
 * @returns the typed data
 * @throws {BadPacketError} when the bytes do not have the type's layout
 * @example
 * ```ts
 * decodeRdata('A', Uint8Array.of(192, 0, 2, 1)); // { format: 'a', address: '192.0.2.1' }
 * ```
 */
export function decodeRdata(type: string | number, rdata: Uint8Array): RData {
  const n = dnsTypeNumber(type);
  return readRdata(rdata, 0, rdata.length, n, `${dnsTypeName(n)} RDATA`).data;
}
