import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { nameToWire } from '../../src/codec/dns-name.js';
import {
  canonicalRdata,
  compareNames,
  isSubdomain,
  labelCount,
  parentName,
  signedData,
  signedOwner,
} from '../../src/dnssec/canonical.js';
import { parseRrsig, T } from '../../src/dnssec/records.js';
import { rr } from '../helpers/dnssec-sign.js';

describe('canonical name order (RFC 4034 §6.1)', () => {
  it('sorts the RFC example list', () => {
    const ordered = [
      'example.',
      'a.example.',
      'yljkjljk.a.example.',
      'Z.a.example.',
      'zABC.a.EXAMPLE.',
      'z.example.',
      '\\001.z.example.',
      '*.z.example.',
      '\\200.z.example.',
    ];
    const shuffled = [...ordered].reverse();
    shuffled.sort(compareNames);
    assert.deepEqual(shuffled, ordered);
  });

  it('is a total order: antisymmetric, and case-insensitive', () => {
    const label = fc.stringMatching(/^[a-zA-Z0-9*-]{1,8}$/);
    const name = fc
      .array(label, { minLength: 0, maxLength: 4 })
      .map((l) => (l.length ? `${l.join('.')}.` : '.'));
    fc.assert(
      fc.property(name, name, (a, b) => {
        const ab = Math.sign(compareNames(a, b));
        assert.equal(ab, -Math.sign(compareNames(b, a)) || 0);
        assert.equal(compareNames(a, a.toUpperCase()), 0);
      }),
    );
  });

  it('knows subdomains, parents and label counts', () => {
    assert.equal(isSubdomain('www.Example.test.', 'example.TEST.'), true);
    assert.equal(isSubdomain('example.test.', 'example.test.'), true);
    assert.equal(isSubdomain('badexample.test.', 'example.test.'), false);
    assert.equal(isSubdomain('anything.', '.'), true);
    assert.equal(parentName('www.example.test.'), 'example.test.');
    assert.equal(parentName('test.'), '.');
    assert.equal(labelCount('.'), 0);
    assert.equal(labelCount('a\\.b.test.'), 2);
  });
});

describe('canonical RDATA (RFC 4034 §6.2, RFC 6840 §5.1)', () => {
  it('lower-cases names inside MX, SOA, SRV and RRSIG RDATA', () => {
    const mx = Buffer.concat([Buffer.from([0, 10]), nameToWire('Mail.EXAMPLE.test.')]);
    assert.deepEqual(
      Buffer.from(canonicalRdata(15, mx)),
      Buffer.concat([Buffer.from([0, 10]), nameToWire('mail.example.test.')]),
    );
    const soa = Buffer.concat([nameToWire('NS.Test.'), nameToWire('Host.Test.'), Buffer.alloc(20, 7)]);
    assert.deepEqual(
      Buffer.from(canonicalRdata(T.SOA, soa)),
      Buffer.concat([nameToWire('ns.test.'), nameToWire('host.test.'), Buffer.alloc(20, 7)]),
    );
    const srv = Buffer.concat([Buffer.from([0, 1, 0, 2, 0, 3]), nameToWire('SIP.Test.')]);
    assert.deepEqual(
      Buffer.from(canonicalRdata(33, srv)),
      Buffer.concat([Buffer.from([0, 1, 0, 2, 0, 3]), nameToWire('sip.test.')]),
    );
  });

  it('leaves NSEC next names, TXT and unknown types as they are', () => {
    const nsec = Buffer.concat([nameToWire('B.Example.'), Buffer.from([0, 1, 0x40])]);
    assert.deepEqual(Buffer.from(canonicalRdata(T.NSEC, nsec)), nsec);
    const txt = Buffer.from('\u0003ABC');
    assert.deepEqual(Buffer.from(canonicalRdata(16, txt)), txt);
  });
});

describe('signed data (RFC 4034 §3.1.8.1, §6.3)', () => {
  function sigFor(labels: number) {
    const fields = Buffer.alloc(18);
    fields.writeUInt16BE(T.A, 0);
    fields[2] = 15;
    fields[3] = labels;
    fields.writeUInt32BE(300, 4);
    return parseRrsig(Buffer.concat([fields, nameToWire('Example.TEST.'), Buffer.from([1])]));
  }

  it('sorts records by RDATA, removes duplicates, uses the original TTL and a lower-case owner', () => {
    const sig = sigFor(3);
    const a = rr('WWW.example.test.', T.A, Uint8Array.of(192, 0, 2, 2), 10);
    const b = rr('www.example.test.', T.A, Uint8Array.of(192, 0, 2, 1), 99);
    const data = Buffer.from(signedData(sig, [a, b, a]));
    const owner = nameToWire('www.example.test.');
    const record = (last: number) =>
      Buffer.concat([owner, Buffer.from([0, 1, 0, 1, 0, 0, 1, 44, 0, 4, 192, 0, 2, last])]);
    assert.deepEqual(data, Buffer.concat([Buffer.from(sig.signedFields), record(1), record(2)]));
    // The signer name in the RRSIG fields is lower-cased.
    assert.ok(Buffer.from(sig.signedFields).includes(Buffer.from('example')));
  });

  it('rebuilds the owner of a wildcard expansion from the labels field', () => {
    assert.equal(signedOwner('a.b.wild.example.', 2), '*.wild.example.');
    assert.equal(signedOwner('www.example.', 2), 'www.example.');
    assert.equal(signedOwner('*.example.', 1), '*.example.');
  });
});
