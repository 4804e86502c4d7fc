/**
 * The PROXY protocol, versions 1 and 2 (HAProxy's specification, `proxy-protocol.txt`), pure: a header value
 * in, bytes out, and back. A proxy that relays a connection prepends one header so the server learns the
 * client's addresses (what it would have read with getpeername/getsockname had the client come directly).
 *
 * - Version 1 is one line of text: `PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n` (at most 107 bytes
 *   with the CRLF); `PROXY UNKNOWN\r\n` when the addresses cannot be given.
 * - Version 2 is binary: a 12-byte signature, version and command (`LOCAL` 0, `PROXY` 1), family and
 *   transport (`0x11` TCP over IPv4, `0x21` TCP over IPv6, `0x31` Unix stream, ...), a 16-bit length, the
 *   addresses, then type-length-value records (ALPN, authority, CRC32c, unique ID, TLS details, ...).
 *
 * Decoding is strict where the specification says "must": a wrong signature or version, an unknown command,
 * family or transport, an address block shorter than its family needs, a TLV running past the header, a
 * CRC32c that does not match, a v1 line without CRLF in 107 bytes, or a v1 field that is not canonical
 * (leading zeros, a lone CR or LF) are `BadPacketError`s. Unknown TLV types are kept as they came, so a
 * header decodes to a value that encodes back to the same bytes.
 *
 * @module
 */
import { isIP } from 'node:net';
import { BadPacketError, ValidationError } from '../core/errors.js';

/** The 12 bytes that open a version 2 header. */
export const PROXY_V2_SIGNATURE = Uint8Array.of(
  0x0d,
  0x0a,
  0x0d,
  0x0a,
  0x00,
  0x0d,
  0x0a,
  0x51,
  0x55,
  0x49,
  0x54,
  0x0a,
);

/** Longest version 1 line, CRLF included. */
export const PROXY_V1_MAX_LENGTH = 107;

/** Longest version 2 header: 16 bytes and a length of up to 65535. */
export const PROXY_V2_MAX_LENGTH = 16 + 0xffff;

/** Registered TLV types (section 2.2). */
export const PROXY_TLV = {
  alpn: 0x01,
  authority: 0x02,
  crc32c: 0x03,
  noop: 0x04,
  uniqueId: 0x05,
  ssl: 0x20,
  sslVersion: 0x21,
  sslCn: 0x22,
  sslCipher: 0x23,
  sslSigAlg: 0x24,
  sslKeyAlg: 0x25,
  netns: 0x30,
} as const;

/** An IP address and port. */
export interface ProxyInetAddress {
  /** An IPv4 or IPv6 address. */
  address: string;
  /** 0 to 65535. */
  port: number;
}

/** A Unix socket path (`@name` for Linux's abstract namespace). */
export interface ProxyUnixAddress {
  path: string;
}

/** One type-length-value record of a version 2 header. */
export interface ProxyTlv {
  /** The type, 0 to 255 (see {@link PROXY_TLV}). */
  type: number;
  /** The value, as it came. */
  value: Uint8Array;
}

/** A decoded PROXY header (either version). */
export interface ProxyHeader {
  /** 1 (text) or 2 (binary). */
  version: 1 | 2;
  /**
   * `proxy`: relayed for a client, use the addresses. `local`: the proxy's own connection (a health check);
   * use the real endpoints. Version 1 is always `proxy`.
   */
  command: 'proxy' | 'local';
  /** `inet` (IPv4), `inet6`, `unix` or `unspec` (v1 `UNKNOWN`: use the real endpoints). */
  family: 'inet' | 'inet6' | 'unix' | 'unspec';
  /** `stream` (TCP, Unix stream), `dgram` (UDP, Unix datagram) or `unspec`. */
  transport: 'stream' | 'dgram' | 'unspec';
  /** The client's address (absent for `unspec`). */
  source?: ProxyInetAddress | ProxyUnixAddress;
  /** The address the client connected to (absent for `unspec`). */
  destination?: ProxyInetAddress | ProxyUnixAddress;
  /** Version 2 records after the addresses, in order (a CRC32c record included). */
  tlvs?: ProxyTlv[];
  /** Version 2 address bytes of an `unspec` family, kept as they came so the header re-encodes exactly. */
  rawAddresses?: Uint8Array;
}

/** Options of {@link encodeProxyHeader}. */
export interface ProxyEncodeOptions {
  /** Version 2: append a CRC32c record (type 0x03) over the whole header. @default false */
  crc32c?: boolean;
}

const FAMILY_CODE = { unspec: 0, inet: 1, inet6: 2, unix: 3 } as const;
const TRANSPORT_CODE = { unspec: 0, stream: 1, dgram: 2 } as const;
const FAMILY_NAME = ['unspec', 'inet', 'inet6', 'unix'] as const;
const TRANSPORT_NAME = ['unspec', 'stream', 'dgram'] as const;
const ADDRESS_LENGTH = { unspec: 0, inet: 12, inet6: 36, unix: 216 } as const;
const UNIX_ADDRESS_BYTES = 108;
const PREFIX_V1 = Buffer.from('PROXY ');

/**
 * Encode a PROXY header.
 *
 * @param header - version 1 takes `inet`/`inet6` over `stream`, or `unspec` (`PROXY UNKNOWN`); version 2 any
 *   family, transport, command and TLVs
 * @param options - `crc32c` to add a checksum record (version 2)
 * @returns the header's bytes, to send before anything else on the connection
 * @throws {ValidationError} for an address that does not fit its family, a port out of range, or a header
 *   version 1 cannot express
 * @example
 * ```ts
 * encodeProxyHeader({
 *   version: 1, command: 'proxy', family: 'inet', transport: 'stream',
 *   source: { address: '192.168.0.1', port: 56324 }, destination: { address: '192.168.0.11', port: 443 },
 * }); // 'PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n' as bytes
 * ```
 */
export function encodeProxyHeader(header: ProxyHeader, options: ProxyEncodeOptions = {}): Uint8Array {
  if (header.version === 1) return encodeV1(header);
  if (header.version === 2) return encodeV2(header, options);
  throw new ValidationError(`Invalid PROXY protocol version '${String(header.version)}': expected 1 or 2`);
}

function encodeV1(h: ProxyHeader): Uint8Array {
  if (h.command !== 'proxy') throw new ValidationError('PROXY protocol version 1 has no LOCAL command');
  if (h.family === 'unspec') return Buffer.from('PROXY UNKNOWN\r\n');
  if (h.family === 'unix' || h.transport !== 'stream') {
    throw new ValidationError('PROXY protocol version 1 carries TCP over IPv4 or IPv6 only: use version 2');
  }
  const family = h.family === 'inet' ? 4 : 6;
  const src = inet(h.source, family, 'source');
  const dst = inet(h.destination, family, 'destination');
  const text = (a: string) => (family === 6 ? canonicalV6(a) : a);
  return Buffer.from(
    `PROXY TCP${family} ${text(src.address)} ${text(dst.address)} ${src.port} ${dst.port}\r\n`,
    'latin1',
  );
}

function inet(a: ProxyHeader['source'], family: 4 | 6, what: string): ProxyInetAddress {
  // A zone (fe80::1%eth0) means nothing to the receiver: it is left out.
  const address = a && 'address' in a ? a.address?.split('%')[0] : undefined;
  if (address === undefined || isIP(address) !== family) {
    throw new ValidationError(
      `Invalid PROXY ${what} address '${String(address)}': expected an IPv${family} address`,
    );
  }
  const port = (a as ProxyInetAddress).port;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ValidationError(`Invalid PROXY ${what} port '${String(port)}': expected 0 to 65535`);
  }
  return { address, port };
}

function encodeV2(h: ProxyHeader, options: ProxyEncodeOptions): Uint8Array {
  const command = h.command === 'local' ? 0 : h.command === 'proxy' ? 1 : -1;
  if (command < 0)
    throw new ValidationError(`Invalid PROXY command '${String(h.command)}': expected proxy or local`);
  const fam = FAMILY_CODE[h.family];
  const tr = TRANSPORT_CODE[h.transport];
  if (fam === undefined) throw new ValidationError(`Invalid PROXY family '${String(h.family)}'`);
  if (tr === undefined) throw new ValidationError(`Invalid PROXY transport '${String(h.transport)}'`);
  let addresses: Uint8Array;
  if (h.family === 'inet' || h.family === 'inet6') {
    const family = h.family === 'inet' ? 4 : 6;
    const src = inet(h.source, family, 'source');
    const dst = inet(h.destination, family, 'destination');
    const n = family === 4 ? 4 : 16;
    addresses = new Uint8Array(2 * n + 4);
    addresses.set(ipBytes(src.address, family), 0);
    addresses.set(ipBytes(dst.address, family), n);
    const view = new DataView(addresses.buffer);
    view.setUint16(2 * n, src.port);
    view.setUint16(2 * n + 2, dst.port);
  } else if (h.family === 'unix') {
    addresses = new Uint8Array(2 * UNIX_ADDRESS_BYTES);
    addresses.set(unixBytes(h.source, 'source'), 0);
    addresses.set(unixBytes(h.destination, 'destination'), UNIX_ADDRESS_BYTES);
  } else {
    addresses = h.rawAddresses ?? new Uint8Array(0);
  }
  const tlvs = (h.tlvs ?? []).filter((t) => !(options.crc32c && t.type === PROXY_TLV.crc32c));
  let tlvLength = 0;
  for (const t of tlvs) {
    if (!Number.isInteger(t.type) || t.type < 0 || t.type > 255) {
      throw new ValidationError(`Invalid PROXY TLV type '${String(t.type)}': expected 0 to 255`);
    }
    if (!(t.value instanceof Uint8Array))
      throw new ValidationError('Invalid PROXY TLV value: expected bytes');
    tlvLength += 3 + t.value.length;
  }
  if (options.crc32c) tlvLength += 7;
  const length = addresses.length + tlvLength;
  if (length > 0xffff) {
    throw new ValidationError(`PROXY header too long: ${length} bytes after the first 16, at most 65535`);
  }
  const out = new Uint8Array(16 + length);
  const view = new DataView(out.buffer);
  out.set(PROXY_V2_SIGNATURE, 0);
  out[12] = 0x20 | command;
  out[13] = (fam << 4) | tr;
  view.setUint16(14, length);
  out.set(addresses, 16);
  let at = 16 + addresses.length;
  for (const t of tlvs) {
    out[at] = t.type;
    view.setUint16(at + 1, t.value.length);
    out.set(t.value, at + 3);
    at += 3 + t.value.length;
  }
  if (options.crc32c) {
    out[at] = PROXY_TLV.crc32c;
    view.setUint16(at + 1, 4);
    view.setUint32(at + 3, crc32c(out)); // the checksum field is still zero
  }
  return out;
}

function ipBytes(address: string, family: 4 | 6): Uint8Array {
  if (family === 4) return Uint8Array.from(address.split('.').map(Number));
  const out = new Uint8Array(16);
  let text = address;
  // An IPv4 tail (::ffff:1.2.3.4) becomes two groups.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const b = (v4[1] as string).split('.').map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4.index)}${((b[0] << 8) | b[1]).toString(16)}:${((b[2] << 8) | b[3]).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? (text.split('::') as [string, string]) : [text, undefined];
  const groups = (s: string) => (s === '' ? [] : s.split(':').map((g) => Number.parseInt(g, 16)));
  const h = groups(head);
  const t = tail === undefined ? [] : groups(tail);
  const all = tail === undefined ? h : [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
  for (let i = 0; i < 8; i++) {
    out[2 * i] = ((all[i] ?? 0) >> 8) & 0xff;
    out[2 * i + 1] = (all[i] ?? 0) & 0xff;
  }
  return out;
}

function unixBytes(a: ProxyHeader['source'], what: string): Uint8Array {
  const path = a && 'path' in a ? a.path : undefined;
  if (typeof path !== 'string') throw new ValidationError(`Invalid PROXY ${what}: expected a Unix path`);
  const bytes = path.startsWith('@')
    ? Buffer.concat([Buffer.of(0), Buffer.from(path.slice(1))])
    : Buffer.from(path);
  if (bytes.length > UNIX_ADDRESS_BYTES) {
    throw new ValidationError(`Invalid PROXY ${what} '${path}': over ${UNIX_ADDRESS_BYTES} bytes`);
  }
  return bytes;
}

/** What {@link readProxyHeader} found at the start of a stream. */
export interface ProxyHeaderRead {
  /** The header. */
  header: ProxyHeader;
  /** Its length in bytes: the connection's own data starts here. */
  length: number;
}

/**
 * Read a PROXY header from the start of a connection's bytes, as they arrive.
 *
 * @param data - the bytes received so far
 * @returns the header and its length, or `undefined` when more bytes are needed to decide
 * @throws {BadPacketError} when the bytes cannot start a valid header (not PROXY protocol, malformed, or a
 *   version 1 line without CRLF in 107 bytes)
 * @example
 * ```ts
 * readProxyHeader(Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\nGET /')); // { header: {...}, length: 32 }
 * readProxyHeader(Buffer.from('PROX')); // undefined: wait for more
 * ```
 */
export function readProxyHeader(data: Uint8Array): ProxyHeaderRead | undefined {
  if (data.length === 0) return undefined;
  if (data[0] === 0x0d) {
    const n = Math.min(data.length, PROXY_V2_SIGNATURE.length);
    for (let i = 0; i < n; i++) {
      if (data[i] !== PROXY_V2_SIGNATURE[i]) throw notProxy(data);
    }
    checkV2Start(data);
    if (data.length < 16) return undefined;
    const length = 16 + ((data[14] as number) << 8) + (data[15] as number);
    if (data.length < length) return undefined;
    return { header: decodeV2(data.subarray(0, length)), length };
  }
  const n = Math.min(data.length, PREFIX_V1.length);
  for (let i = 0; i < n; i++) if (data[i] !== PREFIX_V1[i]) throw notProxy(data);
  const limit = Math.min(data.length, PROXY_V1_MAX_LENGTH);
  for (let i = 0; i < limit; i++) {
    const b = data[i];
    if (b === 0x0a) {
      if (i === 0 || data[i - 1] !== 0x0d) throw new BadPacketError('PROXY v1 line ends with LF without CR');
      return { header: decodeV1(data.subarray(0, i + 1)), length: i + 1 };
    }
    if (b === 0x0d && i + 1 < data.length && data[i + 1] !== 0x0a) {
      throw new BadPacketError('PROXY v1 line holds a CR that is not followed by LF');
    }
  }
  if (data.length >= PROXY_V1_MAX_LENGTH) {
    throw new BadPacketError(`PROXY v1 line has no CRLF in its first ${PROXY_V1_MAX_LENGTH} bytes`);
  }
  return undefined;
}

/** Reject a v2 header (even a partial one) as soon as its first bytes break the rules. */
function checkV2Start(data: Uint8Array): void {
  if (data.length > 12) {
    const vc = data[12] as number;
    if (vc >> 4 !== 2) throw new BadPacketError(`PROXY v2 header has version ${vc >> 4}, expected 2`);
    if ((vc & 0x0f) > 1) throw new BadPacketError(`PROXY v2 header has unknown command ${vc & 0x0f}`);
  }
  if (data.length > 13) {
    const ft = data[13] as number;
    if (FAMILY_NAME[ft >> 4] === undefined) {
      throw new BadPacketError(`PROXY v2 header has unknown address family ${ft >> 4}`);
    }
    if (TRANSPORT_NAME[ft & 0x0f] === undefined) {
      throw new BadPacketError(`PROXY v2 header has unknown transport ${ft & 0x0f}`);
    }
  }
}

function notProxy(data: Uint8Array): BadPacketError {
  const shown = Buffer.from(data.subarray(0, 8)).toString('hex');
  return new BadPacketError(`Not a PROXY protocol header: starts with 0x${shown}`);
}

/**
 * Decode exactly one PROXY header (either version).
 *
 * @param data - the header's bytes, nothing more
 * @returns the header
 * @throws {BadPacketError} when the bytes are not exactly one valid header (incomplete, malformed, or with
 *   bytes after it)
 * @example
 * ```ts
 * decodeProxyHeader(Buffer.from('PROXY UNKNOWN\r\n')); // { version: 1, command: 'proxy', family: 'unspec', ... }
 * ```
 */
export function decodeProxyHeader(data: Uint8Array): ProxyHeader {
  const read = readProxyHeader(data);
  if (!read) throw new BadPacketError(`PROXY header is incomplete (${data.length} bytes)`);
  if (read.length !== data.length) {
    throw new BadPacketError(
      `PROXY header is ${read.length} bytes, followed by ${data.length - read.length} more`,
    );
  }
  return read.header;
}

const V1_PORT = /^(0|[1-9]\d{0,4})$/;

function decodeV1(line: Uint8Array): ProxyHeader {
  const text = Buffer.from(line.subarray(0, line.length - 2)).toString('latin1');
  const parts = text.split(' ');
  if (parts[1] === 'UNKNOWN') {
    // "the receiver must ignore anything presented before the CRLF"
    return { version: 1, command: 'proxy', family: 'unspec', transport: 'unspec' };
  }
  if (parts.length !== 6) {
    throw new BadPacketError(
      `PROXY v1 line has ${parts.length} fields, expected 6: '${printableAscii(text)}'`,
    );
  }
  const [, proto, src, dst, sport, dport] = parts as [string, string, string, string, string, string];
  const family = proto === 'TCP4' ? 4 : proto === 'TCP6' ? 6 : 0;
  if (family === 0)
    throw new BadPacketError(`PROXY v1 protocol '${printableAscii(proto)}' is not TCP4, TCP6 or UNKNOWN`);
  for (const [what, a] of [
    ['source', src],
    ['destination', dst],
  ] as const) {
    if (isIP(a) !== family || a.includes('%')) {
      throw new BadPacketError(`PROXY v1 ${what} '${printableAscii(a)}' is not an IPv${family} address`);
    }
  }
  const port = (what: string, p: string) => {
    if (!V1_PORT.test(p) || Number(p) > 65535) {
      throw new BadPacketError(
        `PROXY v1 ${what} port '${printableAscii(p)}' is not 0 to 65535 without leading zeros`,
      );
    }
    return Number(p);
  };
  return {
    version: 1,
    command: 'proxy',
    family: family === 4 ? 'inet' : 'inet6',
    transport: 'stream',
    source: { address: family === 6 ? canonicalV6(src) : src, port: port('source', sport) },
    destination: { address: family === 6 ? canonicalV6(dst) : dst, port: port('destination', dport) },
  };
}

function printableAscii(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, '?').slice(0, 60);
}

function decodeV2(data: Uint8Array): ProxyHeader {
  checkV2Start(data);
  const command = ((data[12] as number) & 0x0f) === 1 ? 'proxy' : 'local';
  const famCode = (data[13] as number) >> 4;
  const trCode = (data[13] as number) & 0x0f;
  const family = FAMILY_NAME[famCode];
  const transport = TRANSPORT_NAME[trCode];
  if (family === undefined) throw new BadPacketError(`PROXY v2 header has unknown address family ${famCode}`);
  if (transport === undefined) throw new BadPacketError(`PROXY v2 header has unknown transport ${trCode}`);
  const body = data.subarray(16);
  const need = ADDRESS_LENGTH[family];
  if (body.length < need) {
    throw new BadPacketError(
      `PROXY v2 address block is ${body.length} bytes, family ${family} needs ${need}`,
    );
  }
  const header: ProxyHeader = { version: 2, command, family, transport };
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  if (family === 'inet' || family === 'inet6') {
    const n = family === 'inet' ? 4 : 16;
    header.source = { address: ipText(body.subarray(0, n)), port: view.getUint16(2 * n) };
    header.destination = { address: ipText(body.subarray(n, 2 * n)), port: view.getUint16(2 * n + 2) };
  } else if (family === 'unix') {
    header.source = { path: unixText(body.subarray(0, UNIX_ADDRESS_BYTES)) };
    header.destination = { path: unixText(body.subarray(UNIX_ADDRESS_BYTES, 2 * UNIX_ADDRESS_BYTES)) };
  }
  // With family unspec, the length still says how many bytes follow; they are addresses nobody can read,
  // or TLVs. The specification lets a LOCAL/UNSPEC header carry TLVs, so try TLVs first, then raw bytes.
  let tlvStart = need;
  if (family === 'unspec' && body.length > 0 && !tlvsFit(body)) {
    header.rawAddresses = Uint8Array.from(body);
    return header;
  }
  const tlvs: ProxyTlv[] = [];
  let crcAt = -1;
  while (tlvStart < body.length) {
    if (body.length - tlvStart < 3) {
      throw new BadPacketError(
        `PROXY v2 TLV at byte ${16 + tlvStart} is cut short (${body.length - tlvStart} bytes)`,
      );
    }
    const type = body[tlvStart] as number;
    const len = view.getUint16(tlvStart + 1);
    if (tlvStart + 3 + len > body.length) {
      throw new BadPacketError(
        `PROXY v2 TLV type 0x${type.toString(16)} at byte ${16 + tlvStart} claims ${len} bytes, only ${body.length - tlvStart - 3} left`,
      );
    }
    if (type === PROXY_TLV.crc32c) {
      if (len !== 4) throw new BadPacketError(`PROXY v2 CRC32c record is ${len} bytes, expected 4`);
      crcAt = 16 + tlvStart + 3;
    }
    tlvs.push({ type, value: Uint8Array.from(body.subarray(tlvStart + 3, tlvStart + 3 + len)) });
    tlvStart += 3 + len;
  }
  if (crcAt >= 0) {
    const copy = Uint8Array.from(data);
    const expected = new DataView(copy.buffer).getUint32(crcAt);
    copy.fill(0, crcAt, crcAt + 4);
    const actual = crc32c(copy);
    if (actual !== expected) {
      throw new BadPacketError(
        `PROXY v2 CRC32c is 0x${expected.toString(16).padStart(8, '0')}, the header sums to 0x${actual.toString(16).padStart(8, '0')}`,
      );
    }
  }
  if (tlvs.length > 0) header.tlvs = tlvs;
  return header;
}

/** Whether bytes parse as a sequence of TLVs ending exactly at the end. */
function tlvsFit(body: Uint8Array): boolean {
  let at = 0;
  while (at < body.length) {
    if (body.length - at < 3) return false;
    at += 3 + (((body[at + 1] as number) << 8) | (body[at + 2] as number));
  }
  return at === body.length;
}

function ipText(bytes: Uint8Array): string {
  if (bytes.length === 4) return bytes.join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2)
    groups.push((((bytes[i] as number) << 8) | (bytes[i + 1] as number)).toString(16));
  return canonicalV6(groups.join(':'));
}

/** The compressed lower-case form of an IPv6 address (RFC 5952), as Node prints it. */
function canonicalV6(address: string): string {
  const bytes = ipBytes(address.toLowerCase(), 6);
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] as number) << 8) | (bytes[i + 1] as number));
  // The longest run of at least two zero groups becomes '::' (the first of equal runs).
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    // IPv4-mapped: the dotted tail, as Node prints it (RFC 5952 section 5).
    return `::ffff:${bytes.subarray(12).join('.')}`;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

function unixText(bytes: Uint8Array): string {
  if (bytes[0] === 0) {
    let end = bytes.length;
    while (end > 1 && bytes[end - 1] === 0) end--;
    return `@${Buffer.from(bytes.subarray(1, end)).toString('utf8')}`;
  }
  const nul = bytes.indexOf(0);
  return Buffer.from(bytes.subarray(0, nul === -1 ? bytes.length : nul)).toString('utf8');
}

let CRC_TABLE: Uint32Array | undefined;

/**
 * CRC32c (Castagnoli, reflected polynomial 0x82F63B78), as RFC 4960 Appendix B computes it.
 *
 * @param data - the bytes
 * @returns the checksum as an unsigned 32-bit number
 * @example
 * ```ts
 * crc32c(Buffer.from('123456789')); // 0xe3069283
 * ```
 */
export function crc32c(data: Uint8Array): number {
  if (!CRC_TABLE) {
    CRC_TABLE = new Uint32Array(256);
    for (let i = 0; i < 256; i++) {
      let c = i;
      for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
      CRC_TABLE[i] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (let i = 0; i < data.length; i++) {
    crc = (CRC_TABLE[(crc ^ (data[i] as number)) & 0xff] as number) ^ (crc >>> 8);
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/**
 * The value of the first TLV of a type, as text (ALPN, authority, unique ID, netns are text or bytes).
 *
 * @param header - a decoded header
 * @param type - the TLV type (see {@link PROXY_TLV})
 * @returns the value as UTF-8 text, or `undefined` when absent
 * @example
 * ```ts
 * proxyTlvText(header, PROXY_TLV.authority); // 'example.com'
 * ```
 */
export function proxyTlvText(header: ProxyHeader, type: number): string | undefined {
  const t = header.tlvs?.find((x) => x.type === type);
  return t ? Buffer.from(t.value).toString('utf8') : undefined;
}
