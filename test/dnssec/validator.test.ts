/**
 * The chain validator against small signed zones built in memory (node:crypto keys), each case broken on
 * purpose: the verdict and its reason must say exactly what is wrong.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { type DnssecRecord, T } from '../../src/dnssec/records.js';
import type { TrustAnchor } from '../../src/dnssec/trust-anchor.js';
import { ChainValidator, type DnssecEvent, type DnssecMessage } from '../../src/dnssec/validator.js';
import {
  aRdata,
  dsRdata,
  makeKey,
  nameRdata,
  nsecRdata,
  rr,
  type SignOptions,
  signRrset,
  type TestKey,
} from '../helpers/dnssec-sign.js';

const NOW = Math.floor(Date.now() / 1000);

interface World {
  rootKsk: TestKey;
  rootZsk: TestKey;
  ksk: TestKey;
  zsk: TestKey;
  /** Answers by `name/TYPE`. */
  answers: Map<string, DnssecMessage>;
  anchors: TrustAnchor[];
  fetched: string[];
}

function signed(
  records: DnssecRecord[],
  key: TestKey,
  zone: string,
  options: SignOptions = {},
): DnssecRecord[] {
  return [...records, signRrset(records, key, zone, options)];
}

/** `.` (Ed25519 KSK, P-256 ZSK) delegating `example.` (RSA/SHA-256 keys) and `insecure.` (no DS). */
function world(): World {
  const rootKsk = makeKey(15, 257);
  const rootZsk = makeKey(13, 256);
  const ksk = makeKey(8, 257);
  const zsk = makeKey(8, 256);
  const answers = new Map<string, DnssecMessage>();
  const rootKeys = [rr('.', T.DNSKEY, rootKsk.rdata), rr('.', T.DNSKEY, rootZsk.rdata)];
  answers.set('./DNSKEY', { rcode: 0, answer: signed(rootKeys, rootKsk, '.'), authority: [] });
  answers.set('example./DS', {
    rcode: 0,
    answer: signed([rr('example.', T.DS, dsRdata('example.', ksk))], rootZsk, '.'),
    authority: [],
  });
  const keys = [rr('example.', T.DNSKEY, ksk.rdata), rr('example.', T.DNSKEY, zsk.rdata)];
  answers.set('example./DNSKEY', { rcode: 0, answer: signed(keys, ksk, 'example.'), authority: [] });
  // insecure. is delegated without DS: the root's NSEC at it has NS and no DS.
  answers.set('insecure./DS', {
    rcode: 0,
    answer: [],
    authority: [
      ...signed([rr('.', T.SOA, soa())], rootZsk, '.'),
      ...signed([rr('insecure.', T.NSEC, nsecRdata('zzz.', [T.NS, T.RRSIG, T.NSEC]))], rootZsk, '.'),
    ],
  });
  const anchors: TrustAnchor[] = [{ zone: '.', ds: [dsRdata('.', rootKsk)], dnskey: [] }];
  return { rootKsk, rootZsk, ksk, zsk, answers, anchors, fetched: [] };
}

function soa(): Uint8Array {
  return Buffer.concat([nameRdata('ns.example.'), nameRdata('host.example.'), Buffer.alloc(20)]);
}

function validator(w: World, events: DnssecEvent[] = []): ChainValidator {
  return new ChainValidator({
    anchors: w.anchors,
    now: () => NOW,
    onEvent: (e) => events.push(e),
    fetch: async (name, type) => {
      const key = `${name}/${type === T.DS ? 'DS' : type === T.DNSKEY ? 'DNSKEY' : type}`;
      w.fetched.push(key);
      const msg = w.answers.get(key);
      if (!msg) throw new Error(`no test answer for ${key}`);
      return msg;
    },
  });
}

function answerA(w: World, options: SignOptions = {}, key = w.zsk): DnssecMessage {
  return {
    rcode: 0,
    answer: signed([rr('www.example.', T.A, aRdata('192.0.2.1'))], key, 'example.', options),
    authority: [],
  };
}

describe('ChainValidator', () => {
  it('secure: the chain from the anchor DS to the answer, each zone fetched once', async () => {
    const w = world();
    const events: DnssecEvent[] = [];
    const v = validator(w, events);
    const verdict = await v.validate('www.example.', T.A, answerA(w));
    assert.equal(verdict.status, 'secure', verdict.reason);
    assert.match(
      verdict.reason,
      new RegExp(`A www\\.example\\. signed by example\\. key ${w.zsk.keyTag} \\(RSASHA256\\)`),
    );
    assert.deepEqual(w.fetched, ['./DNSKEY', 'example./DS', 'example./DNSKEY']);
    assert.deepEqual(
      verdict.chain.map((z) => [z.zone, z.status]),
      [
        ['.', 'secure'],
        ['example.', 'secure'],
      ],
    );
    assert.deepEqual(
      events.map((e) => e.kind),
      ['keys', 'delegation', 'keys'],
    );
    await v.validate('www.example.', T.A, answerA(w));
    assert.equal(w.fetched.length, 3);
  });

  it('a trust anchor given as a DNSKEY works like its DS', async () => {
    const w = world();
    w.anchors = [{ zone: '.', ds: [], dnskey: [w.rootKsk.rdata] }];
    assert.equal((await validator(w).validate('www.example.', T.A, answerA(w))).status, 'secure');
  });

  it('bogus: an expired signature, with the key and the time', async () => {
    const w = world();
    const verdict = await validator(w).validate(
      'www.example.',
      T.A,
      answerA(w, { inception: NOW - 7200, expiration: NOW - 60 }),
    );
    assert.equal(verdict.status, 'bogus');
    assert.match(
      verdict.reason,
      new RegExp(
        `RRSIG A www\\.example\\. by example\\. key ${w.zsk.keyTag} \\(RSASHA256\\) expired at \\d{4}-`,
      ),
    );
  });

  it('bogus: a signature not valid yet', async () => {
    const w = world();
    const verdict = await validator(w).validate(
      'www.example.',
      T.A,
      answerA(w, { inception: NOW + 600, expiration: NOW + 7200 }),
    );
    assert.equal(verdict.status, 'bogus');
    assert.match(verdict.reason, /is not valid before/);
  });

  it('bogus: a record changed after signing', async () => {
    const w = world();
    const msg = answerA(w);
    const changed: DnssecMessage = {
      ...msg,
      answer: [rr('www.example.', T.A, aRdata('192.0.2.99')), ...msg.answer.slice(1)],
    };
    const verdict = await validator(w).validate('www.example.', T.A, changed);
    assert.equal(verdict.status, 'bogus');
    assert.match(verdict.reason, /does not verify$/);
  });

  it('bogus: no RRSIG at all in a signed zone (the walk down proves www.example. is no zone cut)', async () => {
    const w = world();
    w.answers.set('www.example./DS', {
      rcode: 0,
      answer: [],
      authority: [
        ...signed([rr('example.', T.SOA, soa())], w.zsk, 'example.'),
        ...signed(
          [rr('www.example.', T.NSEC, nsecRdata('example.', [T.A, T.RRSIG, T.NSEC]))],
          w.zsk,
          'example.',
        ),
      ],
    });
    const verdict = await validator(w).validate('www.example.', T.A, {
      rcode: 0,
      answer: [rr('www.example.', T.A, aRdata('192.0.2.1'))],
      authority: [],
    });
    assert.equal(verdict.status, 'bogus');
    assert.match(verdict.reason, /no RRSIG for A www\.example\. \(example\. is signed\)/);
  });

  it('bogus: signed by a key the zone does not publish', async () => {
    const w = world();
    const verdict = await validator(w).validate('www.example.', T.A, answerA(w, {}, makeKey(8, 256)));
    assert.equal(verdict.status, 'bogus');
    assert.match(verdict.reason, /example\. has no such DNSKEY/);
  });

  it('bogus: the DS in the parent matches no key of the child', async () => {
    const w = world();
    w.answers.set('example./DS', {
      rcode: 0,
      answer: signed([rr('example.', T.DS, dsRdata('example.', makeKey(8, 257)))], w.rootZsk, '.'),
      authority: [],
    });
    const verdict = await validator(w).validate('www.example.', T.A, answerA(w));
    assert.equal(verdict.status, 'bogus');
    assert.match(
      verdict.reason,
      /^no DNSKEY of example\. matches the DS in \. \(DS \d+\/RSASHA256\/SHA-256; DNSKEY/,
    );
  });

  it('bogus: the DS points at a revoked key', async () => {
    const w = world();
    const revoked = { ...w.ksk, rdata: Uint8Array.from(w.ksk.rdata) };
    revoked.rdata[1] = (revoked.rdata[1] as number) | 0x80;
    w.answers.set('example./DS', {
      rcode: 0,
      answer: signed(
        [rr('example.', T.DS, dsRdata('example.', { ...revoked, keyTag: w.ksk.keyTag }))],
        w.rootZsk,
        '.',
      ),
      authority: [],
    });
    const verdict = await validator(w).validate('www.example.', T.A, answerA(w));
    assert.equal(verdict.status, 'bogus');
  });

  it('insecure: a DS that uses only an algorithm soket does not verify', async () => {
    const w = world();
    const ds = Uint8Array.from([0x12, 0x34, 12, 2, ...new Uint8Array(32)]);
    w.answers.set('example./DS', {
      rcode: 0,
      answer: signed([rr('example.', T.DS, ds)], w.rootZsk, '.'),
      authority: [],
    });
    const verdict = await validator(w).validate('www.example.', T.A, answerA(w));
    assert.equal(verdict.status, 'insecure');
    assert.match(verdict.reason, /algorithms soket does not support \(ECC-GOST\/SHA-256\)/);
  });

  it('insecure: an unsigned delegation, named', async () => {
    const w = world();
    const verdict = await validator(w).validate('www.insecure.', T.A, {
      rcode: 0,
      answer: [rr('www.insecure.', T.A, aRdata('192.0.2.3'))],
      authority: [],
    });
    assert.equal(verdict.status, 'insecure');
    assert.equal(verdict.insecureAt, 'insecure.');
    assert.match(verdict.reason, /\. proves insecure\. is delegated without DS/);
  });

  it('bogus: a DS query answered without proof in a signed parent', async () => {
    const w = world();
    w.answers.set('insecure./DS', { rcode: 0, answer: [], authority: [] });
    const verdict = await validator(w).validate('www.insecure.', T.A, {
      rcode: 0,
      answer: [rr('www.insecure.', T.A, aRdata('192.0.2.3'))],
      authority: [],
    });
    assert.equal(verdict.status, 'bogus');
    assert.match(verdict.reason, /no proof that insecure\. has no DS \(\. is signed\)/);
  });

  it('NXDOMAIN: secure with the NSEC proof, bogus without it', async () => {
    const w = world();
    const proof = [
      ...signed([rr('example.', T.SOA, soa())], w.zsk, 'example.'),
      ...signed(
        [rr('example.', T.NSEC, nsecRdata('www.example.', [T.SOA, T.NS, T.DNSKEY, T.RRSIG, T.NSEC]))],
        w.zsk,
        'example.',
      ),
      ...signed(
        [rr('www.example.', T.NSEC, nsecRdata('example.', [T.A, T.RRSIG, T.NSEC]))],
        w.zsk,
        'example.',
      ),
    ];
    const good = await validator(w).validate('nosuch.example.', T.A, {
      rcode: 3,
      answer: [],
      authority: proof,
    });
    assert.equal(good.status, 'secure', good.reason);
    assert.match(good.reason, /NSEC records of example\. prove nosuch\.example\. does not exist/);
    const none = await validator(w).validate('nosuch.example.', T.A, {
      rcode: 3,
      answer: [],
      authority: proof.slice(0, 2),
    });
    assert.equal(none.status, 'bogus');
  });

  it('bogus: a CNAME chain that loops', async () => {
    const w = world();
    const a = signed([rr('a.example.', T.CNAME, nameRdata('b.example.'))], w.zsk, 'example.');
    const b = signed([rr('b.example.', T.CNAME, nameRdata('a.example.'))], w.zsk, 'example.');
    const verdict = await validator(w).validate('a.example.', T.A, {
      rcode: 0,
      answer: [...a, ...b],
      authority: [],
    });
    assert.equal(verdict.status, 'bogus');
    assert.match(verdict.reason, /the CNAME chain loops at a\.example\./);
  });

  it('DNAME: the synthesized CNAME must match the DNAME', async () => {
    const w = world();
    const dname = signed([rr('d.example.', T.DNAME, nameRdata('example.'))], w.zsk, 'example.');
    const target = signed([rr('www.example.', T.A, aRdata('192.0.2.1'))], w.zsk, 'example.');
    const good = await validator(w).validate('www.d.example.', T.A, {
      rcode: 0,
      answer: [...dname, rr('www.d.example.', T.CNAME, nameRdata('www.example.')), ...target],
      authority: [],
    });
    assert.equal(good.status, 'secure', good.reason);
    const bad = await validator(w).validate('www.d.example.', T.A, {
      rcode: 0,
      answer: [...dname, rr('www.d.example.', T.CNAME, nameRdata('evil.example.')), ...target],
      authority: [],
    });
    assert.equal(bad.status, 'bogus');
    assert.match(bad.reason, /points to evil\.example\., not www\.example\./);
  });

  it('bogus: a wildcard expansion without the proof that the name itself does not exist', async () => {
    const w = world();
    const msg = {
      rcode: 0,
      answer: signed([rr('x.wild.example.', T.A, aRdata('192.0.2.9'))], w.zsk, 'example.', { labels: 2 }),
      authority: [],
    };
    const verdict = await validator(w).validate('x.wild.example.', T.A, msg);
    assert.equal(verdict.status, 'bogus');
    assert.match(verdict.reason, /expanded from a wildcard without an NSEC\/NSEC3 proof/);
  });

  it('insecure: no trust anchor covers the name', async () => {
    const w = world();
    w.anchors = [{ zone: 'other.', ds: [dsRdata('other.', w.ksk)], dnskey: [] }];
    const verdict = await validator(w).validate('www.example.', T.A, answerA(w));
    assert.equal(verdict.status, 'insecure');
    assert.match(verdict.reason, /no trust anchor covers/);
  });

  it('hostile answers: corrupted RDATA, owners and types give a verdict, never an exception', async () => {
    const w = world();
    const dname = signed([rr('d.example.', T.DNAME, nameRdata('example.'))], w.zsk, 'example.');
    const base = [...dname, rr('www.d.example.', T.CNAME, nameRdata('www.example.')), ...answerA(w).answer];
    const v = validator(w);
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            index: fc.nat(base.length - 1),
            offset: fc.nat(300),
            byte: fc.integer({ min: 0, max: 255 }),
            type: fc.option(fc.constantFrom(T.CNAME, T.DNAME, T.RRSIG, T.NSEC, T.NSEC3, T.DS), {
              nil: undefined,
            }),
            cut: fc.option(fc.nat(300), { nil: undefined }),
          }),
          { minLength: 1, maxLength: 4 },
        ),
        async (edits) => {
          const answer = base.map((r) => ({ ...r, rdata: Uint8Array.from(r.rdata) }));
          for (const e of edits) {
            const r = answer[e.index] as DnssecRecord;
            if (r.rdata.length > 0) r.rdata[e.offset % r.rdata.length] = e.byte;
            if (e.type !== undefined) r.type = e.type;
            if (e.cut !== undefined) r.rdata = r.rdata.subarray(0, e.cut % (r.rdata.length + 1));
          }
          const verdict = await v.validate('www.d.example.', T.A, { rcode: 0, answer, authority: answer });
          assert.ok(['secure', 'insecure', 'bogus'].includes(verdict.status));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('bogus: the DNSKEY set cannot be fetched', async () => {
    const w = world();
    w.answers.delete('example./DNSKEY');
    const verdict = await validator(w).validate('www.example.', T.A, answerA(w));
    assert.equal(verdict.status, 'bogus');
    assert.match(verdict.reason, /cannot get the DNSKEY set of example\.: no test answer/);
  });
});
