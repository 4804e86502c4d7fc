import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { runCli } from '../helpers/cli.js';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

describe('soket (CLI shell)', () => {
  test('--help lists every command and the global options', async () => {
    const r = await runCli(['--help']);
    assert.equal(r.code, 0);
    for (const cmd of ['info', 'service']) assert.match(r.stdout, new RegExp(`\\n  ${cmd}\\b`));
    assert.match(r.stdout, /--json/);
    assert.equal(r.stderr, '');
  });

  test('<command> --help shows examples and the global options', async () => {
    const r = await runCli(['service', '--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /Examples:\n {2}\$ soket service http/);
    assert.match(r.stdout, /--json/);
  });

  test('--version prints the package version', async () => {
    const r = await runCli(['--version']);
    assert.equal(r.code, 0);
    assert.equal(r.stdout.trim(), pkg.version);
  });

  test('unknown command and option: one line on stderr, exit 2, no stack', async () => {
    for (const args of [['bogus'], ['service', '--bogus'], ['info', 'extra-arg']]) {
      const r = await runCli(args);
      assert.equal(r.code, 2, args.join(' '));
      assert.equal(r.stdout, '');
      assert.match(r.stderr, /^soket: .+\n$/);
      assert.doesNotMatch(r.stderr, /\n {4}at /);
    }
  });

  test('with --json an error is a JSON object on stdout', async () => {
    const r = await runCli(['bogus', '--json']);
    assert.equal(r.code, 2);
    assert.deepEqual(Object.keys(JSON.parse(r.stdout).error).sort(), ['code', 'message']);
    assert.equal(JSON.parse(r.stdout).error.code, 'SOKET_INVALID_ARGUMENT');
  });

  test('no colour when piped, and never with NO_COLOR', async () => {
    const piped = await runCli(['service', 'http'], { env: { NO_COLOR: '', FORCE_COLOR: '1' } });
    assert.ok(!piped.stdout.includes('\u001b['), 'no ANSI escapes');
  });
});
