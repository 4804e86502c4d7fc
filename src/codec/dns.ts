/**
 * Whole DNS messages (RFC 1035 §4, RFC 6891 for EDNS), pure: bytes in, a typed message out, and back.
 *
 * ```text
 *  0  1  2  3  4  5  6  7  8  9 10 11 12 13 14 15
 * |                      ID                       |
 * |QR|  Opcode   |AA|TC|RD|RA| Z|AD|CD|   RCODE   |
 * |    QDCOUNT    |    ANCOUNT    |    NSCOUNT    |    ARCOUNT    |
 * question: QNAME QTYPE QCLASS; then answer, authority and additional records:
 * NAME TYPE CLASS TTL(32) RDLENGTH RDATA
 * ```
 *
 * The decoder never trusts its input: every count, length and pointer is checked against the message, and
 * anything that does not fit is a `BadPacketError` saying what and where — never a `RangeError`, a hang or a
 * silently misread record. The OPT pseudo-record is taken out of the additional section into `edns`, and its
 * upper response-code bits are merged into `rcode` (so `BADVERS`, `BADCOOKIE` appear by name). Each record keeps
 * its owner name, type, class, TTL and RDATA bytes (names expanded) beside its typed `data` (see
 * `./dns-rdata.ts`); unknown types, classes, opcodes and response codes decode to their generic names
 * (`TYPE65280`, `CLASS3`, `RCODE30`), which encode back to the same numbers.
 *
 * The files `dns-types.ts` (code points), `dns-name.ts` (names), `dns-rdata.ts` (RDATA), `dns-svcb.ts` (SvcParams)
 * and `dns-edns.ts` (EDNS options) hold the parts; this module re-exports them.
 *
 * @module
 */
import { BadPacketError, ValidationError } from '../core/errors.js';
import { EDNS_UDP_SIZE, type Edns, type EdnsInit, readEdnsOptions, writeEdnsOptions } from './dns-edns.js';
import { NameCompressor, type NameMemo, parseDnsName, readNameText } from './dns-name.js';
import { encodeRdata, type RData, readRdata } from './dns-rdata.js';
import {
  dnsClassName,
  dnsClassNumber,
  dnsOpcodeName,
  dnsOpcodeNumber,
  dnsRcodeName,
  dnsRcodeNumber,
  dnsTypeName,
  dnsTypeNumber,
} from './dns-types.js';
import { checkUint, WireWriter } from './dns-wire.js';

export * from './dns-edns.js';
export {
  formatDnsName,
  labelText,
  lowerName,
  MAX_LABEL_LENGTH,
  MAX_NAME_LENGTH,
  nameToWire,
  parseDnsName,
  readName,
  sameName,
  type WireName,
  wireToLabels,
} from './dns-name.js';
export * from './dns-rdata.js';
export * from './dns-svcb.js';
export * from './dns-types.js';

/** The header's flag bits. */
export interface DnsFlags {
  /** Response (1) or query (0). */
  qr: boolean;
  /** Authoritative answer. */
  aa: boolean;
  /** Truncated: the answer did not fit (ask again over TCP). */
  tc: boolean;
  /** Recursion desired. */
  rd: boolean;
  /** Recursion available. */
  ra: boolean;
  /** The reserved bit (must be zero). */
  z: boolean;
  /** Authentic data: the resolver validated the answer with DNSSEC (RFC 4035 §3.2.3). */
  ad: boolean;
  /** Checking disabled: do not validate (RFC 4035 §3.2.2). */
  cd: boolean;
}

/** A question: name, type, class. */
export interface DnsQuestion {
  /** Absolute presentation name, `www.example.test.`. */
  name: string;
  /** Type mnemonic or `TYPEnnn`. */
  type: string;
  /** Class mnemonic or `CLASSnnn`. */
  class: string;
}

/** One resource record. */
export interface ResourceRecord {
  /** Owner name, absolute presentation form, case as received. */
  name: string;
  /** Type mnemonic or `TYPEnnn`. */
  type: string;
  /** Class mnemonic or `CLASSnnn`. */
  class: string;
  /** Time to live, in seconds (as received: 0 to 2^32 − 1). */
  ttl: number;
  /** The RDATA bytes, compressed names expanded (DNSSEC's canonical form starts from these). */
  rdata: Uint8Array;
  /** The typed RDATA (`format: 'unknown'` for types soket does not parse). */
  data: RData;
}

/** A decoded DNS message. */
export interface DnsMessage {
  /** Message ID. */
  id: number;
  /** Opcode mnemonic (`QUERY`) or `OPCODEn`. */
  opcode: string;
  /** Response code mnemonic, the EDNS upper bits included (`NOERROR`, `NXDOMAIN`, `BADVERS`), or `RCODEnnn`. */
  rcode: string;
  /** Header flags. */
  flags: DnsFlags;
  /** Question section. */
  question: DnsQuestion[];
  /** Answer section. */
  answer: ResourceRecord[];
  /** Authority section. */
  authority: ResourceRecord[];
  /** Additional section, without the OPT pseudo-record. */
  additional: ResourceRecord[];
  /** The OPT pseudo-record, or `undefined` when the message has none. */
  edns: Edns | undefined;
}

/** A question to encode; class defaults to IN. */
export interface DnsQuestionInit {
  name: string;
  type: string | number;
  class?: string | number;
}

/** A record to encode: give `rdata` (bytes) or `data` (typed); `rdata` wins when both are given. */
export interface ResourceRecordInit {
  name: string;
  type: string | number;
  /** @default 'IN' */
  class?: string | number;
  /** @default 0 */
  ttl?: number;
  rdata?: Uint8Array;
  data?: RData;
}

/** A message to encode: everything optional (a query with ID 0 and no flags by default). */
export interface DnsMessageInit {
  /** @default 0 */
  id?: number;
  /** @default 'QUERY' */
  opcode?: string | number;
  /** Above 15 needs `edns` (the upper bits travel in OPT). @default 'NOERROR' */
  rcode?: string | number;
  flags?: Partial<DnsFlags>;
  question?: readonly DnsQuestionInit[];
  answer?: readonly ResourceRecordInit[];
  authority?: readonly ResourceRecordInit[];
  additional?: readonly ResourceRecordInit[];
  /** An OPT record, written last in the additional section; `undefined` for none. */
  edns?: EdnsInit | undefined;
  /** Compress owner names and the question against earlier names (RFC 1035 §4.1.4). @default true */
  compress?: boolean;
}

/** The smallest DNS message: a header. */
export const DNS_HEADER_LENGTH = 12;

/** The largest DNS message (its TCP length prefix is 16 bits). */
export const MAX_DNS_MESSAGE = 65_535;

const SECTIONS = ['answer', 'authority', 'additional'] as const;

/**
 * Decode a DNS message.
 *
 * @param bytes - one message (over TCP, without its 2-byte length prefix)
 * @returns the typed message; see {@link DnsMessage}
 * @throws {BadPacketError} for anything that does not decode: a short header, a count past the end, a bad name
 *   or pointer, a record whose RDATA does not fit its type or RDLENGTH, a second OPT record, OPT outside the
 *   additional section or with a non-root owner
 * @example
 * ```ts
 * const msg = decodeDnsMessage(reply);
 * msg.rcode; // 'NOERROR'
 * msg.answer.map((rr) => `${rr.name} ${rr.ttl} ${rr.type}`); // ['www.example.test. 300 A']
 * ```
 */
export function decodeDnsMessage(bytes: Uint8Array): DnsMessage {
  const len = bytes.length;
  if (len < DNS_HEADER_LENGTH) {
    throw new BadPacketError(
      `DNS message is ${len} bytes, shorter than its ${DNS_HEADER_LENGTH}-byte header`,
    );
  }
  const b = bytes;
  const u16 = (at: number) => ((b[at] as number) << 8) | (b[at + 1] as number);
  const id = u16(0);
  const bits = u16(2);
  const qdcount = u16(4);
  const counts = [u16(6), u16(8), u16(10)] as const;
  const memo: NameMemo = new Map();
  let pos = DNS_HEADER_LENGTH;
  const question: DnsQuestion[] = [];
  for (let i = 0; i < qdcount; i++) {
    const at = pos;
    if (at >= len)
      throw new BadPacketError(
        `DNS message: QDCOUNT is ${qdcount} but the message ends after ${i} questions`,
      );
    const q = readNameText(b, at, memo);
    if (q.end + 4 > len) {
      throw new BadPacketError(
        `DNS message: question ${i + 1} (offset ${at}): type and class run past the end of its data`,
      );
    }
    question.push({ name: q.name, type: dnsTypeName(u16(q.end)), class: dnsClassName(u16(q.end + 2)) });
    pos = q.end + 4;
  }
  const sections: [ResourceRecord[], ResourceRecord[], ResourceRecord[]] = [[], [], []];
  let edns: Edns | undefined;
  let extended = 0;
  for (let s = 0; s < 3; s++) {
    const count = counts[s] as number;
    const list = sections[s] as ResourceRecord[];
    for (let i = 0; i < count; i++) {
      const at = pos;
      const section = SECTIONS[s] as string;
      if (at >= len) {
        const field = ['ANCOUNT', 'NSCOUNT', 'ARCOUNT'][s];
        throw new BadPacketError(
          `DNS message: ${field} is ${count} but the message ends after ${i} ${section} records`,
        );
      }
      const owner = readNameText(b, at, memo);
      const h = owner.end;
      const where = () => `record ${i + 1} of the ${section} section (offset ${at})`;
      if (h + 10 > len) {
        const field = h + 2 > len ? 'type' : h + 4 > len ? 'class' : h + 8 > len ? 'TTL' : 'RDLENGTH';
        throw new BadPacketError(`DNS message: ${where()}: ${field} runs past the end of its data`);
      }
      const type = u16(h);
      const cls = u16(h + 2);
      const ttl = (((b[h + 4] as number) << 24) >>> 0) + ((b[h + 5] as number) << 16) + u16(h + 6);
      const rdlength = u16(h + 8);
      const start = h + 10;
      if (start + rdlength > len) {
        throw new BadPacketError(
          `DNS message: ${where()}: RDATA of ${rdlength} bytes runs past the end of its data`,
        );
      }
      pos = start + rdlength;
      if (type === 41) {
        if (s !== 2)
          throw new BadPacketError(`DNS message: OPT record in the ${section} section (offset ${at})`);
        if (edns) throw new BadPacketError(`DNS message: a second OPT record (offset ${at})`);
        if (owner.name !== '.')
          throw new BadPacketError(`DNS message: OPT record owned by '${owner.name}', not the root`);
        extended = ttl >>> 24;
        edns = {
          udpSize: cls,
          version: (ttl >>> 16) & 0xff,
          dnssecOk: (ttl & 0x8000) !== 0,
          z: ttl & 0x7fff,
          options:
            rdlength === 0
              ? []
              : readEdnsOptions(
                  b.subarray(start, start + rdlength),
                  `DNS message: OPT record (offset ${at})`,
                ),
        };
        continue;
      }
      const decoded = readRdata(
        b,
        start,
        rdlength,
        type,
        () => `DNS message: ${dnsTypeName(type)} ${where()}`,
      );
      list.push({
        name: owner.name,
        type: dnsTypeName(type),
        class: dnsClassName(cls),
        ttl,
        rdata: decoded.rdata,
        data: decoded.data,
      });
    }
  }
  return {
    id,
    opcode: dnsOpcodeName((bits >>> 11) & 0xf),
    rcode: dnsRcodeName((extended << 4) | (bits & 0xf)),
    flags: {
      qr: (bits & 0x8000) !== 0,
      aa: (bits & 0x0400) !== 0,
      tc: (bits & 0x0200) !== 0,
      rd: (bits & 0x0100) !== 0,
      ra: (bits & 0x0080) !== 0,
      z: (bits & 0x0040) !== 0,
      ad: (bits & 0x0020) !== 0,
      cd: (bits & 0x0010) !== 0,
    },
    question,
    answer: sections[0],
    authority: sections[1],
    additional: sections[2],
    edns,
  };
}

/**
 * Encode a DNS message.
 *
 * @param msg - the message; see {@link DnsMessageInit} (a decoded {@link DnsMessage} encodes as is)
 * @returns the message bytes (for TCP, prefix them with their 2-byte length)
 * @throws {ValidationError} for a value out of range, a bad name, a response code above 15 without EDNS, or a
 *   message over 65,535 bytes
 * @example
 * ```ts
 * const query = encodeDnsMessage({
 *   id: 0x1234,
 *   flags: { rd: true },
 *   question: [{ name: 'www.example.test', type: 'AAAA' }],
 *   edns: { udpSize: 1232, dnssecOk: true },
 * });
 * ```
 */
export function encodeDnsMessage(msg: DnsMessageInit): Uint8Array {
  const w = new WireWriter();
  const f = msg.flags ?? {};
  const rcode = dnsRcodeNumber(msg.rcode ?? 0);
  if (rcode > 15 && !msg.edns) {
    throw new ValidationError(
      `Response code ${dnsRcodeName(rcode)} (${rcode}) needs EDNS: its upper bits travel in the OPT record`,
    );
  }
  const opcode = dnsOpcodeNumber(msg.opcode ?? 0);
  const bits =
    (f.qr ? 0x8000 : 0) |
    (opcode << 11) |
    (f.aa ? 0x0400 : 0) |
    (f.tc ? 0x0200 : 0) |
    (f.rd ? 0x0100 : 0) |
    (f.ra ? 0x0080 : 0) |
    (f.z ? 0x0040 : 0) |
    (f.ad ? 0x0020 : 0) |
    (f.cd ? 0x0010 : 0) |
    (rcode & 0xf);
  const question = msg.question ?? [];
  const answer = msg.answer ?? [];
  const authority = msg.authority ?? [];
  const additional = msg.additional ?? [];
  const count = (n: number, what: string) => {
    if (n > 0xffff) throw new ValidationError(`Too many ${what}: ${n}, at most 65535`);
    return n;
  };
  w.u16(checkUint(msg.id ?? 0, 16, 'message ID'));
  w.u16(bits);
  w.u16(count(question.length, 'questions'));
  w.u16(count(answer.length, 'answer records'));
  w.u16(count(authority.length, 'authority records'));
  w.u16(count(additional.length + (msg.edns ? 1 : 0), 'additional records'));
  const names = new NameCompressor();
  const compress = msg.compress ?? true;
  const writeName = (name: string) => w.bytes(names.encode(parseDnsName(name), w.length, compress));
  for (const q of question) {
    writeName(q.name);
    w.u16(dnsTypeNumber(q.type));
    w.u16(dnsClassNumber(q.class ?? 'IN'));
  }
  for (const rr of [...answer, ...authority, ...additional]) {
    writeName(rr.name);
    const type = dnsTypeNumber(rr.type);
    if (type === 41) throw new ValidationError('Give the OPT record as `edns`, not as a record');
    w.u16(type);
    w.u16(dnsClassNumber(rr.class ?? 'IN'));
    w.u32(checkUint(rr.ttl ?? 0, 32, 'TTL'));
    let rdata = rr.rdata;
    if (rdata === undefined) {
      if (rr.data === undefined)
        throw new ValidationError(`Record ${rr.name} ${dnsTypeName(type)} has neither rdata nor data`);
      rdata = encodeRdata(type, rr.data);
    }
    if (rdata.length > 0xffff)
      throw new ValidationError(`RDATA of ${rdata.length} bytes is over the 65535-byte limit`);
    w.u16(rdata.length);
    w.bytes(rdata);
  }
  if (msg.edns) {
    const e = msg.edns;
    const options = writeEdnsOptions(e.options ?? []);
    w.u8(0);
    w.u16(41);
    w.u16(checkUint(e.udpSize ?? EDNS_UDP_SIZE, 16, 'EDNS UDP payload size'));
    w.u8(rcode >>> 4);
    w.u8(checkUint(e.version ?? 0, 8, 'EDNS version'));
    w.u16((e.dnssecOk ? 0x8000 : 0) | (checkUint(e.z ?? 0, 16, 'EDNS flags') & 0x7fff));
    w.u16(options.length);
    w.bytes(options);
  }
  if (w.length > MAX_DNS_MESSAGE) {
    throw new ValidationError(`DNS message of ${w.length} bytes is over the ${MAX_DNS_MESSAGE}-byte limit`);
  }
  return w.result();
}
