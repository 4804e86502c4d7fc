/**
 * The contract between `cli/main.ts` and the command files. A command file exports `register(program, run)`:
 * it declares its arguments, options and help examples with commander, and wraps its action in `run`, which
 * hands it an {@link Io} and records its exit code. Commands return an exit code (0 or 1) or throw; thrown
 * errors are printed by `main.ts` (one line, or a JSON error object with `--json`).
 *
 * @module
 */
import type { Command } from 'commander';
import type { Io } from './io.js';

/** Exit codes: 0 success, 1 the operation failed, 2 invalid usage or input. */
export const EXIT = { ok: 0, failed: 1, usage: 2, interrupted: 130 } as const;

/** Wraps a command action: gives it the `Io` and records its exit code. */
export type Runner = <A extends unknown[]>(
  action: (io: Io, ...args: A) => Promise<unknown>,
) => (...args: A) => Promise<void>;

/** What every command file exports. */
export type Register = (program: Command, run: Runner) => void;

/**
 * Format help examples for `addHelpText('after', ...)`.
 *
 * @example
 * ```ts
 * cmd.addHelpText('after', examples(['soket service http', 'soket service 53/udp']));
 * ```
 */
export function examples(lines: string[]): string {
  return `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`;
}
