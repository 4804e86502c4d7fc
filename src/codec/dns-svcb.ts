/**
 * SvcParams of SVCB and HTTPS records (RFC 9460 §2.2, §7; `dohpath` RFC 9461; `ohttp` RFC 9540): wire form,
 * typed values, and the presentation form (`alpn="h2,h3" port=8443 ipv4hint=192.0.2.1`). Keys must be in
 * strictly increasing order and every known key's value must have its shape; anything else is a
 * `BadPacketError` (RFC 9460 §2.2: such an RR is malformed). Unknown keys are kept as `keyNNNNN` with their
 * bytes.
 *
 * @module
 */
import { ValidationError } from '../core/errors.js';
import {
  base64,
  checkUint,
  escapeString,
  fromBase64,
  ipv4Bytes,
  ipv4Text,
  ipv6Bytes,
  ipv6Text,
  utf8,
  utf8Bytes,
  type WireReader,
  WireWriter,
} from './dns-wire.js';

/** SvcParamKeys with a name (IANA "Service Parameter Keys (SvcParamKeys)"). */
export const SVC_PARAM_KEYS = {
  mandatory: 0,
  alpn: 1,
  'no-default-alpn': 2,
  port: 3,
  ipv4hint: 4,
  ech: 5,
  ipv6hint: 6,
  dohpath: 7,
  ohttp: 8,
} as const;

/** One SvcParam. */
export type SvcParam =
  /** Keys a client must understand to use the record (RFC 9460 §8). */
  | { key: 'mandatory'; keys: string[] }
  /** Application protocol ids (TLS ALPN), e.g. `h2`, `h3`. */
  | { key: 'alpn'; protocols: string[] }
  /** The default protocol (`http/1.1` for HTTPS) is not offered. */
  | { key: 'no-default-alpn' }
  /** The port to connect to. */
  | { key: 'port'; port: number }
  /** IPv4 addresses the client may use before it looks the target up. */
  | { key: 'ipv4hint'; addresses: string[] }
  /** A TLS Encrypted ClientHello configuration list, base64. */
  | { key: 'ech'; config: string }
  /** IPv6 addresses the client may use before it looks the target up. */
  | { key: 'ipv6hint'; addresses: string[] }
  /** The DoH URI template (RFC 9461), e.g. `/dns-query{?dns}`. */
  | { key: 'dohpath'; template: string }
  /** The service is an Oblivious HTTP target (RFC 9540). */
  | { key: 'ohttp' }
  /** A key soket does not know, with its value as hex. */
  | { key: `key${number}`; value: string };

const KEY_NAMES = new Map<number, string>(Object.entries(SVC_PARAM_KEYS).map(([k, v]) => [v, k]));

/**
 * The presentation name of a SvcParamKey: its mnemonic, or `keyNNNNN`.
 *
 * @example
 * ```ts
 * svcKeyName(1); // 'alpn'
 * svcKeyName(65333); // 'key65333'
 * ```
 */
export function svcKeyName(key: number): string {
  return KEY_NAMES.get(key) ?? `key${key}`;
}

/**
 * The number of a SvcParamKey given by name or as `keyNNNNN`.
 *
 * @throws {ValidationError} for an unknown key
 * @example
 * ```ts
 * svcKeyNumber('port'); // 3
 * ```
 */
export function svcKeyNumber(name: string): number {
  const known = (SVC_PARAM_KEYS as Record<string, number>)[name];
  if (known !== undefined) return known;
  const m = /^key(\d{1,5})$/.exec(name);
  if (m && Number(m[1]) <= 0xffff) return Number(m[1]);
  throw new ValidationError(`Unknown SvcParamKey '${name}'`);
}

function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

/** Decode the SvcParams that fill the rest of an SVCB/HTTPS RDATA. @internal */
export function readSvcParams(r: WireReader): SvcParam[] {
  const params: SvcParam[] = [];
  let last = -1;
  while (r.remaining() > 0) {
    const key = r.u16('SvcParamKey');
    if (key <= last) r.fail(`SvcParamKey ${key}`, `is not greater than the previous key ${last}`);
    last = key;
    const len = r.u16(`length of SvcParam ${svcKeyName(key)}`);
    const v = r.bytes(len, `value of SvcParam ${svcKeyName(key)}`);
    params.push(decodeParam(r, key, v));
  }
  return params;
}

function decodeParam(r: WireReader, key: number, v: Uint8Array): SvcParam {
  const name = svcKeyName(key);
  const bad = (why: string): never => r.fail(`SvcParam ${name}`, why);
  switch (key) {
    case 0: {
      if (v.length === 0 || v.length % 2 !== 0)
        bad(`has ${v.length} bytes, expected a non-empty list of 2-byte keys`);
      const keys: string[] = [];
      let prev = -1;
      for (let i = 0; i < v.length; i += 2) {
        const k = ((v[i] as number) << 8) | (v[i + 1] as number);
        if (k === 0) bad('lists itself');
        if (k <= prev) bad('is not in strictly increasing order');
        prev = k;
        keys.push(svcKeyName(k));
      }
      return { key: 'mandatory', keys };
    }
    case 1: {
      if (v.length === 0) bad('is empty');
      const protocols: string[] = [];
      for (let i = 0; i < v.length; ) {
        const len = v[i] as number;
        if (len === 0) bad('holds an empty protocol id');
        if (i + 1 + len > v.length) bad('has a protocol id that runs past its end');
        protocols.push(latin1(v.subarray(i + 1, i + 1 + len)));
        i += 1 + len;
      }
      return { key: 'alpn', protocols };
    }
    case 2:
      if (v.length !== 0) bad(`has ${v.length} bytes, expected none`);
      return { key: 'no-default-alpn' };
    case 3:
      if (v.length !== 2) bad(`has ${v.length} bytes, expected 2`);
      return { key: 'port', port: ((v[0] as number) << 8) | (v[1] as number) };
    case 4:
      if (v.length === 0 || v.length % 4 !== 0)
        bad(`has ${v.length} bytes, expected a non-empty multiple of 4`);
      return { key: 'ipv4hint', addresses: chunks(v, 4).map((c) => ipv4Text(c)) };
    case 5:
      return { key: 'ech', config: base64(v) };
    case 6:
      if (v.length === 0 || v.length % 16 !== 0)
        bad(`has ${v.length} bytes, expected a non-empty multiple of 16`);
      return { key: 'ipv6hint', addresses: chunks(v, 16).map((c) => ipv6Text(c)) };
    case 7:
      return { key: 'dohpath', template: utf8(v) };
    case 8:
      if (v.length !== 0) bad(`has ${v.length} bytes, expected none`);
      return { key: 'ohttp' };
    default:
      return { key: `key${key}`, value: hex(v) };
  }
}

function chunks(v: Uint8Array, size: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < v.length; i += size) out.push(v.subarray(i, i + size));
  return out;
}

/** ALPN ids are bytes; as text each byte is one character, so any id round-trips. */
function latin1(b: Uint8Array): string {
  return String.fromCharCode(...b);
}

function latin1Bytes(s: string, field: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff)
      throw new ValidationError(`Invalid ${field} '${s}': protocol ids are bytes (characters up to U+00FF)`);
    out[i] = c;
  }
  return out;
}

function paramKey(p: SvcParam): number {
  return svcKeyNumber(p.key);
}

function encodeParamValue(p: SvcParam): Uint8Array {
  const w = new WireWriter();
  switch (p.key) {
    case 'mandatory':
      for (const k of [...p.keys.map(svcKeyNumber)].sort((a, b) => a - b)) w.u16(k);
      break;
    case 'alpn':
      for (const id of p.protocols) w.string(latin1Bytes(id, 'alpn id'), 'alpn id');
      break;
    case 'no-default-alpn':
    case 'ohttp':
      break;
    case 'port':
      w.u16(checkUint(p.port, 16, 'port'));
      break;
    case 'ipv4hint':
      for (const a of p.addresses) w.bytes(ipv4Bytes(a, 'ipv4hint'));
      break;
    case 'ech':
      w.bytes(fromBase64(p.config, 'ech'));
      break;
    case 'ipv6hint':
      for (const a of p.addresses) w.bytes(ipv6Bytes(a, 'ipv6hint'));
      break;
    case 'dohpath':
      w.bytes(utf8Bytes(p.template));
      break;
    default:
      w.bytes(new Uint8Array(Buffer.from(p.value, 'hex')));
  }
  return w.result();
}

/** Encode SvcParams in key order. @internal */
export function writeSvcParams(w: WireWriter, params: readonly SvcParam[]): void {
  const sorted = [...params].sort((a, b) => paramKey(a) - paramKey(b));
  let last = -1;
  for (const p of sorted) {
    const key = paramKey(p);
    if (key === last) throw new ValidationError(`SvcParam ${p.key} is given twice`);
    last = key;
    const v = encodeParamValue(p);
    w.u16(key);
    w.u16(v.length);
    w.bytes(v);
  }
}

/** A value-list item: `,` and `\` escaped (RFC 9460 Appendix A.1), before the char-string escaping. */
function listItem(s: string): string {
  return s.replace(/[\\,]/g, (c) => `\\${c}`);
}

/**
 * The presentation form of one SvcParam, as zone files and dig write it.
 *
 * @example
 * ```ts
 * svcParamText({ key: 'alpn', protocols: ['h2', 'h3'] }); // 'alpn="h2,h3"'
 * svcParamText({ key: 'port', port: 8443 }); // 'port=8443'
 * ```
 */
export function svcParamText(p: SvcParam): string {
  switch (p.key) {
    case 'mandatory':
      return `mandatory=${p.keys.join(',')}`;
    case 'alpn':
      return `alpn="${escapeString(latin1Bytes(p.protocols.map(listItem).join(','), 'alpn'))}"`;
    case 'no-default-alpn':
    case 'ohttp':
      return p.key;
    case 'port':
      return `port=${p.port}`;
    case 'ipv4hint':
    case 'ipv6hint':
      return `${p.key}=${p.addresses.join(',')}`;
    case 'ech':
      return `ech=${p.config}`;
    case 'dohpath':
      return `dohpath="${escapeString(utf8Bytes(p.template))}"`;
    default: {
      const bytes = new Uint8Array(Buffer.from(p.value, 'hex'));
      return bytes.length === 0 ? p.key : `${p.key}="${escapeString(bytes)}"`;
    }
  }
}
