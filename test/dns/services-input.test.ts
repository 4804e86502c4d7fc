import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { AbortError, ValidationError } from '../../src/core/errors.js';
import {
  clearServicesCache,
  getServiceByName,
  loadServices,
  loadServicesAsync,
  SERVICES_MAX_BYTES,
} from '../../src/dns/services.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'soket-services-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A services file of about `bytes` bytes of valid lines. */
function servicesFile(name: string, bytes: number): string {
  const line = 'svc 1234/tcp alias-one alias-two # padding padding padding\n';
  const path = join(dir, name);
  writeFileSync(path, line.repeat(Math.floor(bytes / line.length)) + 'x'.repeat(bytes % line.length));
  return path;
}

describe('services files are read with a size cap', () => {
  test('the sync loader stops at the cap: /dev/zero is refused at once, not read forever', () => {
    // In a child: before the cap, this read grew without bound and the test could only time out.
    const r = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        '-e',
        `import('./src/dns/services.ts').then((m) => { try { m.loadServices({ path: '/dev/zero' }); } catch (e) { console.log(e.name, e.message); } })`,
      ],
      { cwd: ROOT, encoding: 'utf8', timeout: 60_000 },
    );
    assert.equal(r.signal, null, 'finished without being killed');
    assert.match(r.stdout, /^ValidationError Services file '\/dev\/zero' is larger than 4 MiB/);
  });

  test('the async loader refuses /dev/zero and a file one byte over the cap, accepts one at the cap', async () => {
    await assert.rejects(loadServicesAsync({ path: '/dev/zero' }), (e: unknown) => {
      assert.ok(e instanceof ValidationError);
      assert.match(e.message, /larger than 4 MiB: not a services database/);
      return true;
    });
    const over = servicesFile('over', SERVICES_MAX_BYTES + 1);
    await assert.rejects(loadServicesAsync({ path: over }), ValidationError);
    assert.throws(() => loadServices({ path: over }), ValidationError);
    const at = servicesFile('at', SERVICES_MAX_BYTES);
    const db = await loadServicesAsync({ path: at });
    assert.ok(db.entries.length > 10_000);
    assert.equal(getServiceByName('alias-two', 'tcp', { path: at }).port, 1234, 'cached for sync lookups');
  });

  test('even the system file falls back to the embedded table only when unreadable, never when too large', async () => {
    const over = servicesFile('over-fallback', SERVICES_MAX_BYTES + 100);
    await assert.rejects(loadServicesAsync({ path: over, fallback: true }), ValidationError);
    const missing = await loadServicesAsync({ path: join(dir, 'missing'), fallback: true });
    assert.equal(missing.source, 'embedded');
    assert.match(missing.fallbackReason ?? '', /no such file/);
  });

  test('a read that never ends (a FIFO nobody closes) stops when the signal fires', async () => {
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    // O_RDWR keeps a writer open without blocking, so the reader never sees end of file
    const writer = openSync(fifo, 'r+');
    try {
      writeSync(writer, 'http 80/tcp www\n');
      const controller = new AbortController();
      const pending = loadServicesAsync({ path: fifo, signal: controller.signal });
      setTimeout(() => controller.abort(), 100);
      await assert.rejects(pending, AbortError);
      await assert.rejects(loadServicesAsync({ path: fifo, signal: AbortSignal.abort() }), AbortError);
    } finally {
      closeSync(writer);
      clearServicesCache();
    }
  });

  test('options from plain JavaScript are checked', async () => {
    for (const bad of [null, 5, 'x', { path: 5 }, { path: '' }, { embedded: 'yes' }, { fallback: 1 }]) {
      assert.throws(() => loadServices(bad as never), ValidationError, JSON.stringify(bad));
      await assert.rejects(loadServicesAsync(bad as never), ValidationError, JSON.stringify(bad));
    }
    await assert.rejects(loadServicesAsync({ signal: 'x' as never }), ValidationError);
  });
});
