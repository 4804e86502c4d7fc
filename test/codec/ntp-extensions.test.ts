import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { encodeNtpPacket } from '../../src/codec/ntp.js';
import {
  decodeNtpExtensionFields,
  decodeNtpExtensions,
  decodeNtsAuthenticator,
  encodeNtpExtensionField,
  encodeNtpExtensions,
  encodeNtsAuthenticator,
  NtpExtensionType,
  ntpTailError,
} from '../../src/codec/ntp-extensions.js';
import { BadPacketError, ValidationError } from '../../src/core/errors.js';

const h = (s: string) => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const v4 = () => encodeNtpPacket({ version: 4, mode: 3, transmitTimestamp: 0x0102030405060708n });
const v3 = () => encodeNtpPacket({ version: 3, mode: 3, transmitTimestamp: 1n });
const withTail = (header: Uint8Array, tail: Uint8Array) => {
  const p = new Uint8Array(header.length + tail.length);
  p.set(header);
  p.set(tail, header.length);
  return p;
};

describe('NTP extension fields (RFC 7822)', () => {
  test('known answer: a Unique Identifier field and an NTS authenticator, then nothing', () => {
    const tail = h(
      // type 0x0104, length 36, 32 bytes of 0xaa
      `0104 0024 ${'aa'.repeat(32)}` +
        // type 0x0404, length 40: nonce length 16, ciphertext length 16, nonce, ciphertext
        `0404 0028 0010 0010 ${'11'.repeat(16)} ${'22'.repeat(16)}`,
    );
    const p = withTail(v4(), tail);
    assert.equal(ntpTailError(p), undefined);
    const d = decodeNtpExtensions(p);
    assert.equal(d.mac, undefined);
    assert.deepEqual(
      d.fields.map((f) => [f.type, f.body.length, f.offset]),
      [
        [NtpExtensionType.uniqueIdentifier, 32, 48],
        [NtpExtensionType.ntsAuthenticator, 36, 84],
      ],
    );
    const auth = decodeNtsAuthenticator(d.fields[1]?.body as Uint8Array);
    assert.deepEqual(auth.nonce, new Uint8Array(16).fill(0x11));
    assert.deepEqual(auth.ciphertext, new Uint8Array(16).fill(0x22));
  });

  test('MACs: 20 and 24 bytes at a field boundary in NTPv4; 20..68 bytes in NTPv3; crypto-NAK', () => {
    const md5 = withTail(v4(), h(`00000001 ${'ab'.repeat(16)}`));
    assert.deepEqual(decodeNtpExtensions(md5).mac?.keyId, 1);
    assert.equal(decodeNtpExtensions(md5).mac?.digest.length, 16);
    assert.equal(decodeNtpExtensions(md5).mac?.offset, 48);
    const sha1 = withTail(v4(), h(`ffffffff ${'ab'.repeat(20)}`));
    assert.equal(decodeNtpExtensions(sha1).mac?.keyId, 0xffffffff);
    assert.equal(decodeNtpExtensions(sha1).mac?.digest.length, 20);
    // NTPv3: a SHA256 digest, not truncated
    const v3sha256 = withTail(v3(), h(`00000007 ${'cd'.repeat(32)}`));
    assert.equal(decodeNtpExtensions(v3sha256).mac?.digest.length, 32);
    // a field then a MAC
    const both = withTail(v4(), h(`0104 0010 ${'aa'.repeat(12)} 00000002 ${'ab'.repeat(16)}`));
    const d = decodeNtpExtensions(both);
    assert.equal(d.fields.length, 1);
    assert.equal(d.mac?.keyId, 2);
    assert.equal(d.mac?.offset, 64);
    // crypto-NAK
    const nak = withTail(v4(), h('00000000'));
    assert.equal(decodeNtpExtensions(nak).mac?.keyId, 0);
    assert.equal(decodeNtpExtensions(nak).mac?.digest.length, 0);
  });

  test('hostile tails are BadPacketError, and ntpTailError names why', () => {
    const cases: Array<[string, Uint8Array]> = [
      ['not a multiple of 4', withTail(v4(), h('000000'))],
      ['4 non-zero bytes', withTail(v4(), h('00000001'))],
      ['8 stray bytes', withTail(v4(), h('0104000800000000'))],
      ['12 stray bytes', withTail(v4(), new Uint8Array(12))],
      ['a 16-byte last field reads as neither', withTail(v4(), h(`0104 0010 ${'aa'.repeat(12)}`))],
      ['field length below 16', withTail(v4(), h(`0104 000c ${'aa'.repeat(24)}`))],
      ['field length not a multiple of 4', withTail(v4(), h(`0104 0021 ${'aa'.repeat(28)}`))],
      ['field runs past the end', withTail(v4(), h(`0104 0040 ${'aa'.repeat(28)}`))],
      ['field length 0', withTail(v4(), h(`0104 0000 ${'aa'.repeat(28)}`))],
      ['NTPv3 tail too short for a MAC', withTail(v3(), new Uint8Array(16))],
      ['NTPv3 tail too long for a MAC', withTail(v3(), new Uint8Array(72))],
      [
        'MAC of 28 bytes in NTPv4 is a field with a bad length',
        withTail(v4(), h(`00000001 ${'ab'.repeat(24)}`)),
      ],
      ['shorter than a header', new Uint8Array(47)],
    ];
    for (const [what, p] of cases) {
      assert.equal(typeof ntpTailError(p), 'string', what);
      assert.throws(() => decodeNtpExtensions(p), BadPacketError, what);
    }
    assert.match(
      ntpTailError(withTail(v4(), h(`0104 0040 ${'aa'.repeat(28)}`))) as string,
      /only 32 bytes are left/,
    );
  });

  test('too many fields is an error', () => {
    const field = encodeNtpExtensionField(0x1234, new Uint8Array(12));
    const tail = new Uint8Array(65 * 16 + 16);
    for (let i = 0; i < 65; i++) tail.set(field, i * 16);
    tail.set(encodeNtpExtensionField(0x1234, new Uint8Array(24)).subarray(0, 16), 65 * 16);
    assert.match(ntpTailError(withTail(v4(), tail)) as string, /more than 64/);
  });

  test('the length argument: check a datagram inside a larger buffer without slicing', () => {
    const buf = new Uint8Array(200);
    buf.set(v4());
    buf[51] = 1;
    assert.equal(ntpTailError(buf, 48), undefined);
    assert.match(ntpTailError(buf, 52) as string, /crypto-NAK/);
  });

  test('encoding pads to a multiple of 4 and to 16, and the last field without a MAC to 28', () => {
    assert.equal(encodeNtpExtensionField(1, new Uint8Array(0)).length, 16);
    assert.equal(encodeNtpExtensionField(1, new Uint8Array(13)).length, 20);
    assert.equal(encodeNtpExtensionField(1, new Uint8Array(1), 28).length, 28);
    const p = encodeNtpExtensions(v4(), [{ type: 7, body: new Uint8Array(1) }]);
    assert.equal(p.length, 48 + 28);
    assert.equal(ntpTailError(p), undefined);
    const q = encodeNtpExtensions(v4(), [{ type: 7, body: new Uint8Array(1) }], {
      keyId: 5,
      digest: new Uint8Array(16),
    });
    assert.equal(q.length, 48 + 16 + 20);
    assert.equal(decodeNtpExtensions(q).mac?.keyId, 5);
    assert.throws(() => encodeNtpExtensionField(0x10000, new Uint8Array(0)), ValidationError);
    assert.throws(
      () => encodeNtpExtensions(v4(), [], { keyId: 1, digest: new Uint8Array(32) }),
      /Cannot encode/,
    );
  });

  test('round trip: any fields (and optional MAC) encode, decode and encode to the same bytes', () => {
    const fieldArb = fc.record({
      type: fc.integer({ min: 0, max: 0xffff }),
      body: fc
        .integer({ min: 0, max: 30 })
        .chain((n) => fc.uint8Array({ minLength: n * 4, maxLength: n * 4 })),
    });
    const macArb = fc.option(
      fc.record({
        keyId: fc.integer({ min: 1, max: 0xffff_ffff }),
        digest: fc.oneof(
          fc.uint8Array({ minLength: 16, maxLength: 16 }),
          fc.uint8Array({ minLength: 20, maxLength: 20 }),
        ),
      }),
      { nil: undefined },
    );
    fc.assert(
      fc.property(fc.array(fieldArb, { maxLength: 6 }), macArb, (fields, mac) => {
        const bytes = encodeNtpExtensions(v4(), fields, mac);
        const d = decodeNtpExtensions(bytes);
        assert.equal(d.fields.length, fields.length);
        const again = encodeNtpExtensions(
          v4(),
          d.fields.map((f) => ({ type: f.type, body: f.body })),
          d.mac,
        );
        assert.deepEqual(again, bytes);
      }),
      { numRuns: 300 },
    );
  });

  test('property: ntpTailError and decodeNtpExtensions agree on random tails, and never throw anything else', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 200 }),
        fc.constantFrom(1, 2, 3, 4, 5, 6, 7),
        (tail, version) => {
          const header = encodeNtpPacket({ version, mode: 3 });
          const p = withTail(header, tail);
          const problem = ntpTailError(p);
          try {
            decodeNtpExtensions(p);
            assert.equal(problem, undefined);
          } catch (err) {
            assert.ok(err instanceof BadPacketError);
            assert.equal(err.message, problem);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('NTS authenticator body (RFC 8915 §5.6)', () => {
  test('encode pads nonce to 16 bytes reserved and the field to 28; decode reads it back', () => {
    const small = encodeNtsAuthenticator(new Uint8Array([1, 2, 3]), new Uint8Array(16));
    assert.equal(small.length, 4 + 16 + 16);
    const d = decodeNtsAuthenticator(small);
    assert.deepEqual(d.nonce, new Uint8Array([1, 2, 3]));
    assert.equal(d.ciphertext.length, 16);
    const padded = encodeNtsAuthenticator(new Uint8Array(16), new Uint8Array(16), 100);
    assert.equal(padded.length, 96);
  });
  test('hostile bodies', () => {
    assert.throws(() => decodeNtsAuthenticator(new Uint8Array(3)), BadPacketError);
    assert.throws(() => decodeNtsAuthenticator(h(`0000 0010 ${'00'.repeat(32)}`)), /empty nonce/);
    assert.throws(() => decodeNtsAuthenticator(h(`0010 0020 ${'00'.repeat(40)}`)), /run past/);
    // nonce of 4 bytes with only 4 reserved: chrony requires 16 reserved
    assert.throws(() => decodeNtsAuthenticator(h(`0004 0010 ${'00'.repeat(20)}`)), /run past/);
    assert.throws(() => decodeNtsAuthenticator(h(`ffff ffff ${'00'.repeat(40)}`)), BadPacketError);
  });
  test('property: never throws anything but BadPacketError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (b) => {
        try {
          const d = decodeNtsAuthenticator(b);
          assert.ok(d.nonce.length >= 1);
        } catch (err) {
          assert.ok(err instanceof BadPacketError);
        }
      }),
      { numRuns: 1000 },
    );
  });
});

describe('encrypted extension fields', () => {
  test('decode concatenated fields; malformed ones throw', () => {
    const a = encodeNtpExtensionField(NtpExtensionType.ntsCookie, new Uint8Array(100).fill(7));
    const b = encodeNtpExtensionField(NtpExtensionType.ntsCookie, new Uint8Array(100).fill(8));
    const both = new Uint8Array([...a, ...b]);
    const f = decodeNtpExtensionFields(both);
    assert.equal(f.length, 2);
    assert.equal(f[1]?.body[0], 8);
    assert.deepEqual(decodeNtpExtensionFields(new Uint8Array(0)), []);
    assert.throws(() => decodeNtpExtensionFields(both.subarray(0, 200)), BadPacketError);
    assert.throws(() => decodeNtpExtensionFields(new Uint8Array(3)), BadPacketError);
    assert.throws(() => decodeNtpExtensionFields(h('0204 0002')), BadPacketError);
  });
});
