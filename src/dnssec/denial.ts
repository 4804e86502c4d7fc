/**
 * Authenticated denial of existence: what a set of **already verified** NSEC (RFC 4035 §5.4, RFC 6840 §4) or
 * NSEC3 (RFC 5155 §8) records proves about a name — that it does not exist (NXDOMAIN), that it has no records
 * of a type (NODATA, including at a wildcard and at an empty non-terminal), that a wildcard expansion was
 * legitimate, or that a delegation has no DS (an unsigned child; with NSEC3 opt-out, possibly one).
 *
 * The caller verifies each NSEC/NSEC3 RRset's signature first; these functions only reason about names.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { canonicalLabels, compareLabels, isSubdomain, joinLabels, splitLabels } from './canonical.js';
import { canonicalWire, type Nsec, type Nsec3, T } from './records.js';

/** A verified NSEC: owner and RDATA. */
export interface NsecProof {
  owner: string;
  nsec: Nsec;
}

/** A verified NSEC3: owner (hash label + zone) and RDATA. */
export interface Nsec3Proof {
  owner: string;
  nsec3: Nsec3;
}

/** What a denial proves. */
export type Denial =
  | { ok: true; kind: 'nxdomain' | 'nodata' | 'wildcard-nodata' | 'ent-nodata'; closestEncloser?: string }
  /** A DS query's answer: the name is a delegation without DS (an unsigned child zone). */
  | { ok: true; kind: 'unsigned-delegation' }
  /** NSEC3 opt-out covers the name: an unsigned delegation may exist there; the answer is insecure. */
  | { ok: true; kind: 'opt-out'; closestEncloser: string }
  /** NSEC3 with more iterations than validators accept (RFC 9276): treated as insecure. */
  | { ok: true; kind: 'too-many-iterations'; iterations: number }
  | { ok: false; reason: string };

/** Most NSEC3 iterations accepted (BIND and Unbound treat more as insecure, RFC 9276 §3.2). */
export const MAX_NSEC3_ITERATIONS = 150;

/** The longest common ancestor of two names (presentation labels compared case-insensitively). */
function commonAncestor(a: string, b: string): string {
  const la = splitLabels(a);
  const lb = splitLabels(b);
  const ca = canonicalLabels(a);
  const cb = canonicalLabels(b);
  let n = 0;
  while (n < la.length && n < lb.length) {
    const x = ca[ca.length - 1 - n] as Uint8Array;
    const y = cb[cb.length - 1 - n] as Uint8Array;
    if (x.length !== y.length || x.some((v, i) => v !== y[i])) break;
    n++;
  }
  return joinLabels(la.slice(la.length - n));
}

function cmp(a: string, b: string): number {
  return compareLabels(canonicalLabels(a), canonicalLabels(b));
}

/**
 * Whether an NSEC at `owner` with next name `next` covers `name`: `owner < name < next` in canonical order,
 * or, for the last NSEC of the zone (whose next name is the apex), `name > owner`.
 *
 * @example
 * ```ts
 * nsecCovers('a.example.', 'c.example.', 'b.example.'); // true
 * ```
 */
export function nsecCovers(owner: string, next: string, name: string): boolean {
  const o = cmp(owner, name);
  if (o >= 0) return false;
  const last = cmp(next, owner) <= 0;
  return last ? true : cmp(name, next) < 0;
}

/** An NSEC/NSEC3 at a delegation point (NS without SOA) or with a DNAME proves nothing below its owner. */
function ancestorBlocks(types: Set<number>): boolean {
  return (types.has(T.NS) && !types.has(T.SOA)) || types.has(T.DNAME);
}

/** The NSEC that covers `name` without being an ancestor delegation (RFC 6840 §4.1). */
function nsecCovering(proofs: readonly NsecProof[], name: string): NsecProof | undefined {
  return proofs.find(
    (p) =>
      nsecCovers(p.owner, p.nsec.next, name) &&
      !(isSubdomain(name, p.owner) && ancestorBlocks(p.nsec.types)) &&
      // an NSEC whose next name lies below `name` proves `name` is an empty non-terminal, not absent
      !isSubdomain(p.nsec.next, name),
  );
}

function nsecMatching(proofs: readonly NsecProof[], name: string): NsecProof | undefined {
  return proofs.find((p) => cmp(p.owner, name) === 0);
}

function typeAbsent(types: Set<number>, qtype: number): boolean {
  return !types.has(qtype) && !types.has(T.CNAME);
}

/**
 * What NSEC records prove for `qname`/`qtype` in a negative answer.
 *
 * @param proofs - verified NSECs from the authority section
 * @param qname - the name asked (the last name of a CNAME chain)
 * @param qtype - the type asked
 * @param nxdomain - whether the answer said NXDOMAIN (else NODATA)
 * @example
 * ```ts
 * nsecDenial(proofs, 'nosuch.example.test.', 1, true); // { ok: true, kind: 'nxdomain', ... }
 * ```
 */
export function nsecDenial(
  proofs: readonly NsecProof[],
  qname: string,
  qtype: number,
  nxdomain: boolean,
): Denial {
  if (proofs.length === 0) return { ok: false, reason: 'no NSEC records' };
  if (nxdomain) {
    const cover = nsecCovering(proofs, qname);
    if (!cover) return { ok: false, reason: `no NSEC proves that ${qname} does not exist` };
    const ce = longer(commonAncestor(qname, cover.owner), commonAncestor(qname, cover.nsec.next));
    const wildcard = joinLabels(['*', ...splitLabels(ce)]);
    if (nsecMatching(proofs, wildcard)) return { ok: false, reason: `the wildcard ${wildcard} exists` };
    if (!nsecCovering(proofs, wildcard))
      return { ok: false, reason: `no NSEC proves that ${wildcard} does not exist` };
    return { ok: true, kind: 'nxdomain', closestEncloser: ce };
  }
  const match = nsecMatching(proofs, qname);
  if (match) {
    const types = match.nsec.types;
    if (qtype === T.DS) {
      if (types.has(T.DS)) return { ok: false, reason: `the NSEC at ${match.owner} lists DS` };
      if (types.has(T.SOA) && cmp(match.owner, '.') !== 0) {
        return { ok: false, reason: `the NSEC at ${match.owner} is from the child zone, not its parent` };
      }
      if (types.has(T.CNAME)) return { ok: false, reason: `the NSEC at ${match.owner} lists CNAME` };
      return types.has(T.NS) ? { ok: true, kind: 'unsigned-delegation' } : { ok: true, kind: 'nodata' };
    }
    if (types.has(T.NS) && !types.has(T.SOA)) {
      return { ok: false, reason: `the NSEC at ${match.owner} is the parent's side of a delegation` };
    }
    if (!typeAbsent(types, qtype))
      return { ok: false, reason: `the NSEC at ${match.owner} lists the type asked for` };
    return { ok: true, kind: 'nodata' };
  }
  // An empty non-terminal: an NSEC whose next name is below qname.
  const ent = proofs.find((p) => nsecCovers(p.owner, p.nsec.next, qname) && isSubdomain(p.nsec.next, qname));
  if (ent) return { ok: true, kind: 'ent-nodata' };
  // A wildcard NODATA: qname does not exist, the wildcard at its closest encloser has no such type.
  const cover = nsecCovering(proofs, qname);
  if (cover) {
    const ce = longer(commonAncestor(qname, cover.owner), commonAncestor(qname, cover.nsec.next));
    const wildcard = joinLabels(['*', ...splitLabels(ce)]);
    const wild = nsecMatching(proofs, wildcard);
    if (wild && typeAbsent(wild.nsec.types, qtype))
      return { ok: true, kind: 'wildcard-nodata', closestEncloser: ce };
  }
  return {
    ok: false,
    reason: `no NSEC proves that ${qname} has no ${qtype === T.DS ? 'DS' : 'records of that type'}`,
  };
}

function longer(a: string, b: string): string {
  return splitLabels(a).length >= splitLabels(b).length ? a : b;
}

/**
 * Whether NSEC records prove that no name closer to `qname` than the wildcard's parent exists (RFC 4035
 * §5.3.4), for an answer expanded from a wildcard whose RRSIG has `labels` labels.
 */
export function nsecWildcardProof(proofs: readonly NsecProof[], qname: string, labels: number): boolean {
  const parts = splitLabels(qname);
  const nextCloser = joinLabels(parts.slice(parts.length - labels - 1));
  return nsecCovering(proofs, nextCloser) !== undefined;
}

// ---- NSEC3 -------------------------------------------------------------------------------------------------

const B32 = '0123456789abcdefghijklmnopqrstuv';

/** Base32 with the extended hex alphabet (RFC 4648 §7), lower case, no padding: NSEC3 owner labels. */
export function base32hex(bytes: Uint8Array): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += B32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += B32[(value << (5 - bits)) & 31];
  return out;
}

/** Decode base32hex (either case, no padding); `undefined` for a character outside the alphabet. */
export function fromBase32hex(text: string): Uint8Array | undefined {
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (const c of text.toLowerCase()) {
    const v = B32.indexOf(c);
    if (v < 0) return undefined;
    value = ((value << 5) | v) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Uint8Array.from(out);
}

/**
 * The NSEC3 hash of a name (RFC 5155 §5): SHA-1 over the canonical wire name and the salt, then again over
 * the previous digest and the salt, `iterations` more times.
 *
 * @example
 * ```ts
 * base32hex(nsec3Hash('example.', Buffer.from('aabbccdd', 'hex'), 12)); // '0p9mhaveqvm6t7vbl5lop2u3t2rp3tom' (RFC 5155 Appendix A)
 * ```
 */
export function nsec3Hash(name: string, salt: Uint8Array, iterations: number): Uint8Array {
  let digest = createHash('sha1').update(canonicalWire(name)).update(salt).digest();
  for (let i = 0; i < iterations; i++) digest = createHash('sha1').update(digest).update(salt).digest();
  return digest;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = (a[i] as number) - (b[i] as number);
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

interface Hashed {
  proof: Nsec3Proof;
  ownerHash: Uint8Array;
}

/** NSEC3 reasoning over the proofs of one zone with one parameter set. */
class Nsec3Set {
  readonly #items: Hashed[];
  readonly #zone: string;
  readonly #salt: Uint8Array;
  readonly #iterations: number;
  readonly #cache = new Map<string, Uint8Array>();

  constructor(items: Hashed[], zone: string, salt: Uint8Array, iterations: number) {
    this.#items = items;
    this.#zone = zone;
    this.#salt = salt;
    this.#iterations = iterations;
  }

  hash(name: string): Uint8Array {
    const key = name.toLowerCase();
    let h = this.#cache.get(key);
    if (!h) {
      h = nsec3Hash(name, this.#salt, this.#iterations);
      this.#cache.set(key, h);
    }
    return h;
  }

  matching(name: string): Nsec3Proof | undefined {
    const h = this.hash(name);
    return this.#items.find((i) => compareBytes(i.ownerHash, h) === 0)?.proof;
  }

  covering(name: string): Nsec3Proof | undefined {
    const h = this.hash(name);
    return this.#items.find((i) => {
      const next = i.proof.nsec3.nextHashed;
      const o = compareBytes(i.ownerHash, h);
      if (o >= 0) return false;
      const last = compareBytes(next, i.ownerHash) <= 0;
      return last ? true : compareBytes(h, next) < 0;
    })?.proof;
  }

  /** RFC 5155 §8.3: the closest encloser of `name`, and the NSEC3 covering the next closer name. */
  closestEncloser(name: string): { ce: string; nextCloser: string; cover: Nsec3Proof } | { reason: string } {
    const parts = splitLabels(name);
    const zoneLabels = splitLabels(this.#zone).length;
    for (let i = 1; parts.length - i >= zoneLabels; i++) {
      const ce = joinLabels(parts.slice(i));
      const match = this.matching(ce);
      if (!match) continue;
      if (cmp(ce, this.#zone) !== 0 && ancestorBlocks(match.nsec3.types)) {
        return { reason: `the NSEC3 matching ${ce} is from a delegation point or a DNAME` };
      }
      const nextCloser = joinLabels(parts.slice(i - 1));
      const cover = this.covering(nextCloser);
      if (!cover) return { reason: `no NSEC3 covers the next closer name ${nextCloser}` };
      return { ce, nextCloser, cover };
    }
    return { reason: `no NSEC3 matches an ancestor of ${name} (no closest encloser)` };
  }
}

/**
 * Group NSEC3 proofs of the zone: same hash algorithm (SHA-1 only), salt and iterations (RFC 5155 §8.2:
 * records with other parameters or an unknown hash are ignored).
 */
function nsec3Set(
  proofs: readonly Nsec3Proof[],
  zone: string,
): Nsec3Set | { reason: string } | { iterations: number } {
  const usable = proofs.filter((p) => p.nsec3.hashAlgorithm === 1 && (p.nsec3.flags & 0xfe) === 0);
  const first = usable[0];
  if (!first) return { reason: 'no NSEC3 records with a known hash algorithm' };
  if (first.nsec3.iterations > MAX_NSEC3_ITERATIONS) return { iterations: first.nsec3.iterations };
  const same = usable.filter(
    (p) =>
      p.nsec3.iterations === first.nsec3.iterations && compareBytes(p.nsec3.salt, first.nsec3.salt) === 0,
  );
  const items: Hashed[] = [];
  for (const p of same) {
    const parts = splitLabels(p.owner);
    if (cmp(joinLabels(parts.slice(1)), zone) !== 0) continue;
    const ownerHash = fromBase32hex(parts[0] ?? '');
    if (!ownerHash || ownerHash.length !== p.nsec3.nextHashed.length) continue;
    items.push({ proof: p, ownerHash });
  }
  if (items.length === 0) return { reason: `no NSEC3 records of the zone ${zone}` };
  return new Nsec3Set(items, zone, first.nsec3.salt, first.nsec3.iterations);
}

/**
 * What NSEC3 records of `zone` prove for `qname`/`qtype` in a negative answer.
 *
 * @param proofs - verified NSEC3 records from the authority section
 * @param zone - the zone that signed them
 * @example
 * ```ts
 * nsec3Denial(proofs, 'example.', 'nosuch.example.', 1, true); // { ok: true, kind: 'nxdomain', ... }
 * ```
 */
export function nsec3Denial(
  proofs: readonly Nsec3Proof[],
  zone: string,
  qname: string,
  qtype: number,
  nxdomain: boolean,
): Denial {
  const set = nsec3Set(proofs, zone);
  if ('iterations' in set) return { ok: true, kind: 'too-many-iterations', iterations: set.iterations };
  if ('reason' in set) return { ok: false, reason: set.reason };
  if (nxdomain) {
    const ce = set.closestEncloser(qname);
    if ('reason' in ce) return { ok: false, reason: ce.reason };
    const wildcard = joinLabels(['*', ...splitLabels(ce.ce)]);
    if (set.matching(wildcard)) return { ok: false, reason: `the wildcard ${wildcard} exists` };
    if (!set.covering(wildcard)) return { ok: false, reason: `no NSEC3 covers the wildcard ${wildcard}` };
    return { ok: true, kind: 'nxdomain', closestEncloser: ce.ce };
  }
  const match = set.matching(qname);
  if (match) {
    const types = match.nsec3.types;
    if (qtype === T.DS) {
      if (types.has(T.DS)) return { ok: false, reason: `the NSEC3 matching ${qname} lists DS` };
      if (types.has(T.SOA) && splitLabels(qname).length > 0) {
        return { ok: false, reason: `the NSEC3 matching ${qname} is from the child zone, not its parent` };
      }
      if (types.has(T.CNAME)) return { ok: false, reason: `the NSEC3 matching ${qname} lists CNAME` };
      return types.has(T.NS) ? { ok: true, kind: 'unsigned-delegation' } : { ok: true, kind: 'nodata' };
    }
    if (types.has(T.NS) && !types.has(T.SOA)) {
      return { ok: false, reason: `the NSEC3 matching ${qname} is the parent's side of a delegation` };
    }
    if (!typeAbsent(types, qtype))
      return { ok: false, reason: `the NSEC3 matching ${qname} lists the type asked for` };
    return { ok: true, kind: 'nodata' };
  }
  const ce = set.closestEncloser(qname);
  if ('reason' in ce) return { ok: false, reason: ce.reason };
  if (qtype === T.DS && ce.cover.nsec3.optOut) return { ok: true, kind: 'opt-out', closestEncloser: ce.ce };
  const wildcard = joinLabels(['*', ...splitLabels(ce.ce)]);
  const wild = set.matching(wildcard);
  if (wild && typeAbsent(wild.nsec3.types, qtype)) {
    return { ok: true, kind: 'wildcard-nodata', closestEncloser: ce.ce };
  }
  return { ok: false, reason: `no NSEC3 proves that ${qname} has no records of that type` };
}

/**
 * Whether NSEC3 records prove that the next closer name of a wildcard expansion does not exist (RFC 5155
 * §8.8). `optOut` is reported: an opt-out span makes the expansion insecure.
 */
export function nsec3WildcardProof(
  proofs: readonly Nsec3Proof[],
  zone: string,
  qname: string,
  labels: number,
): { ok: boolean; optOut: boolean; reason?: string } {
  const set = nsec3Set(proofs, zone);
  if ('iterations' in set)
    return { ok: true, optOut: true, reason: `NSEC3 with ${set.iterations} iterations` };
  if ('reason' in set) return { ok: false, optOut: false, reason: set.reason };
  const parts = splitLabels(qname);
  const nextCloser = joinLabels(parts.slice(parts.length - labels - 1));
  const cover = set.covering(nextCloser);
  if (!cover)
    return { ok: false, optOut: false, reason: `no NSEC3 covers the next closer name ${nextCloser}` };
  return { ok: true, optOut: cover.nsec3.optOut };
}
