/**
 * The NTP packet header (RFC 5905 §7.3, RFC 4330 §4), pure: 48 bytes in, a typed value out, and back. Extension
 * fields and a MAC after the header are tolerated and skipped (their length is reported); anything shorter than
 * 48 bytes is a `BadPacketError`. Every field decodes to a value that encodes back to the same bytes, so unknown
 * versions, modes and strata round-trip instead of throwing.
 *
 * Also the text helpers (as Python's ntplib has them): leap indicator, mode and stratum to text, the reference
 * ID to text (four ASCII characters for stratum 0 and 1, a dotted IPv4 address from stratum 2, or the MD5 hash
 * of an IPv6 address), and kiss codes.
 *
 * ```text
 *  0               1               2               3
 * |LI | VN  |Mode |    Stratum    |     Poll      |   Precision   |
 * |                     Root Delay (short format)                  |
 * |                  Root Dispersion (short format)                |
 * |                       Reference ID                            |
 * |                 Reference Timestamp (64)                      |
 * |                   Origin Timestamp (64)                       |
 * |                   Receive Timestamp (64)                      |
 * |                  Transmit Timestamp (64)                      |
 * ```
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { BadPacketError, ValidationError } from '../core/errors.js';
import {
  type NtpTimestamp,
  ntpShortToSeconds,
  readNtpTimestamp,
  secondsToNtpShort,
  writeNtpTimestamp,
} from './ntp-timestamp.js';

/** Length of the NTP header; a shorter packet is not NTP. */
export const NTP_HEADER_LENGTH = 48;

/** The NTP association modes (RFC 5905 Figure 10). */
export const NtpMode = {
  reserved: 0,
  symmetricActive: 1,
  symmetricPassive: 2,
  client: 3,
  server: 4,
  broadcast: 5,
  control: 6,
  private: 7,
} as const;

/** Leap indicator: 0 no warning, 1 last minute has 61 s, 2 last minute has 59 s, 3 clock unsynchronised. */
export type LeapIndicator = 0 | 1 | 2 | 3;

/** The decoded 48-byte header. Times are 64-bit NTP timestamps (`bigint`), durations are seconds. */
export interface NtpPacket {
  /** Leap indicator, 0–3 (3 = unsynchronised). */
  leap: number;
  /** Version number, 0–7 (4 is current; SNTP clients send 3 or 4). */
  version: number;
  /** Mode, 0–7 (3 client, 4 server, ...; see {@link NtpMode}). */
  mode: number;
  /** Stratum, 0–255 (0 = kiss-o'-death/unspecified, 1 primary, 2–15 secondary, 16 unsynchronised). */
  stratum: number;
  /** Poll interval as a signed log2 of seconds (−128 .. 127). */
  poll: number;
  /** Precision of the sender's clock as a signed log2 of seconds (−128 .. 127), e.g. −20 ≈ 1 µs. */
  precision: number;
  /** Round-trip delay to the reference clock, in seconds (NTP short format, 2^-16 s steps). */
  rootDelay: number;
  /** Dispersion to the reference clock, in seconds (NTP short format). */
  rootDispersion: number;
  /** Reference ID as an unsigned 32-bit integer (see {@link refIdToText}). */
  referenceId: number;
  /** When the sender's clock was last set or corrected. */
  referenceTimestamp: NtpTimestamp;
  /** In a reply: the transmit timestamp of the request it answers, copied bit for bit. */
  originTimestamp: NtpTimestamp;
  /** When the request arrived at the server. */
  receiveTimestamp: NtpTimestamp;
  /** When the packet left its sender. */
  transmitTimestamp: NtpTimestamp;
}

/** A decoded packet plus what followed the header. */
export interface DecodedNtpPacket extends NtpPacket {
  /** Bytes after the 48-byte header (extension fields, a MAC), skipped. */
  extensionLength: number;
}

/** A packet to encode: any field left out is zero. */
export type NtpPacketInit = Partial<NtpPacket>;

/**
 * Decode an NTP packet. Never trusts its input: only the length is required, and every bit pattern of the first
 * 48 bytes decodes.
 *
 * @param bytes - a datagram
 * @returns the header fields and the length of what followed it
 * @throws {BadPacketError} when shorter than 48 bytes
 * @example
 * ```ts
 * const p = decodeNtpPacket(encodeNtpPacket({ version: 4, mode: 3, transmitTimestamp: 42n }));
 * p.mode; // 3
 * ```
 */
export function decodeNtpPacket(bytes: Uint8Array): DecodedNtpPacket {
  if (bytes.length < NTP_HEADER_LENGTH) {
    throw new BadPacketError(`NTP packet is ${bytes.length} bytes, expected at least ${NTP_HEADER_LENGTH}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, NTP_HEADER_LENGTH);
  const b0 = view.getUint8(0);
  return {
    leap: b0 >>> 6,
    version: (b0 >>> 3) & 7,
    mode: b0 & 7,
    stratum: view.getUint8(1),
    poll: view.getInt8(2),
    precision: view.getInt8(3),
    rootDelay: ntpShortToSeconds(view.getUint32(4)),
    rootDispersion: ntpShortToSeconds(view.getUint32(8)),
    referenceId: view.getUint32(12),
    referenceTimestamp: readNtpTimestamp(bytes, 16),
    originTimestamp: readNtpTimestamp(bytes, 24),
    receiveTimestamp: readNtpTimestamp(bytes, 32),
    transmitTimestamp: readNtpTimestamp(bytes, 40),
    extensionLength: bytes.length - NTP_HEADER_LENGTH,
  };
}

function checkInt(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ValidationError(`Invalid NTP ${name} '${value}': expected an integer from ${min} to ${max}`);
  }
  return value;
}

function checkTimestamp(name: string, value: bigint): bigint {
  if (typeof value !== 'bigint' || value < 0n || value > 0xffff_ffff_ffff_ffffn) {
    throw new ValidationError(`Invalid NTP ${name} '${String(value)}': expected a 64-bit unsigned bigint`);
  }
  return value;
}

function checkShort(name: string, seconds: number): number {
  if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds < 0 || seconds >= 65536) {
    throw new ValidationError(`Invalid NTP ${name} '${seconds}': expected seconds from 0 to below 65536`);
  }
  return secondsToNtpShort(seconds);
}

/**
 * Encode the 48-byte header. Missing fields are zero; out-of-range fields are an error, not silently masked.
 *
 * @param packet - the fields
 * @returns 48 bytes
 * @throws {ValidationError} when a field is out of range
 * @example
 * ```ts
 * // an SNTP request: version 4, mode 3 (client), a transmit timestamp
 * const req = encodeNtpPacket({ version: 4, mode: NtpMode.client, transmitTimestamp: 0x1234n });
 * req.length; // 48
 * ```
 */
export function encodeNtpPacket(packet: NtpPacketInit): Uint8Array {
  const bytes = new Uint8Array(NTP_HEADER_LENGTH);
  const view = new DataView(bytes.buffer);
  const leap = checkInt('leap indicator', packet.leap ?? 0, 0, 3);
  const version = checkInt('version', packet.version ?? 0, 0, 7);
  const mode = checkInt('mode', packet.mode ?? 0, 0, 7);
  view.setUint8(0, (leap << 6) | (version << 3) | mode);
  view.setUint8(1, checkInt('stratum', packet.stratum ?? 0, 0, 255));
  view.setInt8(2, checkInt('poll', packet.poll ?? 0, -128, 127));
  view.setInt8(3, checkInt('precision', packet.precision ?? 0, -128, 127));
  view.setUint32(4, checkShort('root delay', packet.rootDelay ?? 0));
  view.setUint32(8, checkShort('root dispersion', packet.rootDispersion ?? 0));
  view.setUint32(12, checkInt('reference ID', packet.referenceId ?? 0, 0, 0xffff_ffff));
  writeNtpTimestamp(bytes, 16, checkTimestamp('reference timestamp', packet.referenceTimestamp ?? 0n));
  writeNtpTimestamp(bytes, 24, checkTimestamp('origin timestamp', packet.originTimestamp ?? 0n));
  writeNtpTimestamp(bytes, 32, checkTimestamp('receive timestamp', packet.receiveTimestamp ?? 0n));
  writeNtpTimestamp(bytes, 40, checkTimestamp('transmit timestamp', packet.transmitTimestamp ?? 0n));
  return bytes;
}

const LEAP_TEXT = [
  'no warning',
  'last minute of the day has 61 seconds',
  'last minute of the day has 59 seconds',
  'unknown (clock unsynchronised)',
];

/**
 * The leap indicator as text.
 *
 * @param leap - 0–3
 * @returns e.g. `no warning`
 * @throws {RangeError} outside 0–3
 * @example
 * ```ts
 * leapToText(3); // 'unknown (clock unsynchronised)'
 * ```
 */
export function leapToText(leap: number): string {
  const text = LEAP_TEXT[leap];
  if (text === undefined) throw new RangeError(`Invalid leap indicator ${leap}: expected 0 to 3`);
  return text;
}

const MODE_TEXT = [
  'reserved',
  'symmetric active',
  'symmetric passive',
  'client',
  'server',
  'broadcast',
  'NTP control message',
  'reserved for private use',
];

/**
 * The mode as text.
 *
 * @param mode - 0–7
 * @returns e.g. `server`
 * @throws {RangeError} outside 0–7
 * @example
 * ```ts
 * modeToText(4); // 'server'
 * ```
 */
export function modeToText(mode: number): string {
  const text = MODE_TEXT[mode];
  if (text === undefined) throw new RangeError(`Invalid NTP mode ${mode}: expected 0 to 7`);
  return text;
}

/**
 * The stratum as text.
 *
 * @param stratum - 0–255
 * @returns e.g. `secondary reference (2)`
 * @example
 * ```ts
 * stratumToText(1); // 'primary reference (1)'
 * stratumToText(16); // 'unsynchronised (16)'
 * ```
 */
export function stratumToText(stratum: number): string {
  if (stratum === 0) return 'unspecified or invalid (0, kiss-o\u2019-death)';
  if (stratum === 1) return 'primary reference (1)';
  if (stratum >= 2 && stratum <= 15) return `secondary reference (${stratum})`;
  if (stratum === 16) return 'unsynchronised (16)';
  return `reserved (${stratum})`;
}

/** Well-known reference clock identifiers of stratum-1 servers (RFC 5905 Figure 12 and common practice). */
export const REFERENCE_SOURCES: Readonly<Record<string, string>> = {
  GOES: 'Geosynchronous Orbit Environment Satellite',
  GPS: 'Global Positioning System',
  GAL: 'Galileo positioning system',
  PPS: 'generic pulse-per-second',
  IRIG: 'Inter-Range Instrumentation Group',
  WWVB: 'LF radio WWVB Ft. Collins, CO 60 kHz',
  DCF: 'LF radio DCF77 Mainflingen, DE 77.5 kHz',
  HBG: 'LF radio HBG Prangins, HB 75 kHz',
  MSF: 'LF radio MSF Anthorn, UK 60 kHz',
  JJY: 'LF radio JJY Fukushima, JP 40 kHz, Saga, JP 60 kHz',
  LORC: 'MF radio LORAN C station, 100 kHz',
  TDF: 'MF radio Allouis, FR 162 kHz',
  CHU: 'HF radio CHU Ottawa, Ontario',
  WWV: 'HF radio WWV Ft. Collins, CO',
  WWVH: 'HF radio WWVH Kauai, HI',
  NIST: 'NIST telephone modem',
  ACTS: 'NIST telephone modem',
  USNO: 'USNO telephone modem',
  PTB: 'European telephone modem',
  LOCL: 'uncalibrated local clock',
  GNSS: 'global navigation satellite system',
};

/** Kiss codes (RFC 5905 Figure 13) and what they ask of a client. */
export const KISS_CODES: Readonly<Record<string, string>> = {
  ACST: 'the association belongs to a unicast server',
  AUTH: 'server authentication failed',
  AUTO: 'autokey sequence failed',
  BCST: 'the association belongs to a broadcast server',
  CRYP: 'cryptographic authentication or identification failed',
  DENY: 'access denied by remote server',
  DROP: 'lost peer in symmetric mode',
  RSTR: 'access denied due to local policy',
  INIT: 'the association has not yet synchronised for the first time',
  MCST: 'the association belongs to a dynamically discovered server',
  NKEY: 'no key found',
  NTSN: 'NTS negative acknowledgement',
  RATE: 'rate exceeded: the server has temporarily denied access because the client exceeded the rate threshold',
  RMOT: 'alteration of association from a remote host running ntpdc',
  STEP: 'a step change in system time has occurred, but the association has not yet resynchronised',
};

/**
 * The reference ID as four characters (for stratum 0 and 1): trailing NULs dropped, other non-printable bytes
 * shown as `\xNN`.
 *
 * @param refId - the 32-bit reference ID
 * @returns e.g. `GPS`, `LOCL`, `RATE`
 * @example
 * ```ts
 * refIdToAscii(0x47505300); // 'GPS'
 * ```
 */
export function refIdToAscii(refId: number): string {
  const bytes = [refId >>> 24, (refId >>> 16) & 0xff, (refId >>> 8) & 0xff, refId & 0xff];
  while (bytes.length > 0 && bytes[bytes.length - 1] === 0) bytes.pop();
  return bytes
    .map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`))
    .join('');
}

/**
 * The reference ID as a dotted IPv4 address (its meaning for stratum 2 and above over IPv4).
 *
 * @example
 * ```ts
 * refIdToIPv4(0x7f7f0101); // '127.127.1.1'
 * ```
 */
export function refIdToIPv4(refId: number): string {
  return `${refId >>> 24}.${(refId >>> 16) & 0xff}.${(refId >>> 8) & 0xff}.${refId & 0xff}`;
}

/** Options for {@link refIdToText}. */
export interface RefIdTextOptions {
  /**
   * IPv6 addresses the upstream server might have. For stratum 2 and above, an IPv6 upstream is identified by
   * the first four bytes of the MD5 hash of its address, which cannot be reversed; when the reference ID matches
   * the hash of one of these, that address is the text. @default []
   */
  ipv6Candidates?: string[];
}

/**
 * The reference ID as text, by stratum: four ASCII characters for 0 (a kiss code) and 1 (a reference clock),
 * a dotted IPv4 address for 2 and above — or an IPv6 address when it matches the hash of a candidate.
 *
 * @param refId - the 32-bit reference ID
 * @param stratum - the packet's stratum
 * @param options - `ipv6Candidates`
 * @returns e.g. `GPS`, `192.0.2.1`, `2001:db8::1`
 * @example
 * ```ts
 * refIdToText(0x47505300, 1); // 'GPS'
 * refIdToText(0xc0000201, 2); // '192.0.2.1'
 * refIdToText(ipv6ToRefId('2001:db8::1'), 3, { ipv6Candidates: ['2001:db8::1'] }); // '2001:db8::1'
 * ```
 */
export function refIdToText(refId: number, stratum: number, options: RefIdTextOptions = {}): string {
  if (stratum <= 1) return refIdToAscii(refId);
  for (const candidate of options.ipv6Candidates ?? []) {
    if (isIP(candidate) === 6 && ipv6ToRefId(candidate) === refId >>> 0) return candidate;
  }
  return refIdToIPv4(refId);
}

/**
 * Up to four ASCII characters → a reference ID, left-justified and zero-filled (kiss codes, clock names).
 *
 * @param text - 1 to 4 printable ASCII characters
 * @returns the 32-bit reference ID
 * @throws {ValidationError} when empty, longer than 4 or not printable ASCII
 * @example
 * ```ts
 * asciiToRefId('GPS'); // 0x47505300
 * ```
 */
export function asciiToRefId(text: string): number {
  if (!/^[\x20-\x7e]{1,4}$/.test(text)) {
    throw new ValidationError(`Invalid reference ID '${text}': expected 1 to 4 printable ASCII characters`);
  }
  let v = 0;
  for (let i = 0; i < 4; i++) v = v * 256 + (text.charCodeAt(i) || 0);
  return v;
}

/**
 * The reference ID an IPv6 upstream is known by: the first four bytes of the MD5 hash of its 16-byte address
 * (RFC 5905 §7.3).
 *
 * @param address - an IPv6 address
 * @returns the 32-bit reference ID
 * @throws {ValidationError} when not an IPv6 address
 * @example
 * ```ts
 * ipv6ToRefId('::1').toString(16);
 * ```
 */
export function ipv6ToRefId(address: string): number {
  const bytes = ipv6Bytes(address);
  return createHash('md5').update(bytes).digest().readUInt32BE(0);
}

/**
 * The 16 bytes of an IPv6 address.
 *
 * @throws {ValidationError} when not an IPv6 address
 */
function ipv6Bytes(address: string): Uint8Array {
  let text = address.split('%')[0] ?? '';
  if (isIP(text) !== 6) throw new ValidationError(`Invalid IPv6 address '${address}'`);
  const dotted = /^(.*:)(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [, prefix, a, b, c, d] = dotted.map((x, i) => (i === 1 ? x : Number(x))) as [
      string,
      string,
      number,
      number,
      number,
      number,
    ];
    text = `${prefix}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const fill = tail === undefined ? 0 : 8 - h.length - t.length;
  const groups = [...h, ...new Array<string>(fill).fill('0'), ...t];
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    const v = Number.parseInt(g, 16);
    out[i * 2] = v >>> 8;
    out[i * 2 + 1] = v & 0xff;
  });
  return out;
}

/**
 * A reference ID from what a person writes: four ASCII characters for stratum 0–1 (`GPS`, `LOCL`), an IPv4
 * address for stratum 2 and above (`192.0.2.1`), or an IPv6 address (hashed).
 *
 * @param text - the reference ID as text
 * @param stratum - the stratum it will be sent with
 * @returns the 32-bit reference ID
 * @throws {ValidationError} when it does not fit the stratum
 * @example
 * ```ts
 * parseRefId('LOCL', 1); // 0x4c4f434c
 * parseRefId('127.127.1.1', 10); // 0x7f7f0101
 * ```
 */
export function parseRefId(text: string, stratum: number): number {
  if (stratum <= 1) return asciiToRefId(text);
  const family = isIP(text);
  if (family === 4) return text.split('.').reduce((acc, part) => acc * 256 + Number(part), 0);
  if (family === 6) return ipv6ToRefId(text);
  throw new ValidationError(
    `Invalid reference ID '${text}' for stratum ${stratum}: expected an IPv4 or IPv6 address (four ASCII characters are for stratum 0 and 1)`,
  );
}

/**
 * The kiss code of a kiss-o'-death packet (stratum 0), or `undefined` for any other packet.
 *
 * @param packet - a decoded packet
 * @returns e.g. `RATE`, `DENY`
 * @example
 * ```ts
 * kissCode({ stratum: 0, referenceId: asciiToRefId('RATE') }); // 'RATE'
 * ```
 */
export function kissCode(packet: Pick<NtpPacket, 'stratum' | 'referenceId'>): string | undefined {
  return packet.stratum === 0 ? refIdToAscii(packet.referenceId) : undefined;
}

/** What {@link writeKissOfDeath} needs besides the request. */
export interface KissOfDeathFields {
  /** The four-character kiss code, e.g. `RATE`. */
  code: string;
  /** The least poll (log2 s) the client must use from now on; the request's poll is raised to it. */
  minPoll: number;
  /** The server's precision (signed log2 s). */
  precision: number;
}

/**
 * Turn a client request into a kiss-o'-death reply, in place (no allocation): LI 3, the request's version,
 * mode 4, stratum 0, the kiss code as reference ID, the poll raised to `minPoll`, root delay/dispersion and
 * reference time zero, the request's transmit timestamp as origin, and receive and transmit timestamps set to
 * that same value, so the reply carries no usable time (RFC 5905 §7.4, as chrony does).
 *
 * @param packet - the request's first 48 bytes, overwritten with the reply
 * @param fields - kiss code, least poll, precision
 * @throws {BadPacketError} when `packet` is shorter than 48 bytes
 * @throws {ValidationError} for a kiss code that is not 4 ASCII characters
 * @example
 * ```ts
 * writeKissOfDeath(request.subarray(0, 48), { code: 'RATE', minPoll: 1, precision: -20 });
 * ```
 */
export function writeKissOfDeath(packet: Uint8Array, fields: KissOfDeathFields): void {
  if (packet.length < NTP_HEADER_LENGTH) {
    throw new BadPacketError(`NTP packet is ${packet.length} bytes, expected at least ${NTP_HEADER_LENGTH}`);
  }
  const { code } = fields;
  if (code.length !== 4 || !/^[\x20-\x7e]{4}$/.test(code)) {
    throw new ValidationError(`Invalid kiss code '${code}': expected 4 printable ASCII characters`);
  }
  const version = ((packet[0] as number) >>> 3) & 7;
  packet[0] = 0xc0 | (version << 3) | NtpMode.server;
  packet[1] = 0;
  packet[2] = Math.max(((packet[2] as number) << 24) >> 24, fields.minPoll) & 0xff;
  packet[3] = fields.precision & 0xff;
  packet.fill(0, 4, 12);
  for (let i = 0; i < 4; i++) packet[12 + i] = code.charCodeAt(i);
  packet.fill(0, 16, 24);
  packet.copyWithin(24, 40, 48); // origin = the request's transmit timestamp, bit for bit
  packet.copyWithin(32, 24, 32);
  packet.copyWithin(40, 24, 32);
}
