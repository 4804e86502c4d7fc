import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { AbortError, ValidationError } from '../../src/core/errors.js';
import { InputTooLargeError, readInputFile, readInputFileSync } from '../../src/core/input-file.js';

const dir = mkdtempSync(join(tmpdir(), 'soket-input-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('readInputFile', () => {
  test('a regular file, up to the cap and not a byte more', async () => {
    const path = join(dir, 'f');
    writeFileSync(path, 'x'.repeat(1000));
    assert.equal((await readInputFile(path, { maxBytes: 1000 })).length, 1000);
    await assert.rejects(readInputFile(path, { maxBytes: 999, what: 'names file' }), (e: unknown) => {
      assert.ok(e instanceof InputTooLargeError && e instanceof ValidationError);
      assert.equal(e.message, `The names file '${path}' is larger than 999 bytes`);
      return true;
    });
  });

  test('devices stop at the cap', async () => {
    await assert.rejects(readInputFile('/dev/zero', { maxBytes: 1 << 20 }), InputTooLargeError);
  });

  test('a FIFO: read when its writer comes; stopped by the signal while none has', async () => {
    const fifo = join(dir, 'p');
    execFileSync('mkfifo', [fifo]);
    const reading = readInputFile(fifo, { maxBytes: 100 });
    writeFileSync(fifo, 'hello\n');
    assert.equal((await reading).toString(), 'hello\n');
    const controller = new AbortController();
    const waiting = readInputFile(fifo, { maxBytes: 100, signal: controller.signal });
    setImmediate(() => controller.abort());
    await assert.rejects(waiting, AbortError);
    await assert.rejects(readInputFile(fifo, { maxBytes: 100, signal: AbortSignal.abort() }), AbortError);
  });

  test('file system errors keep their codes', async () => {
    await assert.rejects(readInputFile(join(dir, 'missing'), { maxBytes: 10 }), { code: 'ENOENT' });
    await assert.rejects(readInputFile(dir, { maxBytes: 10 }), { code: 'EISDIR' });
  });
});

describe('readInputFileSync', () => {
  test('a regular file up to the cap; /dev/zero refused at the cap instead of read without end', () => {
    const path = join(dir, 'sync');
    writeFileSync(path, 'abc');
    assert.equal(readInputFileSync(path, { maxBytes: 3 }).toString(), 'abc');
    assert.throws(() => readInputFileSync(path, { maxBytes: 2 }), InputTooLargeError);
    assert.throws(() => readInputFileSync('/dev/zero', { maxBytes: 1 << 20, what: '--cert' }), {
      message: "The --cert '/dev/zero' is larger than 1 MiB",
    });
  });
});
