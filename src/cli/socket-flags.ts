/**
 * The socket option flags shared by `soket sockopt` and the TCP/UDP commands: one definition, one parser,
 * so every command spells and checks them the same way.
 *
 * | flag | option |
 * | --- | --- |
 * | `--sndbuf <bytes>` | `sendBufferSize` (SO_SNDBUF) |
 * | `--rcvbuf <bytes>` | `receiveBufferSize` (SO_RCVBUF) |
 * | `--nodelay` / `--no-nodelay` | `noDelay` (TCP_NODELAY) |
 * | `--keepalive` / `--no-keepalive` | `keepAlive` (SO_KEEPALIVE) |
 * | `--keepalive-idle <s>` | `keepAliveIdle` (TCP_KEEPIDLE) |
 * | `--keepalive-interval <s>` | `keepAliveInterval` (TCP_KEEPINTVL) |
 * | `--keepalive-count <n>` | `keepAliveCount` (TCP_KEEPCNT) |
 * | `--reuseaddr` | `reuseAddress` (SO_REUSEADDR) |
 * | `--reuseport` | `reusePort` (SO_REUSEPORT) |
 * | `--ttl <n>` | `ttl` (IP_TTL / IPV6_UNICAST_HOPS) |
 *
 * @module
 */
import type { Command } from 'commander';
import { ValidationError } from '../core/errors.js';
import { parseInteger } from '../core/validate.js';
import { type SocketOptions, validateSocketOptions } from '../net/sockopt.js';

/** Which socket the flags are for: TCP-only options (Nagle, keep-alive) are offered only for TCP. */
export type SocketFlagKind = 'tcp' | 'udp' | 'any';

const SEEN = Symbol('soket.socketFlagsSeen');

/**
 * Add the socket option flags to a command: the common ones, plus the TCP ones for `tcp` and `any`.
 * Contradicting flags (`--nodelay --no-nodelay`) are refused by {@link socketOptionsFromFlags}.
 *
 * @param cmd - a commander command
 * @param kind - `tcp`, `udp`, or `any` (every flag; the OS refuses what does not apply)
 * @returns the same command, for chaining
 * @example
 * ```ts
 * addSocketOptionFlags(program.command('tcp-connect'), 'tcp').action(run(async (io, opts) => {
 *   const socketOptions = socketOptionsFromFlags(opts);
 * }));
 * ```
 */
export function addSocketOptionFlags(cmd: Command, kind: SocketFlagKind): Command {
  cmd
    .option('--sndbuf <bytes>', 'SO_SNDBUF: send buffer size to ask for (Linux doubles it); k/m suffixes ok')
    .option(
      '--rcvbuf <bytes>',
      'SO_RCVBUF: receive buffer size to ask for (Linux doubles it); k/m suffixes ok',
    );
  if (kind !== 'udp') {
    cmd
      .option('--nodelay', 'TCP_NODELAY: send small writes at once (disable Nagle)')
      .option('--no-nodelay', 'clear TCP_NODELAY')
      .option('--keepalive', 'SO_KEEPALIVE: probe idle connections')
      .option('--no-keepalive', 'clear SO_KEEPALIVE')
      .option('--keepalive-idle <seconds>', 'TCP_KEEPIDLE: idle seconds before the first keep-alive probe')
      .option('--keepalive-interval <seconds>', 'TCP_KEEPINTVL: seconds between keep-alive probes')
      .option('--keepalive-count <n>', 'TCP_KEEPCNT: unanswered probes before the connection is dropped');
    // Remember which of a flag and its negation were given, to refuse both at once.
    const seen = new Set<string>();
    (cmd as unknown as Record<symbol, Set<string>>)[SEEN] = seen;
    for (const name of ['nodelay', 'no-nodelay', 'keepalive', 'no-keepalive']) {
      cmd.on(`option:${name}`, () => seen.add(name));
    }
    cmd.hook('preAction', () => checkFlagConflicts(cmd));
  }
  return cmd
    .option('--reuseaddr', 'SO_REUSEADDR')
    .option('--reuseport', 'SO_REUSEPORT')
    .option('--ttl <hops>', 'IP_TTL / IPV6_UNICAST_HOPS: hop limit of outgoing packets (1-255)');
}

/**
 * Refuse a flag given together with its negation (`--nodelay --no-nodelay`).
 *
 * @param cmd - the command the flags were added to
 * @throws {ValidationError} naming both flags
 * @example
 * ```ts
 * checkFlagConflicts(cmd);
 * ```
 */
export function checkFlagConflicts(cmd: Command): void {
  const seen = (cmd as unknown as Record<symbol, Set<string> | undefined>)[SEEN];
  if (!seen) return;
  for (const name of ['nodelay', 'keepalive']) {
    if (seen.has(name) && seen.has(`no-${name}`)) {
      throw new ValidationError(`Options --${name} and --no-${name} cannot be used together`);
    }
  }
}

const SIZE = /^(\d+)\s*([km])?$/i;
const MAX_BUFFER = 2_147_483_647;

function parseSize(value: unknown, flag: string): number {
  const text = String(value).trim();
  const m = SIZE.exec(text);
  const n = m ? Number(m[1]) * (m[2] ? (m[2].toLowerCase() === 'k' ? 1024 : 1024 * 1024) : 1) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 1 || n > MAX_BUFFER) {
    throw new ValidationError(
      `Invalid ${flag} '${String(value)}': expected a size in bytes from 1 to ${MAX_BUFFER} (k and m suffixes allowed)`,
    );
  }
  return n;
}

function flagText(value: unknown): string {
  return typeof value === 'string' ? value : String(value);
}

/**
 * Turn parsed flags into socket options, checking every value.
 *
 * @param opts - commander's parsed options (`cmd.opts()` or the action's options argument)
 * @returns the socket options the flags ask for; empty when none were given
 * @throws {ValidationError} for a bad value, e.g. `Invalid --sndbuf '-1': expected a size in bytes ...`
 * @example
 * ```ts
 * socketOptionsFromFlags({ sndbuf: '64k', nodelay: true }); // { sendBufferSize: 65536, noDelay: true }
 * ```
 */
export function socketOptionsFromFlags(opts: Record<string, unknown>): SocketOptions {
  const o: SocketOptions = {};
  if (opts.sndbuf !== undefined) o.sendBufferSize = parseSize(opts.sndbuf, '--sndbuf');
  if (opts.rcvbuf !== undefined) o.receiveBufferSize = parseSize(opts.rcvbuf, '--rcvbuf');
  if (typeof opts.nodelay === 'boolean') o.noDelay = opts.nodelay;
  if (typeof opts.keepalive === 'boolean') o.keepAlive = opts.keepalive;
  if (opts.keepaliveIdle !== undefined)
    o.keepAliveIdle = parseInteger(flagText(opts.keepaliveIdle), '--keepalive-idle', { min: 1, max: 32_767 });
  if (opts.keepaliveInterval !== undefined)
    o.keepAliveInterval = parseInteger(flagText(opts.keepaliveInterval), '--keepalive-interval', {
      min: 1,
      max: 32_767,
    });
  if (opts.keepaliveCount !== undefined)
    o.keepAliveCount = parseInteger(flagText(opts.keepaliveCount), '--keepalive-count', { min: 1, max: 127 });
  if (opts.reuseaddr === true) o.reuseAddress = true;
  if (opts.reuseport === true) o.reusePort = true;
  if (opts.ttl !== undefined) o.ttl = parseInteger(flagText(opts.ttl), '--ttl', { min: 1, max: 255 });
  return validateSocketOptions(o);
}

/**
 * Whether any socket option flag was given.
 *
 * @example
 * ```ts
 * hasSocketOptions(socketOptionsFromFlags(opts)); // false when no flag was given
 * ```
 */
export function hasSocketOptions(options: SocketOptions): boolean {
  return Object.values(options).some((v) => v !== undefined);
}
