import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import dnsPacket from 'dns-packet';
import fc from 'fast-check';
import {
  DNS_TYPES,
  type DnsMessageInit,
  decodeDnsMessage,
  decodeRdata,
  dnsClassName,
  dnsRcodeName,
  dnsRcodeNumber,
  dnsTypeName,
  dnsTypeNumber,
  type EdnsOption,
  ednsOptionText,
  encodeDnsMessage,
  encodeRdata,
  formatDnsName,
  genericRdataText,
  keyTag,
  nameToWire,
  parseDnsName,
  type RData,
  rdataFormat,
  rdataText,
  sameName,
} from '../../src/codec/dns.js';
import { BadPacketError, ValidationError } from '../../src/core/errors.js';
import { fuzzDnsDecoder, messageArbitrary, recordArbitrary } from './dns-arbitraries.js';

const hex = (s: string) => new Uint8Array(Buffer.from(s.replace(/[\s;]|[a-z ]+:/g, ''), 'hex'));
const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const text = (type: string, bytes: Uint8Array) => rdataText(decodeRdata(type, bytes), bytes);
const wire = (name: string) => toHex(nameToWire(name));

describe('DNS record types and code points', () => {
  test('types by mnemonic (any case), TYPEnnn, * and number; names back', () => {
    assert.equal(dnsTypeNumber('https'), 65);
    assert.equal(dnsTypeNumber('TYPE65280'), 65280);
    assert.equal(dnsTypeNumber('type1'), 1);
    assert.equal(dnsTypeNumber('*'), 255);
    assert.equal(dnsTypeNumber(43), 43);
    assert.equal(dnsTypeName(65280), 'TYPE65280');
    assert.equal(dnsTypeName(dnsTypeNumber('NSEC3PARAM')), 'NSEC3PARAM');
    for (const [name, n] of Object.entries(DNS_TYPES)) assert.equal(dnsTypeNumber(dnsTypeName(n)), n, name);
  });

  test('a type that does not exist is a ValidationError naming it', () => {
    assert.throws(
      () => dnsTypeNumber('NOSUCH'),
      (e: Error) => e instanceof ValidationError && /'NOSUCH'/.test(e.message),
    );
    assert.throws(() => dnsTypeNumber('TYPE65536'), ValidationError);
    assert.throws(() => dnsTypeNumber(-1), ValidationError);
  });

  test('classes and response codes, extended codes included', () => {
    assert.equal(dnsClassName(3), 'CH');
    assert.equal(dnsClassName(42), 'CLASS42');
    assert.equal(dnsRcodeName(16), 'BADVERS');
    assert.equal(dnsRcodeNumber('BADCOOKIE'), 23);
    assert.equal(dnsRcodeName(4000), 'RCODE4000');
  });
});

describe('DNS names', () => {
  test('presentation ↔ wire, with escapes and the root', () => {
    assert.equal(wire('www.example.test'), '03777777076578616d706c65047465737400');
    assert.equal(wire('www.example.test.'), wire('www.example.test'));
    assert.equal(wire('.'), '00');
    assert.equal(toHex(nameToWire('a\\.b.test')), '03612e620474657374' + '00');
    assert.equal(toHex(nameToWire('\\000\\255.x')), '0200ff017800');
    assert.equal(formatDnsName(parseDnsName('a\\.b.test')), 'a\\.b.test.');
    assert.equal(formatDnsName([Uint8Array.of(0x20, 0x41, 0x22, 0x3b, 0x7f)]), '\\032A\\"\\;\\127.');
    assert.ok(sameName('WWW.Example.test', 'www.example.TEST.'));
  });

  test('label over 63 bytes, name over 255, empty labels: ValidationError naming the name', () => {
    assert.throws(() => parseDnsName(`${'a'.repeat(64)}.test`), /label 'a{64}' is 64 bytes, the limit is 63/);
    parseDnsName(`${'a'.repeat(63)}.test`);
    const long = Array.from({ length: 4 }, () => 'a'.repeat(63)).join('.'); // 4 × 64 + 1 = 257
    assert.throws(() => parseDnsName(long), /257 bytes on the wire, the limit is 255/);
    const max = [...Array.from({ length: 3 }, () => 'a'.repeat(63)), 'a'.repeat(61)].join('.'); // 255
    assert.equal(nameToWire(max).length, 255);
    assert.throws(() => parseDnsName('a..b'), /empty label/);
    assert.throws(() => parseDnsName('.a'), /empty label/);
    assert.throws(() => parseDnsName(''), ValidationError);
    assert.throws(() => parseDnsName('a\\25'), /three decimal digits/);
    assert.throws(() => parseDnsName('a\\256'), /over 255/);
  });
});

describe('RDATA known answers (presentation as dig shows it)', () => {
  test('A, AAAA (RFC 5952, IPv4-mapped in dotted form), names, MX, SOA, SRV', () => {
    assert.equal(text('A', hex('c000020a')), '192.0.2.10');
    assert.equal(text('AAAA', hex('20010db8000000000000000000000010')), '2001:db8::10');
    assert.equal(text('AAAA', hex('20010db8000000010000000000000001')), '2001:db8:0:1::1');
    assert.equal(text('AAAA', hex('00000000000000000000ffffc0000201')), '::ffff:192.0.2.1');
    assert.equal(text('AAAA', hex('00000000000000000000000000000001')), '::1');
    assert.equal(text('AAAA', hex('00000000000000000000000000000000')), '::');
    assert.equal(
      text('AAAA', hex('20010db8ffffffffffffffffc6336464')),
      '2001:db8:ffff:ffff:ffff:ffff:c633:6464',
    );
    assert.equal(text('CNAME', nameToWire('www.example.test')), 'www.example.test.');
    assert.equal(text('MX', hex(`000a${wire('mail.example.test')}`)), '10 mail.example.test.');
    assert.equal(
      text('SOA', hex(`${wire('ns1.t')}${wire('h.t')}78a5a0f5 00000e10 00000258 00015180 0000012c`)),
      'ns1.t. h.t. 2024120565 3600 600 86400 300',
    );
    assert.equal(text('SRV', hex(`000000051b6c${wire('sip.t')}`)), '0 5 7020 sip.t.');
  });

  test('TXT, CAA, NAPTR, HINFO: quoted with \\" \\\\ and \\DDD escapes', () => {
    const txt = hex('06763d74657374' + '0763616692c3a90a' + '04615c2262');
    assert.equal(text('TXT', txt), '"v=test" "caf\\146\\195\\169\\010" "a\\\\\\"b"');
    assert.deepEqual(decodeRdata('TXT', txt), {
      format: 'txt',
      strings: ['v=test', 'caf\ufffdé\n', 'a\\"b'],
    });
    assert.equal(text('CAA', hex('0005697373756563612e74')), '0 issue "ca.t"');
    assert.equal(
      text('NAPTR', hex(`0064000a0153075349502b443255${'00'}${wire('_sip._udp.t')}`)),
      '100 10 "S" "SIP+D2U" "" _sip._udp.t.',
    );
    assert.equal(text('HINFO', hex('03524643 0752464338343832')), '"RFC" "RFC8482"');
  });

  test('SSHFP, TLSA, DS, DNSKEY (with its key tag), RRSIG, NSEC, NSEC3, NSEC3PARAM', () => {
    assert.equal(
      text('SSHFP', hex('0101123456789abcdef67890123456789abcdef67890')),
      '1 1 123456789ABCDEF67890123456789ABCDEF67890',
    );
    assert.equal(text('TLSA', hex('030101abcd')), '3 1 1 ABCD');
    assert.equal(text('DS', hex('30390d02' + '0123456789abcdef')), '12345 13 2 0123456789ABCDEF');
    // The root zone's KSK-2017 (RFC 8624 algorithm 8): key tag 20326, as IANA publishes it.
    const ksk =
      'AwEAAaz/tAm8yTn4Mfeh5eyI96WSVexTBAvkMgJzkKTOiW1vkIbzxeF3+/4RgWOq7HrxRixHlFlExOLAJr5emLvN7SWXgnLh4+B5xQlNVz8Og8kvArMtNROxVQuCaSnIDdD5LKyWbRd2n9WGe2R8PzgCmr3EgVLrjyBxWezF0jLHwVN8efS3rCj/EWgvIWgb9tarpVUDK/b58Da+sqqls3eNbuv7pr+eoZG+SrDK6nWeL3c6H5Apxz7LjVc1uTIdsIXxuOLYA4/ilBmSVIzuDWfdRUfhHdY6+cn8HFRm+2hM8AnXGXws9555KrUB5qihylGa8subX2Nn6UwNR1AkUTV74bU=';
    const dnskey = encodeRdata('DNSKEY', {
      format: 'dnskey',
      flags: 257,
      protocol: 3,
      algorithm: 8,
      publicKey: ksk,
      keyTag: 0,
    });
    assert.equal(keyTag(dnskey), 20326);
    assert.equal((decodeRdata('DNSKEY', dnskey) as { keyTag: number }).keyTag, 20326);
    assert.equal(text('DNSKEY', dnskey), `257 3 8 ${ksk}`);
    const rrsig = encodeRdata('RRSIG', {
      format: 'rrsig',
      typeCovered: 'SOA',
      algorithm: 13,
      labels: 2,
      originalTtl: 300,
      expiration: Date.UTC(2030, 0, 2, 3, 4, 5) / 1000,
      inception: Date.UTC(2024, 0, 1) / 1000,
      keyTag: 5212,
      signerName: 'dig.test.',
      signature: 'AAEC',
    });
    assert.equal(text('RRSIG', rrsig), 'SOA 13 2 300 20300102030405 20240101000000 5212 dig.test. AAEC');
    // Serial number arithmetic (RFC 4034 §3.1.5): 2100-01-01 is more than 68 years from 2026, so BIND shows 1963.
    const far = encodeRdata('RRSIG', {
      ...(decodeRdata('RRSIG', rrsig) as Extract<RData, { format: 'rrsig' }>),
      expiration: Date.UTC(2100, 0, 1) / 1000,
    });
    assert.match(
      rdataText(decodeRdata('RRSIG', far), far, { now: Date.UTC(2026, 10, 30) }),
      / 19631125173144 /,
    );
    assert.match(rdataText(decodeRdata('RRSIG', far), far), / 21000101000000 /);
    // RFC 4034 §4.3's example NSEC bit map: A MX RRSIG NSEC TYPE1234.
    const nsec = hex(`${wire('host.example.com')}0006400100000003 041b${'00'.repeat(26)}20`);
    assert.equal(text('NSEC', nsec), 'host.example.com. A MX RRSIG NSEC TYPE1234');
    const nsec3 = hex(`0100000004aabbccdd14${'0'.repeat(40)}0006400000000002`);
    assert.equal(text('NSEC3', nsec3), `1 0 0 AABBCCDD ${'0'.repeat(32)} A RRSIG`);
    assert.equal(text('NSEC3PARAM', hex('01000000' + '00')), '1 0 0 -');
    assert.equal(text('NSEC3PARAM', hex('0101000a04aabbccdd')), '1 1 10 AABBCCDD');
  });

  test('RFC 9460 Appendix D vectors: SVCB wire ↔ presentation', () => {
    const foo = wire('foo.example.com');
    const vectors: Array<[string, string]> = [
      [`0000${foo}`, '0 foo.example.com.'],
      ['000100', '1 .'],
      [`0010${foo}000300020035`, '16 foo.example.com. port=53'],
      [`0001${foo}029b000568656c6c6f`, '1 foo.example.com. key667="hello"'],
      [`0001${foo}029b000968656c6c6fd2716f6f`, '1 foo.example.com. key667="hello\\210qoo"'],
      [
        `0001${foo}0006002020010db800000000000000000000000120010db8000000000000000000530001`,
        '1 foo.example.com. ipv6hint=2001:db8::1,2001:db8::53:1',
      ],
      [
        `0001${wire('example.com')}0006001020010db8ffffffffffffffffc6336464`,
        '1 example.com. ipv6hint=2001:db8:ffff:ffff:ffff:ffff:c633:6464',
      ],
      [
        `0010${wire('foo.example.org')}000000040001000400010009026832056833 2d3139000400 04c0000201`,
        '16 foo.example.org. mandatory=alpn,ipv4hint alpn="h2,h3-19" ipv4hint=192.0.2.1',
      ],
      [
        `0010${wire('foo.example.org')}0001000c08665c6f6f2c62617202 6832`,
        '16 foo.example.org. alpn="f\\\\\\\\oo\\\\,bar,h2"',
      ],
    ];
    for (const [h, presentation] of vectors) {
      const bytes = hex(h);
      const data = decodeRdata('SVCB', bytes);
      assert.equal(rdataText(data, bytes), presentation);
      assert.equal(toHex(encodeRdata('SVCB', data)), toHex(bytes), presentation);
    }
    assert.deepEqual((decodeRdata('HTTPS', hex(vectors[8]?.[0] ?? '')) as { params: unknown }).params, [
      { key: 'alpn', protocols: ['f\\oo,bar', 'h2'] },
    ]);
  });

  test('RFC 9460 §2.2 failure cases are malformed: keys out of order, bad lengths, mandatory listing itself', () => {
    const foo = wire('foo.example.com');
    for (const h of [
      `0001${foo}000300020035000100030268 32`, // key 3 before key 1
      `0001${foo}00030001 35`, // port of 1 byte
      `0001${foo}000200016100`, // no-default-alpn with a value (and a stray byte)
      `0001${foo}000400030102 03`, // ipv4hint of 3 bytes
      `0001${foo}000000020000`, // mandatory lists key 0
      `0001${foo}00010000`, // empty alpn
      `0001${foo}0001000300 6832`, // alpn id of length 0
      `0001${foo}0003000300350000`, // value longer than the RDATA
    ]) {
      assert.throws(() => decodeRdata('SVCB', hex(h)), BadPacketError, h);
    }
  });

  test('types soket does not parse: RFC 3597 \\# form, bytes kept', () => {
    assert.equal(rdataFormat(65280), 'unknown');
    assert.equal(text('TYPE65280', hex('0a000001')), '\\# 4 0A000001');
    assert.equal(genericRdataText(new Uint8Array(0)), '\\# 0');
    assert.equal(text('LOC', hex('00')), '\\# 1 00');
  });

  test('EDNS options as dig shows them', () => {
    const opts: EdnsOption[] = [
      { option: 'nsid', code: 3, data: '6e7331', text: 'ns1' },
      {
        option: 'ecs',
        code: 8,
        family: 1,
        sourcePrefixLength: 24,
        scopePrefixLength: 0,
        address: '192.0.2.0',
      },
      { option: 'cookie', code: 10, client: '0011223344556677', server: '' },
      { option: 'ede', code: 15, infoCode: 18, purpose: 'Prohibited', extraText: 'no' },
      { option: 'other', code: 65001, name: 'OPT65001', data: '0102' },
    ];
    assert.deepEqual(opts.map(ednsOptionText), [
      'NSID: 6e 73 31 ("ns1")',
      'CLIENT-SUBNET: 192.0.2.0/24/0',
      'COOKIE: 0011223344556677',
      'EDE: 18 (Prohibited): (no)',
      'OPT=65001: 01 02 ("\\001\\002")',
    ]);
    const msg = decodeDnsMessage(
      encodeDnsMessage({ edns: { udpSize: 1232, dnssecOk: true, options: opts } }),
    );
    assert.deepEqual(msg.edns, { udpSize: 1232, version: 0, dnssecOk: true, z: 0, options: opts });
  });
});

describe('DNS messages', () => {
  test('a query encodes as dig sends it (header, question, OPT with DO)', () => {
    const q = encodeDnsMessage({
      id: 0xbeef,
      flags: { rd: true, ad: true },
      question: [{ name: 'www.example.test', type: 'A' }],
      edns: { udpSize: 1232, dnssecOk: true },
    });
    assert.equal(
      toHex(q),
      'beef01200001000000000001' +
        '03777777076578616d706c6504746573740000010001' +
        '000029 04d0 00 00 8000 0000'.replace(/ /g, ''),
    );
  });

  test('extended response codes travel in OPT; without OPT they cannot be encoded', () => {
    const m = decodeDnsMessage(encodeDnsMessage({ flags: { qr: true }, rcode: 'BADCOOKIE', edns: {} }));
    assert.equal(m.rcode, 'BADCOOKIE');
    assert.throws(() => encodeDnsMessage({ rcode: 'BADVERS' }), ValidationError);
  });

  test('compressed names are followed, and rdata holds them expanded', () => {
    const bytes = encodeDnsMessage({
      flags: { qr: true },
      question: [{ name: 'example.test', type: 'MX' }],
      answer: [
        {
          name: 'example.test',
          type: 'MX',
          ttl: 300,
          data: { format: 'mx', preference: 10, exchange: 'mail.example.test.' },
        },
      ],
    });
    // Compress the exchange by hand: 'mail' + pointer to the question name at offset 12.
    const rdata = Uint8Array.of(0, 10, 4, ...Buffer.from('mail'), 0xc0, 12);
    const ans = bytes.subarray(0, bytes.length - 2 - 2 - 19);
    const packet = Uint8Array.from([...ans.subarray(0, ans.length), 0, rdata.length, ...rdata]);
    const m = decodeDnsMessage(packet);
    assert.equal(m.answer[0]?.name, 'example.test.');
    assert.equal(
      rdataText(m.answer[0]?.data as RData, m.answer[0]?.rdata as Uint8Array),
      '10 mail.example.test.',
    );
    assert.equal(toHex(m.answer[0]?.rdata as Uint8Array), `000a${wire('mail.example.test')}`);
  });

  test('a decoded message encodes back to the same bytes (compression included)', () => {
    const init: DnsMessageInit = {
      id: 1,
      flags: { qr: true, aa: true, rd: true },
      question: [{ name: 'www.example.test', type: 'A' }],
      answer: [
        {
          name: 'www.example.test',
          type: 'CNAME',
          ttl: 60,
          data: { format: 'name', target: 'web.example.test.' },
        },
        { name: 'web.example.test', type: 'A', ttl: 60, data: { format: 'a', address: '192.0.2.1' } },
      ],
      authority: [
        { name: 'example.test', type: 'NS', ttl: 3600, data: { format: 'name', target: 'ns.example.test.' } },
      ],
      additional: [{ name: 'ns.example.test', type: 'TYPE65280', ttl: 1, rdata: Uint8Array.of(1, 2) }],
      edns: { udpSize: 4096, options: [{ option: 'nsid', code: 3, data: '', text: '' }] },
    };
    const bytes = encodeDnsMessage(init);
    assert.equal(toHex(encodeDnsMessage(decodeDnsMessage(bytes))), toHex(bytes));
  });

  test('property: any message of every parsed type round-trips (typed → wire → typed → wire)', () => {
    fc.assert(
      fc.property(messageArbitrary(), (init) => {
        const bytes = encodeDnsMessage(init);
        const m = decodeDnsMessage(bytes);
        assert.equal(toHex(encodeDnsMessage(m)), toHex(bytes));
        const all = [...(init.answer ?? []), ...(init.authority ?? []), ...(init.additional ?? [])];
        const got = [...m.answer, ...m.authority, ...m.additional];
        all.forEach((rr, i) => {
          const d = got[i];
          assert.ok(d);
          assert.equal(toHex(d.rdata), toHex(rr.rdata ?? encodeRdata(rr.type, rr.data as RData)));
          if (d.data.format !== 'unknown') assert.equal(toHex(encodeRdata(d.type, d.data)), toHex(d.rdata));
        });
      }),
      { numRuns: 300 },
    );
  });

  test('differential: what dns-packet encodes, soket decodes to the same values', () => {
    fc.assert(
      fc.property(recordArbitrary(), fc.integer({ min: 0, max: 0xffff }), (rr, id) => {
        const packet = dnsPacket.encode({
          type: 'response',
          id,
          flags: 0,
          questions: [],
          answers: [rr.packet],
        });
        const m = decodeDnsMessage(packet);
        assert.equal(m.answer.length, 1);
        const got = m.answer[0];
        assert.ok(got);
        assert.equal(got.type, rr.packet.type);
        assert.equal(got.ttl, (rr.packet as { ttl: number }).ttl);
        assert.equal(rdataText(got.data, got.rdata), rr.text);
      }),
      { numRuns: 500 },
    );
  });
});

describe('DNS decoder against hostile input: BadPacketError, never a crash', () => {
  const base = encodeDnsMessage({
    id: 1,
    flags: { qr: true },
    question: [{ name: 'a.test', type: 'A' }],
    answer: [{ name: 'a.test', type: 'A', ttl: 1, data: { format: 'a', address: '192.0.2.1' } }],
  });
  const cases: Array<[string, Uint8Array, RegExp]> = [
    ['empty', new Uint8Array(0), /shorter than its 12-byte header/],
    ['11 bytes', new Uint8Array(11), /shorter than its 12-byte header/],
    [
      'QDCOUNT past the end',
      hex('000181800005000000000000'),
      /QDCOUNT is 5 but the message ends after 0 questions/,
    ],
    [
      'ANCOUNT past the end',
      Uint8Array.from([...base.subarray(0, 6), 0, 9, ...base.subarray(8)]),
      /ANCOUNT is 9/,
    ],
    [
      'compression loop (pointer to itself)',
      hex('000181800001000000000000c00c00010001'),
      /points to 12, not before 12/,
    ],
    [
      'two pointers in a loop',
      hex('00018180000100000000000001 61c00c00010001'),
      /points to 12, not before 12/,
    ],
    ['forward pointer', hex('000181800001000000000000c01000010001'), /points to 16/],
    ['pointer past the end', hex('000181800001000000000000c0ff'), /points to 255|runs past/],
    ['half a pointer', hex('000181800001000000000000c0'), /runs past the end/],
    ['label past the end', hex('00018180000100000000000005616263'), /runs past the end/],
    ['reserved label type', hex('000181800001000000000000410000010001'), /Reserved label type 0x40/],
    [
      'RDLENGTH past the end',
      Uint8Array.from([...base.subarray(0, base.length - 6), 0xff, 0xff, 1, 2, 3, 4]),
      /RDATA of 65535 bytes runs past/,
    ],
    [
      'A with 3 bytes',
      Uint8Array.from([...base.subarray(0, base.length - 6), 0, 3, 1, 2, 3]),
      /address is 3 bytes, expected 4/,
    ],
    [
      'A with 5 bytes',
      Uint8Array.from([...base.subarray(0, base.length - 6), 0, 5, 1, 2, 3, 4, 5]),
      /expected 4/,
    ],
    [
      'OPT in the answer section',
      hex('000181800000000100000000' + '0000290200000000000000'),
      /OPT record in the answer section/,
    ],
    [
      'two OPT records',
      hex(`000181800000000000000002${'0000290200000000000000'.repeat(2)}`),
      /a second OPT record/,
    ],
    [
      'OPT option past its end',
      hex('000181800000000000000001' + '00002902000000000000040003 0009'),
      /runs past the end/,
    ],
  ];
  for (const [name, bytes, message] of cases) {
    test(name, () => {
      assert.throws(
        () => decodeDnsMessage(bytes),
        (e: Error) => e instanceof BadPacketError && message.test(e.message),
      );
    });
  }

  test('a name of 256 bytes built from pointers is rejected', () => {
    // Eight names of 32 bytes each, each pointing at the previous one: the last expands past 255 bytes.
    const parts: number[] = [...hex('000181800009000000000000')];
    let prev = -1;
    for (let i = 0; i < 9; i++) {
      const at = parts.length;
      parts.push(30, ...new Array(30).fill(0x61));
      if (prev < 0) parts.push(0);
      else parts.push(0xc0 | (prev >> 8), prev & 0xff);
      parts.push(0, 1, 0, 1);
      prev = at;
    }
    assert.throws(() => decodeDnsMessage(Uint8Array.from(parts)), /longer than 255 bytes/);
  });

  test('fuzz: 3,000 mutated and truncated messages decode or throw BadPacketError (100,000 in bench/dns-fuzz)', () => {
    const report = fuzzDnsDecoder(3000, 20241130);
    assert.equal(report.otherErrors.length, 0, report.otherErrors.slice(0, 3).join('\n'));
    assert.ok(report.decoded > 0 && report.rejected > 0);
  });
});
