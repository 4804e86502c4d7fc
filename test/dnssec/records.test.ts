import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { nameToWire } from '../../src/codec/dns-name.js';
import { BadPacketError, ValidationError } from '../../src/core/errors.js';
import {
  parseDnskey,
  parseDs,
  parseNsec,
  parseNsec3,
  parseRrsig,
  parseTypeBitmap,
} from '../../src/dnssec/records.js';
import { parseTrustAnchors } from '../../src/dnssec/trust-anchor.js';
import { nsec3Rdata, nsecRdata, typeBitmap } from '../helpers/dnssec-sign.js';

describe('DNSSEC RDATA', () => {
  it('type bit maps round-trip any set of types', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 0, max: 65535 }), { maxLength: 40 }), (types) => {
        assert.deepEqual(
          [...parseTypeBitmap(typeBitmap(types))].sort((a, b) => a - b),
          [...types].sort((a, b) => a - b),
        );
      }),
    );
  });

  it('RFC 4034 §4.3: the bit map of A MX RRSIG NSEC TYPE1234', () => {
    const bytes = Buffer.from(
      '0006400100000003041b000000000000000000000000000000000000000000000000000020',
      'hex',
    );
    assert.deepEqual([...parseTypeBitmap(bytes)], [1, 15, 46, 47, 1234]);
  });

  it('rejects malformed bit maps, names and short RDATA with BadPacketError', () => {
    assert.throws(() => parseTypeBitmap(Uint8Array.of(1, 1, 0x40, 0, 1, 0x40)), BadPacketError); // windows out of order
    assert.throws(() => parseTypeBitmap(Uint8Array.of(0, 33)), BadPacketError);
    assert.throws(() => parseTypeBitmap(Uint8Array.of(0, 2, 0x40)), BadPacketError);
    assert.throws(() => parseDnskey(Uint8Array.of(1, 1, 3)), BadPacketError);
    assert.throws(() => parseDs(Uint8Array.of(1, 1, 3, 2)), BadPacketError);
    assert.throws(() => parseRrsig(new Uint8Array(18)), BadPacketError);
    assert.throws(
      () => parseRrsig(Buffer.concat([Buffer.alloc(18), Buffer.from([0xc0, 12, 1])])),
      BadPacketError,
    );
    assert.throws(() => parseRrsig(Buffer.concat([Buffer.alloc(18), Buffer.from([0])])), BadPacketError); // no signature
    assert.throws(() => parseNsec(Uint8Array.of(3, 97)), BadPacketError);
    assert.throws(() => parseNsec3(Uint8Array.of(1, 0, 0, 0, 4, 1)), BadPacketError);
    assert.throws(() => parseNsec3(Uint8Array.of(1, 0, 0, 0, 0, 0)), BadPacketError);
  });

  it('reads fields', () => {
    const key = parseDnskey(Uint8Array.of(1, 0x81, 3, 15, 9, 9));
    assert.equal(key.zoneKey, true);
    assert.equal(key.sep, true);
    assert.equal(key.revoked, true);
    assert.equal(parseNsec(nsecRdata('B.example.', [1, 46, 47])).next, 'B.example.');
    const n3 = parseNsec3(
      nsec3Rdata(Uint8Array.of(1, 2, 3), [1], { salt: Uint8Array.of(0xab), iterations: 7, optOut: true }),
    );
    assert.equal(n3.optOut, true);
    assert.equal(n3.iterations, 7);
    assert.deepEqual([...n3.salt], [0xab]);
    assert.deepEqual([...n3.types], [1]);
    const fields = Buffer.alloc(18);
    fields.writeUInt16BE(28, 0);
    fields.writeUInt32BE(0xfffffff0, 8);
    const sig = parseRrsig(Buffer.concat([fields, nameToWire('Example.TEST.'), Buffer.from([5])]));
    assert.equal(sig.typeCovered, 28);
    assert.equal(sig.expiration, 0xfffffff0);
    assert.equal(sig.signer, 'Example.TEST.');
    assert.ok(
      Buffer.from(sig.signedFields)
        .subarray(18)
        .equals(Buffer.from(nameToWire('example.test.'))),
    );
  });
});

describe('trust anchor files', () => {
  const ds = '. IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D';

  it('reads DS and DNSKEY lines, with TTLs, classes, comments and parentheses', () => {
    const text = `; comment
${ds}
example.test. 3600 IN DNSKEY 257 3 ED25519 (
    l02Woi0iS8Aa25FQkUd9RMzZHJpBoRQwAQEX1SxZJA4= ) ; a key
example.test. DS 3613 15 2 3aa5ab37efce57f737fc1627013fee07 bdf241bd10f3b1964ab55c78e79a304b
`;
    const anchors = parseTrustAnchors(text, 'a.txt');
    assert.deepEqual(
      anchors.map((a) => [a.zone, a.ds.length, a.dnskey.length]),
      [
        ['.', 1, 0],
        ['example.test.', 1, 1],
      ],
    );
    assert.equal(parseDnskey(anchors[1]?.dnskey[0] as Uint8Array).keyTag, 3613);
    assert.equal(parseDs(anchors[1]?.ds[0] as Uint8Array).keyTag, 3613);
  });

  it("reads BIND's trust-anchors clause (delv's -a file)", () => {
    const text = `trust-anchors {
  "." initial-ds 20326 8 2 "E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D";
  example.test. static-key 257 3 15 "l02Woi0iS8Aa25FQkUd9RMzZHJpBoRQwAQEX1SxZJA4=";
};`;
    const anchors = parseTrustAnchors(text);
    assert.equal(parseDs(anchors[0]?.ds[0] as Uint8Array).keyTag, 20326);
    assert.equal(parseDnskey(anchors[1]?.dnskey[0] as Uint8Array).keyTag, 3613);
  });

  it('rejects what is not an anchor, bad hex, bad base64, and empty files with ValidationError naming the line', () => {
    assert.throws(
      () => parseTrustAnchors('. IN A 192.0.2.1', 'f'),
      /f line 1: expected a DS or DNSKEY record/,
    );
    assert.throws(() => parseTrustAnchors('. DS 1 8 2 XYZ', 'f'), /invalid DS digest/);
    assert.throws(() => parseTrustAnchors('. DNSKEY 257 3 8 !!!', 'f'), /invalid DNSKEY key/);
    assert.throws(() => parseTrustAnchors('. DS 70000 8 2 AB', 'f'), /invalid key tag/);
    assert.throws(() => parseTrustAnchors('. DS 1 NOSUCHALG 2 AB', 'f'), /unknown DNSSEC algorithm/);
    assert.throws(() => parseTrustAnchors('; nothing\n', 'f'), ValidationError);
  });
});
