import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { collect, runCli, startCli } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'soket-file-input-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Resolve once process `pid` holds `path` open (read from /proc: no fixed sleep). */
async function untilOpen(pid: number, path: string): Promise<void> {
  for (let i = 0; i < 3000; i++) {
    try {
      for (const fd of readdirSync(`/proc/${pid}/fd`)) {
        try {
          if (readlinkSync(`/proc/${pid}/fd/${fd}`) === path) return;
        } catch {
          // closed meanwhile
        }
      }
    } catch {
      return; // the process is gone: let the caller see how it ended
    }
    await delay(10);
  }
  throw new Error(`process ${pid} never opened ${path}`);
}

describe('file inputs are capped and interruptible', () => {
  test('service --file /dev/zero is refused with exit 2, not read forever', async () => {
    const r = await runCli(['service', '--file', '/dev/zero', 'http'], { killAfter: 60_000 });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /Services file '\/dev\/zero' is larger than 4 MiB/);
  });

  test('resolve --file /dev/zero is refused with exit 2', async () => {
    const r = await runCli(['resolve', '--file', '/dev/zero'], { killAfter: 60_000 });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /larger than 64 MiB/);
  });

  for (const [what, args] of [
    ['service', ['service', 'http', '--file']],
    ['resolve', ['resolve', '--file']],
  ] as const) {
    test(`${what} --file FIFO with no writer stops on SIGINT (a thread-pool read would hang even exit)`, async () => {
      const fifo = join(dir, `${what}.fifo`);
      execFileSync('mkfifo', [fifo]);
      const child = startCli([...args, fifo]);
      await untilOpen(child.pid as number, fifo);
      child.kill('SIGINT');
      const r = await collect(child, 20_000);
      assert.equal(r.signal, null, 'ended by itself, not killed by the safety net');
      assert.ok(r.code === 130 || r.code === 1, `exit ${r.code}: ${r.stderr}`);
      assert.match(r.stderr, /aborted|nterrupted/);
    });
  }

  test('a FIFO whose writer comes later is read to its end', async () => {
    const fifo = join(dir, 'late.fifo');
    execFileSync('mkfifo', [fifo]);
    const child = startCli(['service', 'web', '--file', fifo]);
    await untilOpen(child.pid as number, fifo);
    writeFileSync(fifo, 'web 8081/tcp www2\n');
    const r = await collect(child, 20_000);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /web\s+8081\/tcp/);
  });
});
