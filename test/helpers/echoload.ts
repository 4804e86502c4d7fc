/**
 * The neutral C load generator (../shared/tools/echoload.c) for tests that need many clients in another
 * process: built once into the temp directory when a C compiler and the source are present, otherwise
 * `undefined` (callers then use their Node fallback, test/fixtures/tcp-hold.mjs).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, renameSync, statSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { findExecutable } from './peers.js';

const SOURCE = fileURLToPath(new URL('../../../shared/tools/echoload.c', import.meta.url));
let built: string | null | undefined;

/** Path of a built echoload, or undefined when there is no compiler or no source. */
export function echoloadBinary(): string | undefined {
  if (built === undefined) {
    built = null;
    const cc = findExecutable('cc') ?? findExecutable('gcc');
    if (cc && existsSync(SOURCE)) {
      // One binary shared by every run, rebuilt when the source is newer; built aside and renamed, so
      // concurrent test processes never run a half-written file.
      const out = `${os.tmpdir()}/soket-test-echoload`;
      try {
        if (!existsSync(out) || statSync(out).mtimeMs < statSync(SOURCE).mtimeMs) {
          const tmp = `${out}.${process.pid}`;
          execFileSync(cc, ['-O2', '-o', tmp, SOURCE], { stdio: 'pipe' });
          renameSync(tmp, out);
        }
        built = out;
      } catch {
        built = null;
      }
    }
  }
  return built ?? undefined;
}

/** The Node fallback client for tcp-hold. */
export const TCP_HOLD_FIXTURE = fileURLToPath(new URL('../fixtures/tcp-hold.mjs', import.meta.url));

/** Parse a `key=value key=value` line. */
export function keyValues(line: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of line.trim().split(/\s+/)) {
    const i = pair.indexOf('=');
    if (i > 0) out[pair.slice(0, i)] = pair.slice(i + 1);
  }
  return out;
}
