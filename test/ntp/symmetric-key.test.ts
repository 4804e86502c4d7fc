import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import fc from 'fast-check';
import { encodeNtpPacket } from '../../src/codec/ntp.js';
import { ValidationError } from '../../src/core/errors.js';
import { aesCmac } from '../../src/ntp/aes-siv.js';
import {
  appendMac,
  parseKeyFile,
  parseSymmetricKey,
  readKeyFile,
  SYMMETRIC_KEY_TYPES,
  symmetricAuthenticator,
  symmetricDigest,
  verifyMac,
} from '../../src/ntp/symmetric-key.js';

const dir = mkdtempSync(join(tmpdir(), 'soket-keys-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const SHA1 = 'B2159C05D6A219673A3B7E896B6DE07F6A440995';

describe('symmetric keys: parsing', () => {
  test('--key ID:TYPE:HEX and the keyfile encodings', () => {
    const k = parseSymmetricKey(`3:SHA1:${SHA1.toLowerCase()}`);
    assert.equal(k.id, 3);
    assert.equal(k.type, 'SHA1');
    assert.equal(Buffer.from(k.key).toString('hex').toUpperCase(), SHA1);
    assert.deepEqual(parseSymmetricKey(`3:sha1:HEX:${SHA1}`).key, k.key);
    assert.equal(
      Buffer.from(parseSymmetricKey('9:MD5:ASCII:AVeryLongPassword').key).toString(),
      'AVeryLongPassword',
    );
    assert.equal(parseSymmetricKey('4:AES128:2DA837C4B6573748CA692B8C828E4891').key.length, 16);
  });

  test('bad --key values name the argument and never echo the key', () => {
    const bad = [
      '3:SHA1',
      `0:SHA1:${SHA1}`,
      `4294967296:SHA1:${SHA1}`,
      `x:SHA1:${SHA1}`,
      `3:SHA3:${SHA1}`,
      '3:SHA1:abc',
      '3:SHA1:zz',
      '3:AES128:00112233445566778899aabbccddee', // 15 bytes
      '3:AES256:00112233445566778899aabbccddeeff', // 16 bytes
      '3:MD5:0011', // 2 bytes: under 80 bits
    ];
    for (const spec of bad) {
      assert.throws(
        () => parseSymmetricKey(spec),
        (err: unknown) =>
          err instanceof ValidationError && /--key/.test(err.message) && !err.message.includes(SHA1),
        spec,
      );
    }
  });

  test('chrony keyfile: comments, default type MD5, HEX:/ASCII:/bare, every type', () => {
    const keys = parseKeyFile(
      [
        '# This is a comment',
        '! so is this',
        '; and this',
        '% and this',
        '',
        '1 AVeryLongAndRandomPassword',
        '2 MD5 HEX:12114855C7931009B4049EF3EFC48A139C3F989F',
        `3 SHA1 HEX:${SHA1}`,
        '4 AES128 HEX:2DA837C4B6573748CA692B8C828E4891',
        '5 AES256 HEX:2666B8099BFF2D5BA20876121788ED24D2BE59111B8FFB562F0F56AE6EC7246E',
        '  6   SHA256   ASCII:another-long-secret  ',
        '7 SHA512 HEX:00112233445566778899',
      ].join('\n'),
    );
    assert.deepEqual(
      [...keys.values()].map((k) => [k.id, k.type, k.key.length]),
      [
        [1, 'MD5', 26],
        [2, 'MD5', 20],
        [3, 'SHA1', 20],
        [4, 'AES128', 16],
        [5, 'AES256', 32],
        [6, 'SHA256', 19],
        [7, 'SHA512', 10],
      ],
    );
  });

  test('keyfile errors name the file and line', async () => {
    assert.throws(
      () => parseKeyFile('1 MD5 HEX:abcdefabcdefabcdefabcd\n1 SHA1 HEX:abcdefabcdefabcdefabcd\n', 'k'),
      /Duplicate key ID 1 in k line 2/,
    );
    assert.throws(() => parseKeyFile('\n\nx MD5 secretsecretsecret\n', 'k'), /k line 3/);
    assert.throws(() => parseKeyFile('1 MD5 a b c\n', 'k'), /k line 1/);
    assert.throws(() => parseKeyFile('1 AES128 HEX:00\n', 'k'), /expected 16 \(128 bits\)/);
    const file = join(dir, 'keys');
    writeFileSync(file, `3 SHA1 HEX:${SHA1}\n`);
    assert.equal((await readKeyFile(file)).get(3)?.type, 'SHA1');
    await assert.rejects(
      readKeyFile(join(dir, 'nope')),
      (err: Error & { code?: string }) => err.code === 'ENOENT',
    );
  });

  test('types are the ones chrony names', () => {
    assert.deepEqual(
      [...SYMMETRIC_KEY_TYPES],
      ['MD5', 'SHA1', 'SHA256', 'SHA384', 'SHA512', 'AES128', 'AES256'],
    );
  });
});

describe('symmetric keys: MACs (RFC 5905 §7.3, RFC 8573)', () => {
  const header = encodeNtpPacket({ version: 4, mode: 3, transmitTimestamp: 0x0102030405060708n });
  const v3header = encodeNtpPacket({ version: 3, mode: 3, transmitTimestamp: 0x0102030405060708n });

  test('digest = H(key ‖ packet); CMAC = AES-CMAC(key, packet); SHA256+ truncated to 20 bytes in NTPv4 only', () => {
    const secret = Buffer.from('0123456789abcdef0123', 'hex');
    for (const [type, hash, full] of [
      ['MD5', 'md5', 16],
      ['SHA1', 'sha1', 20],
      ['SHA256', 'sha256', 32],
      ['SHA512', 'sha512', 64],
    ] as const) {
      const key = { id: 1, type, key: new Uint8Array(secret) };
      const expected = createHash(hash).update(secret).update(header).digest();
      assert.deepEqual(
        Buffer.from(symmetricDigest(key, header, 4)),
        expected.subarray(0, Math.min(full, 20)),
        type,
      );
      const expected3 = createHash(hash).update(secret).update(v3header).digest();
      assert.deepEqual(Buffer.from(symmetricDigest(key, v3header, 3)), expected3, type);
    }
    const aes = { id: 2, type: 'AES128' as const, key: new Uint8Array(16).fill(7) };
    assert.deepEqual(symmetricDigest(aes, header, 4), aesCmac(aes.key, header));
  });

  test('appendMac then verifyMac, and each way a MAC can be wrong', () => {
    const key = parseSymmetricKey(`3:SHA1:${SHA1}`);
    const other = parseSymmetricKey(`4:SHA1:${SHA1}`);
    const signed = appendMac(header, key);
    assert.equal(signed.length, 48 + 4 + 20);
    assert.deepEqual(verifyMac(signed, key), { ok: true, key, macOffset: 48 });
    assert.equal(verifyMac(signed, new Map([[3, key]])).ok, true);
    assert.deepEqual(verifyMac(header, key), { ok: false, reason: 'missing' });
    assert.deepEqual(verifyMac(signed, other), { ok: false, reason: 'wrong-key', keyId: 3 });
    assert.deepEqual(verifyMac(signed, new Map([[4, other]])), {
      ok: false,
      reason: 'unknown-key',
      keyId: 3,
    });
    for (let i = 0; i < signed.length; i++) {
      if (i >= 48 && i < 52) continue; // the key ID: wrong-key
      const bad = signed.slice();
      bad[i] = (bad[i] as number) ^ 0x40;
      const check = verifyMac(bad, key);
      assert.equal(check.ok, false, `byte ${i}`);
    }
    const nak = new Uint8Array(52);
    nak.set(header);
    assert.deepEqual(verifyMac(nak, key), { ok: false, reason: 'crypto-nak' });
    // a 16-byte digest where SHA1 gives 20: the length must match exactly
    const short = signed.slice(0, 48 + 4 + 16);
    assert.equal(verifyMac(short, key).ok, false);
  });

  test('NTPv3 with SHA256 carries the whole 32-byte digest; truncating it is refused', () => {
    const key = parseSymmetricKey('9:SHA256:00112233445566778899aabbccddeeff');
    const signed = appendMac(v3header, key);
    assert.equal(signed.length, 48 + 4 + 32);
    assert.equal(verifyMac(signed, key).ok, true);
    const truncated = signed.slice(0, 48 + 4 + 20);
    assert.equal(verifyMac(truncated, key).ok, false);
  });

  test('symmetricAuthenticator seals and verifies; texts say why a reply is refused', () => {
    const key = parseSymmetricKey(
      '5:AES256:2666B8099BFF2D5BA20876121788ED24D2BE59111B8FFB562F0F56AE6EC7246E',
    );
    const auth = symmetricAuthenticator(key);
    assert.equal(auth.mode, 'symmetric');
    assert.equal(auth.keyId, 5);
    const { packet, verify } = auth.seal(header);
    assert.equal(packet.length, 48 + 20);
    const reply = appendMac(encodeNtpPacket({ version: 4, mode: 4 }), key);
    assert.deepEqual(verify(reply), { ok: true });
    assert.deepEqual(verify(encodeNtpPacket({ version: 4, mode: 4 })), { ok: false, reason: 'no MAC' });
    const bad = reply.slice();
    bad[60] = (bad[60] as number) ^ 1;
    assert.deepEqual(verify(bad), { ok: false, reason: 'MAC with key 5 does not verify' });
  });

  test('property: any key and packet round-trip, and any one-bit change breaks the MAC', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...SYMMETRIC_KEY_TYPES),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.integer({ min: 1, max: 0xffff_ffff }),
        fc.constantFrom(3, 4),
        fc.nat(8 * 48 - 1),
        (type, bytes, id, version, bit) => {
          const len = type === 'AES128' ? 16 : 32;
          const key = { id, type, key: bytes.subarray(0, len) };
          const p = appendMac(encodeNtpPacket({ version, mode: 3, transmitTimestamp: 5n }), key);
          assert.equal(verifyMac(p, key).ok, true);
          const q = p.slice();
          q[bit >> 3] = (q[bit >> 3] as number) ^ (1 << (bit & 7));
          // flipping a version bit can make the tail parse differently: it must still not verify
          assert.equal(verifyMac(q, key).ok, false);
        },
      ),
      { numRuns: 300 },
    );
  });
});
