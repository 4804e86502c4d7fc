import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { after, describe, test } from 'node:test';
import { ffiAvailable } from '../../src/platform/ffi.js';
import { collect, runCli, startCli, waitForLine } from '../helpers/cli.js';
import { requireFfi } from '../helpers/peers.js';

const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});

const ffi = ffiAvailable();

async function echoOnce(port: number, text: string): Promise<string> {
  const s = dgram.createSocket('udp4');
  try {
    await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
    const got = new Promise<Buffer>((resolve) => s.once('message', resolve));
    s.send(text, port, '127.0.0.1');
    return (await got).toString();
  } finally {
    s.close();
  }
}

describe('--workers and the datapath in the CLI', () => {
  test('udp listen --workers 2: batched, says so, echoes; SOKET_NO_FFI=1: dgram, and -v says why', async (t) => {
    if (!requireFfi(t)) return;
    const fast = startCli(['udp', 'listen', '127.0.0.1:0', '--workers', '2']);
    children.push(fast);
    const m = await waitForLine(fast, /Listening on 127\.0\.0\.1:(\d+)[^\n]*\nDatapath: ([^\n]+)\n/);
    assert.equal(m[2], 'batched (recvmmsg/sendmmsg), 2 workers');
    assert.equal(await echoOnce(Number(m[1]), 'batched hello'), 'batched hello');
    fast.kill('SIGTERM');
    const done = await collect(fast);
    assert.equal(done.code, 0);

    const slow = startCli(['udp', 'listen', '127.0.0.1:0', '-v'], { env: { SOKET_NO_FFI: '1' } });
    children.push(slow);
    let slowErr = '';
    slow.stderr?.on('data', (b: Buffer) => {
      slowErr += b;
    });
    const s = await waitForLine(slow, /Listening on 127\.0\.0\.1:(\d+)[^\n]*\nDatapath: ([^\n]+)\n/);
    assert.equal(s[2], 'dgram (one Node socket; -v says why)');
    assert.equal(await echoOnce(Number(s[1]), 'dgram hello'), 'dgram hello');
    slow.kill('SIGTERM');
    assert.equal((await collect(slow)).code, 0);
    assert.match(slowErr, /dgram datapath.*SOKET_NO_FFI=1/);
  });

  test('ntp serve --workers 2 --json: the listening event names the datapath and the workers', async () => {
    const child = startCli(['ntp', 'serve', '0', '--leap', '0', '--workers', '2', '--stats', '0', '--json']);
    children.push(child);
    const line = await waitForLine(child, /^(\{"event":"listening".*\})\n/m, 'stdout');
    const e = JSON.parse(line[1] as string) as { datapath: string; workers: number };
    if (ffi.ok) assert.deepEqual([e.datapath, e.workers], ['batched', 2]);
    else assert.deepEqual([e.datapath, e.workers], ['dgram', 1]);
    child.kill('SIGTERM');
    assert.equal((await collect(child)).code, 0);
  });

  test('ntp serve --nts --workers 2: batched, and time --nts gets an authenticated sample; SOKET_NO_FFI=1: dgram, the same', async () => {
    for (const env of [{}, { SOKET_NO_FFI: '1' }]) {
      const noFfi = 'SOKET_NO_FFI' in env;
      const args = ['ntp', 'serve', '0', '--leap', '0', '--workers', '2', '--nts', '--nts-port', '0'];
      const child = startCli([...args, '--stats', '0', '--json'], { env });
      children.push(child);
      const line = await waitForLine(child, /^(\{"event":"listening".*\})\n/m, 'stdout');
      const e = JSON.parse(line[1] as string) as {
        datapath: string;
        workers: number;
        nts: { port: number; pin: string };
      };
      if (ffi.ok && !noFfi) assert.deepEqual([e.datapath, e.workers], ['batched', 2]);
      else assert.deepEqual([e.datapath, e.workers], ['dgram', 1]);
      const r = await runCli(['time', '--nts', `127.0.0.1:${e.nts.port}`, '--pin', e.nts.pin, '--json']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(JSON.parse(r.stdout).servers[0].best.authenticated, 'nts');
      child.kill('SIGTERM');
      const done = await collect(child);
      assert.equal(done.code, 0);
      const stopped = done.stdout.split('\n').find((l) => l.startsWith('{"event":"stopped"'));
      assert.ok(stopped, done.stdout);
      assert.ok((JSON.parse(stopped).auth?.nts ?? 0) >= 1, stopped);
    }
  });

  test('a bad --workers is a usage error (exit 2)', async () => {
    for (const args of [
      ['udp', 'listen', '127.0.0.1:0', '--workers', '0'],
      ['udp', 'listen', '127.0.0.1:0', '--workers', '65'],
      ['ntp', 'serve', '0', '--workers', '-1'],
    ]) {
      const r = await runCli(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /workers/);
    }
  });
});
