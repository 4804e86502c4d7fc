/**
 * Authenticated time (NTS, RFC 8915): soket against chronyd in the same run.
 *
 * - Server: NTS-protected requests per second, `soket ntp serve --nts` against chronyd's NTS server. The load
 *   client (bench/nts-load.ts, its own process) runs NTS-KE once, seals its requests before the clock starts
 *   (each spends one cookie and asks for one, as a client with a full jar does), keeps 16 in flight and
 *   checks every reply's origin, and fully verifies one in 64. Runs alternate between the servers; the best
 *   of each is compared. Target: soket ≥ 0.5× chronyd.
 * - Time to the first authenticated sample: from starting a client process to the first NTS-authenticated
 *   reply reaching it (NTS-KE, then one NTP exchange), for `soket time --nts` and for `chronyd -Q` with an
 *   NTS source — both against soket's NTS server, whose NTS-KE sends the NTP traffic through a timing relay
 *   that notes when each client's first authenticated reply passes. Also soket's library call alone (no
 *   process start): NTS-KE and the exchange, as `sntpQuery` reports them.
 * - Per-query cost: CPU time per query of each client, with NTS and without, against the same server:
 *   soket's library in a loop of queries (cookies reused) in a child process (`process.cpuUsage`), and
 *   chronyd as a client polling every 1/64 s (`minpoll -6`) for 8 s (utime + stime from /proc, requests
 *   counted at the relay).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sleep } from '../src/core/deadline.js';
import { sntpQuery } from '../src/ntp/client.js';
import { NtsClient } from '../src/ntp/nts-client.js';
import { NtsCookieKeys } from '../src/ntp/nts-cookies.js';
import { createNtsKeServer } from '../src/ntp/nts-ke-server.js';
import { createSntpServer } from '../src/ntp/server.js';
import { startChronyNtsServer } from '../test/helpers/chrony-nts.js';
import { findExecutable } from '../test/helpers/peers.js';
import {
  loadNote,
  mdTable,
  median,
  parseKeyValues,
  ROOT,
  ratio,
  type Scenario,
  SOKET_BIN,
  stopChild,
} from './lib.js';

const SECONDS = 5;
const CONNS = 16;
const TTFS_RUNS = 5;

interface Load {
  reqPerS: number;
  p50: number;
  p99: number;
  lost: number;
  bad: number;
  verified: number;
}

function runLoad(kePort: number, caFile: string): Load {
  const out = execFileSync(
    process.execPath,
    [
      '--import',
      'tsx',
      join(ROOT, 'bench/nts-load.ts'),
      String(kePort),
      caFile,
      String(SECONDS),
      String(CONNS),
    ],
    { encoding: 'utf8', cwd: ROOT },
  );
  const kv = parseKeyValues(out);
  return {
    reqPerS: Number(kv.msgs_per_s),
    p50: Number(kv.p50_us),
    p99: Number(kv.p99_us),
    lost: Number(kv.lost ?? 0),
    bad: Number(kv.bad ?? 0),
    verified: Number(kv.verified ?? 0),
  };
}

interface Serve {
  child: ChildProcess;
  ntpPort: number;
  kePort: number;
}

/** `soket ntp serve --nts` (CLI bundle), with an NTS-KE that may announce another NTP port (a relay's). */
async function startSoketNts(extra: string[] = []): Promise<Serve> {
  const child = spawn(
    process.execPath,
    [
      SOKET_BIN,
      'ntp',
      'serve',
      '0',
      '--leap',
      '0',
      '--no-rate-limit',
      '--nts',
      '--nts-port',
      '0',
      '--stats',
      '0',
      '--json',
      ...extra,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const info = await new Promise<{ port: number; nts: { port: number } }>((resolve, reject) => {
    let buf = '';
    child.stdout?.on('data', (b: Buffer) => {
      buf += b;
      const line = buf.split('\n').find((l) => l.startsWith('{"event":"listening"'));
      if (line) resolve(JSON.parse(line));
    });
    child.once('exit', (code) => reject(new Error(`soket ntp serve exited (${code})`)));
  });
  return { child, ntpPort: info.port, kePort: info.nts.port };
}

/** A UDP relay in front of an NTP server that notes the first NTS reply (longer than 48 bytes) to each client. */
async function timingRelay(serverPort: number) {
  const front = dgram.createSocket('udp4');
  await new Promise<void>((r) => front.bind(0, '127.0.0.1', () => r()));
  const firstReply = new Map<number, number>();
  const upstreams = new Map<number, dgram.Socket>();
  let requests = 0;
  front.on('message', async (msg: Buffer, rinfo) => {
    requests++;
    let up = upstreams.get(rinfo.port);
    if (!up) {
      const u = dgram.createSocket('udp4');
      upstreams.set(rinfo.port, u);
      await new Promise<void>((r) => u.bind(0, '127.0.0.1', () => r()));
      u.on('message', (reply: Buffer) => {
        if (reply.length > 48 && !firstReply.has(rinfo.port)) firstReply.set(rinfo.port, performance.now());
        front.send(reply, rinfo.port, rinfo.address);
      });
      up = u;
    }
    up.send(msg, serverPort, '127.0.0.1');
  });
  return {
    port: (front.address() as { port: number }).port,
    get requests() {
      return requests;
    },
    /** The earliest first-NTS-reply time after `since` (performance.now() ms), or undefined. */
    firstSince(since: number): number | undefined {
      const t = [...firstReply.values()].filter((x) => x >= since);
      return t.length ? Math.min(...t) : undefined;
    },
    async close() {
      for (const u of upstreams.values()) u.close();
      await new Promise<void>((r) => front.close(() => r()));
    },
  };
}

/** Wait (polling, 1 ms) until `f` returns a value or `ms` pass. */
async function until<T>(f: () => T | undefined, ms: number): Promise<T | undefined> {
  const end = performance.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined || performance.now() > end) return v;
    await sleep(1);
  }
}

function chronyConf(
  dir: string,
  ntpPort: number,
  ntsPort: number | undefined,
  caFile: string,
  poll?: number,
): string {
  const conf = join(dir, `c${Math.random().toString(36).slice(2)}.conf`);
  const pollOpts = poll === undefined ? '' : ` minpoll ${poll} maxpoll ${poll}`;
  writeFileSync(
    conf,
    [
      ntsPort === undefined
        ? `server 127.0.0.1 port ${ntpPort} iburst${pollOpts}`
        : `server 127.0.0.1 port ${ntpPort} nts ntsport ${ntsPort} iburst${pollOpts}`,
      `ntstrustedcerts ${caFile}`,
      `ntsdumpdir ${mkdtempSync(join(dir, 'dump-'))}`,
      `pidfile ${join(dir, `${Math.random().toString(36).slice(2)}.pid`)}`,
      'cmdport 0',
      'bindcmdaddress /',
      '',
    ].join('\n'),
  );
  return conf;
}

/** CPU seconds (utime + stime) of a process, from /proc. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // clock ticks, USER_HZ = 100
}

/** A CPU difference with its sign: `+504 µs`, `−16 µs` (the two runs' noise can make it negative). */
function signedUs(us: number): string {
  return `${us < 0 ? '−' : '+'}${Math.abs(us)} µs`;
}

/** soket's library: `n` queries in a loop in a child process; CPU µs per query and the median wall time. */
async function soketQueryCost(
  target: string,
  n: number,
  nts: { ca: string } | undefined,
): Promise<{ cpuUs: number; wallUs: number }> {
  const script = `
    import { sntpQuery, NtsClient } from ${JSON.stringify(join(ROOT, 'src/index.ts'))};
    const target = ${JSON.stringify(target)};
    const nts = ${nts ? `new NtsClient(target, { ca: ${JSON.stringify(nts.ca)} })` : 'undefined'};
    const opts = nts ? { nts, timeout: 2000 } : { timeout: 2000 };
    for (let i = 0; i < 20; i++) await sntpQuery(target, opts); // warm up (and NTS-KE)
    const walls = [];
    const c0 = process.cpuUsage();
    for (let i = 0; i < ${n}; i++) { const t = performance.now(); await sntpQuery(target, opts); walls.push(performance.now() - t); }
    const c = process.cpuUsage(c0);
    walls.sort((a, b) => a - b);
    console.log('cpu_us=' + Math.round((c.user + c.system) / ${n}) + ' wall_us=' + Math.round(walls[walls.length >> 1] * 1000));
  `;
  // not execFileSync: the servers it queries live in this process, and must keep running
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout?.on('data', (b: Buffer) => {
    out += b;
  });
  await new Promise((resolve) => child.once('close', resolve));
  const kv = parseKeyValues(out);
  return { cpuUs: Number(kv.cpu_us), wallUs: Number(kv.wall_us) };
}

/** soket's NTP server with NTS and its NTS-KE server, in this process; the NTS-KE sends clients to a relay. */
async function startPairViaRelay(dir: string) {
  const cookieKeys = new NtsCookieKeys();
  const ntp = await createSntpServer({ port: 0, leap: 0, nts: cookieKeys, rateLimit: false });
  const relay = await timingRelay(ntp.address.port);
  const ke = await createNtsKeServer({ port: 0, cookieKeys, ntpPort: relay.port });
  const caFile = join(dir, 'soket-ca.pem');
  writeFileSync(caFile, ke.certificate.cert);
  return {
    kePort: ke.address.port,
    pin: ke.certificate.pin,
    cert: ke.certificate.cert,
    caFile,
    relay,
    async close() {
      await ke.close();
      await relay.close();
      await ntp.close();
    },
  };
}

/** One `sntpQuery` with NTS and a fresh client, in this (warm) process. */
async function libraryFirstSample(kePort: number, pin: string): Promise<{ keMs: number; totalMs: number }> {
  const nts = new NtsClient(`127.0.0.1:${kePort}`, { pin });
  const t0 = performance.now();
  const r = await sntpQuery(nts.keServer, { nts, timeout: 5000 });
  return { keMs: r.nts?.keyExchangeMs ?? 0, totalMs: performance.now() - t0 };
}

/** chronyd as a client polling every 1/64 s for 8 s: CPU µs per request. */
async function chronyCost(
  chronyd: string,
  dir: string,
  relay: { port: number; readonly requests: number },
  kePort: number | undefined,
  caFile: string,
): Promise<number> {
  const conf = chronyConf(dir, relay.port, kePort, caFile, -6);
  const child = spawn(chronyd, ['-x', '-d', '-u', 'root', '-f', conf], { stdio: 'ignore' });
  try {
    // skip the start (and NTS-KE): measure from the 20th request on
    const base = relay.requests;
    await until(() => (relay.requests - base >= 20 ? true : undefined), 10_000);
    const c0 = cpuSeconds(child.pid as number);
    const r0 = relay.requests;
    await sleep(8000);
    const cpu = cpuSeconds(child.pid as number) - c0;
    const n = relay.requests - r0;
    return n > 0 ? Math.round((cpu * 1e6) / n) : Number.NaN;
  } finally {
    await stopChild(child, { signal: 'SIGINT', killAfterMs: 0 });
  }
}

const scenario: Scenario = {
  name: 'nts',
  title: 'NTS: soket vs chronyd — server requests/s, time to the first authenticated sample, per-query cost',
  async run() {
    const chronyd = findExecutable('chronyd');
    if (!chronyd) return 'Skipped: chronyd is not installed (apt-get install chrony).';
    const dir = mkdtempSync(join(tmpdir(), 'soket-bench-nts-'));
    const out: string[] = [];
    try {
      // ---- server throughput
      const chrony = await startChronyNtsServer(chronyd);
      const chronyCa = join(dir, 'chrony-ca.pem');
      writeFileSync(chronyCa, chrony.certificate.cert);
      const soket = await startSoketNts([
        '--cert',
        chrony.certificate.certFile,
        '--key',
        chrony.certificate.keyFile,
      ]);
      const runs: Record<string, Load[]> = { chronyd: [], soket: [] };
      try {
        for (let round = 0; round < 2; round++) {
          runs.chronyd?.push(runLoad(chrony.ntsPort, chronyCa));
          runs.soket?.push(runLoad(soket.kePort, chronyCa));
        }
      } finally {
        await chrony.stop();
        await stopChild(soket.child, { signal: 'SIGINT', killAfterMs: 0 });
      }
      const best = (xs: Load[]) => xs.reduce((a, b) => (b.reqPerS > a.reqPerS ? b : a));
      const base = best(runs.chronyd ?? []);
      const soketBest = best(runs.soket ?? []);
      out.push(
        `Server: bench/nts-load.ts (${CONNS} requests in flight, ${SECONDS} s, one cookie spent and one asked per request, 1 in 64 replies fully verified), runs alternating; the best of each is compared. chronyd: \`ntsserverkey\`/\`ntsservercert\`, no \`ratelimit\`; soket: \`soket ntp serve 0 --leap 0 --no-rate-limit --nts --cert … --key …\` (authenticated, it runs on the batched datapath like the plain server: worker threads with recvmmsg/sendmmsg; the load comes from one client address, so one worker serves it).`,
        '',
        mdTable(
          [
            'NTS server',
            'requests/s (each run)',
            'p50 µs',
            'p99 µs',
            'lost',
            'bad',
            'verified',
            'vs chronyd',
          ],
          Object.entries(runs).map(([name, xs]) => {
            const b = best(xs);
            return [
              name,
              xs.map((x) => x.reqPerS.toLocaleString('en-US')).join(' / '),
              b.p50,
              b.p99,
              xs.reduce((a, x) => a + x.lost, 0),
              xs.reduce((a, x) => a + x.bad, 0),
              xs.reduce((a, x) => a + x.verified, 0),
              ratio(b.reqPerS, base.reqPerS),
            ];
          }),
        ),
        '',
        `Result: soket's NTS server answers **${ratio(soketBest.reqPerS, base.reqPerS)}** the NTS requests per second of chronyd (target ≥ 0.5×).`,
        '',
      );

      // ---- time to first authenticated sample, and per-query cost: clients against soket's NTS server, whose
      // NTS-KE sends them through a timing relay (both servers in this process, from the library)
      const pair = await startPairViaRelay(dir);
      const ttfs: Record<string, number[]> = { 'soket time --nts (process)': [], 'chronyd -Q (process)': [] };
      const lib: { ke: number[]; total: number[] } = { ke: [], total: [] };
      try {
        for (let i = 0; i < TTFS_RUNS; i++) {
          const t0 = performance.now();
          const c = spawn(
            process.execPath,
            [SOKET_BIN, 'time', '--nts', `127.0.0.1:${pair.kePort}`, '--pin', pair.pin],
            { stdio: 'ignore' },
          );
          const t1 = await until(() => pair.relay.firstSince(t0), 10_000);
          await new Promise((r) => c.once('exit', r));
          if (t1 !== undefined) ttfs['soket time --nts (process)']?.push(t1 - t0);

          const conf = chronyConf(dir, pair.relay.port, pair.kePort, pair.caFile);
          const s0 = performance.now();
          const q = spawn(chronyd, ['-Q', '-u', 'root', '-f', conf, '-t', '10'], { stdio: 'ignore' });
          const s1 = await until(() => pair.relay.firstSince(s0), 10_000);
          await stopChild(q, { signal: 'SIGINT', killAfterMs: 0 });
          if (s1 !== undefined) ttfs['chronyd -Q (process)']?.push(s1 - s0);

          const l = await libraryFirstSample(pair.kePort, pair.pin);
          lib.ke.push(l.keMs);
          lib.total.push(l.totalMs);
        }
        out.push(
          `Time to the first authenticated sample (median of ${TTFS_RUNS}): from starting the client process to the first NTS-authenticated reply reaching it (NTS-KE + one exchange), both against soket's NTS server on loopback; the library line is \`sntpQuery(server, { nts })\` with a fresh \`NtsClient\` in a warm process.`,
          '',
          mdTable(
            ['client', 'first authenticated sample, ms (median)', 'runs, ms'],
            [
              ...Object.entries(ttfs).map(([name, xs]) => [
                name,
                `**${median(xs).toFixed(1)}**`,
                xs.map((x) => x.toFixed(1)).join(' / '),
              ]),
              [
                'soket library (NTS-KE + exchange, no process start)',
                `**${median(lib.total).toFixed(1)}**`,
                `NTS-KE ${median(lib.ke).toFixed(1)} ms of it`,
              ],
            ],
          ),
          '',
        );

        // ---- per-query cost
        const soketNts = await soketQueryCost(`127.0.0.1:${pair.kePort}`, 300, { ca: pair.cert });
        const soketPlain = await soketQueryCost(`127.0.0.1:${pair.relay.port}`, 300, undefined);
        const chronyNts = await chronyCost(chronyd, dir, pair.relay, pair.kePort, pair.caFile);
        const chronyPlain = await chronyCost(chronyd, dir, pair.relay, undefined, pair.caFile);
        out.push(
          "Per-query cost, the client's CPU time per query against the same server (soket: 300 sequential `sntpQuery` calls in a warm process, cookies reused; chronyd: a client polling every 1/64 s for 8 s, its utime + stime from /proc over the requests counted at the relay):",
          '',
          mdTable(
            ['client', 'NTS: CPU µs/query', 'no auth: CPU µs/query', 'NTS costs'],
            [
              [
                'soket (sntpQuery)',
                soketNts.cpuUs,
                soketPlain.cpuUs,
                signedUs(soketNts.cpuUs - soketPlain.cpuUs),
              ],
              ['chronyd', chronyNts, chronyPlain, signedUs(chronyNts - chronyPlain)],
            ],
          ),
          '',
          `soket's median wall time per query on loopback: ${soketNts.wallUs} µs with NTS, ${soketPlain.wallUs} µs without.`,
        );
      } finally {
        await pair.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    out.push('', loadNote());
    return out.join('\n');
  },
};
export default scenario;
