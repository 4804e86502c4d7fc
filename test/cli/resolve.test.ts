import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { after, before, describe, test } from 'node:test';
import { batchResults, collect, runCli, SOKET_BIN, startCli } from '../helpers/cli.js';
import { type DnsNetns, startDnsNetns } from '../helpers/dns-netns.js';
import { startDnsResponder } from '../helpers/dns-responder.js';
import { type Dnsmasq, startDnsmasq, ZONE } from '../helpers/dnsmasq.js';
import { canUseNetns } from '../helpers/netns.js';
import { findExecutable, requireCapability, requirePeer, STRICT } from '../helpers/peers.js';

/** The `answer` events of a dig-like run's NDJSON. */
function answers(stdout: string): Array<Record<string, unknown>> {
  return stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((e) => e.event === 'answer');
}

/** A dig-like batch line: name, type, answers (or status), elapsed time. */
const DIG_LINE = (name: string, type: string, rest: string) =>
  new RegExp(
    `^${name.replace(/\./g, '\\.')} +${type} +${rest.replace(/[.()]/g, (c) => `\\${c}`)} {2}[\\d.]+ (µs|ms|s)$`,
    'm',
  );

/** A success line: name, answers, elapsed time. */
const LINE = (name: string, answers: string) =>
  new RegExp(
    `^${name.replace(/\./g, '\\.')} +${answers.replace(/[.()]/g, (c) => `\\${c}`)} {2}[\\d.]+ (µs|ms|s)$`,
    'm',
  );

describe('soket resolve (dnsmasq)', () => {
  let dnsmasq: Dnsmasq | undefined;
  let dir = '';
  before(async () => {
    dir = mkdtempSync(`${os.tmpdir()}/soket-cli-resolve-`);
    if (findExecutable('dnsmasq')) dnsmasq = await startDnsmasq();
    else if (STRICT) throw new Error('Required peer missing under CI=true: dnsmasq');
  });
  after(async () => {
    await dnsmasq?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a batch over DNS: one line per question with TTLs, status and time; exit 1 for a status other than NOERROR', async (t) => {
    if (!requirePeer(t, 'dnsmasq', 'apt-get install dnsmasq') || !dnsmasq) return;
    const r = await runCli([
      'resolve',
      ZONE.www,
      ZONE.nxdomain,
      ZONE.v4only,
      '--server',
      dnsmasq.server,
      '--ordered',
    ]);
    assert.equal(r.code, 1, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 3);
    assert.match(lines[0] as string, DIG_LINE(ZONE.www, 'A', `${ZONE.wwwV4} (ttl 300)`));
    assert.match(lines[1] as string, DIG_LINE(ZONE.nxdomain, 'A', '(no records)  NXDOMAIN'));
    assert.match(lines[2] as string, DIG_LINE(ZONE.v4only, 'A', `${ZONE.v4onlyAddress} (ttl 300)`));
    assert.match(
      r.stderr,
      /^3 questions: 2 NOERROR, 1 NXDOMAIN, 0 failed in .* \(\d+\/s; 127\.0\.0\.1:\d+\)$/m,
    );
    const both = await runCli([
      'resolve',
      ZONE.www,
      '-t',
      'A',
      '-t',
      'AAAA',
      '-s',
      dnsmasq.server,
      '--ordered',
    ]);
    assert.equal(both.code, 0, both.stderr);
    assert.match(both.stdout, DIG_LINE(ZONE.www, 'AAAA', `${ZONE.wwwV6} (ttl 300)`));
  });

  test('one question shows the response as dig does; --short (like dig +short) and -4/-6', async (t) => {
    if (!requirePeer(t, 'dnsmasq', 'apt-get install dnsmasq') || !dnsmasq) return;
    const s = dnsmasq.server;
    const mx = await runCli(['resolve', ZONE.domain, '-s', s, '-t', 'mx']);
    assert.equal(mx.code, 0);
    assert.match(mx.stdout, /^;; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: \d+$/m);
    assert.match(
      mx.stdout,
      /^;; ANSWER SECTION:\nexample\.test\.\t\t300\tIN\tMX\t10 mail\.example\.test\.$/m,
    );
    assert.equal(mx.stderr, '', 'no summary for a single name');
    const txt = await runCli(['resolve', ZONE.domain, '-s', s, '-t', 'TXT', '--short']);
    assert.equal(txt.stdout, '"v=test" "second chunk"\n');
    const srv = await runCli(['resolve', ZONE.srvName, '-s', s, '--type', 'SRV', '--short']);
    assert.equal(srv.stdout, '0 5 5060 sip.example.test.\n');
    const v4 = await runCli(['resolve', ZONE.www, '-s', s, '-4', '--short']);
    assert.equal(v4.stdout, `${ZONE.wwwV4}\n`);
    const v6 = await runCli(['resolve', ZONE.www, '-s', s, '-6', '--short']);
    assert.equal(v6.stdout, `${ZONE.wwwV6}\n`);
    const any = await runCli(['resolve', ZONE.domain, '-s', s, '-t', 'ANY']);
    for (const type of ['MX', 'NS', 'TXT', 'SOA', 'CAA', 'NAPTR'])
      assert.match(any.stdout, new RegExp(`\\t${type}\\t`));
  });

  test('--json is NDJSON: one answer per line, streamed, then a summary', async (t) => {
    if (!requirePeer(t, 'dnsmasq', 'apt-get install dnsmasq') || !dnsmasq) return;
    const r = await runCli(['resolve', ZONE.www, ZONE.nxdomain, '-s', dnsmasq.server, '--json', '--ordered']);
    assert.equal(r.code, 1);
    const out = answers(r.stdout);
    assert.equal(out.length, 2);
    const [ok, nx] = out as [Record<string, unknown>, Record<string, unknown>];
    assert.equal(ok.ok, true);
    assert.equal(ok.status, 'NOERROR');
    assert.equal(ok.type, 'A');
    assert.equal(ok.server, dnsmasq.server);
    assert.deepEqual(ok.answer, [
      {
        name: `${ZONE.www}.`,
        ttl: 300,
        class: 'IN',
        type: 'A',
        data: ZONE.wwwV4,
        fields: { address: ZONE.wwwV4 },
      },
    ]);
    assert.equal(nx.status, 'NXDOMAIN');
    assert.deepEqual(nx.answer, []);
    const summary = JSON.parse(r.stdout.trim().split('\n').at(-1) as string) as Record<string, unknown>;
    assert.deepEqual(
      [summary.event, summary.total, summary.status],
      ['summary', 2, { NOERROR: 1, NXDOMAIN: 1 }],
    );
    // A single name is one answer line (and the summary).
    const one = answers((await runCli(['resolve', ZONE.www, '-s', dnsmasq.server, '--json'])).stdout);
    assert.equal(one.length, 1);
  });

  test('names from --file and stdin (-), in input order with --ordered', async (t) => {
    if (!requirePeer(t, 'dnsmasq', 'apt-get install dnsmasq') || !dnsmasq) return;
    const file = `${dir}/names.txt`;
    writeFileSync(file, `# test names\n${ZONE.www}  ${ZONE.v4only}\n\n${ZONE.v6only} # trailing comment\n`);
    const r = await runCli(
      ['resolve', ZONE.alias, '-', '--file', file, '-s', dnsmasq.server, '--ordered', '--short', '-t', 'A'],
      {
        input: `${ZONE.www}\n`,
      },
    );
    // v6only has no A record: NOERROR with an empty answer, so nothing to print and still exit 0.
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n'), [
      `${ZONE.www}.`,
      ZONE.wwwV4,
      ZONE.wwwV4,
      ZONE.wwwV4,
      ZONE.v4onlyAddress,
    ]);
    assert.match(r.stderr, /^5 questions: 5 NOERROR, 0 failed/m);
  });

  test('a progress bar on a terminal for long batches, and none when piped', async (t) => {
    if (!requirePeer(t, 'dnsmasq', 'apt-get install dnsmasq') || !dnsmasq) return;
    if (!requirePeer(t, 'script', 'apt-get install util-linux')) return;
    const file = `${dir}/many.txt`;
    writeFileSync(file, `${Array(200).fill(ZONE.www).join('\n')}\n`);
    const cmd = `${process.execPath} ${SOKET_BIN} resolve --file ${file} -s ${dnsmasq.server} -t A --concurrency 1`;
    const tty = spawnSync('script', ['-qec', cmd, '/dev/null'], {
      encoding: 'utf8',
      env: { ...process.env, NO_COLOR: '1' },
    });
    assert.equal(tty.status, 0, tty.stderr);
    assert.match(tty.stdout, /resolve \[[#.]+\] \d+\/200 \d+%/);
    assert.ok(tty.stdout.includes('\u001b[1A\u001b[2K'), 'the bar is redrawn in place');
    assert.match(tty.stdout, /200 questions: 200 NOERROR, 0 failed/);
    const piped = await runCli(['resolve', '--file', file, '-s', dnsmasq.server, '-t', 'A']);
    assert.ok(!piped.stderr.includes('[#') && !piped.stderr.includes('\u001b'), piped.stderr);
    assert.equal(piped.stdout.trim().split('\n').length, 200);
  });

  test('bad input exits 2 with one line naming the problem, before any lookup', async (t) => {
    if (!requirePeer(t, 'dnsmasq', 'apt-get install dnsmasq') || !dnsmasq) return;
    const file = `${dir}/bad.txt`;
    writeFileSync(file, `${ZONE.www}\nbad..name\n`);
    const s = dnsmasq.server;
    const cases: Array<[string[], RegExp]> = [
      [['resolve'], /Give at least one name/],
      [['resolve', 'bad..name'], /Invalid name 'bad\.\.name'/],
      [['resolve', '--file', file, '-s', s], /Invalid name 'bad\.\.name': .* \(.*bad\.txt line 2\)/],
      [['resolve', '--file', `${dir}/missing.txt`], /Cannot read --file '.*missing\.txt': no such file/],
      [['resolve', ZONE.www, '-4', '-6'], /Options -4 and -6 cannot be used together/],
      [['resolve', ZONE.www, '--tcp', '--tls', '-s', s], /Options --tcp and --tls cannot be used together/],
      [['resolve', ZONE.www, '-t', 'BOGUS', '-s', s], /Unknown record type 'BOGUS'/],
      [['resolve', `${'a'.repeat(64)}.test`, '-s', s], /label 'a{64}' is 64 bytes, the limit is 63/],
      [['resolve', Array(5).fill('a'.repeat(60)).join('.'), '-s', s], /the limit is 255/],
      [
        ['resolve', ZONE.www, '--https', 'http://127.0.0.1/dns-query'],
        /Invalid DoH URL .*the scheme must be https/,
      ],
      [['resolve', ZONE.www, '-s', 'https://'], /Invalid DoH URL/],
      [['resolve', ZONE.www, '-s', 'ns..example'], /Invalid DNS server 'ns\.\.example'/],
      [['resolve', ZONE.www, '-s', '127.0.0.1:99999'], /Invalid port '99999'/],
      [['resolve', ZONE.www, '-s', s, '--timeout', 'soon'], /Invalid --timeout 'soon'/],
      [['resolve', ZONE.www, '-s', s, '--tries', '0'], /Invalid --tries '0'/],
      [['resolve', ZONE.www, '-s', s, '--concurrency', '0'], /Invalid --concurrency '0'/],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.equal(r.stdout, '');
    }
  });

  test('a timeout names the name, type, server and limit; Ctrl-C stops a batch with a summary (130)', async () => {
    const silent = await startDnsResponder('silent');
    try {
      const r = await runCli(['resolve', ZONE.www, '-s', silent.server, '-t', 'A', '--timeout', '300']);
      assert.equal(r.code, 1);
      assert.equal(
        r.stderr.trim(),
        `soket: Name lookup of ${ZONE.www}. (A query to ${silent.server}) timed out after 300 ms (2 tries)`,
      );
      const child = startCli([
        'resolve',
        'a.example.test',
        'b.example.test',
        '-s',
        silent.server,
        '--timeout',
        '20000',
      ]);
      setTimeout(() => child.kill('SIGINT'), 700);
      const stopped = await collect(child, 15_000);
      assert.equal(stopped.code, 130, stopped.stderr);
      assert.match(stopped.stderr, /^interrupted after 0 of 2 questions: 0 answered, 0 failed/m);
    } finally {
      await silent.close();
    }
  });
});

describe('soket resolve with the system resolver', () => {
  test('localhost via getaddrinfo', async () => {
    const r = await runCli(['resolve', 'localhost', '-4']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, LINE('localhost', '127.0.0.1'));
  });

  describe('in a network namespace whose resolv.conf points at dnsmasq', () => {
    let ns: DnsNetns | undefined;
    let skip = '';
    before(async () => {
      const can = canUseNetns();
      if (!can.ok || !findExecutable('dnsmasq')) {
        skip = can.ok ? 'dnsmasq not installed' : can.reason;
        return;
      }
      ns = await startDnsNetns('resolve', {
        hosts: ['127.0.0.1 localhost', '::1 localhost', '192.0.2.77 mapped.test', '127.0.0.1 dns.test'],
        search: ['example.test'],
      });
    });
    after(async () => {
      await ns?.stop();
    });

    test('getaddrinfo answers from DNS and from the hosts file the test wrote', async (t) => {
      if (!requireCapability(t, ns !== undefined, skip) || !ns) return;
      const prefix = [...ns.exec, process.execPath, SOKET_BIN];
      const r = await runCli(['resolve', ZONE.www, 'mapped.test', ZONE.nxdomain, '--ordered', '--json'], {
        prefix,
      });
      assert.equal(r.code, 1, r.stderr);
      const [www, mapped, nx] = batchResults(r.stdout) as Array<{
        ok: boolean;
        resolver: string;
        records: Array<{ data: string; ttl: null }>;
        error?: { code: string; message: string };
      }>;
      assert.equal(www?.resolver, 'system');
      assert.deepEqual(www?.records.map((x) => x.data).sort(), [ZONE.wwwV4, ZONE.wwwV6].sort());
      assert.ok(www?.records.every((x) => x.ttl === null));
      assert.deepEqual(
        mapped?.records.map((x) => x.data),
        ['192.0.2.77'],
      );
      assert.equal(nx?.error?.code, 'ENOTFOUND');
      assert.equal(nx?.error?.message, `Name ${ZONE.nxdomain} not found (the system resolver, A/AAAA)`);
      const v6 = await runCli(['resolve', '-6', ZONE.www, '--short'], { prefix });
      assert.equal(v6.stdout, `${ZONE.wwwV6}\n`);
      // --dns uses the namespace's /etc/resolv.conf servers over the DNS protocol.
      const viaDns = await runCli(['resolve', '--dns', ZONE.domain, '-t', 'MX', '--json'], { prefix });
      const [mx] = answers(viaDns.stdout) as Array<{ server: string; answer: Array<{ data: string }> }>;
      assert.equal(mx?.server, '127.0.0.1:53');
      assert.equal(mx?.answer[0]?.data, '10 mail.example.test.');
      // A --server given by name is looked up first (through the namespace's resolver, like dig's @name) ...
      const byName = await runCli(['resolve', ZONE.www, '-s', 'dns.test', '--short'], { prefix });
      assert.equal(byName.code, 0, byName.stderr);
      assert.equal(byName.stdout, `${ZONE.wwwV4}\n`);
      // ... and one that does not resolve is an operational failure (exit 1), one line, before any question.
      const missing = await runCli(['resolve', ZONE.www, '-s', 'nosuch-server.example.test'], { prefix });
      assert.equal(missing.code, 1, missing.stderr);
      assert.equal(
        missing.stderr,
        'soket: Cannot resolve DNS server name nosuch-server.example.test: no such name (the system resolver)\n',
      );
      assert.equal(missing.stdout, '');
      // --search: resolv.conf's search list and ndots, as dig +search.
      const searched = await runCli(['resolve', 'www', '--dns', '--search', '--short'], { prefix });
      assert.equal(searched.stdout, `${ZONE.wwwV4}\n`);
    });
  });
});
