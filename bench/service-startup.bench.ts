/**
 * Cold start of `soket service 80` against a bare `node -e ''` on the same machine in the same run.
 * Target: ≤ 1.3×. The CLI is a small CommonJS bundle (main + commander) that requires only the bundle of the
 * command it runs (scripts/build-cli.mjs).
 *
 * The two commands are run alternately (A, B, A, B, ...) so that a noisy moment on a shared machine hits both
 * alike — running all of one and then all of the other (as hyperfine does) let a busy spell land on one side
 * and swung the ratio between 1.1× and 1.6× here. The medians of the wall times are compared; the minimums
 * are shown too, as the least disturbed runs.
 */
import { spawnSync } from 'node:child_process';
import { mdTable, median, ratio, type Scenario, SOKET_BIN } from './lib.js';

const RUNS = 150;
const WARMUP = 10;

interface Timing {
  label: string;
  medianMs: number;
  minMs: number;
  p90Ms: number;
}

function interleaved(commands: Array<[label: string, file: string, args: string[]]>): Timing[] {
  const samples = commands.map(() => [] as number[]);
  for (let i = 0; i < RUNS + WARMUP; i++) {
    for (const [k, [, file, args]] of commands.entries()) {
      const t0 = performance.now();
      const r = spawnSync(file, args, { stdio: 'ignore' });
      const ms = performance.now() - t0;
      if (r.status !== 0) throw new Error(`${file} ${args.join(' ')} exited ${r.status}`);
      if (i >= WARMUP) samples[k]?.push(ms);
    }
  }
  return commands.map(([label], k) => {
    const s = [...(samples[k] ?? [])].sort((a, b) => a - b);
    return { label, medianMs: median(s), minMs: s[0] ?? 0, p90Ms: s[Math.floor(s.length * 0.9)] ?? 0 };
  });
}

const scenario: Scenario = {
  name: 'service-startup',
  title: 'CLI cold start: `soket service 80` vs `node -e ""`',
  async run() {
    const node = process.execPath;
    const t = interleaved([
      ["node -e ''", node, ['-e', '']],
      ['soket service 80', node, [SOKET_BIN, 'service', '80']],
    ]);
    const [base, soket] = t as [Timing, Timing];
    return [
      `Wall time of whole processes, ${RUNS} runs each after ${WARMUP} warm-ups, the two commands alternating.`,
      'Target: ≤ 1.3× the bare Node start (median).',
      '',
      mdTable(
        ['command', 'median ms', 'min ms', 'p90 ms', 'ratio (median)', 'ratio (min)'],
        t.map((x) => [
          x.label,
          x.medianMs.toFixed(1),
          x.minMs.toFixed(1),
          x.p90Ms.toFixed(1),
          ratio(x.medianMs, base.medianMs),
          ratio(x.minMs, base.minMs),
        ]),
      ),
      '',
      `Result: soket's cold start is **${ratio(soket.medianMs, base.medianMs)}** of a bare \`node -e ''\` (median; ${ratio(soket.minMs, base.minMs)} comparing the fastest runs).`,
    ].join('\n');
  },
};
export default scenario;
