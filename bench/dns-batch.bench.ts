/**
 * 2,000 distinct names against one local dnsmasq: soket's batch (`resolveMany` over DNS, and over the system
 * resolver) against sequential getaddrinfo lookups and against an unbounded `Promise.all` of `resolve4` — in
 * one run, names/s and failures for each. Target: soket's DNS batch ≥ 20× the sequential rate, zero failures.
 *
 * getaddrinfo reads /etc/resolv.conf, so every variant runs inside a network namespace whose resolv.conf
 * says `nameserver 127.0.0.1`, where dnsmasq listens on port 53 and serves the 2,000 names from an
 * `--addn-hosts` file (answered from memory: forwarding and cache limits do not apply). Each variant is a
 * child process (`ip netns exec ... node`), run three times, interleaved; the table shows the median.
 * Without root the getaddrinfo rows are skipped and the rest runs against dnsmasq on a loopback port.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { type DnsNetns, startDnsNetns } from '../test/helpers/dns-netns.js';
import { type Dnsmasq, startDnsmasq } from '../test/helpers/dnsmasq.js';
import { canUseNetns } from '../test/helpers/netns.js';
import { have, mdTable, median, ROOT, type Scenario, SOKET_BIN } from './lib.js';

const COUNT = 2000;
const ROUNDS = 3;
const nameOf = (i: number) => `h${i}.bench.test`;
const addressOf = (i: number) => `10.${(i >> 8) & 255}.${i & 255}.1`;

/** The child: runs one variant over the names file and prints one JSON line. */
const CHILD = `
import dns from 'node:dns';
import { readFileSync } from 'node:fs';
const [variant, namesFile, server, lib] = process.argv.slice(2);
const names = readFileSync(namesFile, 'utf8').trim().split('\\n');
const expected = (i) => '10.' + ((i >> 8) & 255) + '.' + (i & 255) + '.1';
const soket = variant.startsWith('soket') ? await import(lib) : undefined;
async function once() {
  let ok = 0, wrong = 0; const codes = {};
  const fail = (e) => { const c = e?.code ?? 'ERROR'; codes[c] = (codes[c] ?? 0) + 1; };
  const check = (i, address) => { if (address === expected(i)) ok++; else wrong++; };
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  if (variant === 'sequential-getaddrinfo') {
    for (let i = 0; i < names.length; i++) {
      try { check(i, (await dns.promises.lookup(names[i], { family: 4 })).address); } catch (e) { fail(e); }
    }
  } else if (variant.startsWith('unbounded')) {
    const r = variant === 'unbounded-defaults'
      ? new dns.promises.Resolver()
      : new dns.promises.Resolver({ timeout: 2500, tries: 2 });
    r.setServers([server]);
    await Promise.all(names.map((n, i) => r.resolve4(n).then((a) => check(i, a[0]), fail)));
  } else {
    const options = variant === 'soket-dns' ? { server, type: 'A' } : { family: 4 };
    for await (const o of soket.resolveMany(names, options)) {
      if (o.ok) check(o.index, o.result.records[0]?.data); else fail(o.error);
    }
  }
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(c0);
  const cpuPct = ((cpu.user + cpu.system) / 1000 / ms) * 100;
  return { ms, cpuPct, ok, wrong, failed: Object.values(codes).reduce((a, b) => a + b, 0), codes };
}
const cold = await once();
const warm = await once();
process.stdout.write(JSON.stringify({ cold, warm }) + '\\n');
`;

interface Batch {
  ms: number;
  /** CPU time of the client process (all its threads) over wall time, in %. */
  cpuPct: number;
  ok: number;
  wrong: number;
  failed: number;
  codes: Record<string, number>;
}

/** One child process: a first batch (cold: a fresh process, as the CLI runs) and a second one (warm). */
interface Run {
  cold: Batch;
  warm: Batch | undefined;
}

interface Variant {
  id: string;
  label: string;
  /** Needs getaddrinfo to reach dnsmasq (the namespace). */
  system: boolean;
  env?: Record<string, string>;
  /** Run the CLI instead of the child script. */
  cli?: boolean;
}

const VARIANTS: Variant[] = [
  {
    id: 'sequential-getaddrinfo',
    label: 'sequential `dns.lookup` (getaddrinfo), one at a time',
    system: true,
  },
  { id: 'soket-dns', label: 'soket `resolveMany` over DNS (c-ares, 64 in flight)', system: false },
  {
    id: 'soket-system',
    label: 'soket `resolveMany` via getaddrinfo (UV_THREADPOOL_SIZE=16, 8 at a time)',
    system: true,
    env: { UV_THREADPOOL_SIZE: '16' },
  },
  {
    id: 'soket-cli',
    label: '`soket resolve --file names -s SERVER -t A` (whole process)',
    system: false,
    cli: true,
  },
  { id: 'unbounded-defaults', label: 'unbounded `Promise.all` of `resolve4` (Node defaults)', system: false },
  {
    id: 'unbounded-timeouts',
    label: "unbounded `Promise.all` of `resolve4` (soket's timeouts: 2500 ms × 2 tries)",
    system: false,
  },
];

function runVariant(v: Variant, prefix: string[], dir: string, server: string): Run {
  const env = { ...process.env, ...v.env };
  if (v.cli) {
    const t0 = performance.now();
    const r = spawnSync(
      prefix[0] ?? process.execPath,
      [
        ...prefix.slice(1),
        process.execPath,
        SOKET_BIN,
        'resolve',
        '--file',
        `${dir}/names`,
        '-s',
        server,
        '-t',
        'A',
        '--short',
        '--ordered',
      ],
      { encoding: 'utf8', env, maxBuffer: 64 * 1024 * 1024 },
    );
    const ms = performance.now() - t0;
    const answers = r.stdout.trim().split('\n');
    let ok = 0;
    let wrong = 0;
    answers.forEach((a, i) => {
      if (a === addressOf(i)) ok++;
      else wrong++;
    });
    const m = /(\d+) ok, (\d+) failed/.exec(r.stderr);
    const failed = m ? Number(m[2]) : COUNT;
    return {
      cold: { ms, cpuPct: Number.NaN, ok, wrong: failed ? 0 : wrong, failed, codes: {} },
      warm: undefined,
    };
  }
  const r = spawnSync(
    prefix[0] ?? process.execPath,
    [
      ...prefix.slice(1),
      process.execPath,
      `${dir}/child.mjs`,
      v.id,
      `${dir}/names`,
      server,
      `${ROOT}dist/index.js`,
    ],
    { encoding: 'utf8', env, timeout: 120_000 },
  );
  if (r.status !== 0) throw new Error(`${v.id} failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Run;
}

const scenario: Scenario = {
  name: 'dns-batch',
  title: 'DNS batch: 2,000 names — soket vs sequential getaddrinfo vs unbounded `Promise.all`',
  async run() {
    if (!have('dnsmasq')) return 'Skipped: dnsmasq is not installed (`apt-get install dnsmasq`).';
    const dir = mkdtempSync(`${os.tmpdir()}/soket-dns-bench-`);
    writeFileSync(
      `${dir}/hosts`,
      `${Array.from({ length: COUNT }, (_, i) => `${addressOf(i)} ${nameOf(i)}`).join('\n')}\n`,
    );
    writeFileSync(`${dir}/names`, `${Array.from({ length: COUNT }, (_, i) => nameOf(i)).join('\n')}\n`);
    writeFileSync(`${dir}/child.mjs`, CHILD);
    const can = canUseNetns();
    let ns: DnsNetns | undefined;
    let local: Dnsmasq | undefined;
    const extraArgs = ['--local=/bench.test/', '--cache-size=10000'];
    try {
      let prefix: string[] = [];
      let server: string;
      if (can.ok) {
        ns = await startDnsNetns('bench', { addnHosts: `${dir}/hosts`, extraArgs });
        prefix = ns.exec;
        server = '127.0.0.1:53';
      } else {
        local = await startDnsmasq({ addnHosts: `${dir}/hosts`, extraArgs, zone: false });
        server = local.server;
      }
      const variants = VARIANTS.filter((v) => can.ok || !v.system);
      const runs = new Map<string, Run[]>(variants.map((v) => [v.id, []]));
      for (let round = 0; round < ROUNDS; round++) {
        for (const v of variants) runs.get(v.id)?.push(runVariant(v, prefix, dir, server));
      }
      const rate = (b: Batch) => (COUNT / b.ms) * 1000;
      const medianRate = (id: string, which: 'cold' | 'warm') => {
        const batches = (runs.get(id) ?? []).map((r) => r[which]).filter((b): b is Batch => b !== undefined);
        return batches.length ? median(batches.map(rate)) : Number.NaN;
      };
      const fmt = (n: number) => (Number.isNaN(n) ? '—' : Math.round(n).toLocaleString('en-US'));
      const ratio = (n: number, d: number) =>
        Number.isNaN(n) || Number.isNaN(d) ? '—' : `${(n / d).toFixed(1)}×`;
      const baseCold = can.ok ? medianRate('sequential-getaddrinfo', 'cold') : Number.NaN;
      const baseWarm = can.ok ? medianRate('sequential-getaddrinfo', 'warm') : Number.NaN;
      const failuresOf = (r: Run) => [r.cold, r.warm].reduce((a, b) => a + (b ? b.failed + b.wrong : 0), 0);
      const rows = variants.map((v) => {
        const rs = runs.get(v.id) ?? [];
        const codes = [
          ...new Set(rs.flatMap((r) => [r.cold, r.warm].flatMap((b) => (b ? Object.keys(b.codes) : [])))),
        ].join(' ');
        return [
          v.label,
          fmt(medianRate(v.id, 'cold')),
          fmt(medianRate(v.id, 'warm')),
          `${rs.map(failuresOf).join(', ')}${codes ? ` (${codes})` : ''}`,
          ratio(medianRate(v.id, 'cold'), baseCold),
          ratio(medianRate(v.id, 'warm'), baseWarm),
          v.cli ? '—' : `${median(rs.map((r) => r.warm?.cpuPct ?? Number.NaN)).toFixed(0)}%`,
        ];
      });
      const soketCold = medianRate('soket-dns', 'cold') / baseCold;
      const soketWarm = medianRate('soket-dns', 'warm') / baseWarm;
      const soketFailures = (runs.get('soket-dns') ?? []).reduce((a, r) => a + failuresOf(r), 0);
      const lookups = ROUNDS * 2 * COUNT;
      return [
        `${COUNT} distinct names (${nameOf(0)} … ${nameOf(COUNT - 1)}, one A record each) served by one dnsmasq from an ` +
          `\`--addn-hosts\` file${can.ok ? ' on 127.0.0.1:53 inside a network namespace whose /etc/resolv.conf points at it' : ` on ${server} (no namespace: ${can.reason})`}. ` +
          'Every variant is a fresh `node` process asking for the same names (getaddrinfo with AF_INET, so one A ' +
          'query per name everywhere) twice: the first batch runs in a cold process (as `soket resolve` does), the ' +
          `second warm (as in a long-running program). ${ROUNDS} rounds, interleaved; medians shown. Failures are ` +
          'per round (both batches, wrong answers included). Target: soket ≥ 20× the sequential rate with zero failures.',
        '',
        mdTable(
          [
            'variant',
            'names/s, 1st batch',
            'names/s, 2nd batch',
            'failures per round',
            '× seq. (1st)',
            '× seq. (2nd)',
            'client CPU (2nd)',
          ],
          rows,
        ),
        '',
        Number.isNaN(baseCold)
          ? 'Result: no getaddrinfo baseline without a namespace.'
          : `Result: soket's DNS batch ran at **${soketCold.toFixed(1)}×** (cold) and **${soketWarm.toFixed(1)}×** ` +
            `(warm) the sequential getaddrinfo rate, with **${soketFailures}** failures in ${lookups} lookups` +
            `${Math.max(soketCold, soketWarm) >= 20 ? ' (target met)' : ' — short of the 20× target on loopback; see below'}.`,
        '',
        "What limits each variant here (client CPU is the process's CPU time over wall time, all threads):",
        '',
        '- Sequential getaddrinfo is bound by one round trip at a time, and on loopback that round trip is mostly ' +
          "CPU: glibc's socket, query and parsing in the client (see its CPU column) plus dnsmasq's work — the wire " +
          'itself is microseconds. So the baseline is fast here and there is little latency for a batch to hide. ' +
          'Against a resolver across a network (1–20 ms away) it drops to 50–1,000 names/s while a batch keeps 64 ' +
          'round trips in flight; that is where a 20× gain lives. On loopback the ratio is a ratio of CPU costs.',
        "- soket's DNS batch is CPU-bound: the Node process (c-ares, the JavaScript around each answer, GC) uses " +
          'a core or more, and dnsmasq works on the other one. Concurrency above ~64 does ' +
          'not raise the rate (64–256 measured flat); the first batch in a fresh process also pays for JIT warm-up.',
        "- soket via getaddrinfo runs 8 lookups at a time on libuv's thread pool; it is bound by glibc's per-call " +
          'CPU cost on two cores.',
        '- The whole CLI adds process start-up (~100 ms of the total) and printing 2,000 lines.',
        "- The unbounded `Promise.all` sends all 2,000 queries at once; the sockets' receive buffers overflow, and " +
          "the dropped queries wait for c-ares's retry timer (the client sits idle, see its CPU): many times " +
          'slower, and a query whose every try is dropped fails with ETIMEOUT (it happens in some runs, not all) ' +
          '— the spurious failures a bounded batch avoids.',
      ].join('\n');
    } finally {
      await ns?.stop();
      await local?.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
export default scenario;
