/**
 * The SNTP flood sender of the benchmarks (bench/ntpflood.c, each request from its own 127/8 source address
 * via IP_PKTINFO): compiled into the temp directory when a C compiler is present, else the Python fallback
 * (bench/ntpflood.py, same arguments and output).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import os from 'node:os';
import { findExecutable } from '../test/helpers/peers.js';
import { ROOT } from './lib.js';

/** The command to run (argv prefix) and what it is, for reports. */
export function ntpfloodCommand(): { argv: string[]; what: string } {
  const src = `${ROOT}bench/ntpflood.c`;
  const cc = findExecutable('cc') ?? findExecutable('gcc');
  if (cc) {
    const out = `${os.tmpdir()}/soket-bench-ntpflood`;
    try {
      if (!existsSync(out) || statSync(out).mtimeMs < statSync(src).mtimeMs) {
        const tmp = `${out}.${process.pid}`;
        execFileSync(cc, ['-O2', '-o', tmp, src], { stdio: 'pipe' });
        execFileSync('mv', ['-f', tmp, out]);
      }
      return { argv: [out], what: 'bench/ntpflood.c' };
    } catch {
      // fall through to Python
    }
  }
  return { argv: ['python3', `${ROOT}bench/ntpflood.py`], what: 'bench/ntpflood.py (no C compiler)' };
}
