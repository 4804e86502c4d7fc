/**
 * Trust anchors: where a chain of trust starts. Built in: the DS records of the root zone's key-signing keys
 * as IANA publishes them (https://data.iana.org/root-anchors/root-anchors.xml; also Debian's
 * `/usr/share/dns/root.ds`): KSK-2017 (key tag 20326) and KSK-2024 (key tag 38696). A file can replace them:
 * DS or DNSKEY records in zone-file presentation form (`. IN DS 20326 8 2 E06D…`), or BIND's
 * `trust-anchors { … };` clause.
 *
 * @module
 */
import { nameToWire } from '../codec/dns-name.js';
import { DNSSEC_ALGORITHMS } from '../codec/dns-types.js';
import { ValidationError } from '../core/errors.js';
import { checkString, describeValue } from '../core/validate.js';
import { canonicalName, parseDnskey, parseDs } from './records.js';

/** The trust anchors of one zone: DS records and/or DNSKEY records (RDATA). */
export interface TrustAnchor {
  /** The zone, absolute, lower case (`.`). */
  zone: string;
  /** DS RDATA. */
  ds: Uint8Array[];
  /** DNSKEY RDATA. */
  dnskey: Uint8Array[];
}

/** The root's DS records (presentation form), as IANA publishes them. */
export const ROOT_TRUST_ANCHOR_TEXT = `. IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D
. IN DS 38696 8 2 683D2D0ACB8C9B712A1948B27F741219298D0A450D612C483AF444A4C0FB2B16
`;

/**
 * The built-in trust anchors: the root KSKs' DS records.
 *
 * @example
 * ```ts
 * rootTrustAnchors()[0]?.zone; // '.'
 * ```
 */
export function rootTrustAnchors(): TrustAnchor[] {
  return parseTrustAnchors(ROOT_TRUST_ANCHOR_TEXT, 'the built-in root anchor');
}

/**
 * Check trust anchors given by a caller (an option of the trace and the validator): an array of
 * {@link TrustAnchor}s, as {@link parseTrustAnchors} makes them.
 *
 * @param value - the anchors, or undefined for the default
 * @param what - the option, for messages
 * @returns the anchors, or undefined
 * @throws {ValidationError} when not an array of `{ zone, ds, dnskey }` with RDATA bytes
 * @example
 * ```ts
 * checkTrustAnchors(options.trustAnchors, 'trustAnchors');
 * ```
 */
export function checkTrustAnchors(
  value: readonly TrustAnchor[] | undefined,
  what: string,
): readonly TrustAnchor[] | undefined {
  if (value === undefined) return undefined;
  const valid =
    Array.isArray(value) &&
    value.every(
      (a: TrustAnchor | null) =>
        a !== null &&
        typeof a === 'object' &&
        typeof a.zone === 'string' &&
        Array.isArray(a.ds) &&
        Array.isArray(a.dnskey) &&
        [...a.ds, ...a.dnskey].every((r) => r instanceof Uint8Array),
    );
  if (!valid) {
    throw new ValidationError(
      `Invalid ${what} '${describeValue(value)}': expected trust anchors ({ zone, ds, dnskey }, see parseTrustAnchors)`,
    );
  }
  return value;
}

function algorithmNumber(text: string, where: string): number {
  if (/^\d+$/.test(text)) return Number(text);
  for (const [n, name] of Object.entries(DNSSEC_ALGORITHMS))
    if (name === text.toUpperCase()) return Number(n);
  throw new ValidationError(`${where}: unknown DNSSEC algorithm '${text}'`);
}

function u8(text: string | undefined, what: string, where: string, max = 255): number {
  if (text === undefined || !/^\d+$/.test(text) || Number(text) > max) {
    throw new ValidationError(`${where}: invalid ${what} '${text ?? ''}'`);
  }
  return Number(text);
}

/** Records of one logical line: parentheses join lines, `;` starts a comment, quotes are not special. */
function logicalLines(text: string): { line: string; at: number }[] {
  const out: { line: string; at: number }[] = [];
  let depth = 0;
  let current = '';
  let start = 0;
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.replace(/;.*$/, '').replace(/^\s*#.*$/, '');
    if (depth === 0) start = i + 1;
    for (const c of line) {
      if (c === '(') depth++;
      else if (c === ')') depth = Math.max(0, depth - 1);
    }
    current += ` ${line.replace(/[()]/g, ' ')}`;
    if (depth === 0) {
      if (current.trim()) out.push({ line: current.trim(), at: start });
      current = '';
    }
  });
  if (current.trim()) out.push({ line: current.trim(), at: start });
  return out;
}

const CLASSES = new Set(['IN', 'CH', 'HS']);

/**
 * Parse trust anchors: DS or DNSKEY records in presentation form (`owner [ttl] [class] DS|DNSKEY …`, comments
 * after `;`, parentheses across lines), or a BIND `trust-anchors`/`managed-keys`/`trusted-keys` clause
 * (`"." initial-ds 20326 8 2 "E06D…";`, `static-key`, `initial-key`).
 *
 * @param text - the file's contents
 * @param source - for messages, e.g. the file name
 * @returns the anchors, grouped by zone
 * @throws {ValidationError} for text that is not a string, a line that is neither, a bad number, bad hex or
 *   base64, or no anchors at all
 * @example
 * ```ts
 * parseTrustAnchors('. IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D', 'anchor.ds');
 * ```
 */
export function parseTrustAnchors(text: string, source = 'trust anchor file'): TrustAnchor[] {
  checkString(text, 'trust anchor text');
  if (typeof source !== 'string') source = 'trust anchor file';
  const byZone = new Map<string, TrustAnchor>();
  const add = (owner: string, kind: 'DS' | 'DNSKEY', fields: string[], where: string) => {
    let zone: string;
    try {
      nameToWire(owner);
      zone = canonicalName(owner);
    } catch (err) {
      throw new ValidationError(`${where}: ${(err as Error).message}`);
    }
    let anchor = byZone.get(zone);
    if (!anchor) {
      anchor = { zone, ds: [], dnskey: [] };
      byZone.set(zone, anchor);
    }
    if (kind === 'DS') {
      const tag = u8(fields[0], 'key tag', where, 65535);
      const alg = algorithmNumber(fields[1] ?? '', where);
      const digestType = u8(fields[2], 'digest type', where);
      const hex = fields.slice(3).join('');
      if (!/^([0-9a-fA-F]{2})+$/.test(hex))
        throw new ValidationError(`${where}: invalid DS digest (expected hex)`);
      const rdata = Uint8Array.from([tag >> 8, tag & 0xff, alg, digestType, ...Buffer.from(hex, 'hex')]);
      parseDs(rdata);
      anchor.ds.push(rdata);
    } else {
      const flags = u8(fields[0], 'DNSKEY flags', where, 65535);
      const protocol = u8(fields[1], 'DNSKEY protocol', where);
      const alg = algorithmNumber(fields[2] ?? '', where);
      const b64 = fields.slice(3).join('');
      if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64))
        throw new ValidationError(`${where}: invalid DNSKEY key (expected base64)`);
      const rdata = Uint8Array.from([flags >> 8, flags & 0xff, protocol, alg, ...Buffer.from(b64, 'base64')]);
      parseDnskey(rdata);
      anchor.dnskey.push(rdata);
    }
  };

  const isBind = /\b(trust-anchors|managed-keys|trusted-keys)\s*\{/.test(text);
  if (isBind) {
    const body = text.replace(/(\/\/|#).*$/gm, '').replace(/\/\*[\s\S]*?\*\//g, '');
    const re =
      /"?([^"\s;{}]+)"?\s+(initial-ds|static-ds|initial-key|static-key)?\s*(\d+)\s+(\d+)\s+(\w+)\s+(?:(\d+)\s+)?"([^"]+)"\s*;/g;
    for (const m of body.matchAll(re)) {
      const [, owner, kind, a, b, c, d, data] = m as unknown as string[];
      const isDs = (kind ?? '').endsWith('-ds');
      const where = `${source}: anchor for ${owner}`;
      if (isDs)
        add(
          owner as string,
          'DS',
          [a as string, b as string, c as string, (data as string).replace(/\s+/g, '')],
          where,
        );
      else {
        // initial-key/static-key: flags protocol algorithm "base64" (no extra number)
        add(
          owner as string,
          'DNSKEY',
          [a as string, b as string, c as string, ...(d ? [d] : []), (data as string).replace(/\s+/g, '')],
          where,
        );
      }
    }
  } else {
    for (const { line, at } of logicalLines(text)) {
      const where = `${source} line ${at}`;
      const tokens = line.split(/\s+/);
      const owner = tokens.shift() as string;
      let i = 0;
      while (
        i < 2 &&
        tokens[i] !== undefined &&
        (/^\d+$/.test(tokens[i] as string) || CLASSES.has((tokens[i] as string).toUpperCase()))
      ) {
        i++;
      }
      const type = (tokens[i] ?? '').toUpperCase();
      if (type !== 'DS' && type !== 'DNSKEY') {
        throw new ValidationError(`${where}: expected a DS or DNSKEY record, got '${line.slice(0, 60)}'`);
      }
      add(owner, type, tokens.slice(i + 1), where);
    }
  }
  if (byZone.size === 0) throw new ValidationError(`${source}: no DS or DNSKEY records found`);
  return [...byZone.values()];
}
