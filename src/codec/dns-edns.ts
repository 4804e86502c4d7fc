/**
 * EDNS(0) (RFC 6891): the OPT pseudo-record's fields — the requester's UDP payload size, the upper 8 bits of
 * the response code, the version, the DO bit (RFC 3225) — and its options: NSID (RFC 5001), Client Subnet
 * (RFC 7871), EXPIRE (RFC 7314), COOKIE (RFC 7873), TCP keepalive (RFC 7828), padding (RFC 7830), Extended DNS
 * Errors (RFC 8914), and any other option kept as bytes. A known option whose value does not have its
 * layout is kept as bytes too (`other`), so one odd option never hides the rest of an answer.
 *
 * @module
 */
import { BadPacketError, ValidationError } from '../core/errors.js';
import { ednsOptionName } from './dns-types.js';
import {
  checkUint,
  escapeString,
  fromHex,
  ipv4Bytes,
  ipv4Text,
  ipv6Bytes,
  ipv6Text,
  utf8,
  utf8Bytes,
  WireWriter,
} from './dns-wire.js';

/** One EDNS option. Binary values are lower-case hex. */
export type EdnsOption =
  /** Name server identifier (RFC 5001): empty in a query, the server's id in a response. */
  | { option: 'nsid'; code: 3; data: string; text: string }
  /** Client subnet (RFC 7871): family 1 (IPv4) or 2 (IPv6). */
  | {
      option: 'ecs';
      code: 8;
      family: number;
      sourcePrefixLength: number;
      scopePrefixLength: number;
      address: string;
    }
  /** Zone expiry in seconds (RFC 7314); absent in a query. */
  | { option: 'expire'; code: 9; expire: number | undefined }
  /** DNS cookies (RFC 7873): an 8-byte client cookie and, in responses, an 8–32-byte server cookie (`''` if none). */
  | { option: 'cookie'; code: 10; client: string; server: string }
  /** TCP keepalive (RFC 7828): idle timeout in units of 100 ms; absent in a query. */
  | { option: 'keepalive'; code: 11; timeout: number | undefined }
  /** Padding (RFC 7830): that many zero bytes. */
  | { option: 'padding'; code: 12; length: number }
  /** Extended DNS Error (RFC 8914): an info code, its purpose text, and the server's extra text. */
  | { option: 'ede'; code: 15; infoCode: number; purpose: string; extraText: string }
  /** Any other option (or a known one with a malformed value), by code. */
  | { option: 'other'; code: number; name: string; data: string };

/** The OPT record of a message. */
export interface Edns {
  /** Largest UDP payload the sender can receive (RFC 6891 §6.2.3); values under 512 are read as 512 by resolvers. */
  udpSize: number;
  /** EDNS version; 0 is the only one defined. */
  version: number;
  /** DO: DNSSEC records wanted (RFC 3225). */
  dnssecOk: boolean;
  /** The other 15 flag bits, which must be zero ("MBZ"). */
  z: number;
  /** The options, in order. */
  options: EdnsOption[];
}

/** EDNS fields for a message being built. */
export interface EdnsInit {
  /** @default 1232 (the DNS Flag Day 2020 value) */
  udpSize?: number;
  /** @default 0 */
  version?: number;
  /** @default false */
  dnssecOk?: boolean;
  /** @default 0 */
  z?: number;
  /** @default [] */
  options?: readonly EdnsOption[];
}

/** Default EDNS UDP payload size: 1232 bytes (DNS Flag Day 2020: no IP fragmentation on common paths). */
export const EDNS_UDP_SIZE = 1232;

/** Extended DNS Error info codes (RFC 8914 §4 and the IANA registry). */
export const EDE_CODES: Readonly<Record<number, string>> = {
  0: 'Other',
  1: 'Unsupported DNSKEY Algorithm',
  2: 'Unsupported DS Digest Type',
  3: 'Stale Answer',
  4: 'Forged Answer',
  5: 'DNSSEC Indeterminate',
  6: 'DNSSEC Bogus',
  7: 'Signature Expired',
  8: 'Signature Not Yet Valid',
  9: 'DNSKEY Missing',
  10: 'RRSIGs Missing',
  11: 'No Zone Key Bit Set',
  12: 'NSEC Missing',
  13: 'Cached Error',
  14: 'Not Ready',
  15: 'Blocked',
  16: 'Censored',
  17: 'Filtered',
  18: 'Prohibited',
  19: 'Stale NXDOMAIN Answer',
  20: 'Not Authoritative',
  21: 'Not Supported',
  22: 'No Reachable Authority',
  23: 'Network Error',
  24: 'Invalid Data',
  25: 'Signature Expired before Valid',
  26: 'Too Early',
  27: 'Unsupported NSEC3 Iterations Value',
  28: 'Unable to conform to policy',
  29: 'Synthesized',
  30: 'Invalid Query Type',
};

function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

function u16(b: Uint8Array, i: number): number {
  return ((b[i] as number) << 8) | (b[i + 1] as number);
}

/** Decode one option's value; a malformed value of a known option comes back as `other`. */
function decodeOption(code: number, v: Uint8Array): EdnsOption {
  const other: EdnsOption = { option: 'other', code, name: ednsOptionName(code), data: hex(v) };
  switch (code) {
    case 3:
      return { option: 'nsid', code, data: hex(v), text: utf8(v) };
    case 8: {
      if (v.length < 4) return other;
      const family = u16(v, 0);
      const source = v[2] as number;
      const scope = v[3] as number;
      const size = family === 1 ? 4 : family === 2 ? 16 : 0;
      const addr = v.subarray(4);
      if (size === 0 || source > size * 8 || scope > size * 8 || addr.length !== Math.ceil(source / 8)) {
        return other;
      }
      const full = new Uint8Array(size);
      full.set(addr);
      return {
        option: 'ecs',
        code,
        family,
        sourcePrefixLength: source,
        scopePrefixLength: scope,
        address: family === 1 ? ipv4Text(full) : ipv6Text(full),
      };
    }
    case 9:
      if (v.length === 0) return { option: 'expire', code, expire: undefined };
      if (v.length !== 4) return other;
      return { option: 'expire', code, expire: ((u16(v, 0) << 16) >>> 0) + u16(v, 2) };
    case 10:
      if (v.length !== 8 && (v.length < 16 || v.length > 40)) return other;
      return { option: 'cookie', code, client: hex(v.subarray(0, 8)), server: hex(v.subarray(8)) };
    case 11:
      if (v.length === 0) return { option: 'keepalive', code, timeout: undefined };
      if (v.length !== 2) return other;
      return { option: 'keepalive', code, timeout: u16(v, 0) };
    case 12:
      return { option: 'padding', code, length: v.length };
    case 15: {
      if (v.length < 2) return other;
      const infoCode = u16(v, 0);
      return {
        option: 'ede',
        code,
        infoCode,
        purpose: EDE_CODES[infoCode] ?? `Unknown (${infoCode})`,
        extraText: utf8(v.subarray(2)),
      };
    }
    default:
      return other;
  }
}

/**
 * Read the options of an OPT record's RDATA.
 *
 * @throws {BadPacketError} when an option runs past the end of the RDATA
 * @internal
 */
export function readEdnsOptions(rdata: Uint8Array, where: string): EdnsOption[] {
  const options: EdnsOption[] = [];
  for (let p = 0; p < rdata.length; ) {
    if (p + 4 > rdata.length)
      throw new BadPacketError(`${where}: option header runs past the end of its data`);
    const code = u16(rdata, p);
    const len = u16(rdata, p + 2);
    if (p + 4 + len > rdata.length) {
      throw new BadPacketError(`${where}: option ${ednsOptionName(code)} runs past the end of its data`);
    }
    options.push(decodeOption(code, rdata.subarray(p + 4, p + 4 + len)));
    p += 4 + len;
  }
  return options;
}

function optionValue(o: EdnsOption): Uint8Array {
  const w = new WireWriter();
  switch (o.option) {
    case 'nsid':
      w.bytes(fromHex(o.data, 'NSID'));
      break;
    case 'ecs': {
      const source = checkUint(o.sourcePrefixLength, 8, 'ECS source prefix length');
      const scope = checkUint(o.scopePrefixLength, 8, 'ECS scope prefix length');
      const bytes =
        o.family === 1 ? ipv4Bytes(o.address, 'ECS address') : ipv6Bytes(o.address, 'ECS address');
      if (o.family !== 1 && o.family !== 2)
        throw new ValidationError(`Invalid ECS family ${o.family}: expected 1 or 2`);
      if (source > bytes.length * 8) {
        throw new ValidationError(
          `ECS source prefix /${source} is longer than an IPv${o.family === 1 ? 4 : 6} address`,
        );
      }
      const n = Math.ceil(source / 8);
      const addr = bytes.slice(0, n);
      if (source % 8 !== 0 && n > 0) addr[n - 1] = (addr[n - 1] as number) & (0xff << (8 - (source % 8)));
      w.u16(o.family);
      w.u8(source);
      w.u8(scope);
      w.bytes(addr);
      break;
    }
    case 'expire':
      if (o.expire !== undefined) w.u32(checkUint(o.expire, 32, 'EXPIRE'));
      break;
    case 'cookie': {
      const client = fromHex(o.client, 'client cookie');
      const server = fromHex(o.server, 'server cookie');
      if (client.length !== 8)
        throw new ValidationError(`Client cookie is ${client.length} bytes, expected 8`);
      if (server.length !== 0 && (server.length < 8 || server.length > 32)) {
        throw new ValidationError(`Server cookie is ${server.length} bytes, expected 8 to 32`);
      }
      w.bytes(client);
      w.bytes(server);
      break;
    }
    case 'keepalive':
      if (o.timeout !== undefined) w.u16(checkUint(o.timeout, 16, 'keepalive timeout'));
      break;
    case 'padding':
      w.bytes(new Uint8Array(checkUint(o.length, 16, 'padding length')));
      break;
    case 'ede':
      w.u16(checkUint(o.infoCode, 16, 'EDE info code'));
      w.bytes(utf8Bytes(o.extraText));
      break;
    case 'other':
      w.bytes(fromHex(o.data, `option ${o.name}`));
      break;
  }
  return w.result();
}

/**
 * Encode options into an OPT record's RDATA.
 *
 * @throws {ValidationError} for a value that cannot be encoded
 * @internal
 */
export function writeEdnsOptions(options: readonly EdnsOption[]): Uint8Array {
  const w = new WireWriter();
  for (const o of options) {
    const v = optionValue(o);
    w.u16(checkUint(o.code, 16, 'EDNS option code'));
    w.u16(v.length);
    w.bytes(v);
  }
  return w.result();
}

function hexPairs(hexText: string): string {
  return hexText.replace(/(..)(?!$)/g, '$1 ');
}

/**
 * One option as dig's OPT pseudo-section shows it (without the leading `; `).
 *
 * @example
 * ```ts
 * ednsOptionText({ option: 'nsid', code: 3, data: '6e7331', text: 'ns1' }); // 'NSID: 6e 73 31 ("ns1")'
 * ```
 */
export function ednsOptionText(o: EdnsOption): string {
  switch (o.option) {
    case 'nsid':
      return `NSID: ${hexPairs(o.data)} ("${escapeString(fromHex(o.data, 'NSID'))}")`;
    case 'ecs':
      return `CLIENT-SUBNET: ${o.address}/${o.sourcePrefixLength}/${o.scopePrefixLength}`;
    case 'expire':
      return `EXPIRE: ${o.expire ?? ''}`.trimEnd();
    case 'cookie':
      return `COOKIE: ${o.client}${o.server}`;
    case 'keepalive':
      return `TCP-KEEPALIVE: ${o.timeout === undefined ? '' : `${(o.timeout / 10).toFixed(1)} secs`}`.trimEnd();
    case 'padding':
      return `PADDING: ${o.length} bytes`;
    case 'ede':
      return `EDE: ${o.infoCode} (${o.purpose})${o.extraText ? `: (${escapeString(utf8Bytes(o.extraText))})` : ''}`;
    case 'other': {
      const bytes = fromHex(o.data, o.name);
      return `${o.name === `OPT${o.code}` ? `OPT=${o.code}` : o.name}: ${hexPairs(o.data)}${bytes.length ? ` ("${escapeString(bytes)}")` : ''}`;
    }
  }
}
