import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  crc32c,
  decodeProxyHeader,
  encodeProxyHeader,
  PROXY_TLV,
  PROXY_V1_MAX_LENGTH,
  type ProxyHeader,
  proxyTlvText,
  readProxyHeader,
} from '../../src/codec/proxy-protocol.js';
import { BadPacketError, ValidationError } from '../../src/core/errors.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const SIG = '0d0a0d0a000d0a515549540a';

describe('PROXY protocol v1 (the specification examples)', () => {
  test('the example line before an HTTP request', () => {
    const line = 'PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n';
    const read = readProxyHeader(Buffer.from(`${line}GET / HTTP/1.1\r\nHost: 192.168.0.11\r\n\r\n`));
    assert.ok(read);
    assert.equal(read.length, line.length);
    assert.deepEqual(read.header, {
      version: 1,
      command: 'proxy',
      family: 'inet',
      transport: 'stream',
      source: { address: '192.168.0.1', port: 56324 },
      destination: { address: '192.168.0.11', port: 443 },
    });
    assert.equal(Buffer.from(encodeProxyHeader(read.header)).toString(), line);
  });

  test('the longest lines the receiver must support', () => {
    const v4 = 'PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n';
    assert.equal(v4.length, 56);
    assert.equal(decodeProxyHeader(Buffer.from(v4)).family, 'inet');
    const f = 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff';
    const v6 = `PROXY TCP6 ${f} ${f} 65535 65535\r\n`;
    assert.equal(v6.length, 104);
    const h = decodeProxyHeader(Buffer.from(v6));
    assert.deepEqual(h.source, { address: f, port: 65535 });
    const unknown = `PROXY UNKNOWN ${f} ${f} 65535 65535\r\n`;
    assert.equal(unknown.length, PROXY_V1_MAX_LENGTH);
    assert.equal(decodeProxyHeader(Buffer.from(unknown)).family, 'unspec');
    assert.equal(decodeProxyHeader(Buffer.from('PROXY UNKNOWN\r\n')).family, 'unspec');
  });

  test('IPv6 is read in any case and compressed form, and given back canonical', () => {
    const h = decodeProxyHeader(Buffer.from('PROXY TCP6 2001:DB8:0:0:0:0:0:1 ::1 1 2\r\n'));
    assert.deepEqual(h.source, { address: '2001:db8::1', port: 1 });
    assert.deepEqual(h.destination, { address: '::1', port: 2 });
  });

  test('partial lines wait for more', () => {
    for (const part of ['P', 'PROXY', 'PROXY TCP4 1.2.3.4', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r']) {
      assert.equal(readProxyHeader(Buffer.from(part)), undefined, part);
    }
  });

  test('anything not exactly the protocol is refused', () => {
    const bad = [
      'GET / HTTP/1.1\r\n',
      'PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n', // LF without CR
      'PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n', // lone CR
      'PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n', // two spaces
      'PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n', // leading zero in a port
      'PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n', // leading zero in an address
      'PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n',
      'PROXY TCP4 ::1 5.6.7.8 1 2\r\n', // wrong family
      'PROXY TCP6 1.2.3.4 ::1 1 2\r\n',
      'PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n',
      'PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n',
      'proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n',
      `PROXY UNKNOWN ${'x'.repeat(100)}\r\n`, // no CRLF in 107 bytes
    ];
    for (const b of bad) {
      assert.throws(() => readProxyHeader(Buffer.from(b)), BadPacketError, JSON.stringify(b));
    }
  });
});

describe('PROXY protocol v2', () => {
  test('TCP over IPv4: known bytes', () => {
    const bytes = hex(`${SIG} 21 11 000c c0a80001 c0a8000b dc04 01bb`);
    const h = decodeProxyHeader(bytes);
    assert.deepEqual(h, {
      version: 2,
      command: 'proxy',
      family: 'inet',
      transport: 'stream',
      source: { address: '192.168.0.1', port: 56324 },
      destination: { address: '192.168.0.11', port: 443 },
    });
    assert.deepEqual(Buffer.from(encodeProxyHeader(h)), bytes);
  });

  test('TCP over IPv6, UDP, Unix stream and LOCAL', () => {
    const v6 = hex(
      `${SIG} 21 21 0024 20010db8000000000000000000000001 00000000000000000000000000000001 0050 1f90`,
    );
    const h6 = decodeProxyHeader(v6);
    assert.deepEqual(h6.source, { address: '2001:db8::1', port: 80 });
    assert.deepEqual(h6.destination, { address: '::1', port: 8080 });
    assert.deepEqual(Buffer.from(encodeProxyHeader(h6)), v6);

    const udp = decodeProxyHeader(hex(`${SIG} 21 12 000c 7f000001 7f000002 0035 0036`));
    assert.equal(udp.transport, 'dgram');

    const unix: ProxyHeader = {
      version: 2,
      command: 'proxy',
      family: 'unix',
      transport: 'stream',
      source: { path: '/run/client.sock' },
      destination: { path: '@abstract' },
    };
    const ub = encodeProxyHeader(unix);
    assert.equal(ub.length, 16 + 216);
    assert.equal(ub[13], 0x31);
    assert.equal(ub[16 + 108], 0); // the abstract name starts with NUL
    assert.deepEqual(decodeProxyHeader(ub), unix);

    const local = hex(`${SIG} 20 00 0000`);
    assert.deepEqual(decodeProxyHeader(local), {
      version: 2,
      command: 'local',
      family: 'unspec',
      transport: 'unspec',
    });
    assert.deepEqual(
      Buffer.from(encodeProxyHeader({ version: 2, command: 'local', family: 'unspec', transport: 'unspec' })),
      local,
    );
  });

  test('LOCAL with an address block: the receiver skips `length` bytes', () => {
    const bytes = hex(`${SIG} 20 11 000c 7f000001 7f000001 0001 0002 474554`);
    const read = readProxyHeader(bytes);
    assert.equal(read?.length, 28);
    assert.equal(read?.header.command, 'local');
  });

  test('TLVs: registered and unknown types round-trip; CRC32c is written and checked', () => {
    const h: ProxyHeader = {
      version: 2,
      command: 'proxy',
      family: 'inet',
      transport: 'stream',
      source: { address: '10.0.0.1', port: 1234 },
      destination: { address: '10.0.0.2', port: 443 },
      tlvs: [
        { type: PROXY_TLV.alpn, value: Buffer.from('h2') },
        { type: PROXY_TLV.authority, value: Buffer.from('example.com') },
        { type: 0xe5, value: Uint8Array.of(1, 2, 3) },
      ],
    };
    const bytes = encodeProxyHeader(h, { crc32c: true });
    const back = decodeProxyHeader(bytes);
    assert.equal(proxyTlvText(back, PROXY_TLV.authority), 'example.com');
    assert.equal(back.tlvs?.length, 4);
    assert.equal(back.tlvs?.[3]?.type, PROXY_TLV.crc32c);
    assert.deepEqual(Buffer.from(encodeProxyHeader(back)), Buffer.from(bytes));
    const broken = Buffer.from(bytes);
    broken[20] = (broken[20] as number) ^ 1; // flip a bit of the source address
    assert.throws(() => decodeProxyHeader(broken), /CRC32c/);
  });

  test('CRC32c check value (RFC 3720 B.4 / the common "123456789" vector)', () => {
    assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
    assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa);
  });

  test('hostile input is a BadPacketError, never a RangeError', () => {
    const bad = [
      hex(`${SIG} 31 11 000c 7f000001 7f000001 0001 0002`), // version 3
      hex(`${SIG} 22 11 000c 7f000001 7f000001 0001 0002`), // command 2
      hex(`${SIG} 21 41 000c 7f000001 7f000001 0001 0002`), // family 4
      hex(`${SIG} 21 13 000c 7f000001 7f000001 0001 0002`), // transport 3
      hex(`${SIG} 21 11 0008 7f000001 7f000001`), // address block too short
      hex(`${SIG} 21 11 000f 7f000001 7f000001 0001 0002 01 00`), // TLV header cut
      hex(`${SIG} 21 11 0010 7f000001 7f000001 0001 0002 01 0005 41`), // TLV longer than the header
      hex(`${SIG} 21 11 0013 7f000001 7f000001 0001 0002 03 0004 00000000`), // wrong CRC
      hex(`${SIG} 21 11 0012 7f000001 7f000001 0001 0002 03 0003 000000`), // CRC of 3 bytes
      hex('0d0a0d0a000d0a5155495420'), // bad signature
    ];
    for (const b of bad) assert.throws(() => decodeProxyHeader(b), BadPacketError, b.toString('hex'));
  });

  test('partial headers wait; a header with bytes after it is not exactly one header', () => {
    const full = hex(`${SIG} 21 11 000c c0a80001 c0a8000b dc04 01bb`);
    for (let n = 1; n < full.length; n++) assert.equal(readProxyHeader(full.subarray(0, n)), undefined);
    assert.throws(() => decodeProxyHeader(Buffer.concat([full, Buffer.from('x')])), /followed by 1 more/);
    assert.throws(() => readProxyHeader(hex(`${SIG} 31`)), /version 3/); // decided before the rest comes
  });

  test('encode refuses what it cannot express', () => {
    const base = { version: 1 as const, command: 'proxy' as const, transport: 'stream' as const };
    assert.throws(
      () =>
        encodeProxyHeader({ ...base, family: 'unix', source: { path: '/a' }, destination: { path: '/b' } }),
      ValidationError,
    );
    assert.throws(
      () =>
        encodeProxyHeader({
          ...base,
          family: 'inet',
          source: { address: '::1', port: 1 },
          destination: { address: '1.2.3.4', port: 2 },
        }),
      ValidationError,
    );
    assert.throws(
      () =>
        encodeProxyHeader({
          ...base,
          version: 2,
          family: 'inet',
          source: { address: '1.2.3.4', port: 70000 },
          destination: { address: '1.2.3.4', port: 2 },
        }),
      ValidationError,
    );
  });
});

describe('PROXY protocol properties', () => {
  const inet4 = fc.ipV4().map((a) => a);
  const port = fc.integer({ min: 0, max: 65535 });
  const header = fc.oneof(
    fc.record({ v: fc.constantFrom(1, 2), s: inet4, d: inet4, sp: port, dp: port }).map(
      (r): ProxyHeader => ({
        version: r.v as 1 | 2,
        command: 'proxy',
        family: 'inet',
        transport: 'stream',
        source: { address: r.s, port: r.sp },
        destination: { address: r.d, port: r.dp },
      }),
    ),
    fc
      .record({
        v: fc.constantFrom(1, 2),
        s: fc.ipV6(),
        d: fc.ipV6(),
        sp: port,
        dp: port,
      })
      .map(
        (r): ProxyHeader => ({
          version: r.v as 1 | 2,
          command: 'proxy',
          family: 'inet6',
          transport: 'stream',
          source: { address: r.s, port: r.sp },
          destination: { address: r.d, port: r.dp },
        }),
      ),
  );

  test('encode → decode → encode gives the same bytes', () => {
    fc.assert(
      fc.property(header, (h) => {
        const bytes = encodeProxyHeader(h);
        const back = decodeProxyHeader(bytes);
        assert.deepEqual(Buffer.from(encodeProxyHeader(back)), Buffer.from(bytes));
        assert.equal((back.source as { port: number }).port, (h.source as { port: number }).port);
      }),
    );
  });

  test('random bytes never throw anything but BadPacketError', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 300 }),
          fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.concat([hex(SIG), Buffer.from(b)])),
          fc.string({ maxLength: 120 }).map((s) => Buffer.from(`PROXY ${s}`)),
        ),
        (bytes) => {
          try {
            readProxyHeader(bytes);
          } catch (err) {
            assert.ok(err instanceof BadPacketError, String(err));
          }
        },
      ),
      { numRuns: 3000 },
    );
  });
});
