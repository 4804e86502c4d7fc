/**
 * The one door to the C library: koffi (an optional dependency) loaded lazily, once. Modules that need a
 * libc call soket's Node cannot make (getsockopt/setsockopt, adjtimex, ...) declare their functions on the
 * handle returned by {@link libc}. When koffi is not installed, fails to load, or `SOKET_NO_FFI=1` is set,
 * {@link libc} throws an `UnsupportedError` that says why, and the rest of soket keeps working.
 *
 * @module
 */
import { createRequire } from 'node:module';
import { UnsupportedError } from '../core/errors.js';

/** The koffi module's type, without importing it at load time. */
export type Koffi = typeof import('koffi');

/** koffi plus the loaded C library. */
export interface Libc {
  koffi: Koffi;
  lib: ReturnType<Koffi['load']>;
  /** Memoise a declared function by its C prototype, e.g. `int getpid()`. */
  func(prototype: string): (...args: unknown[]) => unknown;
}

let loaded: Libc | UnsupportedError | undefined;

const LIBC_NAMES: Partial<Record<NodeJS.Platform, string[]>> = {
  linux: ['libc.so.6', 'libc.musl-x86_64.so.1', 'libc.so'],
  darwin: ['libSystem.B.dylib', '/usr/lib/libSystem.B.dylib'],
  freebsd: ['libc.so.7'],
};

/**
 * The C library through koffi, loaded on first use.
 *
 * @returns koffi, the library handle and a memoising `func`
 * @throws {UnsupportedError} when FFI is unavailable (not installed, failed to load, unsupported platform,
 *   or disabled with `SOKET_NO_FFI=1`), with the reason
 * @example
 * ```ts
 * const { func } = libc();
 * const getpid = func('int getpid()');
 * getpid(); // same as process.pid
 * ```
 */
export function libc(): Libc {
  if (loaded === undefined) loaded = load();
  if (loaded instanceof UnsupportedError) throw loaded;
  return loaded;
}

/**
 * Whether FFI is available, without throwing.
 *
 * @example
 * ```ts
 * if (!ffiAvailable().ok) console.log(ffiAvailable().reason);
 * ```
 */
export function ffiAvailable(): { ok: true } | { ok: false; reason: string } {
  try {
    libc();
    return { ok: true };
  } catch (err) {
    return { ok: false, reason: (err as Error).message };
  }
}

function load(): Libc | UnsupportedError {
  const prefix = 'Socket options and kernel clock state need FFI (koffi)';
  if (process.env.SOKET_NO_FFI === '1')
    return new UnsupportedError(`${prefix}, which is disabled by SOKET_NO_FFI=1`);
  let koffi: Koffi;
  try {
    koffi = createRequire(import.meta.url)('koffi') as Koffi;
  } catch (err) {
    return new UnsupportedError(
      `${prefix}, which is not available: ${(err as Error).message.split('\n')[0]} (install it with: npm install koffi)`,
      { cause: err },
    );
  }
  const names = LIBC_NAMES[process.platform];
  if (!names) return new UnsupportedError(`${prefix}; platform '${process.platform}' is not supported`);
  let lastError: unknown;
  for (const name of names) {
    try {
      const lib = koffi.load(name);
      const funcs = new Map<string, (...args: unknown[]) => unknown>();
      return {
        koffi,
        lib,
        func(prototype: string) {
          let f = funcs.get(prototype);
          if (!f) {
            f = lib.func(prototype) as unknown as (...args: unknown[]) => unknown;
            funcs.set(prototype, f);
          }
          return f;
        },
      };
    } catch (err) {
      lastError = err;
    }
  }
  return new UnsupportedError(
    `${prefix}; cannot load the C library (${names.join(', ')}): ${String(lastError)}`,
    {
      cause: lastError,
    },
  );
}
