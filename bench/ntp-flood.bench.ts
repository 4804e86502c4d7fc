/**
 * SNTP rate limiter under a flood of new sources (issue 17, item 1): `soket ntp serve` against chronyd, the
 * same two phases in the same run, one server at a time.
 *
 * 1. Fill: 100,000 requests at 5,000/s, each from its own source address 127.c.b.a — enough to fill soket's
 *    client table (100,000 entries by default).
 * 2. New sources: 60,000 more requests at 6,000/s, again each from an address not seen before, so every one
 *    of them makes the table forget a client.
 *
 * The sender is bench/ntpflood.c (compiled here; IP_PKTINFO picks each packet's source address on one socket),
 * or bench/ntpflood.py without a C compiler. Every request comes from a new client inside its burst, so the
 * policy says every one is answered: target ≥ 99% answered in both phases. Meanwhile legitimate clients
 * (8 addresses 127.0.0.2…, each one request every 2 s, within both servers' limits) measure their delay,
 * before the flood (quiet) and during each phase: it should not change. The servers' CPU time per phase comes
 * from /proc.
 *
 * Rate limits as close as chrony 4.3 allows to soket's defaults (2 s average interval, burst 8, 100,000
 * clients, no leak): `ratelimit interval 1 burst 8 leak 4` (chrony cannot turn leaking off; 4 is the least,
 * 1 in 16 limited requests answered) and `clientloglimit 16777216` (131,072 addresses, the power of two chrony
 * rounds to, nearest above 100,000). chrony 4.3 sends no KoD.
 *
 * `NTP_FLOOD_SOKET=/path/to/soket.cjs` runs another build of soket (e.g. a checkout before the fix).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import { clientRequest, startChronyServer } from '../test/helpers/chrony.js';
import { findExecutable } from '../test/helpers/peers.js';
import { loadNote, mdTable, median, parseKeyValues, type Scenario, SOKET_BIN, stopChild } from './lib.js';
import { ntpfloodCommand } from './ntpflood.js';

const PHASES = [
  { name: 'fill (100k new sources)', first: 0, count: 100_000, rate: 5_000 },
  { name: 'new sources, table full', first: 100_000, count: 60_000, rate: 6_000 },
] as const;
const LEGIT_EVERY_MS = 2000;
const LEGIT_SOURCES = 8;
const QUIET_SAMPLES = 16;
const CHRONY_LIMITS = ['ratelimit interval 1 burst 8 leak 4', 'clientloglimit 16777216'];

interface Flood {
  sent: number;
  answered: number;
  kod: number;
  lost: number;
  rate: number;
  p50: number;
  p99: number;
}

function flood(argv: string[], port: number, phase: (typeof PHASES)[number]): Promise<Flood> {
  const [cmd = '', ...pre] = argv;
  const args = [
    ...pre,
    '127.0.0.1',
    String(port),
    String(phase.first),
    String(phase.count),
    String(phase.rate),
  ];
  return new Promise((resolve, reject) => {
    execFile(cmd, [...args, '1500'], { encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) {
        reject(new Error(`ntpflood failed: ${stderr || err.message}`));
        return;
      }
      const kv = parseKeyValues(stdout);
      resolve({
        sent: Number(kv.sent),
        answered: Number(kv.answered),
        kod: Number(kv.kod),
        lost: Number(kv.lost),
        rate: Number(kv.rate),
        p50: Number(kv.p50_us),
        p99: Number(kv.p99_us),
      });
    });
  });
}

/** CPU seconds (user + system) a process has used, from /proc/PID/stat. */
function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return Number.NaN;
  }
}

/** One request from `source` (a loopback address); the delay (round trip − server time) in s, or undefined. */
async function legitExchange(port: number, source: string): Promise<number | undefined> {
  const s = dgram.createSocket('udp4');
  try {
    return await new Promise((resolve) => {
      const req = clientRequest();
      let t1 = 0;
      const timer = setTimeout(() => resolve(undefined), 1000);
      s.on('message', (reply) => {
        const t4 = performance.timeOrigin + performance.now();
        if (reply.length < 48 || !reply.subarray(24, 32).equals(req.subarray(40, 48))) return;
        clearTimeout(timer);
        const t2 = reply.readUInt32BE(32) + reply.readUInt32BE(36) / 2 ** 32;
        const t3 = reply.readUInt32BE(40) + reply.readUInt32BE(44) / 2 ** 32;
        resolve((t4 - t1) / 1000 - (t3 - t2));
      });
      s.on('error', () => {
        clearTimeout(timer);
        resolve(undefined);
      });
      s.bind(0, source, () => {
        t1 = performance.timeOrigin + performance.now();
        s.send(req, port, '127.0.0.1');
      });
    });
  } finally {
    s.close();
  }
}

/**
 * The legitimate clients: LEGIT_SOURCES addresses (127.0.0.2 …), each sending one request every 2 s (within
 * both servers' limits), staggered so that a sample is taken every 2 s / LEGIT_SOURCES.
 */
class LegitClient {
  readonly samples = new Map<string, Array<number | undefined>>();
  #phase = 'quiet';
  #stop = false;
  #done: Promise<void> | undefined;

  constructor(private readonly port: number) {}

  start(): void {
    this.#done = (async () => {
      // warm up the measuring code (a cold JIT adds milliseconds to the first samples); within the burst
      for (let i = 0; i < 3; i++) await legitExchange(this.port, '127.0.0.2');
      for (let n = 0; !this.#stop; n++) {
        const started = performance.now();
        const phase = this.#phase;
        const delay = await legitExchange(this.port, `127.0.0.${2 + (n % LEGIT_SOURCES)}`);
        const list = this.samples.get(phase) ?? [];
        list.push(delay);
        this.samples.set(phase, list);
        const wait = LEGIT_EVERY_MS / LEGIT_SOURCES - (performance.now() - started);
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      }
    })();
  }

  phase(name: string): void {
    this.#phase = name;
  }

  count(phase: string): number {
    return this.samples.get(phase)?.length ?? 0;
  }

  async stop(): Promise<void> {
    this.#stop = true;
    await this.#done;
  }
}

async function untilSamples(legit: LegitClient, phase: string, n: number): Promise<void> {
  while (legit.count(phase) < n) await new Promise((resolve) => setTimeout(resolve, 100));
}

async function startSoket(bin: string): Promise<{ port: number; child: ChildProcess }> {
  const child = spawn(process.execPath, [bin, 'ntp', 'serve', '0', '--leap', '0', '--stats', '0'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    let buf = '';
    child.stderr?.on('data', (b: Buffer) => {
      buf += b;
      const m = /[Ll]istening on 127\.0\.0\.1:(\d+)/.exec(buf);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`soket ntp serve exited (${code}): ${buf}`)));
  });
  return { port, child };
}

interface ServerRun {
  server: string;
  phases: Array<{ phase: string; flood: Flood; cpu: number }>;
  legit: Map<string, Array<number | undefined>>;
}

async function runAgainst(
  server: string,
  port: number,
  pid: number | undefined,
  argv: string[],
): Promise<ServerRun> {
  const legit = new LegitClient(port);
  legit.start();
  const run: ServerRun = { server, phases: [], legit: legit.samples };
  try {
    await untilSamples(legit, 'quiet', QUIET_SAMPLES);
    for (const phase of PHASES) {
      legit.phase(phase.name);
      const cpu0 = cpuSeconds(pid);
      const t0 = performance.now();
      const result = await flood(argv, port, phase);
      const wall = (performance.now() - t0) / 1000;
      run.phases.push({ phase: phase.name, flood: result, cpu: (cpuSeconds(pid) - cpu0) / wall });
      console.log(`${server}, ${phase.name}: ${JSON.stringify(result)}`);
    }
  } finally {
    await legit.stop();
  }
  return run;
}

function legitCell(samples: Array<number | undefined> | undefined): string {
  if (!samples?.length) return '—';
  const got = samples.filter((d): d is number => d !== undefined).map((d) => d * 1e6);
  const lost = samples.length - got.length;
  if (!got.length) return `all ${lost} lost`;
  return `${median(got).toFixed(0)} / ${Math.max(...got).toFixed(0)} µs (${got.length}${lost ? `, **${lost} lost**` : ''})`;
}

const scenario: Scenario = {
  name: 'ntp-flood',
  title: 'SNTP rate limiter under a flood of new sources: soket ntp serve vs chronyd',
  async run() {
    const chronyd = findExecutable('chronyd');
    if (!chronyd) return 'Skipped: chronyd is not installed (apt-get install chrony).';
    const { argv, what } = ntpfloodCommand();
    const soketBin = process.env.NTP_FLOOD_SOKET ?? SOKET_BIN;
    const runs: ServerRun[] = [];
    {
      const soket = await startSoket(soketBin);
      try {
        runs.push(await runAgainst('soket', soket.port, soket.child.pid, argv));
      } finally {
        await stopChild(soket.child, { killAfterMs: 0 });
      }
    }
    {
      const chrony = await startChronyServer(chronyd, {
        stratum: 7,
        extra: ['allow 127.0.0.0/8', ...CHRONY_LIMITS],
      });
      try {
        runs.push(await runAgainst('chronyd', chrony.port, chrony.process.pid, argv));
      } finally {
        await chrony.stop();
      }
    }

    const rows = runs.flatMap((r) =>
      r.phases.map((p) => [
        r.server,
        p.phase,
        `${p.flood.sent.toLocaleString('en-US')} at ${p.flood.rate.toLocaleString('en-US')}/s`,
        `**${((100 * (p.flood.answered + p.flood.kod)) / p.flood.sent).toFixed(2)}%**`,
        p.flood.kod,
        p.flood.lost,
        `${p.flood.p50} / ${p.flood.p99}`,
        `${(100 * p.cpu).toFixed(0)}%`,
      ]),
    );
    const legitRows = runs.map((r) => [
      r.server,
      legitCell(r.legit.get('quiet')),
      ...PHASES.map((p) => legitCell(r.legit.get(p.name))),
    ]);
    const worst = (server: string) =>
      Math.min(
        ...(runs.find((r) => r.server === server)?.phases ?? []).map(
          (p) => (100 * (p.flood.answered + p.flood.kod)) / p.flood.sent,
        ),
      ).toFixed(2);
    return [
      `Sender: ${what}, every request from its own 127.c.b.a address (IP_PKTINFO), one server at a time.`,
      `soket: \`soket ntp serve 0 --leap 0\` (default limits: 2 s interval, burst 8, 100,000 clients).`,
      `chronyd 4.3: \`local stratum 7\`, \`${CHRONY_LIMITS.join('`, `')}\` (no KoD in 4.3; leak cannot be 0).`,
      'Every request comes from a client within its burst, so the policy answers all of them.',
      '',
      mdTable(
        [
          'server',
          'phase',
          'requests',
          'answered or KoD',
          'KoD',
          'lost',
          'flood delay p50 / p99 µs',
          'server CPU',
        ],
        rows,
      ),
      '',
      `Legitimate clients (${LEGIT_SOURCES} addresses 127.0.0.2…, each one request every ${LEGIT_EVERY_MS / 1000} s) — delay median / max (samples):`,
      '',
      mdTable(['server', 'quiet', ...PHASES.map((p) => p.name)], legitRows),
      '',
      `Result: soket answered at least **${worst('soket')}%** in each phase, chronyd **${worst('chronyd')}%** (target ≥ 99%).`,
      '',
      loadNote(),
    ].join('\n');
  },
};
export default scenario;
