/**
 * Runs the built CLI (dist/soket.cjs, what users run) as a child process and captures its output.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Path of the bundled CLI. `npm test` builds it first (the `pretest` script). */
export const SOKET_BIN = fileURLToPath(new URL('../../dist/soket.cjs', import.meta.url));

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  stdoutBytes: Buffer;
}

export interface CliOptions {
  /** Bytes for stdin; stdin is closed after writing. When absent, stdin is closed at once. */
  input?: string | Buffer;
  env?: NodeJS.ProcessEnv;
  /** Kill the child after this many ms (a test safety net, not an assertion). @default 30000 */
  killAfter?: number;
  /** Command to run instead of `node dist/soket.cjs` (e.g. ['ip', 'netns', 'exec', ns, 'node', bin]). */
  prefix?: string[];
}

/** Run `soket ARGS...` to completion. */
export function runCli(args: string[], options: CliOptions = {}): Promise<CliResult> {
  const child = startCli(args, options);
  return collect(child, options.killAfter ?? 30_000);
}

/** Start `soket ARGS...` without waiting (for servers); stdin stays open unless `input` is given. */
export function startCli(args: string[], options: CliOptions = {}): ChildProcess {
  const [cmd, ...pre] = options.prefix ?? [process.execPath, SOKET_BIN];
  const child = spawn(cmd as string, [...pre, ...args], {
    env: { ...process.env, NO_COLOR: '1', ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  if (options.input !== undefined) child.stdin?.end(options.input);
  return child;
}

/** Wait for a started child and collect its output. */
export function collect(child: ChildProcess, killAfter = 30_000): Promise<CliResult> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout?.on('data', (b: Buffer) => out.push(b));
  child.stderr?.on('data', (b: Buffer) => err.push(b));
  const timer = setTimeout(() => child.kill('SIGKILL'), killAfter);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const stdoutBytes = Buffer.concat(out);
      resolve({
        code,
        signal,
        stdout: stdoutBytes.toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        stdoutBytes,
      });
    });
  });
}

/** Resolve with the first stdout/stderr line matching `pattern` (e.g. a server's "listening on" line). */
export function waitForLine(
  child: ChildProcess,
  pattern: RegExp,
  stream: 'stdout' | 'stderr' = 'stderr',
): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const s = child[stream];
    const onData = (b: Buffer) => {
      buf += b.toString('utf8');
      const m = pattern.exec(buf);
      if (m) {
        s?.off('data', onData);
        resolve(m);
      }
    };
    s?.on('data', onData);
    child.once('exit', (code) =>
      reject(new Error(`process exited (${code}) before printing ${pattern}: ${buf}`)),
    );
  });
}

/** A stream's NDJSON output: one object per line. */
export function ndjson(stdout: string): Array<Record<string, unknown>> {
  return stdout
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** The `result` events of a batch's NDJSON (resolve, reverse), without their `event` field. */
export function batchResults(stdout: string): Array<Record<string, unknown>> {
  return ndjson(stdout)
    .filter((e) => e.event === 'result')
    .map(({ event: _event, ...rest }) => rest);
}
