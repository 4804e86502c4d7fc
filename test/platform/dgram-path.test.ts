/**
 * Where FFI works the UDP and SNTP servers run on the batched engine, so their own test files exercise that
 * path. This file runs the same test files again with SOKET_NO_FFI=1, on Node's dgram path, so the suite
 * covers both (the engine's own tests, test/platform/udp-engine.test.ts and test/ntp/sntp-engine.test.ts,
 * run both paths in-process).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ffiAvailable } from '../../src/platform/ffi.js';

const FILES = ['test/net/udp.test.ts', 'test/ntp/server.test.ts', 'test/ntp/interop.test.ts'];
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

test('the UDP and SNTP server tests pass on the dgram path (SOKET_NO_FFI=1)', async (t) => {
  if (!ffiAvailable().ok) {
    t.skip('FFI is off here already: those files ran on the dgram path');
    return;
  }
  const child = spawn(process.execPath, ['--import', 'tsx', '--test', ...FILES], {
    cwd: ROOT,
    env: { ...process.env, SOKET_NO_FFI: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (b: Buffer) => {
    out += b.toString();
  });
  child.stderr.on('data', (b: Buffer) => {
    out += b.toString();
  });
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  const summary = out.match(/^# (tests|pass|fail|skipped) \d+$/gm) ?? [];
  t.diagnostic(summary.join(', '));
  const failed = out
    .split('\n')
    .filter((l) => /^\s*not ok /.test(l))
    .join('\n');
  assert.equal(code, 0, `failures on the dgram path:\n${failed}`);
});
