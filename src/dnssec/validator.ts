/**
 * DNSSEC validation (RFC 4033–4035, RFC 5155, RFC 6840): from a trust anchor down a chain of DS and DNSKEY
 * records to the zone that signed an answer, then the answer itself — every RRset's RRSIG, wildcard
 * expansions, CNAME/DNAME chains, and the NSEC/NSEC3 proofs of a negative answer. The verdict is `secure`,
 * `insecure` (with the unsigned delegation that makes it so) or `bogus` (with the precise reason: which RRSIG,
 * which key, expired, wrong signer, no DS match, missing proof, ...).
 *
 * The validator does not know how to reach servers: it asks a {@link DnssecFetch} function for the DS and
 * DNSKEY records it needs. The iterative `trace` hands it one that asks the zone's own servers; the resolver
 * mode one that asks a recursive resolver with DO and CD set.
 *
 * @module
 */
import { formatDnsName, wireToLabels } from '../codec/dns-name.js';
import { dnsRcodeName, dnsTypeName } from '../codec/dns-types.js';
import { toSoketError, ValidationError } from '../core/errors.js';
import { checkFunction, checkObject } from '../core/validate.js';
import { isSubdomain, joinLabels, labelCount, signedData, splitLabels } from './canonical.js';
import { algorithmSupported, DIGEST_TYPES, digestSupported, dsDigest, verifySignature } from './crypto.js';
import {
  type Denial,
  type Nsec3Proof,
  type NsecProof,
  nsec3Denial,
  nsec3WildcardProof,
  nsecDenial,
  nsecWildcardProof,
} from './denial.js';
import {
  algorithmText,
  canonicalName,
  type Dnskey,
  type DnssecRecord,
  type Ds,
  parseDnskey,
  parseDs,
  parseNsec,
  parseNsec3,
  parseRrsig,
  type Rrsig,
  T,
} from './records.js';
import { checkTrustAnchors, rootTrustAnchors, type TrustAnchor } from './trust-anchor.js';

/** The outcome of validation (RFC 4033 §5; "indeterminate" is reported as `insecure` with its reason). */
export type DnssecStatus = 'secure' | 'insecure' | 'bogus';

/** The sections of a response that validation reads. */
export interface DnssecMessage {
  /** Response code (0 NOERROR, 3 NXDOMAIN, ...). */
  rcode: number;
  answer: readonly DnssecRecord[];
  authority: readonly DnssecRecord[];
}

/**
 * Fetches records the validator needs (DS at a name, DNSKEY of a zone). Throws when no answer can be had.
 */
export type DnssecFetch = (name: string, type: number) => Promise<DnssecMessage>;

/** A zone's standing in the chain of trust. */
export interface ZoneTrust {
  /** The zone, canonical (`secure.example.`). */
  zone: string;
  status: DnssecStatus;
  /** The zone's validated keys (secure zones only). */
  keys: readonly Dnskey[];
  /** Why: `DNSKEY set signed by key 20326 (RSASHA256), which matches DS 20326/SHA-256`. */
  reason: string;
  /** For an insecure zone: the delegation proved to have no DS (or the name no anchor covers). */
  insecureAt?: string;
}

/** One RRset or proof that was checked. */
export interface DnssecCheck {
  /** What was checked: `A www.example.test.`, `NXDOMAIN nosuch.example.test.`, `DS example.test.`. */
  what: string;
  status: DnssecStatus;
  reason: string;
  /** The zone whose keys were used. */
  zone?: string;
  /** Key tag and algorithm of the key whose signature verified. */
  keyTag?: number;
  algorithm?: number;
  /** For `insecure`: the unsigned delegation. */
  insecureAt?: string;
}

/** The verdict on an answer. */
export interface DnssecVerdict {
  status: DnssecStatus;
  /** One line: why `secure`, why `insecure`, or exactly what is `bogus`. */
  reason: string;
  /** For `insecure`: the unsigned delegation (or the name no trust anchor covers). */
  insecureAt?: string;
  /** Every RRset and proof checked, in order. */
  checks: DnssecCheck[];
  /** The zones of the chain of trust that were used, anchor first. */
  chain: ZoneTrust[];
  /** Trace mode: a CNAME/DNAME led out of the answering zone to this name; resolve it and validate that. */
  follow?: string;
}

/** What the validator reports as it works (the trace shows these). */
export type DnssecEvent =
  | {
      kind: 'keys';
      zone: string;
      status: DnssecStatus;
      reason: string;
      keys: { keyTag: number; algorithm: number; flags: number }[];
    }
  | {
      kind: 'delegation';
      parent: string;
      child: string;
      /** `signed`: a verified DS; `unsigned`: proved without DS; `not-a-cut`: no delegation at that name. */
      result: 'signed' | 'unsigned' | 'not-a-cut' | 'nonexistent' | 'bogus';
      reason: string;
    };

/** Options of {@link ChainValidator}. */
export interface ChainValidatorOptions {
  /** Where to fetch DS and DNSKEY records. */
  fetch: DnssecFetch;
  /** Trust anchors. @default the root KSKs' DS ({@link rootTrustAnchors}) */
  anchors?: readonly TrustAnchor[];
  /** The time for signature validity windows, in seconds since 1970. @default the system clock */
  now?: () => number;
  /** Called for each zone's keys and each delegation judged. */
  onEvent?: (event: DnssecEvent) => void;
}

/** The ANY query type. */
const ANY = 255;

/** Longest CNAME/DNAME chain followed inside one answer. */
const MAX_CHAIN = 16;

function sameName(a: string, b: string): boolean {
  return canonicalName(a) === canonicalName(b);
}

/** RFC 1982 serial arithmetic on 32-bit times: a ≤ b. */
function serialLe(a: number, b: number): boolean {
  return (b - a) >>> 0 < 0x80000000;
}

function isoTime(t: number, now: number): string {
  // Unfold a 32-bit time to the era closest to now.
  let full = t;
  while (full < now - 0x80000000) full += 0x100000000;
  return new Date(full * 1000).toISOString().replace('.000Z', 'Z');
}

function rrsetOf(records: readonly DnssecRecord[], name: string, type: number): DnssecRecord[] {
  return records.filter((r) => r.type === type && sameName(r.name, name));
}

function sigsOf(
  records: readonly DnssecRecord[],
  name: string,
  type: number,
): { record: DnssecRecord; sig: Rrsig }[] {
  const out: { record: DnssecRecord; sig: Rrsig }[] = [];
  for (const r of records) {
    if (r.type !== T.RRSIG || !sameName(r.name, name)) continue;
    let sig: Rrsig;
    try {
      sig = parseRrsig(r.rdata);
    } catch {
      continue;
    }
    if (sig.typeCovered === type) out.push({ record: r, sig });
  }
  return out;
}

function worst(a: DnssecStatus, b: DnssecStatus): DnssecStatus {
  if (a === 'bogus' || b === 'bogus') return 'bogus';
  if (a === 'insecure' || b === 'insecure') return 'insecure';
  return 'secure';
}

/** The name in a CNAME or DNAME RDATA (one uncompressed name). @throws {BadPacketError} when malformed */
function targetOf(record: DnssecRecord): string {
  return formatDnsName(wireToLabels(record.rdata));
}

/**
 * Validates answers against a chain of trust it builds on demand, caching each zone's standing.
 *
 * @example
 * ```ts
 * const validator = new ChainValidator({ fetch: (name, type) => askResolver(name, type) });
 * const verdict = await validator.validate('www.example.test.', 1, response);
 * verdict.status; // 'secure' | 'insecure' | 'bogus'
 * ```
 */
export class ChainValidator {
  readonly #fetch: DnssecFetch;
  readonly #anchors: readonly TrustAnchor[];
  readonly #now: () => number;
  readonly #onEvent: ((event: DnssecEvent) => void) | undefined;
  readonly #zones = new Map<string, Promise<ZoneTrust>>();
  readonly #notCut = new Set<string>();
  readonly #steps = new Map<string, Promise<ZoneTrust | 'not-a-cut' | 'nonexistent'>>();

  /**
   * @param options - where to fetch records, the trust anchors, the clock, an event callback
   * @throws {ValidationError} for options of the wrong type (`fetch` is required)
   */
  constructor(options: ChainValidatorOptions) {
    checkObject(options, 'validator options');
    const fetch = checkFunction(options.fetch, 'fetch');
    if (fetch === undefined)
      throw new ValidationError('A chain validator needs fetch (name, type) => message');
    this.#fetch = fetch;
    this.#anchors = checkTrustAnchors(options.anchors, 'anchors') ?? rootTrustAnchors();
    this.#now = checkFunction(options.now, 'now') ?? (() => Math.floor(Date.now() / 1000));
    this.#onEvent = checkFunction(options.onEvent, 'onEvent');
  }

  /** Zones judged so far, anchor first. */
  async chain(): Promise<ZoneTrust[]> {
    const all = await Promise.all(this.#zones.values());
    return all.sort((a, b) => labelCount(a.zone) - labelCount(b.zone));
  }

  // ---- the chain of trust ----------------------------------------------------------------------------------

  /**
   * The standing of the zone that contains `name`: walks down from the closest trust anchor, asking for the
   * DS at each name in between (a verified DS: a signed child; a proof without DS: an unsigned one, and
   * everything below is insecure; a name that is no zone cut: the walk goes on in the same zone).
   *
   * @returns the deepest zone found at or above `name`, and its standing
   */
  async trustFor(name: string): Promise<ZoneTrust> {
    const target = canonicalName(name);
    const anchor = [...this.#anchors]
      .filter((a) => isSubdomain(target, a.zone))
      .sort((a, b) => labelCount(b.zone) - labelCount(a.zone))[0];
    if (!anchor) {
      return {
        zone: target,
        status: 'insecure',
        keys: [],
        reason: `no trust anchor covers ${target}`,
        insecureAt: target,
      };
    }
    let cur = await this.#anchorTrust(anchor);
    const parts = splitLabels(target);
    const anchorDepth = labelCount(anchor.zone);
    for (let depth = anchorDepth + 1; depth <= parts.length; depth++) {
      if (cur.status !== 'secure') return cur;
      const n = joinLabels(parts.slice(parts.length - depth));
      const step = await this.#step(cur, n);
      if (step === 'nonexistent') return cur;
      if (step !== 'not-a-cut') cur = step;
    }
    return cur;
  }

  /**
   * Judge a delegation seen in a referral (trace mode): the DS RRset in the referral's authority section,
   * verified with the parent's keys, then the child's DNSKEY set against it; or the NSEC/NSEC3 proof that
   * there is no DS (an unsigned child). Without either, the DS is asked for explicitly.
   *
   * @param parent - the zone that sent the referral (already judged)
   * @param child - the delegated zone
   * @param referral - the referral response
   */
  async referral(parent: ZoneTrust, child: string, referral: DnssecMessage): Promise<ZoneTrust> {
    const key = canonicalName(child);
    const known = this.#zones.get(key);
    if (known) return known;
    if (parent.status !== 'secure') return parent;
    const hasDs = rrsetOf(referral.authority, child, T.DS).length > 0;
    const hasProof = referral.authority.some((r) => r.type === T.NSEC || r.type === T.NSEC3);
    if (!hasDs && !hasProof) {
      const step = await this.#step(parent, key);
      if (step === 'not-a-cut' || step === 'nonexistent') {
        return {
          ...parent,
          status: 'bogus',
          reason: `the referral to ${key} is not a delegation in ${parent.zone}`,
        };
      }
      return step;
    }
    const judged = this.#judgeDs(parent, key, referral.authority, {
      rcode: 0,
      answer: [],
      authority: referral.authority,
    });
    const out = await this.#afterJudge(parent, key, judged);
    if (out === 'not-a-cut' || out === 'nonexistent') {
      return {
        ...parent,
        status: 'bogus',
        reason: `the referral to ${key} is not a delegation in ${parent.zone}: ${judged.reason}`,
      };
    }
    return out;
  }

  async #anchorTrust(anchor: TrustAnchor): Promise<ZoneTrust> {
    const key = anchor.zone;
    let p = this.#zones.get(key);
    if (!p) {
      p = this.#keysFromParent(key, anchor.ds.map(parseDs), anchor.dnskey, 'the trust anchor');
      this.#zones.set(key, p);
    }
    return p;
  }

  #step(cur: ZoneTrust, name: string): Promise<ZoneTrust | 'not-a-cut' | 'nonexistent'> {
    const zone = this.#zones.get(name);
    if (zone) return zone;
    if (this.#notCut.has(name)) return Promise.resolve('not-a-cut');
    let p = this.#steps.get(name);
    if (!p) {
      p = this.#dsStep(cur, name);
      this.#steps.set(name, p);
    }
    return p;
  }

  async #dsStep(cur: ZoneTrust, name: string): Promise<ZoneTrust | 'not-a-cut' | 'nonexistent'> {
    let msg: DnssecMessage;
    try {
      msg = await this.#fetch(name, T.DS);
    } catch (err) {
      const reason = `cannot get the DS of ${name}: ${toSoketError(err).message}`;
      return this.#afterJudge(cur, name, { result: 'bogus', reason });
    }
    const judged = this.#judgeDs(cur, name, msg.answer, msg);
    return this.#afterJudge(cur, name, judged);
  }

  async #afterJudge(
    parent: ZoneTrust,
    name: string,
    judged: JudgedDs,
  ): Promise<ZoneTrust | 'not-a-cut' | 'nonexistent'> {
    this.#onEvent?.({
      kind: 'delegation',
      parent: parent.zone,
      child: name,
      result: judged.result,
      reason: judged.reason,
    });
    if (judged.result === 'not-a-cut' || judged.result === 'nonexistent') {
      this.#notCut.add(name);
      return judged.result;
    }
    let p: Promise<ZoneTrust>;
    if (judged.result === 'signed') {
      p = this.#keysFromParent(name, judged.ds, [], `the DS in ${parent.zone}`);
    } else if (judged.result === 'unsigned') {
      p = Promise.resolve({
        zone: name,
        status: 'insecure',
        keys: [],
        reason: judged.reason,
        insecureAt: judged.insecureAt ?? name,
      });
    } else {
      p = Promise.resolve({ zone: name, status: 'bogus', keys: [], reason: judged.reason });
    }
    this.#zones.set(name, p);
    return p;
  }

  /** Judge the DS of `name` from a response (its answer or a referral's authority section). */
  #judgeDs(
    parent: ZoneTrust,
    name: string,
    dsSection: readonly DnssecRecord[],
    msg: DnssecMessage,
  ): JudgedDs {
    const ds = rrsetOf(dsSection, name, T.DS);
    if (ds.length > 0) {
      const check = this.#checkRrset(ds, sigsOf(dsSection, name, T.DS), parent, `DS ${name}`);
      if (check.status !== 'secure') return { result: 'bogus', reason: check.reason };
      const parsed: Ds[] = [];
      for (const r of ds) {
        try {
          parsed.push(parseDs(r.rdata));
        } catch (err) {
          return { result: 'bogus', reason: toSoketError(err).message };
        }
      }
      return {
        result: 'signed',
        ds: parsed,
        reason: `DS ${name} verified with ${parent.zone} key ${check.keyTag}`,
      };
    }
    if (rrsetOf(msg.answer, name, T.CNAME).length > 0) {
      return { result: 'not-a-cut', reason: `${name} is a CNAME, not a zone cut` };
    }
    if (msg.rcode !== 0 && msg.rcode !== 3) {
      return { result: 'bogus', reason: `the DS query for ${name} failed: ${dnsRcodeName(msg.rcode)}` };
    }
    const denial = this.#denial(parent, name, T.DS, msg.rcode === 3, msg.authority);
    if ('bogus' in denial) {
      return {
        result: 'bogus',
        reason: `no proof that ${name} has no DS (${parent.zone} is signed): ${denial.bogus}`,
      };
    }
    const d = denial.denial;
    switch (d.kind) {
      case 'unsigned-delegation':
        return {
          result: 'unsigned',
          reason: `${parent.zone} proves ${name} is delegated without DS`,
          insecureAt: name,
        };
      case 'opt-out':
        return {
          result: 'unsigned',
          reason: `an NSEC3 opt-out span of ${parent.zone} covers ${name}: an unsigned delegation`,
          insecureAt: name,
        };
      case 'too-many-iterations':
        return {
          result: 'unsigned',
          reason: `${parent.zone} uses NSEC3 with ${d.iterations} iterations (over 150: treated as insecure)`,
          insecureAt: name,
        };
      case 'nxdomain':
        return { result: 'nonexistent', reason: `${parent.zone} proves ${name} does not exist` };
      default:
        return {
          result: 'not-a-cut',
          reason: `${parent.zone} proves ${name} has no DS and is no delegation`,
        };
    }
  }

  /** A zone's DNSKEY set, trusted through DS records (from the parent or an anchor) and/or anchor keys. */
  async #keysFromParent(zone: string, ds: Ds[], anchorKeys: Uint8Array[], via: string): Promise<ZoneTrust> {
    const done = (t: ZoneTrust): ZoneTrust => {
      this.#onEvent?.({
        kind: 'keys',
        zone,
        status: t.status,
        reason: t.reason,
        keys: t.keys.map((k) => ({ keyTag: k.keyTag, algorithm: k.algorithm, flags: k.flags })),
      });
      return t;
    };
    const usableDs = ds.filter((d) => algorithmSupported(d.algorithm) && digestSupported(d.digestType));
    const usableKeys = anchorKeys.filter((k) => algorithmSupported(k[3] ?? 0));
    if (usableDs.length === 0 && usableKeys.length === 0) {
      const algs = [
        ...new Set(
          ds.map((d) => `${algorithmText(d.algorithm)}/${DIGEST_TYPES[d.digestType] ?? d.digestType}`),
        ),
      ];
      return done({
        zone,
        status: 'insecure',
        keys: [],
        insecureAt: zone,
        reason: `${via} for ${zone} uses only algorithms soket does not support (${algs.join(', ')})`,
      });
    }
    let msg: DnssecMessage;
    try {
      msg = await this.#fetch(zone, T.DNSKEY);
    } catch (err) {
      return done({
        zone,
        status: 'bogus',
        keys: [],
        reason: `cannot get the DNSKEY set of ${zone}: ${toSoketError(err).message}`,
      });
    }
    const records = rrsetOf(msg.answer, zone, T.DNSKEY);
    if (records.length === 0) {
      return done({
        zone,
        status: 'bogus',
        keys: [],
        reason: `${zone} has no DNSKEY records (${dnsRcodeName(msg.rcode)}), but ${via} says it is signed`,
      });
    }
    const keys: { record: DnssecRecord; key: Dnskey }[] = [];
    for (const r of records) {
      try {
        keys.push({ record: r, key: parseDnskey(r.rdata) });
      } catch {
        // a malformed key cannot be used
      }
    }
    // RFC 4509 §3: ignore SHA-1 DS records when a SHA-256 one exists for the same key.
    const preferred = usableDs.filter(
      (d) =>
        d.digestType !== 1 ||
        !usableDs.some((o) => o.digestType !== 1 && o.keyTag === d.keyTag && o.algorithm === d.algorithm),
    );
    const entry = keys.filter(({ record, key }) => {
      if (key.protocol !== 3 || !key.zoneKey || key.revoked) return false;
      if (
        usableKeys.some(
          (k) => Buffer.compare(Buffer.from(k.subarray(3)), Buffer.from(record.rdata.subarray(3))) === 0,
        )
      )
        return true;
      return preferred.some((d) => {
        if (d.keyTag !== key.keyTag || d.algorithm !== key.algorithm) return false;
        const digest = dsDigest(zone, record.rdata, d.digestType);
        return digest !== undefined && Buffer.compare(Buffer.from(digest), Buffer.from(d.digest)) === 0;
      });
    });
    if (entry.length === 0) {
      const dsText = preferred.map(
        (d) => `${d.keyTag}/${algorithmText(d.algorithm)}/${DIGEST_TYPES[d.digestType]}`,
      );
      const keyText = keys.map(({ key }) => `${key.keyTag}/${algorithmText(key.algorithm)}`);
      return done({
        zone,
        status: 'bogus',
        keys: [],
        reason: `no DNSKEY of ${zone} matches ${via} (DS ${dsText.join(', ') || 'none'}; DNSKEY ${keyText.join(', ')})`,
      });
    }
    const trusted: ZoneTrust = {
      zone,
      status: 'secure',
      keys: entry.map((e) => e.key),
      reason: '',
    };
    const check = this.#checkRrset(records, sigsOf(msg.answer, zone, T.DNSKEY), trusted, `DNSKEY ${zone}`);
    if (check.status !== 'secure') {
      return done({ zone, status: 'bogus', keys: [], reason: check.reason });
    }
    const all = keys.filter(({ key }) => key.protocol === 3 && key.zoneKey && !key.revoked).map((e) => e.key);
    return done({
      zone,
      status: 'secure',
      keys: all,
      reason: `DNSKEY set signed by key ${check.keyTag} (${algorithmText(check.algorithm ?? 0)}), which matches ${via}`,
    });
  }

  // ---- RRsets ------------------------------------------------------------------------------------------------

  /** Verify one RRset with the keys of a secure zone. */
  #checkRrset(
    rrset: readonly DnssecRecord[],
    sigs: readonly { record: DnssecRecord; sig: Rrsig }[],
    trust: ZoneTrust,
    what: string,
  ): DnssecCheck & { sig?: Rrsig } {
    if (trust.status !== 'secure')
      return { what, status: trust.status, reason: trust.reason, zone: trust.zone };
    const first = rrset[0] as DnssecRecord;
    if (sigs.length === 0) {
      return {
        what,
        status: 'bogus',
        zone: trust.zone,
        reason: `no RRSIG for ${what} (${trust.zone} is signed)`,
      };
    }
    const now = this.#now();
    const ownerLabels = splitLabels(first.name);
    const ownerCount = ownerLabels[0] === '*' ? ownerLabels.length - 1 : ownerLabels.length;
    const failures: { rank: number; reason: string }[] = [];
    for (const { record, sig } of sigs) {
      const by = `RRSIG ${what} by ${sig.signer} key ${sig.keyTag} (${algorithmText(sig.algorithm)})`;
      if (!sameName(sig.signer, trust.zone)) {
        failures.push({ rank: 2, reason: `${by}: the signer is not the zone ${trust.zone}` });
        continue;
      }
      if (record.class !== first.class) continue;
      if (sig.labels > ownerCount) {
        failures.push({
          rank: 2,
          reason: `${by}: its labels field (${sig.labels}) exceeds the owner's ${ownerCount}`,
        });
        continue;
      }
      if (!algorithmSupported(sig.algorithm)) {
        failures.push({ rank: 0, reason: `${by}: algorithm not supported` });
        continue;
      }
      if (!serialLe(sig.inception, now)) {
        failures.push({ rank: 4, reason: `${by} is not valid before ${isoTime(sig.inception, now)}` });
        continue;
      }
      if (!serialLe(now, sig.expiration)) {
        failures.push({ rank: 4, reason: `${by} expired at ${isoTime(sig.expiration, now)}` });
        continue;
      }
      const keys = trust.keys.filter((k) => k.keyTag === sig.keyTag && k.algorithm === sig.algorithm);
      if (keys.length === 0) {
        failures.push({ rank: 1, reason: `${by}: ${trust.zone} has no such DNSKEY` });
        continue;
      }
      const data = signedData(sig, rrset);
      for (const key of keys) {
        const outcome = verifySignature(sig.algorithm, key.publicKey, data, sig.signature);
        if (outcome === 'valid') {
          return {
            what,
            status: 'secure',
            zone: trust.zone,
            reason: `${by} verifies`,
            keyTag: sig.keyTag,
            algorithm: sig.algorithm,
            sig,
          };
        }
        failures.push({
          rank: 3,
          reason:
            outcome === 'bad-key'
              ? `${by}: the DNSKEY is not a valid ${algorithmText(sig.algorithm)} key`
              : `${by} does not verify`,
        });
      }
    }
    failures.sort((a, b) => b.rank - a.rank);
    return {
      what,
      status: 'bogus',
      zone: trust.zone,
      reason: failures[0]?.reason ?? `no usable RRSIG for ${what} (${trust.zone} is signed)`,
    };
  }

  /** Verified NSEC/NSEC3 proofs in a section, from the given secure zone. */
  #proofs(
    trust: ZoneTrust,
    section: readonly DnssecRecord[],
  ): { nsec: NsecProof[]; nsec3: Nsec3Proof[]; errors: string[] } {
    const out = { nsec: [] as NsecProof[], nsec3: [] as Nsec3Proof[], errors: [] as string[] };
    const seen = new Set<string>();
    for (const r of section) {
      if (r.type !== T.NSEC && r.type !== T.NSEC3) continue;
      const key = `${canonicalName(r.name)}/${r.type}`;
      if (seen.has(key)) continue;
      seen.add(key);
      if (!isSubdomain(r.name, trust.zone)) continue;
      const rrset = rrsetOf(section, r.name, r.type);
      const check = this.#checkRrset(
        rrset,
        sigsOf(section, r.name, r.type),
        trust,
        `${dnsTypeName(r.type)} ${r.name}`,
      );
      if (check.status !== 'secure') {
        out.errors.push(check.reason);
        continue;
      }
      try {
        if (r.type === T.NSEC)
          out.nsec.push({ owner: r.name, nsec: parseNsec((rrset[0] as DnssecRecord).rdata) });
        else out.nsec3.push({ owner: r.name, nsec3: parseNsec3((rrset[0] as DnssecRecord).rdata) });
      } catch (err) {
        out.errors.push(toSoketError(err).message);
      }
    }
    return out;
  }

  /** What the signed NSEC/NSEC3 records of a secure zone prove about `name`/`type`. */
  #denial(
    trust: ZoneTrust,
    name: string,
    type: number,
    nxdomain: boolean,
    authority: readonly DnssecRecord[],
  ): { denial: Denial & { ok: true } } | { bogus: string } {
    const proofs = this.#proofs(trust, authority);
    let denial: Denial;
    if (proofs.nsec.length > 0) denial = nsecDenial(proofs.nsec, name, type, nxdomain);
    else if (proofs.nsec3.length > 0) denial = nsec3Denial(proofs.nsec3, trust.zone, name, type, nxdomain);
    else {
      const why = proofs.errors[0] ?? `no signed NSEC or NSEC3 records from ${trust.zone}`;
      return { bogus: why };
    }
    if (!denial.ok)
      return { bogus: proofs.errors[0] ? `${denial.reason}; ${proofs.errors[0]}` : denial.reason };
    return { denial };
  }

  // ---- answers -------------------------------------------------------------------------------------------------

  /**
   * Validate a response to `qname`/`qtype`: the answer's RRsets along any CNAME/DNAME chain (each with the
   * keys of the zone that signed it, found through the chain of trust), a wildcard expansion's proof, or the
   * NSEC/NSEC3 proof of a negative answer.
   *
   * @param qname - the name asked
   * @param qtype - the type asked
   * @param msg - the response
   * @param options - `zone`: the zone the answer came from (trace mode); names that leave it are returned in
   *   `follow` instead of being judged
   * @returns the verdict
   */
  async validate(
    qname: string,
    qtype: number,
    msg: DnssecMessage,
    options: { zone?: string } = {},
  ): Promise<DnssecVerdict> {
    const checks: DnssecCheck[] = [];
    const finish = async (follow?: string): Promise<DnssecVerdict> => {
      const verdict = summarize(checks);
      if (follow !== undefined) verdict.follow = follow;
      verdict.chain = await this.chain();
      return verdict;
    };
    const name = canonicalName(qname);
    try {
      return await this.#walk(name, qtype, msg, options, checks, finish);
    } catch (err) {
      // Malformed RDATA in the answer (a CNAME target, a name too long after a DNAME): nothing to trust.
      checks.push({
        what: `answer for ${name}`,
        status: 'bogus',
        reason: `malformed data: ${toSoketError(err).message}`,
      });
      return finish();
    }
  }

  async #walk(
    start: string,
    qtype: number,
    msg: DnssecMessage,
    options: { zone?: string },
    checks: DnssecCheck[],
    finish: (follow?: string) => Promise<DnssecVerdict>,
  ): Promise<DnssecVerdict> {
    let name = start;
    const seen = new Set<string>();
    for (let hop = 0; hop <= MAX_CHAIN; hop++) {
      if (seen.has(name)) {
        checks.push({ what: `CNAME ${name}`, status: 'bogus', reason: `the CNAME chain loops at ${name}` });
        return finish();
      }
      seen.add(name);
      if (options.zone !== undefined && !isSubdomain(name, options.zone)) return finish(name);
      if (qtype === ANY) {
        // ANY: every RRset the server gave for the name (RFC 8482 servers may give just one).
        const types = [
          ...new Set(
            msg.answer.filter((r) => sameName(r.name, name) && r.type !== T.RRSIG).map((r) => r.type),
          ),
        ];
        if (types.length > 0) {
          for (const type of types)
            checks.push(await this.#checkAnswer(rrsetOf(msg.answer, name, type), msg, options.zone));
          return finish();
        }
      }
      const data = rrsetOf(msg.answer, name, qtype);
      if (data.length > 0) {
        const check = await this.#checkAnswer(data, msg, options.zone);
        checks.push(check);
        if (check.status === 'secure' && check.sig) {
          checks.push(...(await this.#wildcardCheck(name, check.sig, msg)));
        }
        return finish();
      }
      const cname = qtype === T.CNAME ? [] : rrsetOf(msg.answer, name, T.CNAME);
      // A DNAME above the name wins over the (unsigned, synthesized) CNAME beside it (RFC 6672 §5.3.1).
      const dname =
        qtype === T.DNAME
          ? undefined
          : msg.answer
              .filter((r) => r.type === T.DNAME && isSubdomain(name, r.name) && !sameName(name, r.name))
              .sort((a, b) => labelCount(b.name) - labelCount(a.name))[0];
      if (dname) {
        const rrset = rrsetOf(msg.answer, dname.name, T.DNAME);
        const check = await this.#checkAnswer(rrset, msg, options.zone);
        checks.push(check);
        const prefix = splitLabels(name).slice(0, labelCount(name) - labelCount(dname.name));
        const labels = [...prefix, ...splitLabels(targetOf(dname))];
        const synthesized = canonicalName(joinLabels(labels));
        if (labels.join('.').length > 253) {
          checks.push({
            what: `DNAME ${dname.name}`,
            status: 'bogus',
            reason: 'the DNAME substitution is too long',
          });
          return finish();
        }
        const beside = cname[0];
        if (beside && !sameName(targetOf(beside), synthesized)) {
          checks.push({
            what: `CNAME ${name}`,
            status: 'bogus',
            reason: `the CNAME beside DNAME ${dname.name} points to ${targetOf(beside)}, not ${synthesized}`,
          });
          return finish();
        }
        name = synthesized;
        continue;
      }
      if (cname.length > 0) {
        const check = await this.#checkAnswer(cname, msg, options.zone);
        checks.push(check);
        if (check.status === 'secure' && check.sig)
          checks.push(...(await this.#wildcardCheck(name, check.sig, msg)));
        name = canonicalName(targetOf(cname[0] as DnssecRecord));
        continue;
      }
      // Trace mode: a target without data and without a negative answer for it is resolved anew.
      if (
        options.zone !== undefined &&
        hop > 0 &&
        msg.rcode === 0 &&
        !msg.authority.some((r) => r.type === T.SOA)
      ) {
        return finish(name);
      }
      checks.push(await this.#checkNegative(name, qtype, msg, options.zone));
      return finish();
    }
    checks.push({
      what: `CNAME ${name}`,
      status: 'bogus',
      reason: `the CNAME chain is longer than ${MAX_CHAIN}`,
    });
    return finish();
  }

  /** An answer RRset: find its zone (the RRSIG signer), the zone's standing, then verify. */
  async #checkAnswer(
    rrset: readonly DnssecRecord[],
    msg: DnssecMessage,
    zone: string | undefined,
  ): Promise<DnssecCheck & { sig?: Rrsig }> {
    const first = rrset[0] as DnssecRecord;
    const what = `${dnsTypeName(first.type)} ${canonicalName(first.name)}`;
    const sigs = sigsOf(msg.answer, first.name, first.type);
    const signers = [...new Set(sigs.map((s) => canonicalName(s.sig.signer)))].filter((s) =>
      isSubdomain(first.name, s),
    );
    const signer = zone !== undefined ? (signers.find((s) => sameName(s, zone)) ?? signers[0]) : signers[0];
    if (signer === undefined) {
      const trust = await this.trustFor(zone ?? first.name);
      if (trust.status === 'secure') {
        const reason =
          sigs.length > 0
            ? `RRSIG ${what} is signed by ${sigs[0]?.sig.signer}, which is not an ancestor of the owner`
            : `no RRSIG for ${what} (${trust.zone} is signed)`;
        return { what, status: 'bogus', zone: trust.zone, reason };
      }
      return { what, status: trust.status, zone: trust.zone, reason: trust.reason, ...insecureAt(trust) };
    }
    // Trace mode: the server of `zone` may also serve a zone below it (then the signer is that child, reached
    // through its DS); a signer above the zone, or beside it, is wrong.
    if (zone !== undefined && !isSubdomain(signer, zone)) {
      const trust = await this.trustFor(zone);
      if (trust.status === 'secure') {
        return {
          what,
          status: 'bogus',
          zone,
          reason: `RRSIG ${what} is signed by ${signer}, not by the zone ${zone}`,
        };
      }
      return { what, status: trust.status, zone: trust.zone, reason: trust.reason, ...insecureAt(trust) };
    }
    const trust = await this.trustFor(signer);
    if (trust.status === 'secure' && !sameName(trust.zone, signer)) {
      return {
        what,
        status: 'bogus',
        zone: trust.zone,
        reason: `RRSIG ${what} is signed by ${signer}, which is not a zone (no DS proves it)`,
      };
    }
    const check = this.#checkRrset(rrset, sigs, trust, what);
    return trust.status === 'insecure' ? { ...check, ...insecureAt(trust) } : check;
  }

  /** For an RRset expanded from a wildcard: the proof that the name itself does not exist. */
  async #wildcardCheck(name: string, sig: Rrsig, msg: DnssecMessage): Promise<DnssecCheck[]> {
    const parts = splitLabels(name);
    const count = parts[0] === '*' ? parts.length - 1 : parts.length;
    if (sig.labels >= count) return [];
    const what = `wildcard expansion ${name}`;
    const trust = await this.trustFor(sig.signer);
    if (trust.status !== 'secure') return [{ what, status: trust.status, reason: trust.reason }];
    const proofs = this.#proofs(trust, msg.authority);
    if (proofs.nsec.length > 0) {
      return nsecWildcardProof(proofs.nsec, name, sig.labels)
        ? [
            {
              what,
              status: 'secure',
              zone: trust.zone,
              reason: `an NSEC proves no closer match than the wildcard exists`,
            },
          ]
        : [
            {
              what,
              status: 'bogus',
              zone: trust.zone,
              reason: `no NSEC proves that ${name} itself does not exist`,
            },
          ];
    }
    if (proofs.nsec3.length > 0) {
      const r = nsec3WildcardProof(proofs.nsec3, trust.zone, name, sig.labels);
      if (!r.ok) return [{ what, status: 'bogus', zone: trust.zone, reason: r.reason ?? 'no NSEC3 proof' }];
      if (r.optOut) {
        return [
          {
            what,
            status: 'insecure',
            zone: trust.zone,
            reason: `the NSEC3 proof for the expansion is an opt-out span`,
          },
        ];
      }
      return [
        {
          what,
          status: 'secure',
          zone: trust.zone,
          reason: 'an NSEC3 proves no closer match than the wildcard exists',
        },
      ];
    }
    return [
      {
        what,
        status: 'bogus',
        zone: trust.zone,
        reason: proofs.errors[0] ?? `${name} was expanded from a wildcard without an NSEC/NSEC3 proof`,
      },
    ];
  }

  /** A negative answer (NXDOMAIN or NODATA) for `name`. */
  async #checkNegative(
    name: string,
    qtype: number,
    msg: DnssecMessage,
    zone: string | undefined,
  ): Promise<DnssecCheck> {
    const nxdomain = msg.rcode === 3;
    const what = `${nxdomain ? 'NXDOMAIN' : 'NODATA'} ${name}${nxdomain ? '' : ` ${dnsTypeName(qtype)}`}`;
    if (msg.rcode !== 0 && msg.rcode !== 3) {
      return { what, status: 'bogus', reason: `the server answered ${dnsRcodeName(msg.rcode)}` };
    }
    const signers = [
      ...new Set(
        msg.authority
          .filter((r) => r.type === T.RRSIG)
          .map((r) => {
            try {
              return canonicalName(parseRrsig(r.rdata).signer);
            } catch {
              return '';
            }
          })
          .filter((s) => s !== '' && isSubdomain(name, s)),
      ),
    ].sort((a, b) => labelCount(b) - labelCount(a));
    const signer = zone !== undefined ? (signers.find((s) => sameName(s, zone)) ?? signers[0]) : signers[0];
    if (signer === undefined) {
      const trust = await this.trustFor(zone ?? name);
      if (trust.status === 'secure') {
        return {
          what,
          status: 'bogus',
          zone: trust.zone,
          reason: `${what} without signed NSEC/NSEC3 records (${trust.zone} is signed)`,
        };
      }
      return { what, status: trust.status, zone: trust.zone, reason: trust.reason, ...insecureAt(trust) };
    }
    const trust = await this.trustFor(signer);
    if (trust.status !== 'secure')
      return { what, status: trust.status, zone: trust.zone, reason: trust.reason, ...insecureAt(trust) };
    if (!sameName(trust.zone, signer)) {
      return {
        what,
        status: 'bogus',
        zone: trust.zone,
        reason: `the denial is signed by ${signer}, which is not a zone (no DS proves it)`,
      };
    }
    const soa = rrsetOf(msg.authority, signer, T.SOA);
    if (soa.length > 0) {
      const check = this.#checkRrset(soa, sigsOf(msg.authority, signer, T.SOA), trust, `SOA ${signer}`);
      if (check.status !== 'secure') return { what, status: 'bogus', zone: trust.zone, reason: check.reason };
    }
    const denial = this.#denial(trust, name, qtype, nxdomain, msg.authority);
    if ('bogus' in denial) return { what, status: 'bogus', zone: trust.zone, reason: denial.bogus };
    const d = denial.denial;
    if (d.kind === 'opt-out') {
      return {
        what,
        status: 'insecure',
        zone: trust.zone,
        reason: `an NSEC3 opt-out span covers ${name}`,
        insecureAt: name,
      };
    }
    if (d.kind === 'too-many-iterations') {
      return {
        what,
        status: 'insecure',
        zone: trust.zone,
        reason: `NSEC3 with ${d.iterations} iterations (over 150)`,
        insecureAt: trust.zone,
      };
    }
    if (nxdomain && d.kind !== 'nxdomain') {
      return {
        what,
        status: 'bogus',
        zone: trust.zone,
        reason: `NXDOMAIN, but the proof shows ${name} exists`,
      };
    }
    const proof =
      d.kind === 'nxdomain'
        ? 'does not exist'
        : d.kind === 'unsigned-delegation'
          ? 'is an unsigned delegation'
          : `has no ${dnsTypeName(qtype)} records`;
    const kind =
      msg.authority.some((r) => r.type === T.NSEC3) && !msg.authority.some((r) => r.type === T.NSEC)
        ? 'NSEC3'
        : 'NSEC';
    return {
      what,
      status: 'secure',
      zone: trust.zone,
      reason: `${kind} records of ${trust.zone} prove ${name} ${proof}`,
    };
  }
}

interface JudgedDsBase {
  reason: string;
}
type JudgedDs =
  | (JudgedDsBase & { result: 'signed'; ds: Ds[] })
  | (JudgedDsBase & { result: 'unsigned'; insecureAt?: string })
  | (JudgedDsBase & { result: 'not-a-cut' | 'nonexistent' | 'bogus' });

function insecureAt(trust: ZoneTrust): { insecureAt?: string } {
  return trust.insecureAt !== undefined ? { insecureAt: trust.insecureAt } : {};
}

/**
 * Fold checks into one verdict: bogus beats insecure beats secure; the reason is the deciding check's (for a
 * secure verdict, what was verified with which key).
 *
 * @example
 * ```ts
 * summarizeChecks(verdictA.checks.concat(verdictB.checks)).status;
 * ```
 */
export function summarizeChecks(
  checks: readonly (DnssecCheck & { sig?: Rrsig })[],
): Omit<DnssecVerdict, 'chain'> {
  let status: DnssecStatus = 'secure';
  for (const c of checks) status = worst(status, c.status);
  const deciding = checks.find((c) => c.status === status) ?? checks[0];
  const clean = checks.map(({ sig: _sig, ...rest }) => rest as DnssecCheck);
  const verdict: Omit<DnssecVerdict, 'chain'> = {
    status,
    reason: deciding ? (status === 'secure' ? secureReason(clean) : deciding.reason) : 'nothing to validate',
    checks: clean,
  };
  if (status === 'insecure' && deciding?.insecureAt !== undefined) verdict.insecureAt = deciding.insecureAt;
  return verdict;
}

function summarize(checks: readonly (DnssecCheck & { sig?: Rrsig })[]): DnssecVerdict {
  return { ...summarizeChecks(checks), chain: [] };
}

function secureReason(checks: readonly DnssecCheck[]): string {
  if (checks.length === 0) return 'nothing to validate';
  return checks
    .map((c) =>
      c.keyTag !== undefined
        ? `${c.what} signed by ${c.zone} key ${c.keyTag} (${algorithmText(c.algorithm ?? 0)})`
        : c.reason,
    )
    .join('; ');
}
