/**
 * Flags shared by the stream commands (`tcp connect`, `tcp listen`, `relay`, `tls`): TLS client and server
 * settings, allow/deny lists, hex dumps. Each `add*` declares the flags with commander; each `*FromFlags`
 * checks them (reading files) into the library's option objects. Files that cannot be read, PEM that does not
 * parse, a key that does not match its certificate, a malformed pin or CIDR: `ValidationError` (exit 2).
 *
 * @module
 */
import { createWriteStream, openSync, type WriteStream } from 'node:fs';
import type net from 'node:net';
import type { Command } from 'commander';
import { type AccessList, createAccessList } from '../core/cidr.js';
import { ValidationError } from '../core/errors.js';
import { HexDumper } from '../core/hexdump.js';
import { readInputFileSync } from '../core/input-file.js';
import {
  parseAlpn,
  readPemFile,
  TLS_DEFAULTS,
  type TlsClientOptions,
  type TlsServerOptions,
} from '../net/tls-config.js';

/** Flags of {@link addTlsClientFlags}. */
export interface TlsClientFlags {
  tls?: boolean;
  ca?: string;
  insecure?: boolean;
  servername?: string;
  alpn?: string;
  pin?: string;
  cert?: string;
  key?: string;
}

/**
 * Declare the TLS client flags.
 *
 * @param cmd - the command
 * @param withSwitch - also declare `--tls` (the relay uses `tls:` in the target instead)
 * @returns the command
 */
export function addTlsClientFlags(cmd: Command, withSwitch = true): Command {
  if (withSwitch) cmd.option('--tls', 'speak TLS on the connection (verifies against the system CAs)');
  return cmd
    .option('--ca <file>', 'TLS: trust the CAs in FILE (PEM) instead of the system ones')
    .option('--insecure', 'TLS: accept any certificate (the check is still run and reported); DANGEROUS')
    .option('--servername <name>', 'TLS: server name for SNI and the certificate check (default: the host)')
    .option('--alpn <list>', 'TLS: protocols to offer with ALPN, e.g. h2,http/1.1')
    .option('--pin <sha256:...>', 'TLS: accept exactly this certificate (sha256:BASE64 or sha256:HEX)')
    .option('--cert <file>', 'TLS: client certificate (PEM), for servers that ask for one')
    .option('--key <file>', "TLS: the client certificate's key (PEM)");
}

/** Whether any TLS client flag other than `--tls` was given. */
export function hasTlsClientFlags(f: TlsClientFlags): boolean {
  return [f.ca, f.insecure, f.servername, f.alpn, f.pin, f.cert, f.key].some((v) => v !== undefined);
}

/**
 * The TLS client settings from the flags (files read, pins checked).
 *
 * @param f - the flags
 * @returns options for `connectStream`/`connectTls`
 */
export function tlsClientFromFlags(f: TlsClientFlags): TlsClientOptions {
  const o: TlsClientOptions = {};
  if (f.ca !== undefined) o.ca = readPemFile(f.ca, '--ca');
  if (f.insecure) o.insecure = true;
  if (f.servername !== undefined) o.servername = f.servername;
  if (f.alpn !== undefined) o.alpn = parseAlpn(f.alpn);
  if (f.pin !== undefined) o.pin = f.pin;
  if (f.cert !== undefined) o.cert = readPemFile(f.cert, '--cert');
  if (f.key !== undefined) o.key = readPemFile(f.key, '--key');
  return o;
}

/** Flags of {@link addTlsServerFlags}. */
export interface TlsServerFlags {
  tls?: boolean;
  cert?: string;
  key?: string;
  alpn?: string;
  clientCa?: string;
  handshakeTimeout?: string;
}

/**
 * Declare the TLS server flags.
 *
 * @param cmd - the command
 * @returns the command
 */
export function addTlsServerFlags(cmd: Command): Command {
  return cmd
    .option(
      '--tls',
      'serve TLS (without --cert/--key: an ephemeral self-signed certificate, its pin printed)',
    )
    .option('--cert <file>', 'TLS: the server certificate (PEM, chain allowed)')
    .option('--key <file>', 'TLS: its private key (PEM)')
    .option('--alpn <list>', 'TLS: protocols offered with ALPN, most preferred first')
    .option('--client-ca <file>', 'TLS: require client certificates signed by the CAs in FILE (PEM)')
    .option(
      '--handshake-timeout <ms>',
      `TLS: drop clients that have not finished the handshake after MS (default ${TLS_DEFAULTS.handshakeTimeout})`,
    );
}

/**
 * The TLS server settings from the flags (files read; the key is checked against the certificate later, by
 * `prepareTlsServer`).
 *
 * @param f - the flags
 * @param parseMs - the duration parser for `--handshake-timeout`
 * @returns options for `prepareTlsServer`
 */
export function tlsServerFromFlags(
  f: TlsServerFlags,
  parseMs: (v: string, what: string) => number,
): TlsServerOptions {
  const o: TlsServerOptions = {};
  if (f.cert !== undefined) o.cert = readPemFile(f.cert, '--cert');
  if (f.key !== undefined) o.key = readPemFile(f.key, '--key');
  if (f.alpn !== undefined) o.alpn = parseAlpn(f.alpn);
  if (f.clientCa !== undefined) o.clientCa = readPemFile(f.clientCa, '--client-ca');
  if (f.handshakeTimeout !== undefined)
    o.handshakeTimeout = parseMs(f.handshakeTimeout, '--handshake-timeout');
  return o;
}

/** Whether a TLS server flag was given without `--tls`. */
export function tlsServerFlagWithoutTls(f: TlsServerFlags): string | undefined {
  if (f.tls) return undefined;
  const named: Array<[string, unknown]> = [
    ['--cert', f.cert],
    ['--key', f.key],
    ['--client-ca', f.clientCa],
    ['--handshake-timeout', f.handshakeTimeout],
  ];
  return named.find(([, v]) => v !== undefined)?.[0];
}

/** Flags of {@link addAccessFlags}. */
export interface AccessFlags {
  allow?: string[];
  deny?: string[];
  allowFile?: string[];
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/**
 * Declare `--allow`, `--deny` and `--allow-file` (each repeatable).
 *
 * @param cmd - the command
 * @returns the command
 */
export function addAccessFlags(cmd: Command): Command {
  return cmd
    .option('--allow <cidrs>', 'accept only peers in these networks (10.0.0.0/8,::1; repeatable)', collect)
    .option('--deny <cidrs>', 'refuse peers in these networks, checked before --allow (repeatable)', collect)
    .option(
      '--allow-file <file>',
      'read --allow networks from FILE (one or more per line, # comments)',
      collect,
    );
}

/** The largest --allow-file read (a rule per line: a megabyte is tens of thousands of rules). */
const ALLOW_FILE_MAX_BYTES = 4 * 1024 * 1024;

/**
 * The access list from the flags, or undefined when none was given.
 *
 * @param f - the flags
 * @returns the list
 * @throws {ValidationError} for a bad CIDR (naming the flag) or an unreadable file
 */
export function accessFromFlags(f: AccessFlags): AccessList | undefined {
  const allow = [...(f.allow ?? [])];
  for (const file of f.allowFile ?? []) {
    let text: string;
    try {
      text = readInputFileSync(file, { maxBytes: ALLOW_FILE_MAX_BYTES, what: '--allow-file' }).toString(
        'utf8',
      );
    } catch (err) {
      if (err instanceof ValidationError) throw err;
      throw new ValidationError(
        `Cannot read --allow-file ${file}: ${(err as NodeJS.ErrnoException).code ?? err}`,
      );
    }
    const items = text
      .split('\n')
      .map((l) => l.replace(/#.*/, '').trim())
      .filter(Boolean);
    if (items.length === 0) throw new ValidationError(`--allow-file ${file} lists no networks`);
    allow.push(...items);
  }
  if (allow.length === 0 && (f.deny ?? []).length === 0) return undefined;
  const list = createAccessList({ allow: allow.length ? allow : undefined, deny: f.deny });
  return list;
}

/** Flags of {@link addHexFlags}. */
export interface HexFlags {
  hex?: boolean;
  hexFile?: string;
}

/**
 * Declare `--hex` and `--hex-file`.
 *
 * @param cmd - the command
 * @returns the command
 */
export function addHexFlags(cmd: Command): Command {
  return cmd
    .option('--hex', 'dump both directions as hex (hexdump -C style, > sent, < received) on stderr')
    .option('--hex-file <file>', 'write the hex dump to FILE instead of stderr');
}

/** A hex dump: one dumper per connection, and where the lines go. */
export interface HexSink {
  /** The dump of one connection (offsets per connection and direction). */
  dumper(id: number): HexDumper;
  /** Forget a connection that ended. */
  forget(id: number): void;
  /** With `--hex-file`: writes lines to the file (the command's own file, not stdout/stderr). */
  file: ((lines: string[]) => void) | undefined;
  /** Close the file. */
  close(): void;
}

/**
 * Dump a connection's bytes as `ncat -x` does: what arrives (`<`) as it is read, what is written (`>`) as it
 * is handed to the socket — by a handler, a pipe, a program's output or `end(data)`.
 *
 * @param socket - the connection (the clear text side of TLS)
 * @param dumper - this connection's dumper (offsets per direction)
 * @param out - where the lines go
 */
export function tapHex(socket: net.Socket, dumper: HexDumper, out: (lines: string[]) => void): void {
  socket.on('data', (d: Buffer) => out(dumper.lines('in', d)));
  const dump = (chunk: unknown) => {
    if (chunk instanceof Uint8Array) out(dumper.lines('out', chunk));
    else if (typeof chunk === 'string') out(dumper.lines('out', Buffer.from(chunk)));
  };
  const write = socket.write.bind(socket) as (chunk: unknown, ...rest: unknown[]) => boolean;
  socket.write = ((chunk: unknown, ...rest: unknown[]) => {
    dump(chunk);
    return write(chunk, ...rest);
  }) as typeof socket.write;
  // Writable.end(data) writes without calling this.write.
  const end = socket.end.bind(socket) as (...args: unknown[]) => net.Socket;
  socket.end = ((...args: unknown[]) => {
    if (typeof args[0] !== 'function') dump(args[0]);
    return end(...args);
  }) as typeof socket.end;
}

/**
 * The hex dump from the flags, or undefined when neither flag was given.
 *
 * @param f - the flags
 * @returns the sink
 */
export function hexFromFlags(f: HexFlags): HexSink | undefined {
  if (!f.hex && f.hexFile === undefined) return undefined;
  const dumpers = new Map<number, HexDumper>();
  let out: WriteStream | undefined;
  if (f.hexFile !== undefined) {
    // Opened now, synchronously: a path that cannot be written is a usage error before anything listens (the
    // stream would only report it later, as an 'error' event, and the dump would be lost).
    let fd: number;
    try {
      fd = openSync(f.hexFile, 'a');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'no such directory' : code === 'EACCES' ? 'permission denied' : code;
      throw new ValidationError(`Cannot open --hex-file ${f.hexFile}: ${why ?? (err as Error).message}`);
    }
    out = createWriteStream('', { fd });
    out.on('error', () => {});
  }
  return {
    dumper(id) {
      let d = dumpers.get(id);
      if (!d) {
        d = new HexDumper();
        dumpers.set(id, d);
      }
      return d;
    },
    forget(id) {
      dumpers.delete(id);
    },
    file: out ? (lines) => out?.write(`${lines.join('\n')}\n`) : undefined,
    close() {
      out?.end();
    },
  };
}
