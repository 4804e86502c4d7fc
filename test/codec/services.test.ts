import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  formatServices,
  parseServices,
  SERVICES_LIMITS,
  type ServiceRecord,
} from '../../src/codec/services.js';

describe('parseServices', () => {
  test('known answer: names, ports, protocols, aliases, comments', () => {
    const text = [
      '# Network services, Internet style',
      '',
      'tcpmux\t\t1/tcp\t\t\t\t# TCP port service multiplexer',
      'http\t\t80/tcp\t\twww\t\t# WorldWideWeb HTTP',
      'discard\t\t9/udp\t\tsink null',
      '   kerberos  88/TCP   kerberos5 krb5 kerberos-sec   # Kerberos v5',
      'afpovertcp\t548/tcp\t\t\t# AFP over TCP',
    ].join('\n');
    assert.deepEqual(parseServices(text), {
      records: [
        { name: 'tcpmux', port: 1, protocol: 'tcp', aliases: [] },
        { name: 'http', port: 80, protocol: 'tcp', aliases: ['www'] },
        { name: 'discard', port: 9, protocol: 'udp', aliases: ['sink', 'null'] },
        { name: 'kerberos', port: 88, protocol: 'tcp', aliases: ['kerberos5', 'krb5', 'kerberos-sec'] },
        { name: 'afpovertcp', port: 548, protocol: 'tcp', aliases: [] },
      ],
      skipped: [],
    });
  });

  test('malformed lines are skipped with a reason, never thrown', () => {
    const text = [
      'lonely',
      'bad 80',
      'bad2 x/tcp',
      'bad3 70000/tcp',
      'bad4 80/',
      'ok 7/tcp',
      'bad5 -1/udp',
      'bad6 0/tcp',
    ].join('\n');
    const { records, skipped } = parseServices(text);
    assert.deepEqual(records, [{ name: 'ok', port: 7, protocol: 'tcp', aliases: [] }]);
    assert.deepEqual(
      skipped.map((s) => s.line),
      [1, 2, 3, 4, 5, 7, 8],
    );
    assert.match(skipped[6]?.reason ?? '', /0\/tcp/, 'port 0 is not a service port');
    assert.match(skipped[0]?.reason ?? '', /missing port/);
    assert.match(skipped[3]?.reason ?? '', /70000\/tcp/);
  });

  test('CRLF line endings and tabs/spaces mixed', () => {
    assert.deepEqual(parseServices('ssh 22/tcp\r\nssh\t22/udp \r\n').records, [
      { name: 'ssh', port: 22, protocol: 'tcp', aliases: [] },
      { name: 'ssh', port: 22, protocol: 'udp', aliases: [] },
    ]);
  });

  test('hostile input: very long lines and alias floods are bounded', () => {
    const long = `x 1/tcp ${'a'.repeat(SERVICES_LIMITS.maxLineLength)}`;
    assert.equal(parseServices(long).records.length, 0);
    const many = `x 1/tcp ${Array.from({ length: 500 }, (_, i) => `a${i}`).join(' ')}`;
    assert.equal(parseServices(many).records[0]?.aliases.length, SERVICES_LIMITS.maxAliases);
  });

  const token = fc.stringMatching(/^[a-z][a-z0-9-]{0,14}$/);
  const record: fc.Arbitrary<ServiceRecord> = fc
    .record({
      name: token,
      port: fc.integer({ min: 1, max: 65535 }),
      protocol: fc.constantFrom('tcp', 'udp', 'sctp', 'ddp'),
      aliases: fc.array(token, { maxLength: 5 }),
    })
    .map((r) => ({ ...r }));

  test('round trip: format → parse → format is stable', () => {
    fc.assert(
      fc.property(fc.array(record, { maxLength: 30 }), (records) => {
        const text = formatServices(records);
        const parsed = parseServices(text);
        assert.deepEqual(parsed.records, records);
        assert.equal(formatServices(parsed.records), text);
      }),
    );
  });

  test('property: any text parses without throwing, and every record is well-formed', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 400 }), (text) => {
        const { records } = parseServices(text);
        for (const r of records) {
          assert.ok(Number.isInteger(r.port) && r.port >= 1 && r.port <= 65535);
          assert.ok(r.name.length > 0 && !/\s/.test(r.name));
          assert.ok(r.protocol.length > 0);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
