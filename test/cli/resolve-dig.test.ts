/**
 * `soket resolve` in its dig-like mode against real servers: named (authoritative, signed zones) and unbound
 * (DoT, DoH). The sectioned view's record lines are compared byte for byte with dig's.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { after, before, describe, test } from 'node:test';
import { runCli } from '../helpers/cli.js';
import { AUTH_ZONE, type AuthServer, authToolsMissing, startAuthServer } from '../helpers/dns-auth.js';
import { requirePeer, STRICT } from '../helpers/peers.js';
import { startUnbound, type Unbound, unboundMissing } from '../helpers/unbound.js';

/** The lines of one section of dig-style text. */
function section(text: string, title: string): string[] {
  const lines = text.split('\n');
  const at = lines.indexOf(`;; ${title} SECTION:`);
  if (at < 0) return [];
  const out: string[] = [];
  for (const l of lines.slice(at + 1)) {
    if (l === '') break;
    out.push(l);
  }
  return out;
}

function digAnswerLines(server: string, name: string, type: string, flags: string[] = []): string[] {
  const [host, port] = server.split(':') as [string, string];
  return execFileSync(
    'dig',
    [`@${host}`, '-p', port, '+noall', '+answer', '+nosplit', ...flags, name, type],
    {
      encoding: 'utf8',
    },
  )
    .split('\n')
    .filter((l) => l.length > 0 && !l.startsWith(';'));
}

describe('soket resolve, dig-like, against named', () => {
  let auth: AuthServer | undefined;
  before(async () => {
    const missing = authToolsMissing();
    if (!missing) auth = await startAuthServer();
    else if (STRICT) throw new Error(`Required peer missing under CI=true: ${missing}`);
  });
  after(async () => {
    await auth?.stop();
  });
  const need = (t: import('node:test').TestContext) =>
    requirePeer(t, authToolsMissing() ?? 'dig', 'apt-get install bind9 bind9-utils bind9-dnsutils') !==
      undefined && auth !== undefined;

  test("the answer section is dig's, byte for byte (columns, TTLs, escapes, every type)", async (t) => {
    if (!need(t) || !auth) return;
    for (const [name, type] of [
      ['alias.soket.test', 'A'],
      ['esc.soket.test', 'TXT'],
      ['soket.test', 'CAA'],
      ['svc.soket.test', 'SVCB'],
      ['h3.soket.test', 'HTTPS'],
      ['soket.test', 'DNSKEY'],
      ['soket.test', 'NSEC3PARAM'],
      ['unk.soket.test', 'TYPE65280'],
      ['_443._tcp.soket.test', 'TLSA'],
    ] as const) {
      const r = await runCli(['resolve', name, '-t', type, '-s', auth.server]);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(
        section(r.stdout, 'ANSWER').sort(),
        digAnswerLines(auth.server, name, type).sort(),
        `${name} ${type}`,
      );
    }
    const signed = await runCli(['resolve', 'www.soket.test', '-s', auth.server, '--dnssec']);
    assert.deepEqual(
      section(signed.stdout, 'ANSWER').sort(),
      digAnswerLines(auth.server, 'www.soket.test', 'A', ['+dnssec']).sort(),
    );
    assert.match(signed.stdout, /^; EDNS: version: 0, flags: do; udp: 1232$/m);
  });

  test('the header, OPT pseudo-section (NSID), question and footer', async (t) => {
    if (!need(t) || !auth) return;
    const r = await runCli(['resolve', AUTH_ZONE.www, '-s', auth.server, '--nsid']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^;; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: \d+$/m);
    assert.match(r.stdout, /^;; flags: qr aa rd; QUERY: 1, ANSWER: 1, AUTHORITY: 0, ADDITIONAL: 1$/m);
    assert.match(r.stdout, /^;; WARNING: recursion requested but not available$/m);
    assert.match(r.stdout, /^; NSID: 73 6f 6b 65 74 2d 61 75 74 68 \("soket-auth"\)$/m);
    assert.deepEqual(section(r.stdout, 'QUESTION'), [';www.soket.test.\t\tIN\tA']);
    assert.match(r.stdout, /^;; SERVER: 127\.0\.0\.1#\d+ \(UDP\)$/m);
    assert.match(r.stdout, /^;; MSG SIZE {2}rcvd: \d+$/m);
  });

  test('NXDOMAIN: the authority section, exit 1; a delegation with --no-recurse: NS and glue', async (t) => {
    if (!need(t) || !auth) return;
    const nx = await runCli(['resolve', AUTH_ZONE.nxdomain, '-s', auth.server]);
    assert.equal(nx.code, 1);
    assert.match(nx.stdout, /status: NXDOMAIN/);
    assert.match(
      section(nx.stdout, 'AUTHORITY')[0] ?? '',
      /^soket\.test\.\t\t300\tIN\tSOA\tns1\.soket\.test\. /,
    );
    const ref = await runCli(['resolve', AUTH_ZONE.delegated, '-s', auth.server, '--no-recurse']);
    assert.equal(ref.code, 0, ref.stderr);
    assert.match(ref.stdout, /^;; flags: qr; QUERY: 1, ANSWER: 0, AUTHORITY: 1, ADDITIONAL: 2$/m);
    assert.deepEqual(section(ref.stdout, 'AUTHORITY'), [
      'sub.soket.test.\t\t300\tIN\tNS\tns.sub.soket.test.',
    ]);
    assert.deepEqual(section(ref.stdout, 'ADDITIONAL'), ['ns.sub.soket.test.\t300\tIN\tA\t127.0.0.2']);
  });

  test('a truncated answer is asked again over TCP, and says so; --ignore-tc keeps it', async (t) => {
    if (!need(t) || !auth) return;
    const r = await runCli(['resolve', AUTH_ZONE.big, '-t', 'TXT', '-s', auth.server]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(section(r.stdout, 'ANSWER').length, AUTH_ZONE.bigCount);
    assert.match(r.stdout, /^;; SERVER: 127\.0\.0\.1#\d+ \(TCP\)$/m);
    assert.match(r.stdout, /^;; Truncated over UDP \(TC\): asked again over TCP$/m);
    const kept = await runCli(['resolve', AUTH_ZONE.big, '-t', 'TXT', '-s', auth.server, '--ignore-tc']);
    assert.match(kept.stdout, /^;; flags: qr aa tc rd;/m);
  });

  test('--json: the documented answer object, then the summary', async (t) => {
    if (!need(t) || !auth) return;
    const r = await runCli(['resolve', AUTH_ZONE.alias, '-s', auth.server, '--json', '--tcp']);
    const [answer, summary] = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(Object.keys(answer ?? {}).sort(), [
      'additional',
      'answer',
      'authority',
      'edns',
      'elapsedMs',
      'event',
      'failedServers',
      'flags',
      'id',
      'ignored',
      'ok',
      'opcode',
      'query',
      'question',
      'searched',
      'server',
      'size',
      'status',
      'transport',
      'tries',
      'truncated',
      'type',
    ]);
    assert.equal(answer?.transport, 'tcp');
    assert.deepEqual(
      ((answer?.answer ?? []) as Array<{ type: string; data: string; ttl: number }>).map((a) => [
        a.type,
        a.data,
        a.ttl,
      ]),
      [
        ['CNAME', 'alias2.soket.test.', 300],
        ['CNAME', 'www.soket.test.', 300],
        ['A', '192.0.2.10', 300],
      ],
    );
    assert.deepEqual(Object.keys(summary ?? {}).sort(), [
      'elapsedMs',
      'event',
      'failed',
      'ignored',
      'interrupted',
      'ok',
      'perSecond',
      'status',
      'total',
      'via',
    ]);
  });
});

describe('soket resolve over DoT and DoH (unbound)', () => {
  let auth: AuthServer | undefined;
  let unbound: Unbound | undefined;
  let dir = '';
  before(async () => {
    const missing = authToolsMissing() ?? unboundMissing();
    dir = mkdtempSync(`${os.tmpdir()}/soket-cli-dig-`);
    if (!missing) {
      auth = await startAuthServer();
      unbound = await startUnbound({ upstream: auth.server });
      writeFileSync(`${dir}/ca.pem`, unbound.ca);
      writeFileSync(`${dir}/other.pem`, unbound.otherCa);
    } else if (STRICT) throw new Error(`Required peer missing under CI=true: ${missing}`);
  });
  after(async () => {
    await unbound?.stop();
    await auth?.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const need = (t: import('node:test').TestContext) =>
    requirePeer(
      t,
      unboundMissing() ?? authToolsMissing() ?? 'unbound',
      'apt-get install unbound bind9 openssl',
    ) !== undefined && unbound !== undefined;

  test('--tls, --https URL, --https with --server, --get: the same answer, and the TLS facts', async (t) => {
    if (!need(t) || !unbound) return;
    const u = unbound;
    const udp = await runCli(['resolve', AUTH_ZONE.alias, '-s', u.server, '--short']);
    assert.equal(udp.code, 0, udp.stderr);
    for (const args of [
      ['--tls', '-s', u.tlsServer, '--ca', `${dir}/ca.pem`],
      ['--tls', '-s', u.tlsServer, '--ca', `${dir}/ca.pem`, '--servername', u.servername],
      ['--https', u.dohUrl, '--ca', `${dir}/ca.pem`],
      ['-s', u.dohUrl, '--ca', `${dir}/ca.pem`, '--get'],
      ['--https', '-s', u.dohUrl.replace(/^https:\/\/|\/dns-query$/g, ''), '--ca', `${dir}/ca.pem`],
    ]) {
      const short = await runCli(['resolve', AUTH_ZONE.alias, ...args, '--short']);
      assert.equal(short.code, 0, `${args.join(' ')}: ${short.stderr}`);
      assert.equal(short.stdout, udp.stdout, args.join(' '));
    }
    const tls = await runCli(['resolve', AUTH_ZONE.www, '--tls', '-s', u.tlsServer, '--ca', `${dir}/ca.pem`]);
    assert.match(tls.stdout, /^;; SERVER: 127\.0\.0\.1#\d+ \(TLS\)$/m);
    assert.match(tls.stdout, /^;; TLS: TLSv1\.3, \S+, certificate verified$/m);
    const doh = await runCli(['resolve', AUTH_ZONE.www, '--https', u.dohUrl, '--ca', `${dir}/ca.pem`]);
    assert.match(doh.stdout, /^;; SERVER: https:\/\/127\.0\.0\.1:\d+\/dns-query \(HTTPS, HTTP\/2\)$/m);
    assert.match(doh.stdout, /^;; TLS: TLSv1\.3, \S+, ALPN h2, certificate verified$/m);
  });

  test('an untrusted certificate fails in one line (exit 1); a missing --ca file is bad input (exit 2)', async (t) => {
    if (!need(t) || !unbound) return;
    const r = await runCli([
      'resolve',
      AUTH_ZONE.www,
      '--tls',
      '-s',
      unbound.tlsServer,
      '--ca',
      `${dir}/other.pem`,
    ]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^soket: Certificate of 127\.0\.0\.1:\d+ is not trusted: .*\[/);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    const missing = await runCli([
      'resolve',
      AUTH_ZONE.www,
      '--tls',
      '-s',
      unbound.tlsServer,
      '--ca',
      `${dir}/nope.pem`,
    ]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /Cannot read --ca/);
  });
});
