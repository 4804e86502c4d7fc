/**
 * AEAD_AES_SIV_CMAC_256 and AES-CMAC against published vectors: RFC 5297 appendix A (both examples: one
 * associated-data string; two strings and a nonce), RFC 4493 §4 / NIST SP 800-38B (CMAC, AES-128 and AES-256),
 * and chrony 4.x's SIV unit-test vectors (nonce + associated data + plaintext, the NTS shape). The RFC 5297
 * vectors are checked on @noble/ciphers' `aessiv` (the reference); soket's own AES-SIV (its own AES block) is
 * checked on the NTS-shaped vectors and differentially against noble over random inputs.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { aessiv, cmac } from '@noble/ciphers/aes.js';
import fc from 'fast-check';
import { ValidationError } from '../../src/core/errors.js';
import { aesCmac, aesSivOpen, aesSivSeal, SivKey } from '../../src/ntp/aes-siv.js';

const h = (s: string) => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('AES-SIV (RFC 5297)', () => {
  test('A.1 deterministic authenticated encryption (one AD string): noble and soket', () => {
    const key = h('fffefdfc fbfaf9f8 f7f6f5f4 f3f2f1f0 f0f1f2f3 f4f5f6f7 f8f9fafb fcfdfeff');
    const ad = h('10111213 14151617 18191a1b 1c1d1e1f 20212223 24252627');
    const pt = h('11223344 55667788 99aabbcc ddee');
    const out = aessiv(key, ad).encrypt(pt);
    assert.equal(hex(out), '85632d07c6e8f37f950acd320a2ecc93' + '40c02b9690c4dc04daef7f6afe5c');
    assert.deepEqual(aessiv(key, ad).decrypt(out), pt);
    // soket's own, on its own AES block function
    assert.deepEqual(new SivKey(key).sealStrings([ad], pt), out);
    assert.deepEqual(new SivKey(key).openStrings([ad], out), pt);
  });

  test('A.2 nonce-based (two AD strings, then the nonce): noble and soket; aesSivSeal is S2V(AD, N, P)', () => {
    const key = h('7f7e7d7c 7b7a7978 77767574 73727170 40414243 44454647 48494a4b 4c4d4e4f');
    const ad1 = h(
      '00112233 44556677 8899aabb ccddeeff deaddada deaddada ffeeddcc bbaa9988 77665544 33221100',
    );
    const ad2 = h('10203040 50607080 90a0');
    const nonce = h('09f91102 9d74e35b d84156c5 635688c0');
    const pt = h(
      '74686973 20697320 736f6d65 20706c61 696e7465 78742074 6f20656e 63727970 74207573 696e6720 5349562d 414553',
    );
    const out = aessiv(key, ad1, ad2, nonce).encrypt(pt);
    assert.equal(
      hex(out),
      '7bdb6e3b432667eb06f4d14bff2fbd0f' +
        'cb900f2fddbe404326601965c889bf17dba77ceb094fa663b7a3f748ba8af829ea64ad544a272e9c485b62a3fd5c0d',
    );
    assert.deepEqual(new SivKey(key).sealStrings([ad1, ad2, nonce], pt), out);
    assert.deepEqual(new SivKey(key).openStrings([ad1, ad2, nonce], out), pt);
    // The AEAD interface (one AD string) equals the raw construction with [AD, N]:
    assert.deepEqual(aesSivSeal(key, nonce, ad1, pt), aessiv(key, ad1, nonce).encrypt(pt));
  });

  // chrony test/unit/siv.c, AEAD_AES_SIV_CMAC_256: [nonce, assoc, plaintext, ciphertext]
  const key = h('0123456789abcdeff0123456789abcdeef0123456789abcddef0123456789abc');
  const chrony: Array<[string, string, string, string]> = [
    ['101112131415161718191a1b1c1d1e1f', '', '', '223eb594e0e0254b00258e219a1ca421'],
    [
      '101112131415161718191a1b1c1d1e1f',
      '4c9d4fcaed8ae2baad3f3ea6e93c8c8b',
      '',
      'd7201989c6dbc6d661fc62bc865eeeef',
    ],
    [
      '101112131415161718191a1b1c1d1e1f',
      '',
      '4c9d4fcaed8ae2baad3f3ea6e93c8c8b',
      'b6c160e9c2fd2ae8dec5368b2a33ede114ffb397345ccbe44aa4deacd9369046',
    ],
    [
      '101112131415161718191a1b1c1d1e',
      '4c9d4fcaed8ae2baad3f3ea6e93c8c',
      'ba997931237e3c53587ed49302abe4',
      '038c4151ba7a8f776e563199420bc703e76c67c9dab70d5b4406265ad0d23b',
    ],
    [
      '101112131415161718191a1b1c1d1e1f',
      '4c9d4fcaed8ae2baad3f3ea6e93c8c8b',
      'ba997931237e3c53587ed49302abe4a7',
      '5c052365f4570aa0fb383ece9b7585eb688519360c7c481140cb9b579a0e6532',
    ],
    [
      '101112131415161718191a1b1c1d1e1fd5',
      '4c9d4fcaed8ae2baad3f3ea6e93c8c8ba0',
      'ba997931237e3c53587ed49302abe4a708',
      'af584be7821e9619299125e0dd803b49a511cdb608f376a0b6fa1582f395e1ebbd',
    ],
  ];
  test('chrony SIV vectors: the NTS shape (nonce, associated data, plaintext)', () => {
    for (const [n, a, p, c] of chrony) {
      const sealed = aesSivSeal(key, h(n), h(a), h(p));
      assert.equal(hex(sealed), c, `nonce ${n}`);
      assert.deepEqual(aesSivOpen(key, h(n), h(a), sealed), h(p));
    }
  });

  test('open fails (undefined, never throws) on any altered byte, a wrong nonce, AD or key', () => {
    const n = h('101112131415161718191a1b1c1d1e1f');
    const a = h('4c9d4fcaed8ae2baad3f3ea6e93c8c8b');
    const sealed = aesSivSeal(key, n, a, h('ba997931237e3c53587ed49302abe4a7'));
    for (let i = 0; i < sealed.length; i++) {
      const bad = sealed.slice();
      bad[i] = (bad[i] as number) ^ 1;
      assert.equal(aesSivOpen(key, n, a, bad), undefined, `byte ${i}`);
    }
    assert.equal(aesSivOpen(key, a, a, sealed), undefined);
    assert.equal(aesSivOpen(key, n, n, sealed), undefined);
    assert.equal(aesSivOpen(new Uint8Array(32), n, a, sealed), undefined);
    assert.equal(aesSivOpen(key, n, a, sealed.subarray(0, 15)), undefined);
    const prepared = new SivKey(key);
    assert.equal(prepared.open(n, a, sealed.slice(0, 31)), undefined);
    assert.deepEqual(prepared.open(n, a, sealed), h('ba997931237e3c53587ed49302abe4a7'));
    assert.throws(() => aesSivSeal(new Uint8Array(16), n, a, a), ValidationError);
  });

  test("differential: soket's AES-SIV equals noble's for any key, nonce, AD and plaintext, and one SivKey reused", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.array(
          fc.record({
            n: fc.uint8Array({ minLength: 0, maxLength: 40 }),
            a: fc.uint8Array({ maxLength: 300 }),
            p: fc.uint8Array({ maxLength: 300 }),
          }),
          { minLength: 1, maxLength: 4 },
        ),
        (k, msgs) => {
          const prepared = new SivKey(k);
          for (const { n, a, p } of msgs) {
            const expected = aessiv(k, a, n).encrypt(p);
            assert.deepEqual(aesSivSeal(k, n, a, p), expected);
            assert.deepEqual(prepared.seal(n, a, p), expected);
            assert.deepEqual(prepared.open(n, a, expected), p);
          }
        },
      ),
      { numRuns: 400 },
    );
  });

  test('setKey re-keys in place and sealInto writes at an offset: the same bytes as a fresh key and seal()', () => {
    const reused = new SivKey(new Uint8Array(32));
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 1, maxLength: 40 }),
        fc.uint8Array({ maxLength: 200 }),
        fc.uint8Array({ maxLength: 200 }),
        fc.nat({ max: 50 }),
        (k, n, a, p, pad) => {
          const expected = aessiv(k, a, n).encrypt(p);
          assert.equal(reused.setKey(k), reused);
          assert.deepEqual(reused.seal(n, a, p), expected);
          assert.deepEqual(reused.open(n, a, expected), p);
          // the nonce and the associated data inside the output buffer, before the result
          const at = pad + n.length + a.length;
          const out = new Uint8Array(at + expected.length + 3).fill(0xee);
          out.set(n, pad);
          out.set(a, pad + n.length);
          const nIn = out.subarray(pad, pad + n.length);
          const aIn = out.subarray(pad + n.length, at);
          assert.equal(reused.sealInto(nIn, aIn, p, out, at), out);
          assert.deepEqual(out.subarray(at, at + expected.length), expected);
          assert.deepEqual(out.subarray(at + expected.length), new Uint8Array(3).fill(0xee));
          assert.deepEqual(out.subarray(pad, at), new Uint8Array([...n, ...a]), 'inputs untouched');
        },
      ),
      { numRuns: 300 },
    );
    assert.throws(() => reused.setKey(new Uint8Array(31)), ValidationError);
    assert.throws(
      () => reused.sealInto(new Uint8Array(16), new Uint8Array(0), new Uint8Array(4), new Uint8Array(19), 0),
      ValidationError,
    );
  });

  test("differential: AES-CMAC equals noble's for AES-128 and AES-256 keys, any message", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ minLength: 16, maxLength: 16 }),
          fc.uint8Array({ minLength: 32, maxLength: 32 }),
        ),
        fc.uint8Array({ maxLength: 200 }),
        (k, m) => {
          assert.deepEqual(aesCmac(k, m), cmac(m, k));
        },
      ),
      { numRuns: 400 },
    );
  });

  test('Node Buffers in (whose slice() is a view): same results, and the inputs are never modified', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 1, maxLength: 20 }),
        fc.uint8Array({ maxLength: 100 }),
        fc.uint8Array({ maxLength: 100 }),
        (k, n, a, p) => {
          const big = Buffer.concat([Buffer.from(n), Buffer.from(a), Buffer.from(p)]);
          const nb = big.subarray(0, n.length);
          const ab = big.subarray(n.length, n.length + a.length);
          const pb = big.subarray(n.length + a.length);
          const before = Buffer.from(big);
          const sealed = Buffer.from(aesSivSeal(Buffer.from(k), nb, ab, pb));
          assert.deepEqual(big, before);
          assert.deepEqual(new Uint8Array(sealed), aessiv(k, a, n).encrypt(p));
          const copy = Buffer.from(sealed);
          assert.deepEqual(aesSivOpen(k, nb, ab, sealed), p);
          assert.deepEqual(sealed, copy);
        },
      ),
      { numRuns: 200 },
    );
  });

  test('round trip for any nonce, AD and plaintext', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 1, maxLength: 40 }),
        fc.uint8Array({ maxLength: 300 }),
        fc.uint8Array({ maxLength: 300 }),
        (k, n, a, p) => {
          const s = aesSivSeal(k, n, a, p);
          assert.equal(s.length, p.length + 16);
          assert.deepEqual(aesSivOpen(k, n, a, s), p);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('AES-CMAC (RFC 4493, NIST SP 800-38B)', () => {
  const k128 = h('2b7e1516 28aed2a6 abf71588 09cf4f3c');
  const k256 = h('603deb10 15ca71be 2b73aef0 857d7781 1f352c07 3b6108d7 2d9810a3 0914dff4');
  const m = h(
    '6bc1bee2 2e409f96 e93d7e11 7393172a ae2d8a57 1e03ac9c 9eb76fac 45af8e51 30c81c46 a35ce411 e5fbc119 1a0a52ef f69f2445 df4f9b17 ad2b417b e66c3710',
  );
  test('AES-128 examples 1-4', () => {
    assert.equal(hex(aesCmac(k128, new Uint8Array(0))), 'bb1d6929e95937287fa37d129b756746');
    assert.equal(hex(aesCmac(k128, m.subarray(0, 16))), '070a16b46b4d4144f79bdd9dd04a287c');
    assert.equal(hex(aesCmac(k128, m.subarray(0, 40))), 'dfa66747de9ae63030ca32611497c827');
    assert.equal(hex(aesCmac(k128, m)), '51f0bebf7e3b9d92fc49741779363cfe');
  });
  test('AES-256 examples', () => {
    assert.equal(hex(aesCmac(k256, new Uint8Array(0))), '028962f61b7bf89efc6b551f4667d983');
    assert.equal(hex(aesCmac(k256, m.subarray(0, 16))), '28a7023f452e8f82bd4bf28d8c37c35c');
    assert.equal(hex(aesCmac(k256, m)), 'e1992190549f6ed5696a2c056c315410');
  });
  test('key length checked', () => {
    assert.throws(() => aesCmac(new Uint8Array(24), m), ValidationError);
  });
});
