/**
 * Cold start of `soket service 80` against a bare `node -e ''` on the same machine in the same run.
 * Target: ≤ 1.3× (the CLI is bundled into one CommonJS file and loads only the command it runs).
 * Uses hyperfine when installed, otherwise interleaved spawns timed here.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { have, mdTable, median, ratio, type Scenario, SOKET_BIN } from './lib.js';

const RUNS = 60;

interface Timing {
  label: string;
  medianMs: number;
  meanMs: number;
}

function withHyperfine(commands: Array<[string, string]>): Timing[] {
  const out = `${os.tmpdir()}/soket-hyperfine.json`;
  execFileSync(
    'hyperfine',
    ['-N', '--warmup', '5', '--runs', String(RUNS), '--export-json', out, ...commands.map(([, c]) => c)],
    { stdio: 'ignore' },
  );
  const { results } = JSON.parse(readFileSync(out, 'utf8')) as {
    results: Array<{ median: number; mean: number }>;
  };
  return results.map((r, i) => ({
    label: commands[i]?.[0] ?? '',
    medianMs: r.median * 1000,
    meanMs: r.mean * 1000,
  }));
}

function withSpawn(commands: Array<[string, string]>): Timing[] {
  const samples = commands.map(() => [] as number[]);
  for (let i = 0; i < RUNS + 5; i++) {
    commands.forEach(([, cmd], k) => {
      const [file, ...args] = cmd.split(' ').map((a) => a.replace(/^'(.*)'$/, '$1'));
      const t0 = performance.now();
      spawnSync(file as string, args, { stdio: 'ignore' });
      if (i >= 5) samples[k]?.push(performance.now() - t0);
    });
  }
  return commands.map(([label], k) => {
    const s = samples[k] ?? [];
    return { label, medianMs: median(s), meanMs: s.reduce((a, b) => a + b, 0) / s.length };
  });
}

const scenario: Scenario = {
  name: 'service-startup',
  title: 'CLI cold start: `soket service 80` vs `node -e ""`',
  async run() {
    const node = process.execPath;
    const commands: Array<[string, string]> = [
      ["node -e ''", `${node} -e ''`],
      ['soket service 80', `${node} ${SOKET_BIN} service 80`],
    ];
    const tool = have('hyperfine') ? 'hyperfine' : 'spawnSync loop';
    const t = tool === 'hyperfine' ? withHyperfine(commands) : withSpawn(commands);
    const [base, soket] = t as [Timing, Timing];
    return [
      `Timed with ${tool}, ${RUNS} runs each after 5 warm-ups. Target: ≤ 1.3× the bare Node start.`,
      '',
      mdTable(
        ['command', 'median ms', 'mean ms', 'ratio (median)'],
        t.map((x) => [x.label, x.medianMs.toFixed(1), x.meanMs.toFixed(1), ratio(x.medianMs, base.medianMs)]),
      ),
      '',
      `Result: soket's cold start is **${ratio(soket.medianMs, base.medianMs)}** of a bare \`node -e ''\`.`,
    ].join('\n');
  },
};
export default scenario;
