/**
 * DNS code points and their mnemonics (IANA "Domain Name System (DNS) Parameters"): resource record types,
 * classes, opcodes, response codes (with the extended codes carried in EDNS), EDNS option codes and DNSSEC
 * algorithm numbers. Every number has a name: a known mnemonic, or the generic form of RFC 3597 (`TYPE65280`,
 * `CLASS3`, `RCODE30`, `OPCODE7`), so any value decodes to a name that parses back to the same number.
 *
 * @module
 */
import { ValidationError } from '../core/errors.js';

/** Resource record types by mnemonic (IANA registry; data types, meta-types and QTYPEs). */
export const DNS_TYPES = {
  A: 1,
  NS: 2,
  MD: 3,
  MF: 4,
  CNAME: 5,
  SOA: 6,
  MB: 7,
  MG: 8,
  MR: 9,
  NULL: 10,
  WKS: 11,
  PTR: 12,
  HINFO: 13,
  MINFO: 14,
  MX: 15,
  TXT: 16,
  RP: 17,
  AFSDB: 18,
  X25: 19,
  ISDN: 20,
  RT: 21,
  NSAP: 22,
  'NSAP-PTR': 23,
  SIG: 24,
  KEY: 25,
  PX: 26,
  GPOS: 27,
  AAAA: 28,
  LOC: 29,
  NXT: 30,
  EID: 31,
  NIMLOC: 32,
  SRV: 33,
  ATMA: 34,
  NAPTR: 35,
  KX: 36,
  CERT: 37,
  A6: 38,
  DNAME: 39,
  SINK: 40,
  OPT: 41,
  APL: 42,
  DS: 43,
  SSHFP: 44,
  IPSECKEY: 45,
  RRSIG: 46,
  NSEC: 47,
  DNSKEY: 48,
  DHCID: 49,
  NSEC3: 50,
  NSEC3PARAM: 51,
  TLSA: 52,
  SMIMEA: 53,
  HIP: 55,
  NINFO: 56,
  RKEY: 57,
  TALINK: 58,
  CDS: 59,
  CDNSKEY: 60,
  OPENPGPKEY: 61,
  CSYNC: 62,
  ZONEMD: 63,
  SVCB: 64,
  HTTPS: 65,
  DSYNC: 66,
  SPF: 99,
  NID: 104,
  L32: 105,
  L64: 106,
  LP: 107,
  EUI48: 108,
  EUI64: 109,
  TKEY: 249,
  TSIG: 250,
  IXFR: 251,
  AXFR: 252,
  MAILB: 253,
  MAILA: 254,
  ANY: 255,
  URI: 256,
  CAA: 257,
  AVC: 258,
  DOA: 259,
  AMTRELAY: 260,
  RESINFO: 261,
  WALLET: 262,
  TA: 32768,
  DLV: 32769,
} as const satisfies Record<string, number>;

/** A record type mnemonic soket knows. */
export type DnsTypeName = keyof typeof DNS_TYPES;

/** Classes (RFC 1035 §3.2.4, RFC 2136 NONE, RFC 1035 QCLASS `*` = ANY). */
export const DNS_CLASSES = { IN: 1, CH: 3, HS: 4, NONE: 254, ANY: 255 } as const;

/** Opcodes (RFC 1035, RFC 1996 NOTIFY, RFC 2136 UPDATE, RFC 8490 DSO). */
export const DNS_OPCODES = { QUERY: 0, IQUERY: 1, STATUS: 2, NOTIFY: 4, UPDATE: 5, DSO: 6 } as const;

/**
 * Response codes: 0–15 in the header, 16 and above with the upper 8 bits in the EDNS OPT record (RFC 6891
 * §6.1.3). 16 is BADVERS in a message with OPT (BADSIG is the same number, for TSIG).
 */
export const DNS_RCODES = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
  YXDOMAIN: 6,
  YXRRSET: 7,
  NXRRSET: 8,
  NOTAUTH: 9,
  NOTZONE: 10,
  DSOTYPENI: 11,
  BADVERS: 16,
  BADKEY: 17,
  BADTIME: 18,
  BADMODE: 19,
  BADNAME: 20,
  BADALG: 21,
  BADTRUNC: 22,
  BADCOOKIE: 23,
} as const;

/** EDNS(0) option codes (IANA "DNS EDNS0 Option Codes (OPT)"). */
export const EDNS_OPTION_CODES = {
  LLQ: 1,
  UL: 2,
  NSID: 3,
  DAU: 5,
  DHU: 6,
  N3U: 7,
  ECS: 8,
  EXPIRE: 9,
  COOKIE: 10,
  KEEPALIVE: 11,
  PADDING: 12,
  CHAIN: 13,
  'KEY-TAG': 14,
  EDE: 15,
  'CLIENT-TAG': 16,
  'SERVER-TAG': 17,
  'REPORT-CHANNEL': 18,
  ZONEVERSION: 19,
} as const;

/** DNSSEC algorithm numbers (RFC 8624 and the IANA registry), for display. */
export const DNSSEC_ALGORITHMS: Readonly<Record<number, string>> = {
  1: 'RSAMD5',
  3: 'DSA',
  5: 'RSASHA1',
  6: 'DSA-NSEC3-SHA1',
  7: 'RSASHA1-NSEC3-SHA1',
  8: 'RSASHA256',
  10: 'RSASHA512',
  12: 'ECC-GOST',
  13: 'ECDSAP256SHA256',
  14: 'ECDSAP384SHA384',
  15: 'ED25519',
  16: 'ED448',
  23: 'ECC-GOST12',
};

function invert(table: Readonly<Record<string, number>>): Map<number, string> {
  const out = new Map<number, string>();
  for (const [name, n] of Object.entries(table)) if (!out.has(n)) out.set(n, name);
  return out;
}

const TYPE_NAMES = invert(DNS_TYPES);
const CLASS_NAMES = invert(DNS_CLASSES);
const OPCODE_NAMES = invert(DNS_OPCODES);
const RCODE_NAMES = invert(DNS_RCODES);
const OPTION_NAMES = invert(EDNS_OPTION_CODES);

/** `*` for ANY (type and class). */
const ANY_ALIAS: Readonly<Record<string, number>> = { '*': 255 };
const RCODE_ALIASES: Readonly<Record<string, number>> = { BADSIG: 16 };
const NO_ALIASES: Readonly<Record<string, number>> = {};
const TYPE_EXAMPLES: readonly string[] = ['A', 'AAAA', 'MX', 'TXT', 'HTTPS', 'DS'];

// Called per question and per record: nothing is allocated on the way to a known value.
function lookup(
  value: string | number,
  table: Readonly<Record<string, number>>,
  generic: string,
  max: number,
  what: string,
  aliases: Readonly<Record<string, number>> = NO_ALIASES,
  examples?: readonly string[],
): number {
  if (typeof value === 'number') {
    if (Number.isInteger(value) && value >= 0 && value <= max) return value;
    throw new ValidationError(`Invalid ${what} ${value}: expected an integer from 0 to ${max}`);
  }
  const upper = value.trim().toUpperCase();
  const known = table[upper] ?? aliases[upper];
  if (known !== undefined) return known;
  const m = new RegExp(`^${generic}(\\d{1,5})$`).exec(upper);
  if (m) {
    const n = Number(m[1]);
    if (n <= max) return n;
  }
  throw new ValidationError(
    `Unknown ${what} '${value}': expected a mnemonic such as ${(examples ?? Object.keys(table).slice(0, 4)).join(', ')}, or ${generic}nnn (0 to ${max})`,
  );
}

/**
 * The number of a record type given by mnemonic (case-insensitive), as `TYPEnnn` (RFC 3597), or as a number.
 *
 * @param type - `A`, `https`, `TYPE65`, `*` (ANY), `65`
 * @returns the type number, 0 to 65535
 * @throws {ValidationError} for a type that does not exist
 * @example
 * ```ts
 * dnsTypeNumber('https'); // 65
 * dnsTypeNumber('TYPE65280'); // 65280
 * ```
 */
export function dnsTypeNumber(type: string | number): number {
  return lookup(type, DNS_TYPES, 'TYPE', 0xffff, 'record type', ANY_ALIAS, TYPE_EXAMPLES);
}

/**
 * The mnemonic of a record type number, or `TYPEnnn` for one without a mnemonic (RFC 3597 §5).
 *
 * @example
 * ```ts
 * dnsTypeName(28); // 'AAAA'
 * dnsTypeName(65280); // 'TYPE65280'
 * ```
 */
export function dnsTypeName(type: number): string {
  return TYPE_NAMES.get(type) ?? `TYPE${type}`;
}

/**
 * The number of a class given by mnemonic, `CLASSnnn` or number.
 *
 * @throws {ValidationError} for an unknown class
 * @example
 * ```ts
 * dnsClassNumber('CH'); // 3
 * ```
 */
export function dnsClassNumber(cls: string | number): number {
  return lookup(cls, DNS_CLASSES, 'CLASS', 0xffff, 'class', ANY_ALIAS);
}

/**
 * The mnemonic of a class number, or `CLASSnnn`.
 *
 * @example
 * ```ts
 * dnsClassName(1); // 'IN'
 * ```
 */
export function dnsClassName(cls: number): string {
  return CLASS_NAMES.get(cls) ?? `CLASS${cls}`;
}

/**
 * The number of an opcode given by mnemonic, `OPCODEn` or number.
 *
 * @throws {ValidationError} for an unknown opcode
 * @example
 * ```ts
 * dnsOpcodeNumber('NOTIFY'); // 4
 * ```
 */
export function dnsOpcodeNumber(opcode: string | number): number {
  return lookup(opcode, DNS_OPCODES, 'OPCODE', 15, 'opcode');
}

/**
 * The mnemonic of an opcode, or `OPCODEn`.
 *
 * @example
 * ```ts
 * dnsOpcodeName(0); // 'QUERY'
 * ```
 */
export function dnsOpcodeName(opcode: number): string {
  return OPCODE_NAMES.get(opcode) ?? `OPCODE${opcode}`;
}

/**
 * The number of a response code given by mnemonic, `RCODEnnn` or number (0 to 4095: 4 bits in the header,
 * 8 more in EDNS).
 *
 * @throws {ValidationError} for an unknown response code
 * @example
 * ```ts
 * dnsRcodeNumber('NXDOMAIN'); // 3
 * dnsRcodeNumber('BADCOOKIE'); // 23
 * ```
 */
export function dnsRcodeNumber(rcode: string | number): number {
  return lookup(rcode, DNS_RCODES, 'RCODE', 0xfff, 'response code', RCODE_ALIASES);
}

/**
 * The mnemonic of a response code, or `RCODEnnn`.
 *
 * @example
 * ```ts
 * dnsRcodeName(2); // 'SERVFAIL'
 * dnsRcodeName(16); // 'BADVERS'
 * ```
 */
export function dnsRcodeName(rcode: number): string {
  return RCODE_NAMES.get(rcode) ?? `RCODE${rcode}`;
}

/**
 * The number of an EDNS option given by mnemonic, `OPTnnn` or number.
 *
 * @throws {ValidationError} for an unknown option
 * @example
 * ```ts
 * ednsOptionCode('cookie'); // 10
 * ```
 */
export function ednsOptionCode(option: string | number): number {
  return lookup(option, EDNS_OPTION_CODES, 'OPT', 0xffff, 'EDNS option');
}

/**
 * The mnemonic of an EDNS option code, or `OPTnnn`.
 *
 * @example
 * ```ts
 * ednsOptionName(3); // 'NSID'
 * ```
 */
export function ednsOptionName(code: number): string {
  return OPTION_NAMES.get(code) ?? `OPT${code}`;
}

/**
 * Whether a type is a meta-type or QTYPE that cannot hold data in a zone (RFC 6895 §3.1: OPT, TKEY, TSIG,
 * IXFR, AXFR, MAILB, MAILA, ANY, and the range 128–255).
 *
 * @example
 * ```ts
 * isMetaType(255); // true
 * ```
 */
export function isMetaType(type: number): boolean {
  return type === 41 || (type >= 128 && type <= 255);
}
