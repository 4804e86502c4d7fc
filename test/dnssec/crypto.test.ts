import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { nameToWire } from '../../src/codec/dns-name.js';
import { signedData } from '../../src/dnssec/canonical.js';
import { algorithmSupported, digestSupported, dsDigest, verifySignature } from '../../src/dnssec/crypto.js';
import { keyTag, parseDnskey, parseDs, parseRrsig, T } from '../../src/dnssec/records.js';
import {
  parseTrustAnchors,
  ROOT_TRUST_ANCHOR_TEXT,
  rootTrustAnchors,
} from '../../src/dnssec/trust-anchor.js';
import { makeKey, rr, signRrset } from '../helpers/dnssec-sign.js';

/** The root zone's KSK-2017 and KSK-2024 (IANA; the DNSKEY lines of unbound's root.key). */
const ROOT_KSKS = `. IN DNSKEY 257 3 8 AwEAAaz/tAm8yTn4Mfeh5eyI96WSVexTBAvkMgJzkKTOiW1vkIbzxeF3+/4RgWOq7HrxRixHlFlExOLAJr5emLvN7SWXgnLh4+B5xQlNVz8Og8kvArMtNROxVQuCaSnIDdD5LKyWbRd2n9WGe2R8PzgCmr3EgVLrjyBxWezF0jLHwVN8efS3rCj/EWgvIWgb9tarpVUDK/b58Da+sqqls3eNbuv7pr+eoZG+SrDK6nWeL3c6H5Apxz7LjVc1uTIdsIXxuOLYA4/ilBmSVIzuDWfdRUfhHdY6+cn8HFRm+2hM8AnXGXws9555KrUB5qihylGa8subX2Nn6UwNR1AkUTV74bU=
. IN DNSKEY 257 3 8 AwEAAa96jeuknZlaeSrvyAJj6ZHv28hhOKkx3rLGXVaC6rXTsDc449/cidltpkyGwCJNnOAlFNKF2jBosZBU5eeHspaQWOmOElZsjICMQMC3aeHbGiShvZsx4wMYSjH8e7Vrhbu6irwCzVBApESjbUdpWWmEnhathWu1jo+siFUiRAAxm9qyJNg/wOZqqzL/dL/q8PkcRU5oUKEpUge71M3ej2/7CPqpdVwuMoTvoB+ZOT4YeGyxMvHmbrxlFzGOHOijtzN+u1TQNatX2XBuzZNQ1K+s2CXkPIZo7s6JgZyvaBevYtxPvYLw4z9mR7K2vaF18UYH9Z9GNUUeayffKC73PYc=
`;

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex').toUpperCase();
}

describe('root trust anchor', () => {
  const keys = (parseTrustAnchors(ROOT_KSKS)[0]?.dnskey ?? []).map((rdata) => ({
    rdata,
    key: parseDnskey(rdata),
  }));

  it('the root KSKs have key tags 20326 and 38696', () => {
    assert.deepEqual(
      keys.map((k) => k.key.keyTag),
      [20326, 38696],
    );
  });

  it('the built-in DS records are the SHA-256 digests of the root KSKs', () => {
    const anchors = rootTrustAnchors();
    assert.equal(anchors.length, 1);
    const ds = (anchors[0]?.ds ?? []).map(parseDs);
    assert.equal(ds.length, 2);
    for (const [i, { rdata, key }] of keys.entries()) {
      const d = ds[i];
      assert.ok(d);
      assert.equal(d.keyTag, key.keyTag);
      assert.equal(d.algorithm, 8);
      assert.equal(d.digestType, 2);
      assert.equal(hex(dsDigest('.', rdata, 2) as Uint8Array), hex(d.digest));
    }
    assert.match(
      ROOT_TRUST_ANCHOR_TEXT,
      /20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D/,
    );
  });

  it('matches the system copy of the anchor when there is one (Debian dns-root-data)', (t) => {
    const path = '/usr/share/dns/root.ds';
    if (!existsSync(path)) {
      t.skip(`${path} not present`);
      return;
    }
    const system = parseTrustAnchors(readFileSync(path, 'utf8'), path);
    const ours = rootTrustAnchors();
    const set = (a: typeof ours) => new Set((a[0]?.ds ?? []).map(hex));
    for (const d of set(ours)) assert.ok(set(system).has(d), `built-in DS ${d} is not in ${path}`);
  });
});

describe('DS digests', () => {
  it('RFC 8080 §6.1: the Ed25519 example key has tag 3613 and this SHA-256 DS', () => {
    const rdata = Uint8Array.from([
      1,
      1,
      3,
      15,
      ...Buffer.from('l02Woi0iS8Aa25FQkUd9RMzZHJpBoRQwAQEX1SxZJA4=', 'base64'),
    ]);
    assert.equal(keyTag(rdata), 3613);
    assert.equal(
      hex(dsDigest('example.com.', rdata, 2) as Uint8Array),
      '3AA5AB37EFCE57F737FC1627013FEE07BDF241BD10F3B1964AB55C78E79A304B',
    );
    // The owner name is hashed in canonical (lower-case) form.
    assert.equal(
      hex(dsDigest('EXAMPLE.com', rdata, 2) as Uint8Array),
      hex(dsDigest('example.com.', rdata, 2) as Uint8Array),
    );
  });

  it('SHA-1, SHA-256 and SHA-384 are computed; GOST is not', () => {
    const key = makeKey(15);
    assert.equal(dsDigest('a.test.', key.rdata, 1)?.length, 20);
    assert.equal(dsDigest('a.test.', key.rdata, 2)?.length, 32);
    assert.equal(dsDigest('a.test.', key.rdata, 4)?.length, 48);
    assert.equal(dsDigest('a.test.', key.rdata, 3), undefined);
    assert.equal(digestSupported(3), false);
  });
});

describe('RRSIG verification', () => {
  it('RFC 8080 §6.1 (errata 4935): the Ed25519 signature over example.com. MX verifies', () => {
    const key = Uint8Array.from(Buffer.from('l02Woi0iS8Aa25FQkUd9RMzZHJpBoRQwAQEX1SxZJA4=', 'base64'));
    const mx = rr('example.com.', 15, Buffer.concat([Buffer.from([0, 10]), nameToWire('mail.example.com.')]));
    const fields = Buffer.alloc(18);
    fields.writeUInt16BE(15, 0);
    fields[2] = 15;
    fields[3] = 2;
    fields.writeUInt32BE(3600, 4);
    fields.writeUInt32BE(1440021600, 8);
    fields.writeUInt32BE(1438207200, 12);
    fields.writeUInt16BE(3613, 16);
    const signature = Buffer.from(
      'oL9krJun7xfBOIWcGHi7mag5/hdZrKWw15jPGrHpjQeRAvTdszaPD+QLs3fx8A4M3e23mRZ9VrbpMngwcrqNAg==',
      'base64',
    );
    const sig = parseRrsig(Buffer.concat([fields, nameToWire('example.com.'), signature]));
    assert.equal(verifySignature(15, key, signedData(sig, [mx]), sig.signature), 'valid');
    const altered = rr(
      'example.com.',
      15,
      Buffer.concat([Buffer.from([0, 20]), nameToWire('mail.example.com.')]),
    );
    assert.equal(verifySignature(15, key, signedData(sig, [altered]), sig.signature), 'invalid');
  });

  for (const algorithm of [8, 10, 13, 14, 15, 16]) {
    it(`algorithm ${algorithm}: a signature made with node:crypto verifies; altered data or signature does not`, () => {
      const key = makeKey(algorithm, 256);
      const rrset = [
        rr('www.example.test.', T.A, Uint8Array.of(192, 0, 2, 1)),
        rr('www.example.test.', T.A, Uint8Array.of(192, 0, 2, 2)),
      ];
      const sig = parseRrsig(signRrset(rrset, key, 'example.test.').rdata);
      const pub = parseDnskey(key.rdata).publicKey;
      assert.equal(verifySignature(algorithm, pub, signedData(sig, rrset), sig.signature), 'valid');
      // Order and case of the RRset do not matter (canonical form).
      const reordered = [
        rr('WWW.Example.TEST.', T.A, Uint8Array.of(192, 0, 2, 2)),
        rr('www.example.test.', T.A, Uint8Array.of(192, 0, 2, 1)),
      ];
      assert.equal(verifySignature(algorithm, pub, signedData(sig, reordered), sig.signature), 'valid');
      const other = [rr('www.example.test.', T.A, Uint8Array.of(192, 0, 2, 3))];
      assert.equal(verifySignature(algorithm, pub, signedData(sig, other), sig.signature), 'invalid');
      const badSig = Uint8Array.from(sig.signature);
      badSig[badSig.length - 1] = (badSig[badSig.length - 1] as number) ^ 1;
      assert.equal(verifySignature(algorithm, pub, signedData(sig, rrset), badSig), 'invalid');
    });
  }

  it('reports keys that are not keys of their algorithm, and algorithms it does not know', () => {
    assert.equal(verifySignature(13, Uint8Array.of(1, 2, 3), Uint8Array.of(1), Uint8Array.of(1)), 'bad-key');
    assert.equal(verifySignature(15, new Uint8Array(31), Uint8Array.of(1), new Uint8Array(64)), 'bad-key');
    assert.equal(verifySignature(8, Uint8Array.of(0), Uint8Array.of(1), Uint8Array.of(1)), 'bad-key');
    assert.equal(
      verifySignature(12, new Uint8Array(64), Uint8Array.of(1), new Uint8Array(64)),
      'unsupported',
    );
    assert.equal(algorithmSupported(12), false);
    assert.equal(algorithmSupported(15), true);
  });
});
