import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  asciiToRefId,
  decodeNtpPacket,
  encodeNtpPacket,
  ipv6ToRefId,
  kissCode,
  leapToText,
  modeToText,
  NtpMode,
  type NtpPacket,
  parseRefId,
  refIdToAscii,
  refIdToText,
  stratumToText,
} from '../../src/codec/ntp.js';
import {
  formatNtpTimestamp,
  formatUnixNs,
  log2ToSeconds,
  NTP_ERA1_START_UNIX_NS,
  ntpDiffSeconds,
  ntpOffsetDelay,
  ntpShortToSeconds,
  ntpTimestamp,
  ntpTimestampParts,
  ntpToUnixMs,
  ntpToUnixNs,
  readNtpTimestamp,
  secondsToLog2,
  secondsToNtpShort,
  unixMsToNs,
  unixMsToNtp,
  unixNsToNtp,
  writeNtpTimestamp,
  writeNtpTimestampMs,
} from '../../src/codec/ntp-timestamp.js';
import { BadPacketError, ValidationError } from '../../src/core/errors.js';

const fixture = JSON.parse(
  readFileSync(new URL('../fixtures/ntp/chrony-4.3.json', import.meta.url), 'utf8'),
) as {
  request: string;
  reply: string;
  t1UnixMs: number;
  t4UnixMs: number;
  clientRequest: string;
};
const hex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));
const sec = (n: number | bigint) => BigInt(n) << 32n;
const S = 1_000_000_000n;
const iso = (s: string) => BigInt(Date.parse(s)) * 1_000_000n;

describe('NTP timestamps', () => {
  test('known answer: T1..T4 = 1, 2, 3, 4 s gives delay 2 and offset 0 (RFC 5905 §8)', () => {
    assert.deepEqual(ntpOffsetDelay(sec(1), sec(2), sec(3), sec(4)), { offset: 0, delay: 2 });
    // a server 10 s ahead, 1 s each way, 1 s of processing
    assert.deepEqual(ntpOffsetDelay(sec(100), sec(111), sec(112), sec(103)), { offset: 10, delay: 2 });
    // fractions: T2 - T1 = 0.75 s, T3 - T4 = -0.25 s
    const half = 0x8000_0000n;
    assert.deepEqual(ntpOffsetDelay(sec(1), sec(1) + half + half / 2n, sec(2), sec(2) + half / 2n), {
      offset: 0.25,
      delay: 1,
    });
  });

  test('the Unix epoch and the NTP epoch', () => {
    assert.equal(unixNsToNtp(0n), 0x83aa7e80_00000000n); // 2208988800 s after 1900
    assert.equal(ntpToUnixNs(0x83aa7e80_00000000n), 0n);
    assert.equal(unixMsToNtp(1500), 0x83aa7e81_80000000n);
    assert.equal(ntpToUnixMs(0x83aa7e81_80000000n), 1500);
    assert.equal(formatNtpTimestamp(0x83aa7e81_80000000n), '1970-01-01T00:00:01.500000000Z');
    assert.equal(formatUnixNs(-1n), '1969-12-31T23:59:59.999999999Z');
    assert.equal(ntpTimestamp(1, 0x8000_0000), 0x1_8000_0000n);
    assert.deepEqual(ntpTimestampParts(0x1_8000_0000n), { seconds: 1, fraction: 0x8000_0000 });
    assert.throws(() => ntpTimestamp(2 ** 32), RangeError);
  });

  test('era boundary: 2036-02-07T06:28:16Z wraps the seconds to 0 and still decodes to 2036', () => {
    const wrap = iso('2036-02-07T06:28:16Z');
    assert.equal(NTP_ERA1_START_UNIX_NS, wrap);
    assert.equal(unixNsToNtp(wrap), 0n);
    assert.equal(unixNsToNtp(wrap - S), 0xffff_ffff_0000_0000n);
    assert.equal(ntpToUnixNs(0xffff_ffff_0000_0000n), wrap - S);
    assert.equal(ntpToUnixNs(0x1_0000_0000n), wrap + S);
    assert.equal(formatNtpTimestamp(0x1_0000_0000n), '2036-02-07T06:28:17.000000000Z');
    assert.equal(formatNtpTimestamp(0n), '2036-02-07T06:28:16.000000000Z');
    // RFC 4330 §3 window: top bit set → 1968..2036, clear → 2036..2104
    assert.equal(formatNtpTimestamp(0x8000_0000_0000_0000n), '1968-01-20T03:14:08.000000000Z');
    assert.equal(formatNtpTimestamp(0x7fff_ffff_0000_0000n), '2104-02-26T09:42:23.000000000Z');
    // a pivot near today decodes the same way; a pivot in 1950 puts seconds 0 in 1900
    const now = iso('2026-01-01T00:00:00Z');
    assert.equal(ntpToUnixNs(0x1_0000_0000n, now), wrap + S);
    assert.equal(ntpToUnixNs(0n, iso('1950-01-01T00:00:00Z')), -2_208_988_800n * S);
    // a pivot in 2100 decodes era-0 times late in the window into era 1
    assert.equal(
      formatNtpTimestamp(0xf000_0000_0000_0000n, iso('2100-01-01T00:00:00Z')),
      '2163-09-12T15:32:16.000000000Z',
    );
    // arithmetic straddling the wrap
    assert.equal(ntpDiffSeconds(0x1_0000_0000n, 0xffff_ffff_0000_0000n), 2);
    assert.equal(ntpDiffSeconds(0xffff_ffff_0000_0000n, 0x1_0000_0000n), -2);
    const t1 = unixNsToNtp(wrap - 2n * S);
    assert.deepEqual(ntpOffsetDelay(t1, unixNsToNtp(wrap - S), unixNsToNtp(wrap), unixNsToNtp(wrap + S)), {
      offset: 0,
      delay: 2,
    });
  });

  test('nanoseconds survive Unix → NTP → Unix exactly (2^-32 s is finer than 1 ns)', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -2_208_988_800n * S, max: 4_000_000_000n * S }), (ns) => {
        assert.equal(ntpToUnixNs(unixNsToNtp(ns), ns), ns);
      }),
      { numRuns: 20_000 },
    );
    fc.assert(
      fc.property(fc.bigInt({ min: iso('1968-01-20T03:14:08Z'), max: iso('2104-02-26T09:42:23Z') }), (ns) => {
        assert.equal(ntpToUnixNs(unixNsToNtp(ns)), ns);
      }),
      { numRuns: 20_000 },
    );
  });

  test('clock readings in ms: bigint and hot-path writers agree', () => {
    assert.equal(unixMsToNs(1.5), 1_500_000n);
    assert.equal(unixMsToNs(1_795_303_915_248.3042), 1_795_303_915_248_304_199n);
    const buf = new Uint8Array(8);
    fc.assert(
      fc.property(fc.double({ min: -1e12, max: 4e12, noNaN: true }), (ms) => {
        writeNtpTimestampMs(buf, 0, ms);
        const fast = readNtpTimestamp(buf, 0);
        const exact = unixMsToNtp(ms);
        // the two differ only by the rounding of a double: a few units of 2^-32 s
        const d = BigInt.asIntN(64, fast - exact);
        assert.ok(d >= -2048n && d <= 2048n, `${ms}: ${d}`);
      }),
      { numRuns: 20_000 },
    );
    writeNtpTimestamp(buf, 0, 0x0102030405060708n);
    assert.deepEqual([...buf], [1, 2, 3, 4, 5, 6, 7, 8]);
  });

  test('short format and log2 fields', () => {
    assert.equal(ntpShortToSeconds(0x0001_8000), 1.5);
    assert.equal(ntpShortToSeconds(0xffff_ffff), 65536 - 2 ** -16);
    assert.equal(secondsToNtpShort(1.5), 0x0001_8000);
    assert.equal(secondsToNtpShort(-1), 0);
    assert.equal(secondsToNtpShort(1e9), 0xffff_ffff);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff_ffff }), (v) => {
        assert.equal(secondsToNtpShort(ntpShortToSeconds(v)), v);
      }),
    );
    assert.equal(log2ToSeconds(-10), 0.0009765625);
    assert.equal(log2ToSeconds(6), 64);
    assert.equal(secondsToLog2(64), 6);
    assert.equal(secondsToLog2(0.000001), -20);
    assert.equal(secondsToLog2(0), -128);
  });
});

describe('NTP packet', () => {
  test('known answer: a reply captured from chronyd 4.3 (test/fixtures/ntp/chrony-4.3.json)', () => {
    const reply = hex(fixture.reply);
    const request = decodeNtpPacket(hex(fixture.request));
    const p = decodeNtpPacket(reply);
    assert.equal(p.leap, 0);
    assert.equal(p.version, 4);
    assert.equal(p.mode, NtpMode.server);
    assert.equal(p.stratum, 7);
    assert.equal(p.poll, 0); // copied from the request
    assert.equal(p.precision, -26);
    assert.equal(p.rootDelay, 0);
    assert.equal(p.rootDispersion, 0);
    assert.equal(p.referenceId, 0x7f7f0101);
    assert.equal(refIdToText(p.referenceId, p.stratum), '127.127.1.1');
    assert.equal(p.extensionLength, 0);
    // chrony copies the request's transmit timestamp into the origin field, bit for bit
    assert.equal(p.originTimestamp, 0x0123456789abcdefn);
    assert.equal(p.originTimestamp, request.transmitTimestamp);
    assert.ok(p.receiveTimestamp <= p.transmitTimestamp);
    // with the recorded T1 and T4: chrony served the same clock, so the offset is well under a millisecond
    const t1 = unixMsToNtp(fixture.t1UnixMs);
    const t4 = unixMsToNtp(fixture.t4UnixMs);
    const { offset, delay } = ntpOffsetDelay(t1, p.receiveTimestamp, p.transmitTimestamp, t4);
    assert.ok(Math.abs(offset) < 0.001, `offset ${offset}`);
    assert.ok(delay > 0 && delay <= (fixture.t4UnixMs - fixture.t1UnixMs) / 1000, `delay ${delay}`);
    assert.match(formatNtpTimestamp(p.transmitTimestamp), /^2026-11-21T23:31:55\.\d{9}Z$/);
    assert.deepEqual(encodeNtpPacket(p), reply);
  });

  test('known answer: a request chronyd 4.3 sends as a client (random transmit timestamp, no T1)', () => {
    const bytes = hex(fixture.clientRequest);
    const p = decodeNtpPacket(bytes);
    assert.equal(p.mode, NtpMode.client);
    assert.equal(p.version, 4);
    assert.equal(p.poll, 6);
    assert.equal(p.originTimestamp, 0n);
    assert.equal(p.receiveTimestamp, 0n);
    assert.notEqual(p.transmitTimestamp, 0n);
    assert.deepEqual(encodeNtpPacket(p), bytes);
  });

  test('packets under 48 bytes are SOKET_BAD_PACKET; extension fields and a MAC are skipped', () => {
    for (const n of [0, 1, 12, 47]) {
      assert.throws(
        () => decodeNtpPacket(new Uint8Array(n)),
        (err: unknown) =>
          err instanceof BadPacketError &&
          err.code === 'SOKET_BAD_PACKET' &&
          err.message === `NTP packet is ${n} bytes, expected at least 48`,
      );
    }
    const withExt = new Uint8Array(48 + 16 + 20);
    withExt.set(hex(fixture.reply));
    withExt.fill(0xee, 48);
    const p = decodeNtpPacket(withExt);
    assert.equal(p.extensionLength, 36);
    assert.equal(p.stratum, 7);
    assert.deepEqual(encodeNtpPacket(p), hex(fixture.reply));
  });

  test('encode checks every field instead of masking it', () => {
    const bad: Array<Partial<NtpPacket>> = [
      { leap: 4 },
      { version: 8 },
      { mode: -1 },
      { stratum: 256 },
      { poll: 128 },
      { precision: -129 },
      { rootDelay: -1 },
      { rootDispersion: 65536 },
      { referenceId: 2 ** 32 },
      { transmitTimestamp: -1n },
      { originTimestamp: 1n << 64n },
    ];
    for (const b of bad)
      assert.throws(
        () => encodeNtpPacket(b),
        ValidationError,
        JSON.stringify(b, (_, v) => (typeof v === 'bigint' ? String(v) : v)),
      );
    const req = encodeNtpPacket({ version: 4, mode: 3, transmitTimestamp: 0x1234n });
    assert.equal(Buffer.from(req).toString('hex'), `23${'00'.repeat(45)}1234`);
  });

  const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
  const packet = fc.record({
    leap: fc.integer({ min: 0, max: 3 }),
    version: fc.integer({ min: 0, max: 7 }),
    mode: fc.integer({ min: 0, max: 7 }),
    stratum: fc.integer({ min: 0, max: 255 }),
    poll: fc.integer({ min: -128, max: 127 }),
    precision: fc.integer({ min: -128, max: 127 }),
    rootDelay: fc.integer({ min: 0, max: 0xffff_ffff }).map((v) => v / 65536),
    rootDispersion: fc.integer({ min: 0, max: 0xffff_ffff }).map((v) => v / 65536),
    referenceId: fc.integer({ min: 0, max: 0xffff_ffff }),
    referenceTimestamp: u64,
    originTimestamp: u64,
    receiveTimestamp: u64,
    transmitTimestamp: u64,
  });

  test('round trip: decode(encode(p)) = p and encode(decode(bytes)) = bytes', () => {
    fc.assert(
      fc.property(packet, (p) => {
        const { extensionLength, ...back } = decodeNtpPacket(encodeNtpPacket(p));
        assert.equal(extensionLength, 0);
        assert.deepEqual(back, { ...p });
      }),
      { numRuns: 5000 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 48, maxLength: 48 }), (bytes) => {
        assert.deepEqual(encodeNtpPacket(decodeNtpPacket(bytes)), bytes);
      }),
      { numRuns: 5000 },
    );
  });

  test('hostile input: 110,000 random and mutated packets never crash the decoder', () => {
    let decoded = 0;
    let rejected = 0;
    const check = (bytes: Uint8Array) => {
      try {
        const p = decodeNtpPacket(bytes);
        assert.ok(p.leap <= 3 && p.version <= 7 && p.mode <= 7 && p.stratum <= 255);
        assert.ok(p.extensionLength === bytes.length - 48);
        decoded++;
      } catch (err) {
        assert.ok(err instanceof BadPacketError, String(err));
        rejected++;
      }
    };
    fc.assert(fc.property(fc.uint8Array({ minLength: 0, maxLength: 200 }), check), { numRuns: 50_000 });
    const base = hex(fixture.reply);
    const mutated = fc
      .tuple(
        fc.array(fc.tuple(fc.nat(199), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }),
        fc.integer({ min: 0, max: 200 }),
      )
      .map(([flips, length]) => {
        const b = new Uint8Array(length);
        b.set(base.subarray(0, Math.min(length, base.length)));
        for (const [i, v] of flips) if (i < length) b[i] = v;
        return b;
      });
    fc.assert(fc.property(mutated, check), { numRuns: 60_000 });
    assert.equal(decoded + rejected, 110_000);
    assert.ok(decoded > 30_000 && rejected > 30_000, `${decoded} decoded, ${rejected} rejected`);
  });
});

describe('NTP text helpers', () => {
  test('leap, mode and stratum', () => {
    assert.equal(leapToText(0), 'no warning');
    assert.equal(leapToText(1), 'last minute of the day has 61 seconds');
    assert.equal(leapToText(3), 'unknown (clock unsynchronised)');
    assert.throws(() => leapToText(4), RangeError);
    assert.equal(modeToText(3), 'client');
    assert.equal(modeToText(4), 'server');
    assert.equal(modeToText(6), 'NTP control message');
    assert.throws(() => modeToText(8), RangeError);
    assert.match(stratumToText(0), /kiss-o/);
    assert.equal(stratumToText(1), 'primary reference (1)');
    assert.equal(stratumToText(2), 'secondary reference (2)');
    assert.equal(stratumToText(16), 'unsynchronised (16)');
    assert.equal(stratumToText(200), 'reserved (200)');
  });

  test('reference ID: ASCII for stratum 0–1, dotted IPv4 from 2, IPv6 hash with candidates', () => {
    assert.equal(refIdToText(0x47505300, 1), 'GPS');
    assert.equal(refIdToText(asciiToRefId('LOCL'), 1), 'LOCL');
    assert.equal(refIdToText(asciiToRefId('RATE'), 0), 'RATE');
    assert.equal(refIdToAscii(0x01020000), '\\x01\\x02');
    assert.equal(refIdToText(0xc0000201, 2), '192.0.2.1');
    assert.equal(refIdToText(0x7f7f0101, 10), '127.127.1.1');
    // RFC 5905 §7.3: an IPv6 upstream is the first 4 bytes of the MD5 of its 16-byte address
    const bytes = Buffer.alloc(16);
    bytes.writeUInt16BE(0x2001, 0);
    bytes.writeUInt16BE(0x0db8, 2);
    bytes[15] = 1;
    const expected = createHash('md5').update(bytes).digest().readUInt32BE(0);
    assert.equal(ipv6ToRefId('2001:db8::1'), expected);
    assert.equal(ipv6ToRefId('2001:0db8:0:0:0:0:0:1'), expected);
    assert.equal(refIdToText(expected, 3, { ipv6Candidates: ['::1', '2001:db8::1'] }), '2001:db8::1');
    assert.equal(
      refIdToText(expected, 3),
      [expected >>> 24, (expected >>> 16) & 255, (expected >>> 8) & 255, expected & 255].join('.'),
    );
    const mapped = Buffer.alloc(16);
    mapped.writeUInt16BE(0xffff, 10);
    mapped.set([192, 0, 2, 1], 12);
    assert.equal(ipv6ToRefId('::ffff:192.0.2.1'), createHash('md5').update(mapped).digest().readUInt32BE(0));
    const loop = Buffer.alloc(16);
    loop[15] = 1;
    assert.equal(ipv6ToRefId('::1'), createHash('md5').update(loop).digest().readUInt32BE(0));
  });

  test('parseRefId and kissCode', () => {
    assert.equal(parseRefId('GPS', 1), 0x47505300);
    assert.equal(parseRefId('127.127.1.1', 10), 0x7f7f0101);
    assert.equal(parseRefId('2001:db8::1', 2), ipv6ToRefId('2001:db8::1'));
    assert.throws(() => parseRefId('LOCL', 2), /for stratum 2: expected an IPv4 or IPv6 address/);
    assert.throws(() => parseRefId('TOOLONG', 1), ValidationError);
    assert.throws(() => asciiToRefId(''), ValidationError);
    assert.equal(kissCode({ stratum: 0, referenceId: asciiToRefId('RATE') }), 'RATE');
    assert.equal(kissCode({ stratum: 0, referenceId: asciiToRefId('DENY') }), 'DENY');
    assert.equal(kissCode({ stratum: 1, referenceId: asciiToRefId('RATE') }), undefined);
  });
});
