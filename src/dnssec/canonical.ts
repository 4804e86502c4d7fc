/**
 * Canonical forms (RFC 4034 §6, as amended by RFC 6840 §5.1): the order of names (§6.1), the canonical form of
 * a record (§6.2: owner and the names inside certain RDATA lower-cased, never compressed) and of an RRset
 * (§6.3: records sorted by their canonical RDATA, duplicates removed) — the bytes an RRSIG signs.
 *
 * @module
 */
import { parseDnsName } from '../codec/dns-name.js';
import { BadPacketError } from '../core/errors.js';
import { canonicalWire, type DnssecRecord, lowerWire, nameLength, type Rrsig } from './records.js';

/** Labels of a name, lower-cased, root last (none for the root). */
export function canonicalLabels(name: string): Uint8Array[] {
  return parseDnsName(name).map((label) => {
    const out = Uint8Array.from(label);
    for (let i = 0; i < out.length; i++) {
      const c = out[i] as number;
      if (c >= 0x41 && c <= 0x5a) out[i] = c + 32;
    }
    return out;
  });
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = (a[i] as number) - (b[i] as number);
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

/**
 * Canonical DNS name order (RFC 4034 §6.1): compare label by label from the right, each label as lower-cased
 * bytes; a name sorts before its own subdomains.
 *
 * @returns negative, zero or positive, like a sort comparator
 * @example
 * ```ts
 * compareNames('a.example.', 'Z.a.example.') < 0; // true
 * compareNames('z.example.', 'a.z.example.') < 0; // true
 * ```
 */
export function compareNames(a: string, b: string): number {
  return compareLabels(canonicalLabels(a), canonicalLabels(b));
}

/** {@link compareNames} on labels already lower-cased. */
export function compareLabels(a: readonly Uint8Array[], b: readonly Uint8Array[]): number {
  let i = a.length - 1;
  let j = b.length - 1;
  while (i >= 0 && j >= 0) {
    const d = compareBytes(a[i] as Uint8Array, b[j] as Uint8Array);
    if (d !== 0) return d;
    i--;
    j--;
  }
  return a.length - b.length;
}

/**
 * Whether `name` is `ancestor` or below it (ASCII case-insensitive).
 *
 * @example
 * ```ts
 * isSubdomain('www.example.test.', 'example.test.'); // true
 * isSubdomain('example.test.', 'example.test.'); // true
 * ```
 */
export function isSubdomain(name: string, ancestor: string): boolean {
  const a = canonicalLabels(name);
  const b = canonicalLabels(ancestor);
  if (b.length > a.length) return false;
  for (let k = 1; k <= b.length; k++) {
    if (compareBytes(a[a.length - k] as Uint8Array, b[b.length - k] as Uint8Array) !== 0) return false;
  }
  return true;
}

/** Number of labels, the root not counted (`www.example.test.` → 3, `.` → 0). */
export function labelCount(name: string): number {
  return parseDnsName(name).length;
}

/**
 * The name with its leftmost `n` labels removed (`www.example.test.`, 1 → `example.test.`).
 */
export function stripLabels(name: string, n: number): string {
  const labels = splitLabels(name);
  return joinLabels(labels.slice(n));
}

/** The presentation labels of a name (escapes kept), root excluded. */
export function splitLabels(name: string): string[] {
  if (name === '.' || name === '') return [];
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < name.length; i++) {
    const c = name[i] as string;
    if (c === '\\') {
      cur += c + (name[i + 1] ?? '');
      i++;
    } else if (c === '.') {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  if (cur) out.push(cur);
  return out;
}

/** Presentation labels back to an absolute name. */
export function joinLabels(labels: readonly string[]): string {
  return labels.length === 0 ? '.' : `${labels.join('.')}.`;
}

/** The parent of a name (`.` for a TLD; `.` for the root itself). */
export function parentName(name: string): string {
  return stripLabels(name, 1);
}

/**
 * Types whose RDATA names are lower-cased in canonical form (RFC 4034 §6.2 item 3 without NSEC, RFC 6840
 * §5.1), and how to find those names: a list of steps over the RDATA.
 */
type Step = { fixed: number } | 'name' | 'string' | 'a6';

const NAME_LAYOUT: ReadonlyMap<number, readonly Step[]> = new Map<number, Step[]>([
  [2, ['name']], // NS
  [3, ['name']], // MD
  [4, ['name']], // MF
  [5, ['name']], // CNAME
  [6, ['name', 'name']], // SOA (then 20 fixed bytes)
  [7, ['name']], // MB
  [8, ['name']], // MG
  [9, ['name']], // MR
  [12, ['name']], // PTR
  [14, ['name', 'name']], // MINFO
  [15, [{ fixed: 2 }, 'name']], // MX
  [17, ['name', 'name']], // RP
  [18, [{ fixed: 2 }, 'name']], // AFSDB
  [21, [{ fixed: 2 }, 'name']], // RT
  [24, [{ fixed: 18 }, 'name']], // SIG
  [26, [{ fixed: 2 }, 'name', 'name']], // PX
  [30, ['name']], // NXT
  [33, [{ fixed: 6 }, 'name']], // SRV
  [35, [{ fixed: 4 }, 'string', 'string', 'string', 'name']], // NAPTR
  [36, [{ fixed: 2 }, 'name']], // KX
  [38, ['a6']], // A6
  [39, ['name']], // DNAME
  [46, [{ fixed: 18 }, 'name']], // RRSIG
]);

/**
 * The canonical form of a record's RDATA: for the types of RFC 4034 §6.2 (less NSEC), the names inside it
 * lower-cased; other types unchanged.
 *
 * @throws {BadPacketError} when the RDATA does not have the layout of its type
 * @example
 * ```ts
 * canonicalRdata(5, nameToWire('WWW.Example.TEST')); // bytes of 'www.example.test.'
 * ```
 */
export function canonicalRdata(type: number, rdata: Uint8Array): Uint8Array {
  const layout = NAME_LAYOUT.get(type);
  if (!layout) return rdata;
  const out = Uint8Array.from(rdata);
  let p = 0;
  const what = `type ${type}`;
  for (const step of layout) {
    if (step === 'name') {
      const n = nameLength(rdata, p, what);
      out.set(lowerWire(rdata.subarray(p, p + n)), p);
      p += n;
    } else if (step === 'string') {
      const len = rdata[p];
      if (len === undefined) throw new BadPacketError(`Malformed ${what} record: a string runs past the end`);
      p += 1 + len;
    } else if (step === 'a6') {
      const prefix = rdata[0];
      if (prefix === undefined || prefix > 128)
        throw new BadPacketError('Malformed A6 record: bad prefix length');
      p = 1 + Math.ceil((128 - prefix) / 8);
      if (prefix > 0) {
        const n = nameLength(rdata, p, what);
        out.set(lowerWire(rdata.subarray(p, p + n)), p);
        p += n;
      }
    } else {
      p += step.fixed;
    }
    if (p > rdata.length) throw new BadPacketError(`Malformed ${what} record: RDATA shorter than its fields`);
  }
  return out;
}

/**
 * The data an RRSIG signs (RFC 4034 §3.1.8.1, §6.2, §6.3): the RRSIG's fields (without the signature, signer
 * lower-cased), then each record of the RRset in canonical order — owner lower-cased (and, for a wildcard
 * expansion, rebuilt as `*.` + the RRSIG's `labels` rightmost labels), type, class, the RRSIG's original
 * TTL, RDATA length and canonical RDATA — with duplicates removed.
 *
 * @param sig - the RRSIG
 * @param rrset - the records it covers (same owner, type and class)
 * @returns the bytes to verify the signature against
 * @throws {BadPacketError} for RDATA that does not match its type's layout
 * @example
 * ```ts
 * const data = signedData(parseRrsig(sigRecord.rdata), aRecords);
 * ```
 */
export function signedData(sig: Rrsig, rrset: readonly DnssecRecord[]): Uint8Array {
  const first = rrset[0];
  if (!first) return sig.signedFields;
  const owner = signedOwner(first.name, sig.labels);
  const ownerWire = canonicalWire(owner);
  const rdatas = rrset.map((r) => canonicalRdata(r.type, r.rdata));
  rdatas.sort(compareBytes);
  const unique = rdatas.filter((r, i) => i === 0 || compareBytes(r, rdatas[i - 1] as Uint8Array) !== 0);
  let size = sig.signedFields.length;
  for (const r of unique) size += ownerWire.length + 10 + r.length;
  const out = new Uint8Array(size);
  out.set(sig.signedFields, 0);
  let p = sig.signedFields.length;
  const view = new DataView(out.buffer);
  for (const r of unique) {
    out.set(ownerWire, p);
    p += ownerWire.length;
    view.setUint16(p, first.type);
    view.setUint16(p + 2, first.class);
    view.setUint32(p + 4, sig.originalTtl);
    view.setUint16(p + 8, r.length);
    p += 10;
    out.set(r, p);
    p += r.length;
  }
  return out;
}

/**
 * The owner name as signed: the owner itself, or for a wildcard expansion (fewer RRSIG labels than the owner
 * has) `*.` followed by its `labels` rightmost labels (RFC 4035 §5.3.2).
 */
export function signedOwner(owner: string, labels: number): string {
  const parts = splitLabels(owner);
  const n = parts[0] === '*' ? parts.length - 1 : parts.length;
  if (labels >= n) return owner;
  return joinLabels(['*', ...parts.slice(parts.length - labels)]);
}
