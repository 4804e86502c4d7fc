/**
 * The batched UDP datapath and kernel timestamps (issue 13), every target in one run, each against its
 * reference in the same run, the fallback (dgram, SOKET_NO_FFI=1) beside the fast path:
 *
 * 1. UDP echo, 64-byte datagrams, 32 in flight (echoload udp-rr): `soket udp listen` batched (1 and 2
 *    workers) and on dgram, against Node's dgram echo and the Python recvfrom/sendto loop. Targets: batched ≥
 *    1.5× Python, ≥ 2.5× Node.
 * 2. SNTP server, 32 requests in flight (echoload ntp): `soket ntp serve --no-rate-limit` batched (one worker
 *    per core, and 1) and on dgram, against chronyd (`local stratum 7`, no `ratelimit`). Target ≥ 1.0× chronyd.
 * 3. SNTP client accuracy: `sntpQuery` against chronyd on the same clock (every µs of offset is error), 20
 *    samples back to back and 20 samples 50 ms apart, with kernel timestamps and on the fallback path.
 *    Target: median |offset| ≤ 5 µs both.
 * 4. chronyd -Q measuring `soket ntp serve`: median |offset| over 10 runs (5 on the fallback). Target ≤ 10 µs.
 *
 * Every run counts lost datagrams (target 0), the server's CPU per datagram (from /proc), p50/p99 latency.
 * The machine's load average is printed before and after, so a re-run on a quiet machine can be told apart.
 * Knobs: DATAPATH_ROUNDS (default 3), DATAPATH_SECONDS (default 4), DATAPATH_CHRONY_RUNS (default 10).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import os from 'node:os';
import { sleep } from '../src/core/deadline.js';
import { sntpQuery } from '../src/ntp/client.js';
import { runChronyClient, startChronyServer } from '../test/helpers/chrony.js';
import { findExecutable } from '../test/helpers/peers.js';
import { clientName, cpuMicros, load, pause, startServer } from './echo-servers.js';
import { echoload, mdTable, median, ROOT, ratio, type Scenario, SOKET_BIN, stopChild } from './lib.js';

const ROUNDS = Number(process.env.DATAPATH_ROUNDS ?? 3);
const SECONDS = Number(process.env.DATAPATH_SECONDS ?? 4);
const CHRONY_RUNS = Number(process.env.DATAPATH_CHRONY_RUNS ?? 10);

interface Running {
  label: string;
  pid: number;
  port: number;
  stop(): Promise<void>;
}

/** Start the soket CLI with `args` and wait for its port on stderr. */
async function soket(label: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Running> {
  const child: ChildProcess = spawn(process.execPath, [SOKET_BIN, ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, ...env },
  });
  const port = await new Promise<number>((resolve, reject) => {
    let buf = '';
    const onData = (b: Buffer) => {
      buf += b;
      const m = /[Ll]istening on 127\.0\.0\.1:(\d+)/.exec(buf);
      if (m) {
        child.stderr?.off('data', onData);
        child.stderr?.resume();
        resolve(Number(m[1]));
      }
    };
    child.stderr?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${label} exited (${code}): ${buf}`)));
  });
  return {
    label,
    pid: child.pid ?? 0,
    port,
    stop: () => stopChild(child, { killAfterMs: 5000 }),
  };
}

interface Sample {
  rate: number;
  p50: number;
  p99: number;
  cpu: number;
  lost: number;
}

/** Warm up for 1 s, then one measured run of the load client; CPU per datagram from /proc. */
async function measure(mode: 'udp-rr' | 'ntp', s: Running): Promise<Sample> {
  const args = ['-c', '32', ...(mode === 'udp-rr' ? ['-s', '64'] : [])];
  await load(mode, s.port, [...args, '-d', '1']);
  const c0 = cpuMicros(s.pid);
  const r = await load(mode, s.port, [...args, '-d', String(SECONDS)]);
  await pause(300);
  const used = cpuMicros(s.pid) - c0;
  const msgs = Number(r.msgs ?? 0);
  return {
    rate: Number(r.msgs_per_s ?? 0),
    p50: Number(r.p50_us ?? 0),
    p99: Number(r.p99_us ?? 0),
    cpu: msgs ? used / msgs : 0,
    lost: Number(r.lost ?? 0) + Number(r.mismatches ?? 0) + Number(r.errors ?? 0),
  };
}

interface Contender {
  key: string;
  label: string;
  start(): Promise<Running>;
}

/** Interleaved rounds (the order reversed every other round, so drift hits everyone alike). */
async function compare(mode: 'udp-rr' | 'ntp', contenders: Contender[]): Promise<Map<string, Sample[]>> {
  const out = new Map<string, Sample[]>(contenders.map((c) => [c.key, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const c of round % 2 ? [...contenders].reverse() : contenders) {
      const s = await c.start();
      try {
        out.get(c.key)?.push(await measure(mode, s));
      } finally {
        await s.stop();
      }
    }
  }
  return out;
}

function rows(
  contenders: Contender[],
  samples: Map<string, Sample[]>,
  base: number,
): Array<Array<string | number>> {
  return contenders.map((c) => {
    const xs = samples.get(c.key) ?? [];
    const rate = median(xs.map((x) => x.rate));
    return [
      c.label,
      Math.round(rate).toLocaleString('en-US'),
      ratio(rate, base),
      Math.round(median(xs.map((x) => x.p50))),
      Math.round(median(xs.map((x) => x.p99))),
      median(xs.map((x) => x.cpu)).toFixed(2),
      xs.reduce((a, x) => a + x.lost, 0),
    ];
  });
}

const medianRate = (m: Map<string, Sample[]>, key: string) => median((m.get(key) ?? []).map((x) => x.rate));

/** sntpQuery samples in a child process (the fallback path: SOKET_NO_FFI=1). */
async function clientSamples(port: number, gapMs: number, noFfi: boolean): Promise<number[]> {
  const script = `
    import { sntpQuery } from ${JSON.stringify(`${ROOT}src/ntp/client.ts`)};
    const out = [];
    for (let i = 0; i < 20; i++) {
      const r = await sntpQuery('127.0.0.1', { port: ${port}, timeout: 2000 });
      out.push(r.offset * 1e6);
      if (${gapMs}) await new Promise((r) => setTimeout(r, ${gapMs}));
    }
    console.log(JSON.stringify(out));`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: ROOT,
    env: { ...process.env, ...(noFfi ? { SOKET_NO_FFI: '1' } : {}) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout?.on('data', (b: Buffer) => {
    out += b;
  });
  await new Promise((r) => child.once('close', r));
  return JSON.parse(out.trim() || '[]') as number[];
}

const abs = (xs: number[]) => xs.map(Math.abs);
const us = (x: number) => x.toFixed(1);

const scenario: Scenario = {
  name: 'datapath',
  title: 'Batched UDP datapath and kernel timestamps: UDP echo, SNTP server, SNTP client accuracy',
  async run() {
    const loadBefore = os.loadavg().map((x) => x.toFixed(2));
    const lines: string[] = [];
    const bin = echoload();
    if (!bin) return 'Skipped: needs a C compiler for echoload (../shared/tools/echoload.c).';

    // 1. UDP echo
    const echoContenders: Contender[] = [
      {
        key: 'b1',
        label: 'soket udp listen, batched, 1 worker',
        start: () => soket('b1', ['udp', 'listen', '127.0.0.1:0', '--workers', '1']),
      },
      {
        key: 'b2',
        label: 'soket udp listen, batched, 2 workers',
        start: () => soket('b2', ['udp', 'listen', '127.0.0.1:0', '--workers', '2']),
      },
      {
        key: 'dg',
        label: 'soket udp listen, dgram (SOKET_NO_FFI=1)',
        start: () => soket('dg', ['udp', 'listen', '127.0.0.1:0'], { SOKET_NO_FFI: '1' }),
      },
      { key: 'node', label: 'Node dgram echo', start: () => startServer('node', 'udp') },
      { key: 'python', label: 'Python recvfrom/sendto loop', start: () => startServer('python', 'udp') },
    ];
    console.log('udp echo...');
    const echo = await compare('udp-rr', echoContenders);
    const py = medianRate(echo, 'python');
    const node = medianRate(echo, 'node');
    const best = Math.max(medianRate(echo, 'b1'), medianRate(echo, 'b2'));
    lines.push(
      '### UDP echo, 64-byte datagrams, 32 in flight',
      '',
      `Client: ${clientName()}, ${ROUNDS} interleaved rounds of ${SECONDS} s per server after a 1 s warm-up; medians. A datagram without a reply in 200 ms counts as lost.`,
      '',
      mdTable(
        ['server', 'msgs/s', 'vs Python', 'p50 µs', 'p99 µs', 'server CPU µs/msg', 'lost (all rounds)'],
        rows(echoContenders, echo, py),
      ),
      '',
      `Result: batched (best of 1 and 2 workers) **${ratio(best, py)}** the Python loop (target ≥ 1.5×) and **${ratio(best, node)}** Node's dgram echo (target ≥ 2.5×); the dgram fallback ${ratio(medianRate(echo, 'dg'), node)} of Node.`,
      '',
    );

    // 2. SNTP server
    const chronyd = findExecutable('chronyd');
    if (!chronyd) {
      lines.push('SNTP parts skipped: chronyd is not installed (apt-get install chrony).');
      return lines.join('\n');
    }
    const serve = ['ntp', 'serve', '0', '--leap', '0', '--no-rate-limit', '--stats', '0'];
    let chronyPid = 0;
    const ntpContenders: Contender[] = [
      {
        key: 'chrony',
        label: 'chronyd (local stratum 7, no ratelimit)',
        start: async () => {
          const c = await startChronyServer(chronyd, { stratum: 7 });
          chronyPid = c.process.pid ?? 0;
          return { label: 'chronyd', pid: chronyPid, port: c.port, stop: c.stop };
        },
      },
      {
        key: 'bN',
        label: `soket ntp serve, batched, ${os.availableParallelism()} workers (one per core)`,
        start: () => soket('bN', serve),
      },
      {
        key: 'b1',
        label: 'soket ntp serve, batched, 1 worker',
        start: () => soket('b1', [...serve, '--workers', '1']),
      },
      {
        key: 'dg',
        label: 'soket ntp serve, dgram (SOKET_NO_FFI=1)',
        start: () => soket('dg', serve, { SOKET_NO_FFI: '1' }),
      },
    ];
    console.log('sntp server...');
    const ntp = await compare('ntp', ntpContenders);
    const chronyRate = medianRate(ntp, 'chrony');
    const bestNtp = Math.max(medianRate(ntp, 'bN'), medianRate(ntp, 'b1'));
    lines.push(
      '### SNTP server, 32 requests in flight',
      '',
      `Client: echoload ntp -c 32 (48-byte mode-3 requests; a reply must be mode 4 and echo the origin), ${ROUNDS} interleaved rounds of ${SECONDS} s; medians.`,
      '',
      mdTable(
        ['server', 'requests/s', 'vs chronyd', 'p50 µs', 'p99 µs', 'server CPU µs/req', 'lost (all rounds)'],
        rows(ntpContenders, ntp, chronyRate),
      ),
      '',
      `Result: soket's SNTP server (batched, best of one per core and 1 worker) answers **${ratio(bestNtp, chronyRate)}** the requests per second of chronyd (target ≥ 1.0×); on the dgram fallback ${ratio(medianRate(ntp, 'dg'), chronyRate)}.`,
      '',
    );

    // 3. client accuracy against chronyd
    console.log('sntp client accuracy...');
    const chrony = await startChronyServer(chronyd, { stratum: 7 });
    const accuracy: Array<[string, number[]]> = [];
    try {
      for (const [name, gap] of [
        ['back to back', 0],
        ['50 ms apart', 50],
      ] as const) {
        const kernel: number[] = [];
        for (let i = 0; i < 20; i++) {
          const r = await sntpQuery('127.0.0.1', { port: chrony.port, timeout: 2000 });
          kernel.push(r.offset * 1e6);
          if (gap) await sleep(gap);
        }
        accuracy.push([`kernel timestamps, ${name}`, kernel]);
        accuracy.push([`fallback (SOKET_NO_FFI=1), ${name}`, await clientSamples(chrony.port, gap, true)]);
      }
    } finally {
      await chrony.stop();
    }
    lines.push(
      '### SNTP client accuracy against chronyd',
      '',
      '20 `sntpQuery` samples per row against chronyd on loopback (the same system clock: every µs of offset is error).',
      '',
      mdTable(
        ['samples', 'median \\|offset\\| µs', 'median offset µs', 'max \\|offset\\| µs'],
        accuracy.map(([name, xs]) => [
          name,
          `**${us(median(abs(xs)))}**`,
          us(median(xs)),
          us(Math.max(...abs(xs))),
        ]),
      ),
      '',
      `Result: median |offset| ${accuracy
        .filter(([n]) => n.startsWith('kernel'))
        .map(([n, xs]) => `${us(median(abs(xs)))} µs ${n.replace('kernel timestamps, ', '')}`)
        .join(', ')} (target ≤ 5 µs both).`,
      '',
    );

    // 4. chronyd -Q measuring soket ntp serve
    console.log('chronyd -Q...');
    const qRows: Array<Array<string | number>> = [];
    const qMedians: Record<string, number> = {};
    for (const [key, label, env, runs] of [
      ['chrony', 'chronyd (the baseline: chrony measuring itself)', {}, Math.ceil(CHRONY_RUNS / 2)],
      ['b', 'soket ntp serve, batched', {}, CHRONY_RUNS],
      ['dg', 'soket ntp serve, dgram (SOKET_NO_FFI=1)', { SOKET_NO_FFI: '1' }, Math.ceil(CHRONY_RUNS / 2)],
    ] as const) {
      const server =
        key === 'chrony'
          ? await startChronyServer(chronyd, { stratum: 7 })
          : await soket(key, ['ntp', 'serve', '0', '--leap', '0', '--stats', '0'], env);
      const offsets: number[] = [];
      let failed = 0;
      try {
        for (let i = 0; i < runs; i++) {
          const r = await runChronyClient(chronyd, server.port, 20);
          if (r.offset === undefined) failed++;
          else offsets.push(r.offset * 1e6);
        }
      } finally {
        await server.stop();
      }
      qMedians[key] = median(abs(offsets));
      qRows.push([
        label,
        runs,
        failed,
        `**${us(median(abs(offsets)))}**`,
        us(median(offsets)),
        us(Math.max(...abs(offsets))),
      ]);
    }
    lines.push(
      '### chronyd -Q measuring soket ntp serve',
      '',
      '`chronyd -Q` (strict client: origin check, kernel timestamps) against `soket ntp serve 0 --leap 0` (rate limit on, defaults), one run = one `chronyd -Q -t 20`; chrony prints the offset in µs.',
      '',
      mdTable(
        ['server', 'runs', 'rejected', 'median \\|offset\\| µs', 'median offset µs', 'max \\|offset\\| µs'],
        qRows,
      ),
      '',
      `Result: chronyd measures soket's batched server at a median |offset| of **${us(qMedians.b ?? Number.NaN)} µs** (target ≤ 10 µs; chronyd itself ${us(qMedians.chrony ?? Number.NaN)} µs); the dgram fallback ${us(qMedians.dg ?? Number.NaN)} µs.`,
      '',
    );
    const loadAfter = os.loadavg().map((x) => x.toFixed(2));
    lines.unshift(
      `Load average before ${loadBefore.join(' / ')}, after ${loadAfter.join(' / ')} (1/5/15 min). Ratios compare runs taken side by side.`,
      '',
    );
    return lines.join('\n');
  },
};
export default scenario;
