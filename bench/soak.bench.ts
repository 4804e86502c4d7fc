/**
 * Soak (issue 17): `soket tcp listen --mode echo`, `soket udp listen --mode echo` and `soket ntp serve`, each
 * its own process, under mixed abusive load (bench/soak-load.ts: slowloris, RST storms, connect floods, bulk
 * writers that never read, UDP floods from 64 sources, SNTP floods of new sources and a client far over its
 * rate) for 10 minutes on loopback. Every second the servers' resident memory and open descriptors are read
 * from /proc, and well-behaved clients check each server: a TCP echo of 4 KiB on a new connection, a UDP echo
 * of 512 bytes, and (every 2 s, within the rate limit) an SNTP query. Targets: memory flat (max/min and the
 * first vs the last minute), every server still answering at the end, nothing lost for the well-behaved
 * clients (a UDP or SNTP request gets one retry after 500 ms: datagrams may be dropped under a flood; the
 * retry shows the server did not stop answering).
 *
 * Not part of `npm test`. `npm run bench -- soak --minutes 2` for a shorter run (also `SOAK_MINUTES`);
 * `SOAK_SCALE` scales every load rate (default 1).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { loadNote, mdTable, ROOT, type Scenario, SOKET_BIN } from './lib.js';
import { ntpfloodCommand } from './ntpflood.js';

function minutesOption(): number {
  const i = process.argv.indexOf('--minutes');
  const text = i !== -1 ? process.argv[i + 1] : process.env.SOAK_MINUTES;
  const n = Number(text ?? 10);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`soak: bad --minutes '${text}'`);
  return n;
}

interface Server {
  name: string;
  child: ChildProcess;
  port: number;
  rss: number[];
  fds: number[];
}

async function start(name: string, args: string[]): Promise<Server> {
  const child = spawn(process.execPath, [SOKET_BIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  const port = await new Promise<number>((resolve, reject) => {
    let buf = '';
    const onData = (b: Buffer) => {
      buf += b;
      const m = /[Ll]istening on 127\.0\.0\.1:(\d+)/.exec(buf);
      if (m) {
        // keep draining stderr: a server blocked on a full pipe would look like a server that stopped
        child.stderr?.off('data', onData);
        child.stderr?.resume();
        resolve(Number(m[1]));
      }
    };
    child.stderr?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${name} exited (${code}): ${buf}`)));
  });
  return { name, child, port, rss: [], fds: [] };
}

function sample(s: Server): void {
  const pid = s.child.pid;
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]);
    if (kb) s.rss.push(kb / 1024);
    s.fds.push(readdirSync(`/proc/${pid}/fd`).length);
  } catch {
    // the process is gone: the final check will say so
  }
}

/** One TCP echo on a new connection: 4 KiB out, the same 4 KiB back within 2 s. */
function tcpEcho(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const payload = randomBytes(4096);
    const chunks: Buffer[] = [];
    let got = 0;
    const s = net.connect(port, '127.0.0.1');
    const timer = setTimeout(() => done(false), 2000);
    const done = (ok: boolean) => {
      clearTimeout(timer);
      s.destroy();
      resolve(ok);
    };
    s.on('error', () => done(false));
    s.on('data', (b: Buffer) => {
      chunks.push(b);
      got += b.length;
      if (got >= payload.length) done(Buffer.concat(chunks).subarray(0, payload.length).equals(payload));
    });
    s.once('connect', () => s.write(payload));
  });
}

/** One datagram exchange; `match` says whether a reply is the answer. */
function datagram(
  port: number,
  message: Buffer,
  match: (m: Buffer) => boolean,
  timeoutMs: number,
): Promise<boolean> {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    const timer = setTimeout(() => done(false), timeoutMs);
    const done = (ok: boolean) => {
      clearTimeout(timer);
      s.close();
      resolve(ok);
    };
    s.on('error', () => done(false));
    s.on('message', (m) => {
      if (match(m)) done(true);
    });
    s.send(message, port, '127.0.0.1');
  });
}

async function withRetry(attempt: () => Promise<boolean>): Promise<'ok' | 'retried' | 'lost'> {
  if (await attempt()) return 'ok';
  return (await attempt()) ? 'retried' : 'lost';
}

const udpEcho = (port: number) => {
  const payload = randomBytes(512);
  return withRetry(() => datagram(port, payload, (m) => m.equals(payload), 500));
};

const sntp = (port: number) =>
  withRetry(() => {
    const req = Buffer.alloc(48);
    req[0] = 0x23;
    randomBytes(8).copy(req, 40);
    return datagram(
      port,
      req,
      (m) =>
        m.length >= 48 && ((m[0] as number) & 7) === 4 && m.subarray(24, 32).equals(req.subarray(40, 48)),
      500,
    );
  });

interface Tally {
  ok: number;
  retried: number;
  lost: number;
}
const tally = (): Tally => ({ ok: 0, retried: 0, lost: 0 });
const count = (t: Tally, r: 'ok' | 'retried' | 'lost' | boolean) => {
  if (r === true || r === 'ok') t.ok++;
  else if (r === 'retried') t.retried++;
  else t.lost++;
};

const avg = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : Number.NaN);

const scenario: Scenario = {
  name: 'soak',
  title: 'Soak: TCP echo, UDP echo and SNTP servers under mixed abusive load',
  async run() {
    const minutes = minutesOption();
    const seconds = Math.round(minutes * 60);
    const scale = Number(process.env.SOAK_SCALE ?? 1);
    const flood = ntpfloodCommand();
    const servers = [
      await start('TCP echo (`tcp listen --mode echo -q`)', ['tcp', 'listen', '0', '--mode', 'echo', '-q']),
      await start('UDP echo (`udp listen --mode echo`)', ['udp', 'listen', '0', '--mode', 'echo']),
      await start('SNTP (`ntp serve --leap 0`)', ['ntp', 'serve', '0', '--leap', '0', '--stats', '0']),
    ];
    const [tcp, udp, ntp] = servers as [Server, Server, Server];
    const checks = { tcp: tally(), udp: tally(), ntp: tally() };
    let load: ChildProcess | undefined;
    let loadOut = '';
    const final: Record<string, boolean> = {};
    try {
      load = spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          `${ROOT}bench/soak-load.ts`,
          JSON.stringify({
            tcp: tcp.port,
            udp: udp.port,
            ntp: ntp.port,
            seconds,
            ntpflood: flood.argv,
            scale,
          }),
        ],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      load.stdout?.on('data', (b: Buffer) => {
        loadOut += b;
      });
      const loadDone = new Promise<void>((resolve) => load?.once('close', () => resolve()));
      const t0 = performance.now();
      for (let second = 0; performance.now() - t0 < seconds * 1000; second++) {
        const tick = performance.now();
        for (const s of servers) sample(s);
        const [t, u, n] = await Promise.all([
          tcpEcho(tcp.port),
          udpEcho(udp.port),
          second % 2 === 0 ? sntp(ntp.port) : Promise.resolve(undefined),
        ]);
        count(checks.tcp, t);
        count(checks.udp, u);
        if (n !== undefined) count(checks.ntp, n);
        if (second % 60 === 59) {
          console.log(
            `soak: ${second + 1} s, RSS ${servers.map((s) => `${(s.rss.at(-1) ?? 0).toFixed(0)} MiB`).join(' / ')}, checks ${JSON.stringify(checks)}`,
          );
        }
        const wait = 1000 - (performance.now() - tick);
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
      await loadDone;
      final.tcp = await tcpEcho(tcp.port);
      final.udp = (await udpEcho(udp.port)) !== 'lost';
      final.ntp = (await sntp(ntp.port)) !== 'lost';
    } finally {
      if (load && load.exitCode === null) load.kill('SIGTERM');
      for (const s of servers) {
        if (s.child.exitCode === null) {
          const exited = new Promise((r) => s.child.once('exit', r));
          s.child.kill('SIGTERM');
          await exited;
        }
      }
    }

    const perMinute = Math.min(60, Math.floor((servers[0]?.rss.length ?? 0) / 3));
    const rows = servers.map((s, i) => {
      const key = (['tcp', 'udp', 'ntp'] as const)[i] as 'tcp' | 'udp' | 'ntp';
      // the first minute after a 10 s warm-up, against the last minute
      const early = s.rss.slice(10, 10 + perMinute);
      const late = s.rss.slice(-perMinute);
      return [
        s.name,
        `${Math.min(...s.rss).toFixed(1)} / ${Math.max(...s.rss).toFixed(1)}`,
        `${avg(early).toFixed(1)} → ${avg(late).toFixed(1)}`,
        `${Math.min(...s.fds)} / ${Math.max(...s.fds)}`,
        `${checks[key].ok} ok, ${checks[key].retried} after a retry, **${checks[key].lost} lost**`,
        final[key] ? 'yes' : '**no**',
      ];
    });
    const minutesRow = (s: Server) => {
      const out: string[] = [];
      for (let i = 0; i < s.rss.length; i += 60) out.push(avg(s.rss.slice(i, i + 60)).toFixed(0));
      return out.join(' · ');
    };
    const trend = servers.map((s) => `- ${s.name}: ${minutesRow(s)}`);
    const loadCounters = (() => {
      try {
        return JSON.parse(loadOut.trim().split('\n').pop() ?? '{}') as Record<string, number>;
      } catch {
        return {};
      }
    })();
    const lost = checks.tcp.lost + checks.udp.lost + checks.ntp.lost;
    return [
      `${minutes} minutes; load scale ${scale}; SNTP floods by ${flood.what}. Memory is VmRSS, sampled every second.`,
      '',
      mdTable(
        [
          'server',
          'RSS min / max MiB',
          'RSS 1st min → last min (avg)',
          'open fds min / max',
          'well-behaved clients',
          'answering at the end',
        ],
        rows,
      ),
      '',
      'RSS by minute (average MiB):',
      '',
      ...trend,
      '',
      `Load sent (bench/soak-load.ts): ${Object.entries(loadCounters)
        .map(([k, v]) => `${k} ${v.toLocaleString('en-US')}`)
        .join(', ')}.`,
      '',
      `Result: ${lost === 0 ? 'no' : `**${lost}**`} well-behaved request${lost === 1 ? '' : 's'} lost, every server ${Object.values(final).every(Boolean) ? 'still answering at the end' : '**not** answering at the end'}.`,
      '',
      loadNote(),
    ].join('\n');
  },
};
export default scenario;

// `node --import tsx bench/soak.bench.ts --minutes 2` runs it alone (without writing docs/benchmarks.md)
if (process.argv[1]?.endsWith('soak.bench.ts')) {
  console.log(await scenario.run());
}
