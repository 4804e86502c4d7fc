import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  AEAD_AES_SIV_CMAC_256,
  decodeNtsKeRecords,
  decodeNtsKeRequest,
  decodeNtsKeResponse,
  encodeNtsKeRecords,
  encodeNtsKeRequest,
  encodeNtsKeResponse,
  NtsKeDecodeError,
  NtsKeErrorCode,
  NtsKeRecordType,
  ntsKeMessageLength,
} from '../../src/codec/nts-ke.js';
import { BadPacketError, ValidationError } from '../../src/core/errors.js';

const h = (s: string) => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const EOM = '8000 0000';

describe('NTS-KE records (RFC 8915 §4)', () => {
  test('known answer: the request chrony 4.3 sends (NTPv4, AES-SIV-CMAC-256 and AES-128-GCM-SIV)', () => {
    // Next Protocol [0] critical; AEAD [15, 30] critical; Compliant-128GCM-Export (1024), empty, not critical
    const bytes = h(`8001 0002 0000  8004 0004 000f 001e  0400 0000  ${EOM}`);
    const r = decodeNtsKeRequest(bytes);
    assert.deepEqual(r.nextProtocols, [0]);
    assert.deepEqual(r.aeadAlgorithms, [15, 30]);
    assert.equal(r.unknown?.[0]?.type, 1024);
    assert.equal(r.unknown?.[0]?.critical, false);
  });

  test('known answer: soket request bytes', () => {
    assert.equal(hex(encodeNtsKeRequest({})), '80010002000080040002000f80000000');
    assert.equal(
      hex(encodeNtsKeRequest({ server: '127.0.0.1', port: 123 })),
      `80010002000080040002000f 0006 0009 ${hex(Buffer.from('127.0.0.1'))} 0007 0002 007b 80000000`.replace(
        / /g,
        '',
      ),
    );
  });

  test('response: negotiated values, port, server, cookies', () => {
    const cookies = [new Uint8Array(100).fill(1), new Uint8Array(100).fill(2)];
    const bytes = encodeNtsKeResponse({
      nextProtocol: 0,
      aeadAlgorithm: AEAD_AES_SIV_CMAC_256,
      port: 11123,
      server: '127.0.0.1',
      cookies,
    });
    const r = decodeNtsKeResponse(bytes);
    assert.equal(r.nextProtocol, 0);
    assert.equal(r.aeadAlgorithm, 15);
    assert.equal(r.port, 11123);
    assert.equal(r.server, '127.0.0.1');
    assert.deepEqual(r.cookies, cookies);
    assert.deepEqual(r.warnings, []);
    assert.equal(r.error, undefined);
    // the records themselves: cookies are not critical, the rest are
    const recs = decodeNtsKeRecords(bytes);
    assert.deepEqual(
      recs.map((x) => [x.type, x.critical]),
      [
        [1, true],
        [4, true],
        [7, true],
        [6, true],
        [5, false],
        [5, false],
        [0, true],
      ],
    );
  });

  test('error response decodes to its code', () => {
    const r = decodeNtsKeResponse(encodeNtsKeResponse({ error: NtsKeErrorCode.badRequest }));
    assert.equal(r.error, 1);
    assert.equal(hex(encodeNtsKeResponse({ error: 0 })), `80020002 0000 ${EOM}`.replace(/ /g, ''));
  });

  test('no acceptable protocol: an empty Next Protocol record', () => {
    const r = decodeNtsKeResponse(encodeNtsKeResponse({}));
    assert.equal(r.nextProtocol, undefined);
  });

  test('framing: the message length in a stream', () => {
    const msg = encodeNtsKeRequest({});
    for (let i = 0; i < msg.length; i++) assert.equal(ntsKeMessageLength(msg.subarray(0, i)), undefined);
    assert.equal(ntsKeMessageLength(msg), msg.length);
    assert.equal(ntsKeMessageLength(new Uint8Array([...msg, 1, 2, 3])), msg.length);
    // a message that never ends
    const big = new Uint8Array(20000);
    big.set(h('0005 3ffc'));
    assert.throws(() => ntsKeMessageLength(big), NtsKeDecodeError);
    assert.throws(() => ntsKeMessageLength(h('0005 ffff')), /longer than 16384/);
  });

  const badRequests: Array<[string, string, number]> = [
    ['no End of Message', '8001 0002 0000 8004 0002 000f', 1],
    ['record after End of Message', `8001 0002 0000 8004 0002 000f ${EOM} 8001 0002 0000`, 1],
    ['End of Message not critical', '8001 0002 0000 8004 0002 000f 0000 0000', 1],
    ['End of Message with a body', '8001 0002 0000 8004 0002 000f 8000 0002 0000', 1],
    ['no Next Protocol', `8004 0002 000f ${EOM}`, 1],
    ['two Next Protocol records', `8001 0002 0000 8001 0002 0000 8004 0002 000f ${EOM}`, 1],
    ['Next Protocol not critical', `0001 0002 0000 8004 0002 000f ${EOM}`, 1],
    ['empty Next Protocol', `8001 0000 8004 0002 000f ${EOM}`, 1],
    ['odd Next Protocol', `8001 0003 000000 8004 0002 000f ${EOM}`, 1],
    ['no AEAD record for NTPv4', `8001 0002 0000 ${EOM}`, 1],
    ['empty AEAD record', `8001 0002 0000 8004 0000 ${EOM}`, 1],
    ['client sends a cookie', `8001 0002 0000 8004 0002 000f 0005 0004 00000000 ${EOM}`, 1],
    ['client sends an error', `8001 0002 0000 8004 0002 000f 8002 0002 0000 ${EOM}`, 1],
    ['unknown critical record', `8001 0002 0000 8004 0002 000f 8123 0000 ${EOM}`, 0],
    ['truncated record', `8001 0002 0000 8004 0004 000f`, 1],
    ['port of 3 bytes', `8001 0002 0000 8004 0002 000f 0007 0003 000000 ${EOM}`, 1],
    ['server name with a space', `8001 0002 0000 8004 0002 000f 0006 0003 612062 ${EOM}`, 1],
  ];
  for (const [what, bytes, code] of badRequests) {
    test(`bad request: ${what} → error ${code}`, () => {
      assert.throws(
        () => decodeNtsKeRequest(h(bytes)),
        (err: unknown) =>
          err instanceof NtsKeDecodeError && err instanceof BadPacketError && err.ntsKeError === code,
      );
    });
  }

  const badResponses: Array<[string, string]> = [
    ['unknown critical record', `8001 0002 0000 8123 0000 ${EOM}`],
    ['two Next Protocol records', `8001 0002 0000 8001 0002 0000 ${EOM}`],
    ['two protocols in one record', `8001 0004 0000 0001 ${EOM}`],
    ['two AEAD algorithms', `8001 0002 0000 8004 0004 000f 001e ${EOM}`],
    ['critical cookie', `8001 0002 0000 8005 0004 00000000 ${EOM}`],
    ['cookie not a multiple of 4', `8001 0002 0000 0005 0003 000000 ${EOM}`],
    ['empty cookie', `8001 0002 0000 0005 0000 ${EOM}`],
    ['error record not critical', `0002 0002 0001 ${EOM}`],
    ['warning of 1 byte', `8003 0001 00 ${EOM}`],
    ['port 0', `8001 0002 0000 8007 0002 0000 ${EOM}`],
    ['server name with a control character', `8001 0002 0000 8006 0002 4107 ${EOM}`],
    ['no End of Message', '8001 0002 0000'],
  ];
  for (const [what, bytes] of badResponses) {
    test(`bad response: ${what}`, () => {
      assert.throws(() => decodeNtsKeResponse(h(bytes)), NtsKeDecodeError);
    });
  }

  test('warnings and unknown non-critical records pass through', () => {
    const r = decodeNtsKeResponse(h(`8001 0002 0000 8004 0002 000f 8003 0002 0007 4321 0001 ff ${EOM}`));
    assert.deepEqual(r.warnings, [7]);
    assert.equal(r.unknown?.[0]?.type, 0x4321);
  });

  test('encoders validate', () => {
    assert.throws(
      () => encodeNtsKeRecords([{ critical: false, type: 0x8000, body: new Uint8Array(0) }]),
      ValidationError,
    );
    assert.throws(() => encodeNtsKeRequest({ server: 'a b' }), ValidationError);
    assert.throws(() => encodeNtsKeRequest({ port: 0 }), ValidationError);
    assert.throws(() => encodeNtsKeRequest({ aeadAlgorithms: [70000] }), ValidationError);
  });

  test('round trip: records of any type', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            critical: fc.boolean(),
            type: fc.integer({ min: 0, max: 0x7fff }),
            body: fc.uint8Array({ maxLength: 40 }),
          }),
          { maxLength: 10 },
        ),
        (records) => {
          const bytes = encodeNtsKeRecords(records);
          assert.deepEqual(encodeNtsKeRecords(decodeNtsKeRecords(bytes)), bytes);
        },
      ),
      { numRuns: 300 },
    );
  });

  test('property: decoders throw only NtsKeDecodeError on random input', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 120 }), (b) => {
        for (const f of [decodeNtsKeRequest, decodeNtsKeResponse, decodeNtsKeRecords]) {
          try {
            f(b);
          } catch (err) {
            assert.ok(err instanceof NtsKeDecodeError, String(err));
          }
        }
        try {
          ntsKeMessageLength(b);
        } catch (err) {
          assert.ok(err instanceof NtsKeDecodeError);
        }
      }),
      { numRuns: 3000 },
    );
  });

  test('record type constants', () => {
    assert.equal(NtsKeRecordType.newCookie, 5);
    assert.equal(NtsKeRecordType.port, 7);
  });
});
