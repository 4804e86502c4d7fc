/**
 * Shared helpers for benchmarks: machine description, the echoload C client, timing, and writing results
 * into docs/benchmarks.md (each scenario owns one section between markers).
 */
import { type ChildProcess, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { echoloadBinary, keyValues } from '../test/helpers/echoload.js';

/** Repository root. */
export const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** The bundled CLI. */
export const SOKET_BIN = `${ROOT}dist/soket.cjs`;
const DOC = `${ROOT}docs/benchmarks.md`;

/** One scenario, as exported (default) by each bench/*.bench.ts file. */
export interface Scenario {
  /** Short id, used for `npm run bench -- <name>` and the docs section marker. */
  name: string;
  /** Heading in docs/benchmarks.md. */
  title: string;
  /** Runs the scenario; returns the Markdown body for docs/benchmarks.md. */
  run(): Promise<string>;
}

/** A line describing the machine and runtime. */
export function machine(): string {
  const cpus = os.cpus();
  return `${cpus.length} × ${cpus[0]?.model.trim() ?? 'unknown CPU'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Linux ${os.release()}, Node ${process.version}`;
}

/**
 * The machine's load average (1 min) now, as a sentence for a report: the peers are compared in the same run,
 * but absolute figures depend on what else shares the cores.
 */
export function loadNote(): string {
  return `Load average when the run ended: ${os.loadavg()[0]?.toFixed(2)} (1 min) on ${os.cpus().length} cores; the ratios compare runs taken side by side.`;
}

/** The command that reproduces a scenario. */
export function commandFor(name: string): string {
  return `npm run bench -- ${name}`;
}

/** Replace (or append) the section of docs/benchmarks.md that belongs to `name`. */
export function writeSection(name: string, title: string, body: string): void {
  const start = `<!-- bench:${name}:start -->`;
  const end = `<!-- bench:${name}:end -->`;
  const stamp = new Date().toISOString().slice(0, 10);
  const section = `${start}\n## ${title}\n\n\`${commandFor(name)}\` — ${stamp}, ${machine()}\n\n${body.trim()}\n${end}`;
  let doc = existsSync(DOC) ? readFileSync(DOC, 'utf8') : '# Benchmarks\n';
  const i = doc.indexOf(start);
  const j = doc.indexOf(end);
  if (i !== -1 && j !== -1) doc = doc.slice(0, i) + section + doc.slice(j + end.length);
  else doc = `${doc.trimEnd()}\n\n${section}\n`;
  writeFileSync(DOC, doc);
}

/** Whether an executable is on PATH. */
export function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/**
 * Path of ../shared/tools/echoload.c built (once, shared with the tests), or `null` when there is no C compiler
 * or no source — callers then use their Node fallback client.
 */
export function echoload(): string | null {
  return echoloadBinary() ?? null;
}

/** Parse echoload's `key=value ...` output line. */
export const parseKeyValues = keyValues;

/** Median of numbers. */
export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** Percentile (0–100) of numbers, nearest rank. */
export function percentile(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] as number;
}

/** A Markdown table. */
export function mdTable(header: string[], rows: Array<Array<string | number>>): string {
  return [
    `| ${header.join(' | ')} |`,
    `| ${header.map(() => '---').join(' | ')} |`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
}

/** Format a ratio like `1.13×`. */
export function ratio(a: number, b: number): string {
  return `${(a / b).toFixed(2)}×`;
}

/** Options of {@link stopChild}. */
export interface StopChildOptions {
  /** The first signal. @default 'SIGTERM' */
  signal?: NodeJS.Signals;
  /** SIGKILL after this many ms if it is still running; 0 never. @default 3000 */
  killAfterMs?: number;
  /** Signal the child's whole process group (spawned `detached`: socat's `fork` children outlive it). */
  group?: boolean;
}

/** Stop a child process and wait until it has exited (at once if it already has). */
export async function stopChild(child: ChildProcess, options: StopChildOptions = {}): Promise<void> {
  const { signal = 'SIGTERM', killAfterMs = 3000, group = false } = options;
  const send = (sig: NodeJS.Signals) => {
    try {
      if (group && child.pid) process.kill(-child.pid, sig);
      else child.kill(sig);
    } catch {
      // already gone
    }
  };
  const running = child.exitCode === null && child.signalCode === null;
  if (!running && !group) return;
  const exited = running ? new Promise((r) => child.once('exit', r)) : Promise.resolve();
  send(signal);
  const t = killAfterMs > 0 ? setTimeout(() => send('SIGKILL'), killAfterMs) : undefined;
  await exited;
  if (t) clearTimeout(t);
}
