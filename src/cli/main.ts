#!/usr/bin/env node
/**
 * The `soket` command. The only module that reads `process.argv`, writes to the process's stdout/stderr or
 * exits. Exit codes: 0 success, 1 the operation failed, 2 invalid usage or input, 130 interrupted.
 *
 * Commands return a result or a stream of events (`command.ts`); this module renders them: text through the
 * command's renderer, or with `--json` one JSON document for a result and one JSON object per line (NDJSON)
 * for a stream. Errors are one line on stderr, or `{"error":{"code","message"}}` on stdout with `--json`.
 *
 * To start fast, only the command being run is loaded; `soket --help` loads them all.
 *
 * @module
 */
import { once, setMaxListeners } from 'node:events';
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { AbortError, ValidationError } from '../core/errors.js';
import { oneLine } from '../core/text.js';
import {
  type CommandOutput,
  EXIT,
  type Register,
  type RenderContext,
  type Rendered,
  type ResultOutput,
  type Runner,
  type StreamOutput,
} from './command.js';
import { colorWanted, type Io, makeColors } from './io.js';
import { createProgress, type Progress, type ProgressTerminal } from './progress.js';

/** Every command, loaded on demand. Add a line here to add a command. */
const COMMANDS: Record<string, () => Promise<{ register: Register }>> = {
  info: () => import('./commands/info.js'),
  service: () => import('./commands/service.js'),
  resolve: () => import('./commands/resolve.js'),
  reverse: () => import('./commands/reverse.js'),
  sockopt: () => import('./commands/sockopt.js'),
  time: () => import('./commands/time.js'),
  ntp: () => import('./commands/ntp.js'),
  tcp: () => import('./commands/tcp.js'),
  udp: () => import('./commands/udp.js'),
  probe: () => import('./commands/probe.js'),
  relay: () => import('./commands/relay.js'),
  tls: () => import('./commands/tls.js'),
  demo: () => import('./commands/demo.js'),
};

function version(): string {
  // The bundle (dist/soket.cjs) sits one level below the package root; src/cli/main.ts two.
  const url = import.meta.url.endsWith('/dist/soket.cjs') ? '../package.json' : '../../package.json';
  const pkg = JSON.parse(readFileSync(new URL(url, import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

/**
 * The stable `code` of an error from soket, or undefined. Each command is bundled on its own (see
 * scripts/build-cli.mjs), so its error classes are not main's: errors are recognised by code, not by class.
 */
function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return err instanceof Error && typeof code === 'string' ? code : undefined;
}

/** Errors that are the user's fault exit 2; everything else that failed exits 1. */
function exitCodeFor(err: unknown): number {
  if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
  if (codeOf(err) === new ValidationError('').code) return EXIT.usage;
  return EXIT.failed;
}

function errorInfo(err: unknown): { code: string; message: string } {
  if (err instanceof CommanderError) {
    // Commander's messages are `error: ...`, sometimes with a second line of suggestions.
    const first = err.message.split('\n')[0] ?? err.message;
    return { code: 'SOKET_INVALID_ARGUMENT', message: first.replace(/^error: /, '') };
  }
  return {
    code: codeOf(err) ?? 'SOKET_INTERNAL',
    message: err instanceof Error ? err.message : String(err),
  };
}

/**
 * JSON for soket's values: bigints as decimal strings, bytes as base64, errors as `{code, message}`. (`this`
 * is the holder, so the replacer sees a Buffer before its own toJSON turned it into an array of numbers.)
 */
function replacer(this: Record<string, unknown>, key: string, value: unknown): unknown {
  const raw = this[key];
  if (typeof raw === 'bigint') return raw.toString();
  if (raw instanceof Uint8Array)
    return Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('base64');
  if (raw instanceof Error && typeof (raw as { toJSON?: unknown }).toJSON !== 'function') {
    return errorInfo(raw);
  }
  return value;
}

/** The process's stdout and stderr, with backpressure: a write waits for a full pipe to drain. */
class Terminal implements ProgressTerminal {
  readonly stderrIsTTY = Boolean(process.stderr.isTTY);
  readonly columns = process.stderr.columns || 80;
  readonly env = process.env;
  /** Stop waiting for a blocked stdout once the user interrupted (the last lines may then stay queued). */
  constructor(private readonly signal: AbortSignal) {}

  out(line: string): void {
    process.stdout.write(`${line}\n`);
  }

  err(line: string): void {
    process.stderr.write(`${line}\n`);
  }

  /** Write to stdout and wait while the pipe is full, unless interrupted. */
  async write(chunk: string | Uint8Array): Promise<void> {
    if (process.stdout.write(chunk) || this.signal.aborted) return;
    const ac = new AbortController();
    const onAbort = () => ac.abort();
    this.signal.addEventListener('abort', onAbort, { once: true });
    try {
      await once(process.stdout, 'drain', { signal: ac.signal });
    } catch {
      // interrupted: stop waiting
    } finally {
      this.signal.removeEventListener('abort', onAbort);
    }
  }
}

async function emit(term: Terminal, rendered: Rendered, bar: Progress | undefined): Promise<void> {
  if (rendered === undefined) return;
  if (typeof rendered === 'string' || rendered instanceof Uint8Array) {
    rendered = { out: rendered };
  }
  const { out, err } = rendered;
  if (err !== undefined) {
    if (bar) bar.err(err);
    else term.err(err);
  }
  if (out === undefined) return;
  if (typeof out === 'string') {
    if (bar) bar.out(out);
    else await term.write(`${out}\n`);
  } else if (out.length > 0) await term.write(out);
}

async function renderResult(
  term: Terminal,
  output: ResultOutput<unknown>,
  json: boolean,
  ctx: RenderContext,
): Promise<number> {
  if (json) {
    const doc = output.json ? output.json(output.value) : output.value;
    await term.write(`${JSON.stringify(doc, replacer, 2)}\n`);
  } else await emit(term, output.text(output.value, ctx), undefined);
  return output.exitCode;
}

async function renderStream(
  term: Terminal,
  output: StreamOutput<unknown>,
  json: boolean,
  ctx: RenderContext,
): Promise<number> {
  const progress = output.progress;
  const bar =
    !json && progress
      ? createProgress(term, {
          total: progress.total,
          label: progress.label,
          ...(progress.minTotal !== undefined ? { minTotal: progress.minTotal } : {}),
        })
      : undefined;
  try {
    for await (const event of output.events) {
      if (json) {
        const line = output.json ? output.json(event) : event;
        if (line !== undefined) await term.write(`${JSON.stringify(line, replacer)}\n`);
      } else await emit(term, output.text(event, ctx), bar);
      const ok = progress?.tick(event);
      if (bar && ok !== undefined) bar.tick(ok);
    }
  } finally {
    bar?.done();
  }
  return output.exitCode();
}

async function main(argv: string[]): Promise<number> {
  const args = argv.slice(2);
  const controller = new AbortController();
  // Every connection, lookup and timer of a command may listen on this signal; that is not a leak.
  setMaxListeners(0, controller.signal);
  let interrupts = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    interrupts++;
    interrupted = true;
    if (interrupts > 1) process.exit(EXIT.interrupted);
    controller.abort(new AbortError(`Interrupted by ${sig}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(EXIT.ok);
  });
  const term = new Terminal(controller.signal);

  const program = new Command('soket')
    .description(
      'A network toolkit: host info, DNS, services, socket options, TCP/UDP servers and clients, SNTP time',
    )
    .version(version(), '-V, --version', 'print the version')
    .option('--json', 'print JSON on stdout: one document for a result, one object per line for a stream')
    .option('-v, --verbose', 'print debug events on stderr')
    .option('--no-color', 'never use colours (also: NO_COLOR=1)')
    .helpOption('-h, --help', 'show help')
    .configureHelp({ showGlobalOptions: true, sortSubcommands: true })
    .exitOverride()
    .configureOutput({
      writeOut: (s) => process.stdout.write(s),
      writeErr: (s) => process.stderr.write(s),
      outputError: () => {
        // printed once, below, in soket's format
      },
    });

  // Commander has parsed the global options by the time an action runs; before that (a usage error while
  // parsing), fall back to the words before `--`.
  const early = args.slice(0, args.includes('--') ? args.indexOf('--') : undefined);
  const wants = (flag: string, short?: string): boolean => {
    const parsed = program.opts()[flag];
    if (typeof parsed === 'boolean') return parsed;
    return early.includes(`--${flag}`) || (short !== undefined && early.includes(short));
  };
  const io: Io = {
    get json() {
      return wants('json');
    },
    get verbose() {
      return wants('verbose', '-v');
    },
    // process.stdin is made on first access (several ms of stream setup): only commands that read it pay.
    get stdin() {
      return process.stdin;
    },
    get stdinIsTTY() {
      return Boolean(process.stdin.isTTY);
    },
    signal: controller.signal,
    env: process.env,
  };

  let output: CommandOutput | undefined;
  const run: Runner =
    (action) =>
    async (...actionArgs) => {
      output = await action(io, ...actionArgs);
    };

  program.addHelpText(
    'after',
    `
Exit codes: 0 success, 1 the operation failed (not found, timeout, refused, ...), 2 invalid usage or input.
With --json, a one-shot command prints one JSON document; a long-running one (a server, --watch, a batch, a
probe, the demo) prints one JSON object per line, each with an "event" field. Errors: {"error":{"code","message"}}.

Examples:
  $ soket demo
  $ soket info
  $ soket service http
  $ soket service 53/udp --json
  $ soket <command> --help`,
  );

  if (early.includes('-v') || early.includes('--verbose')) {
    const { onDebug } = await import('../core/debug.js');
    onDebug((e) =>
      term.err(oneLine(`[${e.topic}] ${e.message}${e.data ? ` ${JSON.stringify(e.data, replacer)}` : ''}`)),
    );
  }

  const first = args.find((a) => !a.startsWith('-'));
  const helpOrVersion = ['-h', '--help', '-V', '--version'].some((f) => early.includes(f));
  const wanted =
    first !== undefined && first in COMMANDS
      ? [first]
      : first === undefined && !early.includes('-h') && !early.includes('--help')
        ? []
        : Object.keys(COMMANDS);
  for (const name of wanted) {
    const load = COMMANDS[name];
    if (load) (await load()).register(program, run);
  }

  const json = () => io.json;
  const printError = (err: unknown, compact: boolean) => {
    // A worker process (tcp listen --workers) reports its errors to the primary, which prints them once.
    if (process.env.SOKET_WORKER === '1') return;
    const info = errorInfo(err);
    if (json()) process.stdout.write(`${JSON.stringify({ error: info }, null, compact ? undefined : 2)}\n`);
    else term.err(`soket: ${oneLine(info.message)}${err instanceof CommanderError ? ' (see --help)' : ''}`);
    if (codeOf(err) === undefined && !(err instanceof CommanderError) && io.verbose) {
      term.err(String((err as Error)?.stack ?? err));
    }
  };

  try {
    if (first === undefined && !helpOrVersion) {
      throw new ValidationError(
        `Give a command: ${Object.keys(COMMANDS).sort().join(', ')} (see soket --help)`,
      );
    }
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError && err.exitCode === 0) return EXIT.ok;
    printError(err, false);
    if (codeOf(err) === 'SOKET_ABORTED' && controller.signal.aborted) return EXIT.interrupted;
    return exitCodeFor(err);
  }
  if (output === undefined) return EXIT.ok;

  const ctx: RenderContext = {
    color: makeColors(
      Boolean(program.opts().color ?? true) && colorWanted(process.stdout.isTTY, process.env),
    ),
    verbose: io.verbose,
    columns: term.columns,
  };
  const out = output as CommandOutput;
  try {
    return out.kind === 'result'
      ? await renderResult(term, out as unknown as ResultOutput<unknown>, json(), ctx)
      : await renderStream(term, out as unknown as StreamOutput<unknown>, json(), ctx);
  } catch (err) {
    printError(err, out.kind === 'stream');
    if (codeOf(err) === 'SOKET_ABORTED' && controller.signal.aborted) return EXIT.interrupted;
    return exitCodeFor(err);
  }
}

/**
 * Exit once stdout and stderr have been flushed (a piped stdout would otherwise lose its tail). A stdout that
 * nobody reads is given a second after an interrupt, then left behind.
 */
function exitAfterFlush(code: number): void {
  let pending = 2;
  const done = () => {
    pending--;
    if (pending === 0) process.exit(code);
  };
  process.stdout.write('', done);
  process.stderr.write('', done);
  if (interrupted) setTimeout(() => process.exit(code), 1000).unref();
}

/** A signal asked the process to stop. */
let interrupted = false;

main(process.argv).then(exitAfterFlush, (err: unknown) => {
  process.stderr.write(`soket: internal error: ${oneLine(String((err as Error)?.message ?? err))}\n`);
  exitAfterFlush(EXIT.failed);
});
