#!/usr/bin/env node
/**
 * The `soket` command. The only module that reads `process.argv`, writes to the process's stdout/stderr or
 * exits. Exit codes: 0 success, 1 the operation failed, 2 invalid usage or input, 130 interrupted.
 *
 * To start fast, only the command being run is loaded; `soket --help` loads them all.
 *
 * @module
 */
import { setMaxListeners } from 'node:events';
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { AbortError, ValidationError } from '../core/errors.js';
import { EXIT, type Register, type Runner } from './command.js';
import { colorWanted, type Io, makeColors } from './io.js';

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
    return { code: 'SOKET_INVALID_ARGUMENT', message: err.message.replace(/^error: /, '') };
  }
  return {
    code: codeOf(err) ?? 'SOKET_INTERNAL',
    message: err instanceof Error ? err.message : String(err),
  };
}

function oneLine(text: string): string {
  const line = text.split('\n').find((l) => l.trim().length > 0) ?? text;
  return line.trim();
}

async function main(argv: string[]): Promise<number> {
  const args = argv.slice(2);
  const json = args.includes('--json');
  const controller = new AbortController();
  // Every connection, lookup and timer of a command may listen on this signal; that is not a leak.
  setMaxListeners(0, controller.signal);
  let interrupts = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    interrupts++;
    if (interrupts > 1) process.exit(EXIT.interrupted);
    controller.abort(new AbortError(`Interrupted by ${sig}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(EXIT.ok);
  });

  const io: Io = {
    json,
    verbose: args.includes('-v') || args.includes('--verbose'),
    color: makeColors(!args.includes('--no-color') && colorWanted(process.stdout.isTTY, process.env)),
    out: (line) => {
      process.stdout.write(`${line}\n`);
    },
    err: (line) => {
      process.stderr.write(`${line}\n`);
    },
    printJson: (value) => {
      process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
    },
    stdout: process.stdout,
    stdin: process.stdin,
    stdinIsTTY: Boolean(process.stdin.isTTY),
    stderrIsTTY: Boolean(process.stderr.isTTY),
    columns: process.stderr.columns || 80,
    signal: controller.signal,
    env: process.env,
  };

  let exitCode: number = EXIT.ok;
  const run: Runner =
    (action) =>
    async (...actionArgs) => {
      const code = await action(io, ...actionArgs);
      exitCode = typeof code === 'number' ? code : EXIT.ok;
    };

  const program = new Command('soket')
    .description(
      'A network toolkit: host info, DNS, services, socket options, TCP/UDP servers and clients, SNTP time',
    )
    .version(version(), '-V, --version', 'print the version')
    .option('--json', 'print a machine-readable JSON result on stdout')
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

  program.addHelpText(
    'after',
    `
Exit codes: 0 success, 1 the operation failed (not found, timeout, refused, ...), 2 invalid usage or input.

Examples:
  $ soket demo
  $ soket info
  $ soket service http
  $ soket service 53/udp --json
  $ soket <command> --help`,
  );

  if (io.verbose) {
    const { onDebug } = await import('../core/debug.js');
    onDebug((e) => io.err(`[${e.topic}] ${e.message}${e.data ? ` ${JSON.stringify(e.data)}` : ''}`));
  }

  const first = args.find((a) => !a.startsWith('-'));
  const versionOnly = first === undefined && (args.includes('-V') || args.includes('--version'));
  const wanted =
    first !== undefined && first in COMMANDS ? [first] : versionOnly ? [] : Object.keys(COMMANDS);
  for (const name of wanted) {
    const load = COMMANDS[name];
    if (load) (await load()).register(program, run);
  }

  try {
    await program.parseAsync(argv);
    return exitCode;
  } catch (err) {
    if (err instanceof CommanderError && err.exitCode === 0) return EXIT.ok;
    const info = errorInfo(err);
    if (json) io.printJson({ error: info });
    else io.err(`soket: ${oneLine(info.message)}${err instanceof CommanderError ? ' (see --help)' : ''}`);
    if (codeOf(err) === 'SOKET_ABORTED' && controller.signal.aborted) return EXIT.interrupted;
    if (codeOf(err) === undefined && !(err instanceof CommanderError) && io.verbose) {
      io.err(String((err as Error)?.stack ?? err));
    }
    return exitCodeFor(err);
  }
}

/** Exit once stdout and stderr have been flushed (a piped stdout would otherwise lose its tail). */
function exitAfterFlush(code: number): void {
  let pending = 2;
  const done = () => {
    pending--;
    if (pending === 0) process.exit(code);
  };
  process.stdout.write('', done);
  process.stderr.write('', done);
}

main(process.argv).then(exitAfterFlush, (err: unknown) => {
  process.stderr.write(`soket: internal error: ${oneLine(String((err as Error)?.message ?? err))}\n`);
  exitAfterFlush(EXIT.failed);
});
