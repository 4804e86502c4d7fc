/**
 * Issue 17, the CLI's small hardening items, each a test that fails on the code before the fix (677d3bd):
 * 7 (`udp listen --reply` size, send errors counted), 9 (terminal injection: control characters escaped in
 * every text output, exact in JSON), 10 (malformed IPv4 literals: exit 2 with no DNS lookup at all), 11 (one
 * error from `--workers` on a port in use), 15 (the small ones).
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import dnsPacket from 'dns-packet';
import { encodeNtpPacket } from '../../src/codec/ntp.js';
import { type CliResult, ndjson, runCli, SOKET_BIN, startCli } from '../helpers/cli.js';
import { type Dnsmasq, startDnsmasq } from '../helpers/dnsmasq.js';
import { hangingListener } from '../helpers/hanging-listener.js';
import { canUseNetns, createNetns, deleteNetns } from '../helpers/netns.js';
import { requireCapability, requirePeer } from '../helpers/peers.js';

const children: ChildProcess[] = [];
const cleanups: Array<() => unknown> = [];
after(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const f of cleanups.reverse()) await f();
});

/** Start a long-running `soket ...`; its stderr (and stdout) are collected and can be waited on. */
function start(args: string[], prefix?: string[]) {
  const child = startCli(args, prefix ? { prefix } : {});
  children.push(child);
  const text = { out: '', err: '' };
  const waiters: Array<() => void> = [];
  const wake = () => {
    for (const w of waiters.splice(0)) w();
  };
  child.stdout?.on('data', (b: Buffer) => {
    text.out += b.toString('utf8');
    wake();
  });
  child.stderr?.on('data', (b: Buffer) => {
    text.err += b.toString('utf8');
    wake();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.once('exit', wake);
  return {
    child,
    text,
    exited,
    /** Resolves with the first match of `re` in stderr (or stdout), rejects if the child exits first. */
    async until(re: RegExp, where: 'err' | 'out' = 'err'): Promise<RegExpExecArray> {
      for (;;) {
        const m = re.exec(text[where]);
        if (m) return m;
        if (child.exitCode !== null || child.signalCode !== null) {
          throw new Error(`exited (${child.exitCode}) before ${re}: ${text.err}`);
        }
        await new Promise<void>((r) => waiters.push(r));
      }
    },
  };
}

/** Waits until `cond()` holds, checking every 10 ms (for state only the kernel shows, such as /proc/net/tcp). */
async function poll(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 10));
}

/** Rows of /proc/net/tcp: local and remote port, state (hex), send and receive queue. */
function tcpTable(): Array<{ local: number; remote: number; st: string; tx: number; rx: number }> {
  return readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .slice(1)
    .filter(Boolean)
    .map((line) => {
      const f = line.trim().split(/\s+/);
      const [tx = '0', rx = '0'] = (f[4] ?? '').split(':');
      return {
        local: Number.parseInt(f[1]?.split(':')[1] ?? '0', 16),
        remote: Number.parseInt(f[2]?.split(':')[1] ?? '0', 16),
        st: f[3] ?? '',
        tx: Number.parseInt(tx, 16),
        rx: Number.parseInt(rx, 16),
      };
    });
}

/** A usage error: exit 2, exactly one line on stderr (a control character in it would break that), no stdout. */
function assertUsageError(r: CliResult, message: RegExp): void {
  assert.equal(r.code, 2, `exit code: ${r.stderr}`);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^soket: [^\n]*\n$/, `one line: ${JSON.stringify(r.stderr)}`);
  assert.match(r.stderr, message);
}

// Control characters in text output: only newline (and tab) may remain, as line structure.
// biome-ignore lint/suspicious/noControlCharactersInRegex: looking for control characters is the point
const RAW_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f]/;

describe('item 9: control characters are escaped in text, exact in JSON', () => {
  test('error messages echo a name with a newline or an escape sequence on one safe line', async () => {
    const svc = await runCli(['service', 'a\nb']);
    assertUsageError(svc, /Invalid service name 'a\\010b'/);
    const host = await runCli(['tcp', 'connect', '\u001b[2J', '80']);
    assertUsageError(host, /'\\027\[2J'/);
    assert.doesNotMatch(host.stderr, RAW_CONTROL);
    // JSON: the message exactly, control characters JSON-escaped.
    const j = await runCli(['service', 'a\nb', '--json']);
    assert.equal(j.code, 2);
    assert.match((JSON.parse(j.stdout) as { error: { message: string } }).error.message, /'a\nb'/);
    const jh = await runCli(['tcp', 'connect', '\u001b[2J', '80', '--json']);
    const message = (JSON.parse(jh.stdout) as { error: { message: string } }).error.message;
    assert.ok(message.includes("'\u001b[2J'"), message);
  });

  describe('DNS data: TXT, CNAME and PTR with ESC, CR, LF and NUL', () => {
    const EVIL = 'a\u001b[2Jb\rc\nd\u0000e';
    let port = 0;
    before(async () => {
      // A server whose answers carry control characters (dnsmasq cannot be told to serve these).
      const socket = dgram.createSocket('udp4');
      socket.on('message', (msg, rinfo) => {
        const q = dnsPacket.decode(msg);
        const question = q.questions?.[0];
        if (!question) return;
        const { name, type } = question;
        const answers: dnsPacket.Answer[] = [];
        if (type === 'TXT') answers.push({ type: 'TXT', name, ttl: 60, data: [Buffer.from(EVIL)] });
        else if (name.startsWith('cname.') && (type === 'CNAME' || type === 'A')) {
          answers.push({ type: 'CNAME', name, ttl: 60, data: 'x\u001b[2Jy.evil.test' });
        } else if (type === 'PTR')
          answers.push({ type: 'PTR', name, ttl: 60, data: 'p\u001b[2J\r\nq.evil.test' });
        const reply = dnsPacket.encode({
          id: q.id ?? 0,
          type: 'response',
          flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE,
          questions: q.questions ?? [],
          answers,
        });
        socket.send(reply, rinfo.port, rinfo.address);
      });
      await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
      port = socket.address().port;
      cleanups.push(() => new Promise<void>((resolve) => socket.close(() => resolve())));
    });

    test('resolve -t TXT: dig-style escapes in text and --short, the exact string in JSON', async () => {
      const server = `127.0.0.1:${port}`;
      const text = await runCli(['resolve', '-s', server, '-t', 'TXT', 'txt.evil.test']);
      assert.equal(text.code, 0, text.stderr);
      assert.match(text.stdout, /"a\\027\[2Jb\\013c\\010d\\000e"/);
      assert.doesNotMatch(text.stdout, RAW_CONTROL);
      const short = await runCli(['resolve', '-s', server, '-t', 'TXT', 'txt.evil.test', '--short']);
      assert.equal(short.stdout, '"a\\027[2Jb\\013c\\010d\\000e"\n');
      const json = await runCli(['resolve', '-s', server, '-t', 'TXT', 'txt.evil.test', '--json']);
      const answer = ndjson(json.stdout).find((e) => e.event === 'answer') as {
        answer: Array<{ fields: { strings: string[] } }>;
      };
      assert.deepEqual(answer.answer[0]?.fields.strings, [EVIL]);
    });

    test('resolve: a CNAME target with ESC is escaped, asked directly or met on the way to an A record', async () => {
      const server = `127.0.0.1:${port}`;
      for (const type of ['CNAME', 'A']) {
        const r = await runCli(['resolve', '-s', server, '-t', type, 'cname.evil.test']);
        assert.match(r.stdout, /CNAME\tx\\027\[2Jy\.evil\.test\./);
        assert.doesNotMatch(r.stdout, RAW_CONTROL);
        const short = await runCli(['resolve', '-s', server, '-t', type, 'cname.evil.test', '--short']);
        assert.doesNotMatch(short.stdout, RAW_CONTROL);
        assert.match(short.stdout, /x\\027\[2Jy\.evil\.test\./);
      }
    });

    test('reverse: a PTR name with ESC, CR and LF stays on its line, escaped', async () => {
      const r = await runCli(['reverse', '-s', `127.0.0.1:${port}`, '192.0.2.1']);
      assert.equal(r.code, 0, r.stderr);
      assert.doesNotMatch(r.stdout, RAW_CONTROL);
      assert.match(r.stdout, /^192\.0\.2\.1 +p\\027\[2J\\013\\010q\.evil\.test +/);
      assert.equal(r.stdout.trim().split('\n').length, 1);
      const short = await runCli(['reverse', '-s', `127.0.0.1:${port}`, '192.0.2.1', '--short']);
      assert.equal(short.stdout, 'p\\027[2J\\013\\010q.evil.test\n');
      // JSON has the name in DNS presentation format: the escapes are the format, a byte 27 in a label.
      const j = await runCli(['reverse', '-s', `127.0.0.1:${port}`, '192.0.2.1', '--json']);
      const result = ndjson(j.stdout).find((e) => e.event === 'result') as { names: string[] };
      assert.deepEqual(result.names, ['p\\027[2J\\013\\010q.evil.test']);
    });
  });

  test('tcp listen --mode chat relays ESC, CR and NUL from one client to another escaped (as ncat --chat)', async () => {
    const s = start(['tcp', 'listen', '127.0.0.1:0', '--mode', 'chat']);
    const port = Number((await s.until(/Listening on 127\.0\.0\.1:(\d+)/))[1]);
    const a = net.connect(port, '127.0.0.1');
    await once(a, 'connect');
    await s.until(/connected \(1 open\)/);
    let seenByA = '';
    a.on('data', (b: Buffer) => {
      seenByA += b.toString('latin1');
    });
    const b = net.connect(port, '127.0.0.1');
    const received: Buffer[] = [];
    b.on('data', (chunk: Buffer) => received.push(chunk));
    await poll(() => /joined/.test(seenByA)); // b is in the room
    a.write('hi \u001b[2J\rthere\u0000!\n');
    await poll(() => Buffer.concat(received).includes('!\n'));
    const line = Buffer.concat(received).toString('latin1');
    assert.match(line, /\[127\.0\.0\.1:\d+\] hi \\x1b\[2J\\x0dthere\\x00!\n/);
    assert.doesNotMatch(line, RAW_CONTROL);
    a.destroy();
    b.destroy();
    s.child.kill('SIGTERM');
    assert.equal(await s.exited, 0);
  });

  for (const proto of ['tcp', 'udp'] as const) {
    test(`${proto} listen --mode print: escaped on stdout, exact in JSON`, async () => {
      const payload = 'a\u001b[2Jb\u0000c';
      for (const json of [false, true]) {
        const s = start([proto, 'listen', '127.0.0.1:0', '--mode', 'print', ...(json ? ['--json'] : [])]);
        const port = json
          ? Number((await s.until(/"port":(\d+)/, 'out'))[1])
          : Number((await s.until(/Listening on 127\.0\.0\.1:(\d+)/))[1]);
        if (proto === 'tcp') {
          const c = net.connect(port, '127.0.0.1');
          c.end(`${payload}\n`);
          await once(c, 'close');
        } else {
          const u = dgram.createSocket('udp4');
          await new Promise<void>((resolve) => u.send(payload, port, '127.0.0.1', () => resolve()));
          u.close();
        }
        if (json) {
          await s.until(/"event":"message"/, 'out');
          const message = ndjson(s.text.out).find((e) => e.event === 'message');
          assert.equal(message?.text, payload);
          assert.equal(Object.keys(message ?? {}).join(), 'event,peer,text');
        } else {
          await s.until(/\] /, 'out');
          assert.match(s.text.out, /^\[127\.0\.0\.1:\d+\] a\\x1b\[2Jb\\x00c\n$/);
        }
        s.child.kill('SIGTERM');
        assert.equal(await s.exited, 0);
      }
    });
  }
});

describe('item 10: malformed IPv4 literals are exit 2 with no DNS lookup', () => {
  test('tcp connect/listen, udp send/listen, time, probe, ntp serve: one line, exit 2, 0 queries', async (t) => {
    const can = canUseNetns();
    if (!requireCapability(t, can.ok, can.reason)) return;
    if (!requirePeer(t, 'dnsmasq', 'apt-get install dnsmasq')) return;
    // A namespace whose resolver (resolv.conf, bind-mounted by `ip netns exec`) is a dnsmasq that logs every
    // query: a lookup by getaddrinfo or by soket's own DNS client shows up in its log.
    const ns = createNetns('ipv4lit', true);
    const dir = `/etc/netns/${ns}`;
    cleanups.push(() => {
      deleteNetns(ns);
      rmSync(dir, { recursive: true, force: true });
    });
    mkdirSync(dir, { recursive: true });
    writeFileSync(`${dir}/resolv.conf`, 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n');
    writeFileSync(`${dir}/hosts`, '127.0.0.1 localhost\n');
    const dnsmasq: Dnsmasq = await startDnsmasq({ port: 53, netns: ns, extraArgs: ['--log-queries'] });
    cleanups.push(() => dnsmasq.stop());
    const inNs = ['ip', 'netns', 'exec', ns, process.execPath, SOKET_BIN];
    const queries = () => dnsmasq.log().match(/query\[/g)?.length ?? 0;

    // The control: a name is looked up, and the log shows it.
    const control = await runCli(['tcp', 'connect', 'nosuch.example.test', '80', '--timeout', '3000'], {
      prefix: inNs,
    });
    assert.equal(control.code, 1, control.stderr);
    await poll(() => queries() > 0);
    const before = queries();

    const cases: string[][] = [
      ['tcp', 'connect', '999.1.1.1', '80'],
      ['tcp', 'connect', '1.2.3', '80'],
      ['tcp', 'connect', '256.0.0.1:80'],
      ['tcp', 'listen', '256.0.0.1:0'],
      ['tcp', 'listen', '1.2.3:0'],
      ['udp', 'send', '999.1.1.1', '9', '-m', 'x'],
      ['udp', 'send', '1.2.3', '9', '-m', 'x'],
      ['udp', 'listen', '999.1.1.1:0'],
      ['time', '999.1.1.1'],
      ['time', '1.2.3'],
      ['probe', '999.1.1.1', '80'],
      ['probe', '256.0.0.1', '80'],
      ['ntp', 'serve', '256.0.0.1:0'],
      ['ntp', 'serve', '1.2.3:0'],
    ];
    for (const args of cases) {
      const r = await runCli(args, { prefix: inNs, killAfter: 15_000 });
      assertUsageError(r, /not a valid IPv4 address/);
      assert.match(
        r.stderr,
        /'(999\.1\.1\.1|1\.2\.3|256\.0\.0\.1)'/,
        `the message names the value: ${r.stderr}`,
      );
    }
    // One more lookup after them all, so the log is known to be current.
    await runCli(['tcp', 'connect', 'after.example.test', '80', '--timeout', '3000'], { prefix: inNs });
    await poll(() => /after\.example\.test/.test(dnsmasq.log()));
    const lookedUp = dnsmasq
      .log()
      .split('\n')
      .filter((l) => /query\[/.test(l) && !/(nosuch|after)\.example\.test/.test(l));
    assert.deepEqual(lookedUp, [], 'no query for a malformed address');
    assert.ok(queries() > before);
  });
});

describe('item 11: tcp listen --workers on a port in use', () => {
  test('prints the error once (with --json: exactly one JSON error object)', async () => {
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => holder.close(() => resolve())));
    const port = (holder.address() as net.AddressInfo).port;
    const r = await runCli(['tcp', 'listen', `127.0.0.1:${port}`, '--workers', '3']);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr.match(/address already in use/g)?.length, 1, r.stderr);
    assert.match(r.stderr, /^soket: Cannot listen on 127\.0\.0\.1:\d+: address already in use\n$/);
    const j = await runCli(['tcp', 'listen', `127.0.0.1:${port}`, '--workers', '3', '--json']);
    assert.equal(j.code, 1);
    // JSON.parse takes exactly one document: a second object would be a syntax error.
    const doc = JSON.parse(j.stdout) as { error: { code: string; message: string } };
    assert.equal(doc.error.code, 'EADDRINUSE');
    assert.equal(j.stderr, '');
  });
});

describe('item 7: udp listen --reply size and send errors', () => {
  test('a reply over 65,507 bytes is refused at start-up (exit 2, one line); 65,507 is served', async () => {
    const r = await runCli(
      ['udp', 'listen', '127.0.0.1:0', '--mode', 'reply', '--reply', 'x'.repeat(65_508)],
      {
        killAfter: 10_000,
      },
    );
    assertUsageError(r, /Reply of 65508 bytes is too large for one UDP datagram: at most 65507 bytes/);
    const j = await runCli(['udp', 'listen', '127.0.0.1:0', '--reply', 'x'.repeat(70_000), '--json'], {
      killAfter: 10_000,
    });
    assert.equal(j.code, 2);
    assert.match((JSON.parse(j.stdout) as { error: { message: string } }).error.message, /70000 bytes/);

    const s = start(['udp', 'listen', '127.0.0.1:0', '--reply', 'y'.repeat(65_507)]);
    const port = Number((await s.until(/Listening on 127\.0\.0\.1:(\d+)/))[1]);
    const u = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => u.bind(0, '127.0.0.1', resolve));
    const got = once(u, 'message');
    u.send('hi', port, '127.0.0.1');
    const [reply] = (await got) as [Buffer];
    u.close();
    assert.equal(reply.length, 65_507);
    s.child.kill('SIGTERM');
    assert.equal(await s.exited, 0);
    assert.match(s.text.err, /Stopped: 1 datagram in \(2 B\), 1 out \(64\.0 KiB\), 0 send errors/);
  });

  for (const datapath of ['default', 'dgram'] as const) {
    test(`replies the kernel refuses to send are counted as send errors (${datapath} datapath)`, async (t) => {
      const can = canUseNetns();
      if (!requireCapability(t, can.ok, can.reason)) return;
      const nft = requirePeer(t, 'nft', 'apt-get install nftables');
      if (!nft) return;
      // In a private namespace, nftables drops the server's replies on the way out: sendmsg(2) fails (EPERM).
      const ns = createNetns(`udpsend${datapath}`, true);
      cleanups.push(() => deleteNetns(ns));
      const env = datapath === 'dgram' ? ['env', 'SOKET_NO_FFI=1'] : [];
      const s = start(
        ['udp', 'listen', '127.0.0.1:0', '--mode', 'reply'],
        ['ip', 'netns', 'exec', ns, ...env, process.execPath, SOKET_BIN],
      );
      const port = Number((await s.until(/Listening on 127\.0\.0\.1:(\d+)/))[1]);
      const nftIn = (args: string) =>
        runCli([], { prefix: ['ip', 'netns', 'exec', ns, nft, ...args.split(' ')] });
      assert.equal((await nftIn('add table inet soket')).code, 0);
      assert.equal(
        (
          await runCli([], {
            prefix: [
              'ip',
              'netns',
              'exec',
              ns,
              nft,
              'add',
              'chain',
              'inet',
              'soket',
              'out',
              '{ type filter hook output priority 0 ; }',
            ],
          })
        ).code,
        0,
      );
      assert.equal((await nftIn(`add rule inet soket out udp sport ${port} drop`)).code, 0);
      // Datagrams from a plain Node socket in the namespace (not soket's client): each gets a reply that the
      // kernel refuses to send, until the rule is gone.
      const sendFromNs = (waitReply: boolean) =>
        runCli([], {
          prefix: [
            'ip',
            'netns',
            'exec',
            ns,
            process.execPath,
            '-e',
            `const s = require('node:dgram').createSocket('udp4');
             s.on('message', () => process.exit(0));
             s.send('hi', ${port}, '127.0.0.1', () => { if (!${waitReply}) process.exit(0); });
             setTimeout(() => process.exit(1), 3000);`,
          ],
        });
      for (let i = 0; i < 3; i++) assert.equal((await sendFromNs(false)).code, 0);
      assert.equal((await nftIn('delete table inet soket')).code, 0);
      assert.equal((await sendFromNs(true)).code, 0, 'the rule gone, the reply arrives');
      s.child.kill('SIGTERM');
      assert.equal(await s.exited, 0);
      assert.match(s.text.err, /Stopped: 4 datagrams in \(8 B\), 1 out \(16 B\), 3 send errors/);
    });
  }
});

describe('item 15: the small ones', () => {
  test('soket --json alone: one JSON error object, exit 2', async () => {
    const r = await runCli(['--json']);
    assert.equal(r.code, 2);
    const doc = JSON.parse(r.stdout) as { error: { code: string; message: string } };
    assert.equal(doc.error.code, 'SOKET_INVALID_ARGUMENT');
    assert.match(doc.error.message, /^Give a command: /);
    assert.equal(r.stderr, '');
  });

  test('SIGHUP stops ntp serve gracefully with the final counters, exit 0', async () => {
    for (const json of [false, true]) {
      const s = start(['ntp', 'serve', '127.0.0.1:0', ...(json ? ['--json'] : [])]);
      const port = json
        ? Number((await s.until(/"port":(\d+)/, 'out'))[1])
        : Number((await s.until(/listening on 127\.0\.0\.1:(\d+)/))[1]);
      // One request, so the counters have something to say.
      const u = dgram.createSocket('udp4');
      const answered = once(u, 'message');
      u.send(encodeNtpPacket({ version: 4, mode: 3, transmitTimestamp: 0x1234n }), port, '127.0.0.1');
      await answered;
      u.close();
      s.child.kill('SIGHUP');
      assert.equal(await s.exited, 0, s.text.err);
      if (json) {
        const stopped = ndjson(s.text.out).find((e) => e.event === 'stopped');
        assert.equal(stopped?.received, 1);
        assert.equal(stopped?.answered, 1);
      } else {
        assert.match(s.text.err, /Stopped: 1 received, 1 answered/);
      }
    }
  });

  test('contradicting flags are usage errors: --nodelay --no-nodelay, --keepalive --no-keepalive', async () => {
    for (const args of [
      ['tcp', 'listen', '127.0.0.1:0', '--nodelay', '--no-nodelay'],
      ['tcp', 'listen', '127.0.0.1:0', '--keepalive', '--no-keepalive'],
      ['tcp', 'connect', '127.0.0.1', '9', '--nodelay', '--no-nodelay'],
      ['tcp', 'connect', '127.0.0.1', '9', '--no-keepalive', '--keepalive'],
    ]) {
      const r = await runCli(args, { killAfter: 10_000 });
      assertUsageError(r, /--(nodelay|keepalive) and --no-\1 cannot be used together/);
    }
  });

  test('--ipv6-only on an IPv4 listen address is a usage error (also IPv4-mapped)', async () => {
    for (const args of [
      ['tcp', 'listen', '127.0.0.1:0', '--ipv6-only'],
      ['tcp', 'listen', '0', '--ipv6-only'],
      ['tcp', 'listen', '[::ffff:127.0.0.1]:0', '--ipv6-only'],
      ['udp', 'listen', '127.0.0.1:0', '--ipv6-only'],
      ['udp', 'listen', '[::ffff:127.0.0.1]:0', '--ipv6-only'],
    ]) {
      const r = await runCli(args, { killAfter: 10_000 });
      assertUsageError(r, /Option --ipv6-only needs an IPv6 listen address such as \[::\]/);
    }
  });

  test('a services file line with port 0 is skipped', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'soket-svc-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'services');
    writeFileSync(file, 'zero 0/tcp\nseven 7/tcp\n');
    const zero = await runCli(['service', 'zero', '--file', file]);
    assert.equal(zero.code, 1);
    assert.match(zero.stderr, /Service 'zero' not found/);
    const seven = await runCli(['service', 'seven', '--file', file]);
    assert.equal(seven.code, 0, seven.stderr);
    assert.match(seven.stdout, /^seven +7\/tcp/);
  });

  test('chat: a 68,928-byte line reaches the others in pieces of at most 65,536 bytes, however it is read', async () => {
    const s = start(['tcp', 'listen', '127.0.0.1:0', '--mode', 'chat']);
    const port = Number((await s.until(/Listening on 127\.0\.0\.1:(\d+)/))[1]);
    const a = net.connect(port, '127.0.0.1');
    await once(a, 'connect');
    await s.until(/connected \(1 open\)/);
    const aPort = a.localPort as number;
    let seenByA = '';
    a.on('data', (chunk: Buffer) => {
      seenByA += chunk.toString('latin1');
    });
    const b = net.connect(port, '127.0.0.1');
    let seenByB = '';
    b.on('data', (chunk: Buffer) => {
      seenByB += chunk.toString('latin1');
    });
    await poll(() => /joined/.test(seenByA));
    const LINE = 68_928;
    const pieces = async (): Promise<number[]> => {
      await poll(() => {
        const body = seenByB.split('\n').filter((l) => l.startsWith(`[127.0.0.1:${aPort}] `));
        return body.reduce((n, l) => n + l.length - `[127.0.0.1:${aPort}] `.length, 0) >= LINE;
      });
      const lines = seenByB.split('\n').filter((l) => l.startsWith(`[127.0.0.1:${aPort}] `));
      seenByB = '';
      return lines.map((l) => l.length - `[127.0.0.1:${aPort}] `.length);
    };
    // All at once, then cut so that the server reads 60,000 bytes before the rest arrives: the tail piece
    // (what was a 68,928-byte line before the fix) must respect the cap too.
    a.write(`${'x'.repeat(LINE)}\n`);
    const once1 = await pieces();
    a.write('y'.repeat(60_000));
    // Wait until soket has read those bytes: the kernel shows an empty receive queue on its side.
    await poll(
      () =>
        tcpTable().some((r) => r.local === port && r.remote === aPort && r.rx === 0) &&
        tcpTable().some((r) => r.local === aPort && r.remote === port && r.tx === 0),
    );
    a.write(`${'y'.repeat(LINE - 60_000)}\n`);
    const split = await pieces();
    for (const p of [once1, split]) {
      assert.equal(
        p.reduce((n, x) => n + x, 0),
        LINE,
      );
      assert.ok(
        p.every((n) => n <= 65_536),
        `pieces ${p.join(', ')}`,
      );
    }
    a.destroy();
    b.destroy();
    s.child.kill('SIGTERM');
    assert.equal(await s.exited, 0);
  });

  test('Ctrl-C during a long probe prints the partial summary and exits 130', async (t) => {
    const python = requirePeer(t, 'python3', 'apt-get install python3');
    if (!python) return;
    const hanging = await hangingListener(python); // its SYNs are dropped: the probe waits for its timeout
    cleanups.push(() => hanging.close());
    const server = net.createServer((c) => c.on('error', () => {}));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const open = (server.address() as net.AddressInfo).port;
    const ports = `${open},${hanging.port}`;

    // JSON: the open port's event, then SIGINT; the summary says interrupted, with what was found.
    const j = start(['probe', '127.0.0.1', ports, '--timeout', '60000', '-c', '2', '--json']);
    await j.until(new RegExp(`"event":"port"[^\\n]*"port":${open}`), 'out');
    j.child.kill('SIGINT');
    assert.equal(await j.exited, 130);
    const summary = ndjson(j.text.out).find((e) => e.event === 'summary') as {
      interrupted: boolean;
      summary: { open: number };
    };
    assert.equal(summary.interrupted, true);
    assert.equal(summary.summary.open, 1);

    // Text: interrupted once the open port was probed (its connection closed) and the other is in SYN-SENT.
    const closedOnce = new Promise<void>((resolve) =>
      server.once('connection', (c) => c.once('close', () => resolve())),
    );
    const p = start(['probe', '127.0.0.1', ports, '--timeout', '60000', '-c', '2']);
    await closedOnce;
    await poll(() => tcpTable().filter((r) => r.remote === hanging.port && r.st === '02').length >= 2);
    p.child.kill('SIGINT');
    const code = await p.exited;
    assert.equal(code, 130, p.text.err);
    assert.match(p.text.out, new RegExp(`^${open} +open `, 'm'));
    assert.match(p.text.out, /1 open, 0 closed, 0 filtered — interrupted after 1 of 2 ports/);
  });
});
