/**
 * The CLI's authenticated time: `soket ntp serve --nts --keyfile` and `soket time --nts / --key / --keyfile`,
 * against each other and against chronyd, in text and JSON, and the usage errors (exit 2).
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type ChronyNtsServer, startChronyNtsServer } from '../helpers/chrony-nts.js';
import { collect, runCli, startCli, waitForLine } from '../helpers/cli.js';
import { findExecutable, requirePeer } from '../helpers/peers.js';

const SHA1 = 'b2159c05d6a219673a3b7e896b6de07f6a440995';
const AES = '2da837c4b6573748ca692b8c828e4891';
const dir = mkdtempSync(join(tmpdir(), 'soket-cli-nts-'));
const keyfile = join(dir, 'keys');
writeFileSync(keyfile, `# test keys\n1 SHA1 HEX:${SHA1}\n4 AES128 HEX:${AES}\n`);
after(() => rmSync(dir, { recursive: true, force: true }));

interface Listening {
  port: number;
  nts: { port: number; pin: string; selfSigned: boolean; fingerprint256: string };
  keys?: number;
}

describe('soket ntp serve --nts --keyfile and soket time', () => {
  let server: ChildProcess;
  let info: Listening;
  let chrony: ChronyNtsServer | undefined;
  before(async () => {
    server = startCli([
      'ntp',
      'serve',
      '0',
      '--leap',
      '0',
      '--nts',
      '--nts-port',
      '0',
      '--keyfile',
      keyfile,
      '--stats',
      '0',
      '--json',
    ]);
    const m = await waitForLine(server, /^(\{"event":"listening".*\})$/m, 'stdout');
    info = JSON.parse(m[1] as string) as Listening;
    const chronyd = findExecutable('chronyd');
    if (chronyd) chrony = await startChronyNtsServer(chronyd, { keys: `1 SHA1 HEX:${SHA1}\n` });
  });
  after(async () => {
    server?.kill('SIGINT');
    await chrony?.stop();
  });

  test('listening: the NTS-KE port, the self-signed certificate’s fingerprint and pin, the keys', () => {
    assert.ok(info.nts.port > 0);
    assert.equal(info.nts.selfSigned, true);
    assert.match(info.nts.pin, /^sha256:[A-Za-z0-9+/]{43}=$/);
    assert.match(info.nts.fingerprint256, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    assert.equal(info.keys, 2);
  });

  test('time --nts with the pin: text says NTS; --json says authenticated: nts', async () => {
    const ke = `127.0.0.1:${info.nts.port}`;
    const text = await runCli(['time', '--nts', ke, '--pin', info.nts.pin, '--timeout', '5000']);
    assert.equal(text.code, 0, text.stderr);
    assert.match(
      text.stdout,
      new RegExp(`Server +127\\.0\\.0\\.1:${info.port} \\(NTS-KE ${ke.replace(/\./g, '\\.')}\\)`),
    );
    assert.match(
      text.stdout,
      /Authenticated +NTS \(NTS-KE with 127\.0\.0\.1:\d+ in [\d.]+ ms; 8 cookies left\)/,
    );
    const json = await runCli(['time', '--nts', ke, '--pin', info.nts.pin, '--json']);
    assert.equal(json.code, 0, json.stderr);
    const best = JSON.parse(json.stdout).servers[0].best;
    assert.equal(best.authenticated, 'nts');
    assert.equal(best.authFailures, 0);
    assert.equal(best.nts.keServer, ke);
    assert.equal(best.nts.keyExchanged, true);
    assert.equal(best.port, info.port);
  });

  test('time --nts without trusting the certificate: exit 1, the TLS reason', async () => {
    const r = await runCli(['time', '--nts', `127.0.0.1:${info.nts.port}`, '--json']);
    assert.equal(r.code, 1);
    assert.equal(JSON.parse(r.stdout).error.code, 'SOKET_TLS');
  });

  test('time --key and --keyfile --key-id: symmetric, against soket', async () => {
    const where = `127.0.0.1:${info.port}`;
    const a = await runCli(['time', where, '--key', `4:AES128:${AES}`]);
    assert.equal(a.code, 0, a.stderr);
    assert.match(a.stdout, /Authenticated +symmetric key 4/);
    const b = await runCli(['time', where, '--keyfile', keyfile, '--key-id', '1', '--json']);
    assert.equal(b.code, 0, b.stderr);
    const best = JSON.parse(b.stdout).servers[0].best;
    assert.equal(best.authenticated, 'symmetric');
    assert.equal(best.keyId, 1);
  });

  test('a wrong key: the server drops the request, the client times out (exit 1)', async () => {
    const r = await runCli([
      'time',
      `127.0.0.1:${info.port}`,
      '--key',
      `4:AES128:${'00'.repeat(16)}`,
      '--timeout',
      '600',
    ]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /timed out/);
  });

  test('against chronyd: time --nts with --ca, and --keyfile', async (t) => {
    if (!requirePeer(t, 'chronyd', 'apt-get install chrony') || !chrony) return;
    const ca = join(dir, 'chrony-ca.pem');
    writeFileSync(ca, chrony.certificate.cert);
    const r = await runCli(['time', '--nts', `127.0.0.1:${chrony.ntsPort}`, '--ca', ca, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const best = JSON.parse(r.stdout).servers[0].best;
    assert.equal(best.authenticated, 'nts');
    assert.equal(best.port, chrony.ntpPort);
    const k = await runCli(['time', `127.0.0.1:${chrony.ntpPort}`, '--keyfile', keyfile, '--key-id', '1']);
    assert.equal(k.code, 0, k.stderr);
    assert.match(k.stdout, /Authenticated +symmetric key 1/);
  });

  test('the server counts what it authenticated (stopped event)', async () => {
    server.kill('SIGINT');
    const r = await collect(server);
    const stopped = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .find((e) => e.event === 'stopped');
    assert.ok(stopped.auth.nts >= 2);
    assert.ok(stopped.auth.symmetric >= 2);
    assert.ok(stopped.auth.failed >= 1);
    assert.ok(stopped.ke.keyExchanges >= 2);
    assert.ok(stopped.ke.failed.tls >= 1);
  });
});

describe('usage errors (exit 2)', () => {
  const cases: Array<[string, string[], RegExp]> = [
    [
      '--nts with --key',
      ['time', '--nts', '127.0.0.1', '--key', `1:SHA1:${SHA1}`],
      /--nts.*--key|cannot be used together/,
    ],
    ['--ca without --nts', ['time', '127.0.0.1', '--ca', 'x.pem'], /--ca needs --nts/],
    [
      '--keyfile without --key-id',
      ['time', '127.0.0.1', '--keyfile', 'k'],
      /--keyfile and --key-id go together/,
    ],
    ['a bad --key', ['time', '127.0.0.1', '--key', '1:SHA3:00'], /--key/],
    ['a key ID not in the file', ['time', '127.0.0.1', '--keyfile', keyfile, '--key-id', '9'], /no key 9/],
    [
      '--cert without --nts',
      ['ntp', 'serve', '0', '--cert', 'c.pem', '--key', 'k.pem'],
      /--cert needs --nts/,
    ],
    [
      '--cert without --key',
      ['ntp', 'serve', '0', '--nts', '--cert', 'c.pem'],
      /--cert and --key go together/,
    ],
    ['a bad keyfile line', ['ntp', 'serve', '0', '--keyfile', join(dir, 'bad')], /line 1/],
  ];
  before(() => writeFileSync(join(dir, 'bad'), 'x MD5 secretsecretsecret\n'));
  for (const [what, args, message] of cases) {
    test(what, async () => {
      const r = await runCli(args);
      assert.equal(r.code, 2, `${r.stdout}${r.stderr}`);
      assert.match(r.stderr, message);
    });
  }
});
