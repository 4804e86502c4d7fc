/**
 * Requests with something after the 48-byte header (49–120 bytes and more): soket's SNTP server and chronyd
 * must agree on which they answer. Well-formed extension fields (RFC 7822) and MACs with a known key are
 * answered; stray bytes, fields that run past the packet or have bad lengths, MACs of unknown keys are not —
 * and soket counts the malformed ones.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createSntpServer, type SntpServer } from '../../src/ntp/server.js';
import { appendMac, parseKeyFile } from '../../src/ntp/symmetric-key.js';
import { type ChronyServer, startChronyServer } from '../helpers/chrony.js';
import { findExecutable, STRICT } from '../helpers/peers.js';

const KEYFILE = '1 SHA1 HEX:B2159C05D6A219673A3B7E896B6DE07F6A440995\n2 MD5 ASCII:AVeryLongPassword\n';
const keys = parseKeyFile(KEYFILE);

function request(version = 4): Buffer {
  const b = Buffer.alloc(48);
  b[0] = (version << 3) | 3;
  randomBytes(8).copy(b, 40);
  return b;
}
function field(type: number, length: number, declared = length): Buffer {
  const b = Buffer.alloc(length, 0x11);
  b.writeUInt16BE(type, 0);
  b.writeUInt16BE(declared, 2);
  return b;
}
function unknownMac(length: number): Buffer {
  const b = Buffer.alloc(length, 0x22);
  b.writeUInt32BE(7, 0);
  return b;
}
const signed = (packet: Buffer, id: number) => Buffer.from(appendMac(packet, keys.get(id) as never));

/**
 * Each case: a name, the request, and what a server does with it: answer, or drop it as malformed, or (a MAC,
 * or a tail of 20 or 24 bytes, which RFC 7822 reads as one, with a key the server does not have) drop it as
 * failing authentication.
 */
const CASES: Array<[string, () => Buffer, 'answer' | 'malformed' | 'auth']> = [
  ['crypto-NAK alone (4 zero bytes)', () => Buffer.concat([request(), Buffer.alloc(4)]), 'auth'],
  ['4 stray bytes', () => Buffer.concat([request(), Buffer.alloc(4, 1)]), 'malformed'],
  ['8 stray bytes', () => Buffer.concat([request(), Buffer.alloc(8, 1)]), 'malformed'],
  ['a 16-byte field as the last one', () => Buffer.concat([request(), field(0x2005, 16)]), 'malformed'],
  ['a 20-byte field (reads as a MAC)', () => Buffer.concat([request(), field(0x2005, 20)]), 'auth'],
  ['a 24-byte field (reads as a MAC)', () => Buffer.concat([request(), field(0x2005, 24)]), 'auth'],
  ['a field running past the end', () => Buffer.concat([request(), field(0x2005, 28, 100)]), 'malformed'],
  [
    'a field length not a multiple of 4',
    () => Buffer.concat([request(), field(0x2005, 32, 30)]),
    'malformed',
  ],
  ['a field of length 0', () => Buffer.concat([request(), field(0x2005, 28, 0)]), 'malformed'],
  ['72 random bytes', () => Buffer.concat([request(), randomBytes(72)]), 'malformed'],
  ['68 zero bytes', () => Buffer.concat([request(), Buffer.alloc(68)]), 'malformed'],
  ['a 28-byte MAC-like tail', () => Buffer.concat([request(), unknownMac(28)]), 'malformed'],
  ['a MAC of an unknown key (20 bytes)', () => Buffer.concat([request(), unknownMac(20)]), 'auth'],
  ['a MAC of an unknown key (24 bytes)', () => Buffer.concat([request(), unknownMac(24)]), 'auth'],
  ['NTPv3, 8 stray bytes', () => Buffer.concat([request(3), Buffer.alloc(8, 1)]), 'malformed'],
  ['NTPv3, an extension field', () => Buffer.concat([request(3), field(0x2005, 28)]), 'auth'],
  ['one 28-byte field', () => Buffer.concat([request(), field(0x2005, 28)]), 'answer'],
  ['one 32-byte field', () => Buffer.concat([request(), field(0x2005, 32)]), 'answer'],
  ['two fields', () => Buffer.concat([request(), field(0x2005, 28), field(0x2006, 28)]), 'answer'],
  [
    'a 16-byte field, then a 28-byte one',
    () => Buffer.concat([request(), field(0x2005, 16), field(0x2006, 28)]),
    'answer',
  ],
  ['a SHA1 MAC of a known key', () => signed(request(), 1), 'answer'],
  ['an MD5 MAC of a known key', () => signed(request(), 2), 'answer'],
  [
    'an extension field, then a known key MAC',
    () => signed(Buffer.concat([request(), field(0x2005, 16)]), 1),
    'answer',
  ],
  ['NTPv3, an MD5 MAC of a known key', () => signed(request(3), 2), 'answer'],
];

/** Send `probe`, then a plain request; `probe` was answered if its reply came before the plain one's. */
async function answered(socket: dgram.Socket, port: number, probe: Buffer): Promise<boolean> {
  const sentinel = request();
  const got: Buffer[] = [];
  await new Promise<void>((resolve) => {
    const onMessage = (m: Buffer) => {
      got.push(m);
      if (m.subarray(24, 32).equals(sentinel.subarray(40, 48))) {
        socket.off('message', onMessage);
        resolve();
      }
    };
    socket.on('message', onMessage);
    socket.send(probe, port, '127.0.0.1');
    socket.send(sentinel, port, '127.0.0.1');
  });
  return got.some((m) => m.subarray(24, 32).equals(probe.subarray(40, 48)));
}

describe('requests with extension fields or a MAC: soket answers what chronyd answers', () => {
  const dir = mkdtempSync(join(tmpdir(), 'soket-tails-'));
  let chrony: ChronyServer | undefined;
  let soket: SntpServer | undefined;
  let socket: dgram.Socket | undefined;

  before(async () => {
    chmodSync(dir, 0o755);
    writeFileSync(join(dir, 'keys'), KEYFILE, { mode: 0o644 });
    const chronyd = findExecutable('chronyd');
    if (chronyd) chrony = await startChronyServer(chronyd, { extra: [`keyfile ${join(dir, 'keys')}`] });
    else if (STRICT) throw new Error('Required peer missing under CI=true: chronyd');
    soket = await createSntpServer({ port: 0, leap: 0, rateLimit: false, keys });
    socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => socket?.bind(0, '127.0.0.1', resolve));
  });
  after(async () => {
    socket?.close();
    await soket?.close();
    await chrony?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('soket: the well-formed are answered, the malformed dropped and counted', async () => {
    const s = soket as SntpServer;
    const wrong: string[] = [];
    for (const [name, make, expected] of CASES) {
      const before = s.stats();
      const got = await answered(socket as dgram.Socket, s.address.port, make());
      const after = s.stats();
      const outcome = got
        ? 'answer'
        : after.dropped.malformed > before.dropped.malformed
          ? 'malformed'
          : (after.auth?.failed ?? 0) > (before.auth?.failed ?? 0)
            ? 'auth'
            : 'dropped, not counted';
      if (outcome !== expected) wrong.push(`${name}: ${outcome}, expected ${expected}`);
    }
    assert.deepEqual(wrong, []);
  });

  test('chronyd 4.3 decides every case the same way', async (t) => {
    if (!chrony) {
      t.skip('chronyd not installed (apt-get install chrony)');
      return;
    }
    const wrong: string[] = [];
    for (const [name, make, expected] of CASES) {
      const got = await answered(socket as dgram.Socket, chrony.port, make());
      if (got !== (expected === 'answer')) wrong.push(`${name}: ${got ? 'answered' : 'dropped'}`);
    }
    assert.deepEqual(wrong, [], `chronyd log: ${chrony.log()}`);
  });
});
