/**
 * `soket demo` under file-descriptor pressure (issue 17, item 8): with `ulimit -n 60` the TCP section (100
 * concurrent clients) runs out of descriptors. It must fail alone, in one line, and give back what it held:
 * before, the unhandled 'error' of a listener ended the demo with a Node stack trace, and the failed section's
 * server and clients starved the sections after it.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { runCli, SOKET_BIN } from '../helpers/cli.js';

describe('soket demo with ulimit -n 60', () => {
  test('a section that runs out of descriptors fails in one line, cleans up, and the rest still work', async () => {
    const r = await runCli(['demo', '--json'], {
      prefix: ['sh', '-c', `ulimit -n 60 && exec "$0" "$@"`, process.execPath, SOKET_BIN],
      killAfter: 120_000,
    });
    assert.doesNotMatch(r.stderr, /node:events|Unhandled 'error'|\n\s+at /, 'no stack trace');
    const events = r.stdout
      .trim()
      .split('\n')
      .map(
        (l) =>
          JSON.parse(l) as { event: string; section?: string; ok?: boolean; error?: { message: string } },
      );
    const sections = events.filter((e) => e.event === 'section');
    const summary = events.find((e) => e.event === 'summary');
    assert.ok(summary, 'the demo ran to its summary');
    assert.equal(sections.length, 10);
    const tcp = sections.find((e) => e.section === 'tcp');
    assert.equal(tcp?.ok, false, 'the TCP section needs ~200 descriptors: it fails here');
    assert.match(tcp?.error?.message ?? '', /too many open files/);
    assert.doesNotMatch(tcp?.error?.message ?? '', /\n/, 'one line');
    const after = sections.slice(sections.indexOf(tcp as (typeof sections)[number]) + 1);
    assert.deepEqual(
      after.map((e) => [e.section, e.ok]),
      after.map((e) => [e.section, true]),
      'the sections after it got their descriptors back',
    );
    assert.equal(r.code, 1, 'a failed section is exit 1');
  });
});
