/**
 * Real peers (chronyd, dnsmasq, socat, python3-ntplib, ...) for interop tests. Locally a missing peer skips
 * the test with a reason; under CI=true a missing peer fails it, so CI can never pass by skipping.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import type { TestContext } from 'node:test';
import { ffiAvailable } from '../../src/platform/ffi.js';

const PATHS = ['/usr/sbin', '/usr/bin', '/sbin', '/bin', '/usr/local/bin', '/usr/local/sbin'];

/** Absolute path of an executable on PATH or in the usual system directories, or undefined. */
export function findExecutable(name: string): string | undefined {
  if (name.startsWith('/')) return isExecutable(name) ? name : undefined;
  const dirs = [...(process.env.PATH ?? '').split(':').filter(Boolean), ...PATHS];
  for (const dir of dirs) {
    const full = `${dir}/${name}`;
    if (isExecutable(full)) return full;
  }
  return undefined;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Whether this run must not skip (CI=true). */
export const STRICT = process.env.CI === 'true' || process.env.CI === '1';

/**
 * Returns the peer's path, or skips the test (locally) / throws (under CI=true) when it is missing.
 * Call at the top of a test: `const chronyd = requirePeer(t, 'chronyd', 'apt-get install chrony')`.
 */
export function requirePeer(t: TestContext, name: string, install: string): string | undefined {
  const path = findExecutable(name);
  if (path) return path;
  const reason = `${name} not installed (${install})`;
  if (STRICT) throw new Error(`Required peer missing under CI=true: ${reason}`);
  t.skip(reason);
  return undefined;
}

/**
 * Like requirePeer for a Python module of the system Python (/usr/bin/python3), e.g. ntplib.
 */
export function requirePythonModule(t: TestContext, module: string, install: string): string | undefined {
  const python = findExecutable('/usr/bin/python3') ?? findExecutable('python3');
  if (python) {
    const r = spawnSync(python, ['-c', `import ${module}`], { stdio: 'ignore' });
    if (r.status === 0) return python;
  }
  const reason = `Python module ${module} not available to /usr/bin/python3 (${install})`;
  if (STRICT) throw new Error(`Required peer missing under CI=true: ${reason}`);
  t.skip(reason);
  return undefined;
}

/**
 * For capabilities of the machine rather than installed peers (root, network namespaces): skip with a reason
 * locally, fail under CI=true.
 */
export function requireCapability(t: TestContext, ok: boolean, reason: string): boolean {
  if (ok) return true;
  if (STRICT) throw new Error(`Required capability missing under CI=true: ${reason}`);
  t.skip(reason);
  return false;
}

/**
 * For soket's FFI layer (koffi; the batched datapath, kernel timestamps): true when it loads; otherwise skip
 * with its reason locally, and fail under CI=true.
 *
 * @param what - what needs it, for the CI failure's message
 */
export function requireFfi(t: TestContext, what = 'the batched datapath'): boolean {
  const ffi = ffiAvailable();
  if (ffi.ok) return true;
  if (STRICT) throw new Error(`FFI is required under CI=true for ${what}: ${ffi.reason}`);
  t.skip(`FFI is not available: ${ffi.reason}`);
  return false;
}
