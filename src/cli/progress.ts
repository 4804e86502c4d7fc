/**
 * A progress bar on stderr for long batches (DNS names, probes): drawn only when stderr is a terminal and
 * never in `--json` mode, redrawn at most ten times a second, and erased before a result line is printed so
 * the two never garble each other on a shared terminal.
 *
 * @module
 */
import { formatMs } from './format.js';

/** Where the bar draws: main.ts's view of the terminal. */
export interface ProgressTerminal {
  /** Write a line (a newline is added) to stdout. */
  out(line: string): void;
  /** Write a line (a newline is added) to stderr. */
  err(line: string): void;
  /** Whether stderr is a terminal. */
  stderrIsTTY: boolean;
  /** Columns of the terminal. */
  columns: number;
  /** Environment (`LINES`). */
  env: NodeJS.ProcessEnv;
}

/** Options for {@link createProgress}. */
export interface ProgressOptions {
  /** How many items the batch has. */
  total: number;
  /** Shown before the bar, e.g. `resolve`. @default '' */
  label?: string;
  /** Draw only for batches longer than this many items (a screenful). @default 24, or `LINES` */
  minTotal?: number;
  /** Milliseconds between redraws. @default 100 */
  intervalMs?: number;
}

/** A running progress bar (a no-op when not drawn). */
export interface Progress {
  /** Whether the bar is being drawn at all. */
  readonly active: boolean;
  /** Count one finished item. */
  tick(ok: boolean): void;
  /** Print a line on stdout without garbling the bar. */
  out(line: string): void;
  /** Print a line on stderr without garbling the bar. */
  err(line: string): void;
  /** Erase the bar for good. */
  done(): void;
}

/** Cursor up one line, and erase the whole line (the cursor stays in its column, 0 here). */
const UP = '\u001b[1A';
const ERASE = '\u001b[2K';

/**
 * Create a progress bar for a batch. It is active only when stderr is a terminal and the batch is longer than a
 * screenful (main.ts never creates one with `--json`).
 *
 * @param io - the terminal
 * @param options - `total`, `label`, `minTotal`, `intervalMs`
 * @returns the bar; route every output line of the batch through its `out`/`err`
 * @example
 * ```ts
 * const bar = createProgress(io, { total: names.length, label: 'resolve' });
 * for await (const r of results) { bar.out(render(r)); bar.tick(r.ok); }
 * bar.done();
 * ```
 */
export function createProgress(io: ProgressTerminal, options: ProgressOptions): Progress {
  const { total, label = '', intervalMs = 100 } = options;
  const lines = Number.parseInt(io.env.LINES ?? '', 10);
  const minTotal = options.minTotal ?? (Number.isInteger(lines) && lines > 0 ? lines : 24);
  const active = io.stderrIsTTY && total > minTotal;
  const started = performance.now();
  let ok = 0;
  let failed = 0;
  let drawn = false;
  let lastDraw = Number.NEGATIVE_INFINITY; // the first tick draws at once
  let timer: NodeJS.Timeout | undefined;
  let finished = false;

  const render = (): string => {
    const doneCount = ok + failed;
    const elapsed = performance.now() - started;
    const rate = elapsed > 0 ? Math.round((doneCount / elapsed) * 1000) : 0;
    const pct = total > 0 ? Math.floor((doneCount / total) * 100) : 100;
    const tail = ` ${doneCount}/${total} ${pct}%  ok ${ok}  failed ${failed}  ${rate}/s  ${formatMs(elapsed)}`;
    const head = label ? `${label} ` : '';
    const width = Math.max(10, Math.min(40, io.columns - head.length - tail.length - 3));
    const filled = total > 0 ? Math.round((doneCount / total) * width) : width;
    return `${head}[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]${tail}`.slice(
      0,
      Math.max(1, io.columns - 1),
    );
  };
  // The bar is a line of its own on stderr, written through io.err (which ends it with a newline); it is
  // redrawn in place by moving the cursor up one line, and erased by moving up over it and back.
  const draw = () => {
    if (!active || finished) return;
    if (timer) {
      clearTimeout(timer);
      timer = undefined;
    }
    io.err(drawn ? `${UP}${ERASE}${render()}` : render());
    drawn = true;
    lastDraw = performance.now();
  };
  const schedule = () => {
    if (!active || finished || timer) return;
    const wait = Math.max(0, intervalMs - (performance.now() - lastDraw));
    if (wait === 0) draw();
    else {
      timer = setTimeout(draw, wait);
      timer.unref();
    }
  };
  const clear = () => {
    if (drawn) {
      io.err(`${UP}${ERASE}${UP}`);
      drawn = false;
    }
  };
  return {
    active,
    tick(success) {
      if (success) ok++;
      else failed++;
      schedule();
    },
    out(line) {
      clear();
      io.out(line);
      schedule();
    },
    err(line) {
      clear();
      io.err(line);
      schedule();
    },
    done() {
      if (timer) clearTimeout(timer);
      timer = undefined;
      clear();
      finished = true;
    },
  };
}
