/**
 * DNS record types and answers: the types soket asks for over the DNS protocol, one typed shape per record,
 * and each record's data in the presentation format `dig +short` prints (`10 mail.example.com`,
 * `"v=spf1 -all"`). Pure: values in, values out.
 *
 * @module
 */
import { ValidationError } from '../core/errors.js';

/** Record types soket can ask for. `ANY` asks for every type the server is willing to give. */
export const RECORD_TYPES = [
  'A',
  'AAAA',
  'CNAME',
  'MX',
  'NS',
  'TXT',
  'SOA',
  'SRV',
  'CAA',
  'PTR',
  'NAPTR',
  'ANY',
] as const;

/** A record type soket can ask for. */
export type RecordType = (typeof RECORD_TYPES)[number];

/** A record type that can appear in an answer (everything but `ANY`). */
export type AnswerType = Exclude<RecordType, 'ANY'>;

/** What every record has. */
export interface RecordBase {
  /** The record type. */
  type: AnswerType;
  /**
   * Time to live in seconds, or `null` where it is not known: Node's resolver reports TTLs for A and AAAA
   * records only, and the system resolver (getaddrinfo) reports none.
   */
  ttl: number | null;
  /** The record data in presentation format, as `dig +short` prints it (names without the final dot). */
  data: string;
}

/** An A or AAAA record. */
export interface AddressRecord extends RecordBase {
  type: 'A' | 'AAAA';
  address: string;
}

/** A CNAME, NS or PTR record: one domain name. */
export interface NameRecord extends RecordBase {
  type: 'CNAME' | 'NS' | 'PTR';
  target: string;
}

/** An MX record (RFC 1035). */
export interface MxRecord extends RecordBase {
  type: 'MX';
  priority: number;
  exchange: string;
}

/** A TXT record: one or more character strings (each at most 255 bytes on the wire). */
export interface TxtRecord extends RecordBase {
  type: 'TXT';
  entries: string[];
}

/** An SOA record (RFC 1035). */
export interface SoaRecord extends RecordBase {
  type: 'SOA';
  nsname: string;
  hostmaster: string;
  serial: number;
  refresh: number;
  retry: number;
  expire: number;
  minttl: number;
}

/** An SRV record (RFC 2782). */
export interface SrvRecord extends RecordBase {
  type: 'SRV';
  priority: number;
  weight: number;
  port: number;
  target: string;
}

/** A CAA record (RFC 8659): flags (128 = critical), a tag such as `issue`, and its value. */
export interface CaaRecord extends RecordBase {
  type: 'CAA';
  flags: number;
  tag: string;
  value: string;
}

/** A NAPTR record (RFC 3403). */
export interface NaptrRecord extends RecordBase {
  type: 'NAPTR';
  order: number;
  preference: number;
  flags: string;
  service: string;
  regexp: string;
  replacement: string;
}

/** One record of an answer. */
export type DnsRecord =
  | AddressRecord
  | NameRecord
  | MxRecord
  | TxtRecord
  | SoaRecord
  | SrvRecord
  | CaaRecord
  | NaptrRecord;

/**
 * Parse a record type, case-insensitively.
 *
 * @param value - `a`, `AAAA`, `mx`, ...
 * @returns the type in upper case
 * @throws {ValidationError} for a type soket does not support
 * @example
 * ```ts
 * parseRecordType('mx'); // 'MX'
 * ```
 */
export function parseRecordType(value: string): RecordType {
  const upper = typeof value === 'string' ? value.trim().toUpperCase() : '';
  if ((RECORD_TYPES as readonly string[]).includes(upper)) return upper as RecordType;
  throw new ValidationError(
    `Unknown record type '${String(value)}': expected one of ${RECORD_TYPES.join(', ')}`,
  );
}

/** Quote a character string as in zone files: `"v=test"`, with `"` and `\` escaped. */
function quote(s: string): string {
  return `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/** Any record without its `data` field. */
type RecordFields<R> = R extends DnsRecord ? Omit<R, 'data'> : never;

/**
 * The presentation form of a record's data, as `dig +short` prints it.
 *
 * @param record - a record without (or with) its `data`
 * @returns e.g. `10 mail.example.com`, `"v=test" "second"`, `0 issue "ca.example"`
 * @example
 * ```ts
 * recordData({ type: 'MX', ttl: null, priority: 10, exchange: 'mail.example.com' }); // '10 mail.example.com'
 * ```
 */
export function recordData(record: RecordFields<DnsRecord>): string {
  switch (record.type) {
    case 'A':
    case 'AAAA':
      return record.address;
    case 'CNAME':
    case 'NS':
    case 'PTR':
      return record.target;
    case 'MX':
      return `${record.priority} ${record.exchange}`;
    case 'TXT':
      return record.entries.map(quote).join(' ');
    case 'SOA':
      return `${record.nsname} ${record.hostmaster} ${record.serial} ${record.refresh} ${record.retry} ${record.expire} ${record.minttl}`;
    case 'SRV':
      return `${record.priority} ${record.weight} ${record.port} ${record.target}`;
    case 'CAA':
      return `${record.flags} ${record.tag} ${quote(record.value)}`;
    case 'NAPTR':
      return `${record.order} ${record.preference} ${quote(record.flags)} ${quote(record.service)} ${quote(record.regexp)} ${record.replacement}`;
  }
}

function withData<R extends RecordFields<DnsRecord>>(record: R): R & { data: string } {
  return { ...record, data: recordData(record) };
}

type Raw = Record<string, unknown>;
const str = (v: unknown): string => (typeof v === 'string' ? v : String(v ?? ''));
const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v ?? 0));

/** The CAA fields Node reports as `{ critical, <tag>: value }`; the tag is the one other key. */
function caa(raw: Raw, ttl: number | null): DnsRecord {
  const tag = Object.keys(raw).find((k) => k !== 'critical' && k !== 'type') ?? '';
  return withData({ type: 'CAA', ttl, flags: num(raw.critical), tag, value: str(raw[tag]) });
}

/**
 * Turn what Node's `dns.promises.Resolver` returns for one record into a {@link DnsRecord}.
 *
 * @param type - the record type (for `resolveAny` answers, the record's own `type`)
 * @param raw - one element of Node's result (a string for CNAME/NS/PTR, an array for TXT, an object otherwise)
 * @returns the record, or `undefined` for a type soket does not model
 * @example
 * ```ts
 * fromNode('MX', { exchange: 'mail.example.com', priority: 10 }).data; // '10 mail.example.com'
 * ```
 */
export function fromNode(type: string, raw: unknown): DnsRecord | undefined {
  const o: Raw = raw !== null && typeof raw === 'object' && !Array.isArray(raw) ? (raw as Raw) : {};
  // RFC 2181 §8: a TTL with the top bit set (as 0xFFFFFFFF) is to be treated as zero.
  const ttl = typeof o.ttl === 'number' ? (o.ttl > 0x7fff_ffff ? 0 : o.ttl) : null;
  switch (type) {
    case 'A':
    case 'AAAA':
      return withData({ type, ttl, address: typeof raw === 'string' ? raw : str(o.address) });
    case 'CNAME':
    case 'NS':
    case 'PTR':
      return withData({ type, ttl, target: typeof raw === 'string' ? raw : str(o.value) });
    case 'MX':
      return withData({ type, ttl, priority: num(o.priority), exchange: str(o.exchange) });
    case 'TXT':
      return withData({
        type,
        ttl,
        entries: (Array.isArray(raw) ? raw : Array.isArray(o.entries) ? o.entries : []).map(str),
      });
    case 'SOA':
      return withData({
        type,
        ttl,
        nsname: str(o.nsname),
        hostmaster: str(o.hostmaster),
        serial: num(o.serial),
        refresh: num(o.refresh),
        retry: num(o.retry),
        expire: num(o.expire),
        minttl: num(o.minttl),
      });
    case 'SRV':
      return withData({
        type,
        ttl,
        priority: num(o.priority),
        weight: num(o.weight),
        port: num(o.port),
        target: str(o.name),
      });
    case 'CAA':
      return caa(o, ttl);
    case 'NAPTR':
      return withData({
        type,
        ttl,
        order: num(o.order),
        preference: num(o.preference),
        flags: str(o.flags),
        service: str(o.service),
        regexp: str(o.regexp),
        replacement: str(o.replacement),
      });
    default:
      return undefined;
  }
}
