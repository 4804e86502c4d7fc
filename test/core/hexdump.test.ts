import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { HexDumper, hexLines } from '../../src/core/hexdump.js';
import { findExecutable } from '../helpers/peers.js';

test('hexLines matches hexdump -C, byte for byte', (t) => {
  const data = Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 37) & 0xff));
  const hexdump = findExecutable('hexdump');
  if (!hexdump) {
    t.skip('hexdump not installed (bsdextrautils)');
    return;
  }
  // hexdump -C collapses repeated lines with '*'; the data has none. Its last line is the total offset.
  const want = spawnSync(hexdump, ['-C'], { input: data })
    .stdout.toString()
    .trimEnd()
    .split('\n')
    .slice(0, -1);
  assert.deepEqual(hexLines(data), want);
});

test('known lines, marks and per-direction offsets', () => {
  assert.deepEqual(hexLines(Buffer.from('Hi\n'), 0, '>'), [
    '> 00000000  48 69 0a                                          |Hi.|',
  ]);
  assert.deepEqual(hexLines(new Uint8Array(0)), []);
  const d = new HexDumper();
  d.lines('out', Buffer.alloc(20, 0x41));
  const back = d.lines('in', Buffer.from([0x1b, 0x5b, 0x32, 0x4a]));
  assert.deepEqual(back, ['< 00000000  1b 5b 32 4a                                       |.[2J|']);
  const more = d.lines('out', Buffer.from('z'));
  assert.match(more[0] as string, /^> 00000014 {2}7a/);
  assert.deepEqual(d.offsets, { in: 4, out: 21 });
});
