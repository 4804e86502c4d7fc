import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { compareNames } from '../../src/dnssec/canonical.js';
import {
  base32hex,
  fromBase32hex,
  type Nsec3Proof,
  type NsecProof,
  nsec3Denial,
  nsec3Hash,
  nsec3WildcardProof,
  nsecCovers,
  nsecDenial,
  nsecWildcardProof,
} from '../../src/dnssec/denial.js';
import { parseNsec3, T } from '../../src/dnssec/records.js';
import { nsec3Rdata } from '../helpers/dnssec-sign.js';

const TXT = 16;
const MX = 15;

describe('NSEC3 hashing (RFC 5155 §5, Appendix A)', () => {
  const salt = Buffer.from('aabbccdd', 'hex');
  const vectors: [string, string][] = [
    ['example.', '0p9mhaveqvm6t7vbl5lop2u3t2rp3tom'],
    ['a.example.', '35mthgpgcu1qg68fab165klnsnk3dpvl'],
    ['ai.example.', 'gjeqe526plbf1g8mklp59enfd789njgi'],
    ['ns1.example.', '2t7b4g4vsa5smi47k61mv5bv1a22bojr'],
    ['w.example.', 'k8udemvp1j2f7eg6jebps17vp3n8i58h'],
    ['*.w.example.', 'r53bq7cc2uvmubfu5ocmm6pers9tk9en'],
    ['x.w.example.', 'b4um86eghhds6nea196smvmlo4ors995'],
    ['xx.example.', 't644ebqk9bibcna874givr6joj62mlhv'],
  ];
  for (const [name, hash] of vectors) {
    it(`H(${name}) = ${hash}`, () => {
      assert.equal(base32hex(nsec3Hash(name, salt, 12)), hash);
      assert.equal(base32hex(nsec3Hash(name.toUpperCase(), salt, 12)), hash);
    });
  }

  it('base32hex round-trips any bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 40 }), (bytes) => {
        const text = base32hex(bytes);
        assert.deepEqual(Buffer.from(fromBase32hex(text) as Uint8Array), Buffer.from(bytes));
        assert.deepEqual(Buffer.from(fromBase32hex(text.toUpperCase()) as Uint8Array), Buffer.from(bytes));
      }),
    );
    assert.equal(fromBase32hex('w!'), undefined);
  });
});

/** An NSEC chain over a small zone: example. (apex), a, c, d (a delegation), *.w, x.y (y is empty). */
function nsecChain(): NsecProof[] {
  const names: [string, number[]][] = [
    ['example.', [T.SOA, T.NS, T.RRSIG, T.NSEC, T.DNSKEY]],
    ['a.example.', [T.A, T.RRSIG, T.NSEC]],
    ['c.example.', [T.A, T.RRSIG, T.NSEC]],
    ['d.example.', [T.NS, T.RRSIG, T.NSEC]],
    ['*.w.example.', [T.A, T.RRSIG, T.NSEC]],
    ['x.y.example.', [T.A, T.RRSIG, T.NSEC]],
  ];
  return names.map(([owner, types], i) => ({
    owner,
    nsec: { next: (names[(i + 1) % names.length] as [string, number[]])[0], types: new Set(types) },
  }));
}

describe('NSEC denial (RFC 4035 §5.4)', () => {
  const chain = nsecChain();

  it('covers names between owner and next, and past the last owner', () => {
    assert.equal(nsecCovers('a.example.', 'c.example.', 'b.example.'), true);
    assert.equal(nsecCovers('a.example.', 'c.example.', 'c.example.'), false);
    assert.equal(nsecCovers('a.example.', 'c.example.', 'a.example.'), false);
    assert.equal(nsecCovers('x.y.example.', 'example.', 'z.example.'), true);
  });

  it('NXDOMAIN: the name and the wildcard at its closest encloser are covered', () => {
    assert.deepEqual(nsecDenial(chain, 'b.example.', T.A, true), {
      ok: true,
      kind: 'nxdomain',
      closestEncloser: 'example.',
    });
    const missingWildcard = chain.filter((p) => p.owner !== 'example.');
    const r = nsecDenial(missingWildcard, 'b.example.', T.A, true);
    assert.equal(r.ok, false);
    assert.match((r as { reason: string }).reason, /\*\.example\. does not exist/);
  });

  it('NXDOMAIN below a delegation point is not proven by the parent-side NSEC (RFC 6840 §4.1)', () => {
    const r = nsecDenial(chain, 'www.d.example.', T.A, true);
    assert.equal(r.ok, false);
  });

  it('NODATA: the NSEC at the name lacks the type (and CNAME)', () => {
    assert.deepEqual(nsecDenial(chain, 'c.example.', TXT, false), { ok: true, kind: 'nodata' });
    assert.equal(nsecDenial(chain, 'c.example.', T.A, false).ok, false);
    assert.equal(nsecDenial(chain, 'C.EXAMPLE.', MX, false).ok, true);
  });

  it('NODATA at an empty non-terminal', () => {
    assert.deepEqual(nsecDenial(chain, 'y.example.', T.A, false), { ok: true, kind: 'ent-nodata' });
  });

  it('NODATA at a wildcard', () => {
    assert.deepEqual(nsecDenial(chain, 'q.w.example.', TXT, false), {
      ok: true,
      kind: 'wildcard-nodata',
      closestEncloser: 'w.example.',
    });
  });

  it('DS at a delegation without DS: an unsigned delegation; the parent-side NSEC cannot deny other types', () => {
    assert.deepEqual(nsecDenial(chain, 'd.example.', T.DS, false), { ok: true, kind: 'unsigned-delegation' });
    assert.equal(nsecDenial(chain, 'd.example.', T.A, false).ok, false);
  });

  it('a wildcard expansion needs the next closer name covered', () => {
    assert.equal(nsecWildcardProof(chain, 'q.w.example.', 2), true);
    assert.equal(nsecWildcardProof(chain, 'c.example.', 1), false);
  });

  it('no NSEC at all proves nothing', () => {
    assert.equal(nsecDenial([], 'b.example.', T.A, true).ok, false);
  });

  it('any name is either matched, covered, or below a covering span (property)', () => {
    const owners = chain.map((p) => p.owner).sort(compareNames);
    assert.deepEqual(
      owners,
      chain.map((p) => p.owner),
    );
    fc.assert(
      fc.property(fc.stringMatching(/^[a-z]{1,3}$/), (label) => {
        const name = `${label}.example.`;
        const matched = chain.some((p) => compareNames(p.owner, name) === 0);
        const covered = chain.some((p) => nsecCovers(p.owner, p.nsec.next, name));
        assert.ok(matched !== covered);
      }),
    );
  });
});

/** An NSEC3 chain (salt aabbccdd, 12 iterations) over the RFC 5155 Appendix A names. */
function nsec3Chain(optOut = false): Nsec3Proof[] {
  const salt = Buffer.from('aabbccdd', 'hex');
  const names: [string, number[]][] = [
    ['example.', [T.SOA, T.NS, T.RRSIG, T.DNSKEY]],
    ['a.example.', [T.NS, T.DS, T.RRSIG]],
    ['ai.example.', [T.A, T.RRSIG]],
    ['ns1.example.', [T.A, T.RRSIG]],
    ['ns2.example.', [T.A, T.RRSIG]],
    ['w.example.', []],
    ['*.w.example.', [MX, T.RRSIG]],
    ['x.w.example.', [MX, T.RRSIG]],
    ['y.w.example.', []],
    ['x.y.w.example.', [MX, T.RRSIG]],
    ['xx.example.', [T.A, T.RRSIG]],
  ];
  const hashed = names
    .map(([name, types]) => ({ hash: nsec3Hash(name, salt, 12), types }))
    .sort((a, b) => Buffer.compare(Buffer.from(a.hash), Buffer.from(b.hash)));
  return hashed.map((h, i) => {
    const next = (hashed[(i + 1) % hashed.length] as (typeof hashed)[number]).hash;
    return {
      owner: `${base32hex(h.hash)}.example.`,
      nsec3: parseNsec3(nsec3Rdata(next, h.types, { salt, iterations: 12, optOut })),
    };
  });
}

describe('NSEC3 denial (RFC 5155 §8)', () => {
  const chain = nsec3Chain();

  it('NXDOMAIN: a closest encloser proof and the wildcard covered (Appendix B.1: a.c.x.w.example.)', () => {
    assert.deepEqual(nsec3Denial(chain, 'example.', 'a.c.x.w.example.', T.A, true), {
      ok: true,
      kind: 'nxdomain',
      closestEncloser: 'x.w.example.',
    });
  });

  it('NODATA: the NSEC3 matching the name lacks the type (Appendix B.2: ns1.example. MX)', () => {
    assert.deepEqual(nsec3Denial(chain, 'example.', 'ns1.example.', MX, false), { ok: true, kind: 'nodata' });
    assert.equal(nsec3Denial(chain, 'example.', 'ns1.example.', T.A, false).ok, false);
  });

  it('NODATA at an empty non-terminal (Appendix B.2.1: y.w.example. A)', () => {
    assert.deepEqual(nsec3Denial(chain, 'example.', 'y.w.example.', T.A, false), {
      ok: true,
      kind: 'nodata',
    });
  });

  it('wildcard NODATA (Appendix B.7: a.z.w.example. AAAA)', () => {
    assert.deepEqual(nsec3Denial(chain, 'example.', 'a.z.w.example.', T.AAAA, false), {
      ok: true,
      kind: 'wildcard-nodata',
      closestEncloser: 'w.example.',
    });
  });

  it('a wildcard expansion needs the next closer name covered (Appendix B.4: a.z.w.example. MX)', () => {
    assert.deepEqual(nsec3WildcardProof(chain, 'example.', 'a.z.w.example.', 2), { ok: true, optOut: false });
    assert.equal(nsec3WildcardProof(chain, 'example.', 'x.w.example.', 2).ok, false);
  });

  it('DS: a delegation with DS is no denial; an opt-out span covering the name makes it insecure (Appendix B.3)', () => {
    assert.equal(nsec3Denial(chain, 'example.', 'a.example.', T.DS, false).ok, false);
    const strict = nsec3Denial(chain, 'example.', 'c.example.', T.DS, false);
    assert.equal(strict.ok, false);
    assert.deepEqual(nsec3Denial(nsec3Chain(true), 'example.', 'c.example.', T.DS, false), {
      ok: true,
      kind: 'opt-out',
      closestEncloser: 'example.',
    });
  });

  it('NXDOMAIN below a delegation: the parent-side NSEC3 is no closest encloser', () => {
    const r = nsec3Denial(chain, 'example.', 'www.a.example.', T.A, true);
    assert.equal(r.ok, false);
  });

  it('more than 150 iterations are reported (treated as insecure), other zones ignored', () => {
    const salt = new Uint8Array();
    const proof: Nsec3Proof = {
      owner: `${base32hex(nsec3Hash('example.', salt, 151))}.example.`,
      nsec3: parseNsec3(nsec3Rdata(nsec3Hash('example.', salt, 151), [T.SOA], { iterations: 151 })),
    };
    assert.deepEqual(nsec3Denial([proof], 'example.', 'x.example.', T.A, true), {
      ok: true,
      kind: 'too-many-iterations',
      iterations: 151,
    });
    assert.equal(nsec3Denial(chain, 'other.', 'a.other.', T.A, true).ok, false);
  });
});
