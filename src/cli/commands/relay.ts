// contract: v2 (a relay is a stream of events; main.ts renders them)
/**
 * `soket relay LISTEN TARGET`: port forwarding. Each client of LISTEN gets its own connection to TARGET.
 * Stream addresses on either side (`HOST:PORT`, `unix:/path`, `unix:@name`, `tls:HOST:PORT`); `tls:` on LISTEN
 * terminates TLS, on TARGET originates it.
 *
 * Events (stderr as text, NDJSON with `--json`): `listening`, `connect`, `disconnect` (one per connection:
 * bytes each way, duration, reason), `refuse`, `tls-error`, `hex` (with `--hex`), `stopped` (final stats).
 *
 * The address dispatch below is where other kinds of relay plug in: `udp:` addresses go to the datagram relay.
 *
 * @module
 */
import type { Command } from 'commander';
import { ValidationError } from '../../core/errors.js';
import { EventQueue } from '../../core/event-queue.js';
import { oneLine } from '../../core/text.js';
import { formatHostPort, parseDuration, parseInteger } from '../../core/validate.js';
import {
  RELAY_DEFAULTS,
  type RelayConnectInfo,
  type RelayOptions,
  RelayServer,
  type RelayStats,
  type RelaySummary,
} from '../../net/relay.js';
import {
  addressScheme,
  formatStreamAddress,
  parseStreamAddress,
  parseUnixPerm,
} from '../../net/stream-address.js';
import { prepareTlsServer } from '../../net/tls-config.js';
import { UDP_RELAY_DEFAULTS } from '../../net/udp-relay.js';
import { EXIT, examples, type Rendered, type Runner, stream } from '../command.js';
import { formatBytes, formatMs } from '../format.js';
import type { Io } from '../io.js';
import {
  type AccessFlags,
  accessFromFlags,
  addAccessFlags,
  addHexFlags,
  addTlsServerFlags,
  type HexFlags,
  hexFromFlags,
  type TlsServerFlags,
  tlsClientFromFlags,
  tlsServerFromFlags,
} from '../stream-flags.js';
import { udpRelayCommand } from '../udp-relay.js';

interface RelayFlags extends AccessFlags, HexFlags, TlsServerFlags, Record<string, unknown> {
  ca?: string;
  insecure?: boolean;
  servername?: string;
  pin?: string;
  targetCert?: string;
  targetKey?: string;
  maxConns?: string;
  idleTimeout?: string;
  connectTimeout?: string;
  closeTimeout?: string;
  sendProxy?: string;
  acceptProxy?: boolean;
  unixPerm?: string;
  backlog?: string;
  quiet?: boolean;
}

/** The events of `soket relay` (stream addresses). */
export type RelayEvent =
  | {
      event: 'listening';
      listen: string;
      target: string;
      tls?: { selfSigned: boolean; fingerprint256: string; pin: string; subject: string };
      warnings?: string[];
    }
  | ({ event: 'connect' } & RelayConnectInfo)
  | ({ event: 'disconnect' } & RelaySummary)
  | { event: 'refuse'; peer: string; why: 'max-conns' | 'denied'; rule?: string }
  | { event: 'tls-error'; peer: string; message: string }
  | { event: 'hex'; id: number; direction: 'up' | 'down'; lines: string[] }
  | ({ event: 'stopped' } & RelayStats);

function stoppedLine(s: RelayStats): string {
  const reasons = Object.entries(s.reasons)
    .map(([r, n]) => `${r} ${n}`)
    .join(', ');
  return `${s.accepted} connection${s.accepted === 1 ? '' : 's'} relayed (peak ${s.peak} open), ${s.refused} refused, ${s.denied} denied, ${s.targetFailures} target failure${s.targetFailures === 1 ? '' : 's'}${s.tlsErrors ? `, ${s.tlsErrors} TLS handshake failures` : ''}; up ${formatBytes(s.bytesUp)}, down ${formatBytes(s.bytesDown)}${reasons ? `; ${reasons}` : ''}`;
}

function renderer(quiet: boolean) {
  return (e: RelayEvent): Rendered => {
    switch (e.event) {
      case 'listening': {
        const lines = [`Relaying ${e.listen} → ${e.target}; Ctrl-C stops`];
        if (e.tls?.selfSigned) {
          lines.push(`TLS with an ephemeral self-signed certificate (${e.tls.subject})`);
          lines.push(`  SHA-256 fingerprint ${e.tls.fingerprint256}`);
          lines.push(`  clients can pin it: --pin ${e.tls.pin}`);
        } else if (e.tls) lines.push(`TLS certificate ${e.tls.subject}, SHA-256 ${e.tls.fingerprint256}`);
        for (const w of e.warnings ?? []) lines.push(`Warning: ${w}`);
        return { err: lines.join('\n') };
      }
      case 'connect':
        return quiet
          ? undefined
          : {
              err: `#${e.id} ${e.peer}${e.proxiedPeer ? ` (for ${e.proxiedPeer})` : ''} → ${e.target} connected in ${formatMs(e.connectMs)}`,
            };
      case 'disconnect': {
        const why = e.detail ? `${e.reason} (${oneLine(e.detail)})` : e.reason;
        return {
          err: `#${e.id} ${e.peer}${e.proxiedPeer ? ` (for ${e.proxiedPeer})` : ''} closed: ${why}; up ${formatBytes(e.bytesUp)}, down ${formatBytes(e.bytesDown)}, ${formatMs(e.durationMs)}`,
        };
      }
      case 'refuse':
        return quiet
          ? undefined
          : {
              err: `${e.peer} refused: ${e.why === 'denied' ? `denied (${e.rule ?? 'access list'})` : 'too many connections (--max-conns)'}`,
            };
      case 'tls-error':
        return quiet ? undefined : { err: `${e.peer} TLS handshake failed: ${oneLine(e.message)}` };
      case 'hex':
        return { err: e.lines.join('\n') };
      case 'stopped':
        return { err: `Stopped: ${stoppedLine(e)}` };
    }
  };
}

const ms = (v: string, what: string) => parseDuration(v, what, { allowZero: true });

async function streamRelay(io: Io, listenText: string, targetText: string, flags: RelayFlags) {
  const listen = parseStreamAddress(listenText, {
    defaultHost: '127.0.0.1',
    allowZero: true,
    what: 'listen address',
  });
  const target = parseStreamAddress(targetText, { what: 'target' });
  const listenTls = listen.tls || Boolean(flags.tls);
  if (!listenTls) {
    for (const [flag, v] of [
      ['--cert', flags.cert],
      ['--key', flags.key],
      ['--client-ca', flags.clientCa],
      ['--alpn', flags.alpn],
      ['--handshake-timeout', flags.handshakeTimeout],
    ] as const) {
      if (v !== undefined)
        throw new ValidationError(`Option ${flag} needs TLS on the listening side (--tls or tls:LISTEN)`);
    }
  }
  if (!target.tls) {
    for (const [flag, v] of [
      ['--ca', flags.ca],
      ['--insecure', flags.insecure],
      ['--servername', flags.servername],
      ['--pin', flags.pin],
      ['--target-cert', flags.targetCert],
      ['--target-key', flags.targetKey],
    ] as const) {
      if (v !== undefined) throw new ValidationError(`Option ${flag} needs a TLS target (tls:HOST:PORT)`);
    }
  }
  let sendProxy: 1 | 2 | undefined;
  if (flags.sendProxy !== undefined) {
    const v = flags.sendProxy.toLowerCase().replace(/^v/, '');
    if (v !== '1' && v !== '2')
      throw new ValidationError(`Invalid --send-proxy '${flags.sendProxy}': expected v1 or v2`);
    sendProxy = Number(v) as 1 | 2;
  }
  const options: RelayOptions = { listen: { ...listen, tls: listenTls }, target, signal: io.signal };
  if (listenTls) {
    options.listenTls = await prepareTlsServer({
      ...tlsServerFromFlags(flags, ms),
      selfSignedHosts: listen.kind === 'tcp' ? [listen.host] : [],
    });
  }
  if (target.tls) {
    const t = tlsClientFromFlags({
      ...(flags.ca !== undefined ? { ca: flags.ca } : {}),
      ...(flags.insecure ? { insecure: true } : {}),
      ...(flags.servername !== undefined ? { servername: flags.servername } : {}),
      ...(flags.pin !== undefined ? { pin: flags.pin } : {}),
      ...(flags.targetCert !== undefined ? { cert: flags.targetCert } : {}),
      ...(flags.targetKey !== undefined ? { key: flags.targetKey } : {}),
    });
    options.targetTls = t;
  }
  if (flags.maxConns !== undefined)
    options.maxConnections = parseInteger(flags.maxConns, '--max-conns', { min: 1 });
  if (flags.idleTimeout !== undefined) options.idleTimeout = ms(flags.idleTimeout, '--idle-timeout');
  if (flags.connectTimeout !== undefined)
    options.connectTimeout = ms(flags.connectTimeout, '--connect-timeout');
  if (flags.closeTimeout !== undefined) options.closeTimeout = ms(flags.closeTimeout, '--close-timeout');
  if (flags.backlog !== undefined)
    options.backlog = parseInteger(flags.backlog, '--backlog', { min: 1, max: 65535 });
  if (flags.unixPerm !== undefined) {
    if (listen.kind !== 'unix') throw new ValidationError('Option --unix-perm needs a unix: listen address');
    options.unixPerm = parseUnixPerm(flags.unixPerm, '--unix-perm');
  }
  if (sendProxy) options.sendProxy = sendProxy;
  if (flags.acceptProxy) options.acceptProxy = true;
  const access = accessFromFlags(flags);
  if (access) {
    if (listen.kind === 'unix')
      throw new ValidationError('Options --allow/--deny apply to TCP listeners, not unix:');
    options.access = access;
  }
  const queue = new EventQueue<RelayEvent>({ limit: 4096 });
  const hex = hexFromFlags(flags);
  if (hex) {
    options.onData = (id, direction, data) => {
      const lines = hex.dumper(id).lines(direction === 'up' ? 'in' : 'out', data);
      if (hex.file) hex.file(lines);
      else queue.push({ event: 'hex', id, direction, lines });
    };
  }
  const relay = new RelayServer(options);
  const address = await relay.listen();
  const listening: Extract<RelayEvent, { event: 'listening' }> = {
    event: 'listening',
    listen:
      address.family === 'unix'
        ? formatStreamAddress({
            kind: 'unix',
            path: address.path,
            abstract: address.abstract,
            tls: listenTls,
          })
        : `${listenTls ? 'tls:' : ''}${formatHostPort(address.address, address.port)}`,
    target: formatStreamAddress(target),
  };
  if (relay.tlsServer) {
    const c = relay.tlsServer.certificate;
    listening.tls = {
      selfSigned: relay.tlsServer.selfSigned,
      fingerprint256: c.fingerprint256,
      pin: c.pin,
      subject: c.subject,
    };
    if (relay.tlsServer.warnings.length) listening.warnings = relay.tlsServer.warnings;
  }
  queue.push(listening);
  // Per-connection events are offered: a flood of clients must not grow memory when stderr is slow.
  relay.on('connect', (c) => queue.offer({ event: 'connect', ...c }));
  relay.on('disconnect', (s) => {
    hex?.forget(s.id);
    queue.offer({ event: 'disconnect', ...s });
  });
  relay.on('refuse', (r) => queue.offer({ event: 'refuse', ...r }));
  relay.on('tls-error', (t) => queue.offer({ event: 'tls-error', ...t }));
  void relay.finished.then((stats) => {
    hex?.close();
    queue.push({ event: 'stopped', ...stats });
    queue.end();
  });
  return stream(queue, renderer(Boolean(flags.quiet)), { exitCode: () => EXIT.ok });
}

/** Relays by the kind of address. Add a kind here (the datagram relay takes `udp:`). */
const RELAYS: Record<
  string,
  (io: Io, listen: string, target: string, flags: RelayFlags) => Promise<ReturnType<typeof stream>>
> = {
  stream: streamRelay,
  udp: udpRelayCommand,
};

function kindOf(listen: string, target: string): string {
  const schemes = [addressScheme(listen), addressScheme(target)];
  const udp = schemes.map((s) => s.startsWith('udp'));
  if (udp[0] !== udp[1]) {
    throw new ValidationError(
      `Cannot relay between ${schemes[0]}: and ${schemes[1]}: (a datagram side needs a datagram side)`,
    );
  }
  return udp[0] ? 'udp' : 'stream';
}

export function register(program: Command, run: Runner): void {
  const cmd = program
    .command('relay')
    .description(
      'forward connections: each client of LISTEN gets its own connection to TARGET (TCP, Unix, TLS, or UDP: udp:)',
    )
    .argument(
      '<listen>',
      'PORT, HOST:PORT, [v6]:PORT, unix:/path, unix:@name, tls:HOST:PORT (TLS termination)',
    )
    .argument('<target>', 'HOST:PORT, [v6]:PORT, unix:/path, unix:@name, tls:HOST:PORT (TLS origination)')
    .option('--max-conns <n>', 'at most N clients at once; more get a clean close and count as refused')
    .option('--idle-timeout <ms>', 'close a connection after MS without data either way')
    .option(
      '--connect-timeout <ms>',
      `give up on the target after MS (default ${RELAY_DEFAULTS.connectTimeout})`,
    )
    .option(
      '--close-timeout <ms>',
      `on Ctrl-C, let connections finish for up to MS (default ${RELAY_DEFAULTS.closeTimeout})`,
    )
    .option(
      '--send-proxy <v1|v2>',
      "send a PROXY protocol header with the client's address to the target first",
    )
    .option(
      '--accept-proxy',
      'read a PROXY protocol header from each client first (only behind a trusted proxy)',
    )
    .option('--unix-perm <mode>', 'mode of a unix: listening socket, e.g. 0660')
    .option('--backlog <n>', 'length of the queue of connections not yet accepted')
    .option('--ca <file>', 'TLS target: trust the CAs in FILE (PEM) instead of the system ones')
    .option('--insecure', 'TLS target: accept any certificate; DANGEROUS')
    .option(
      '--servername <name>',
      'TLS target: SNI and the name the certificate must carry (default: the host)',
    )
    .option('--pin <sha256:...>', 'TLS target: accept exactly this certificate')
    .option('--target-cert <file>', 'TLS target: client certificate (PEM)')
    .option('--target-key <file>', 'TLS target: its key (PEM)')
    .option('-q, --quiet', 'log only connections that end, not each connect and refusal');
  addTlsServerFlags(cmd);
  addAccessFlags(cmd);
  addHexFlags(cmd)
    .addHelpText(
      'after',
      `
Half-close is relayed both ways (a client's FIN reaches the target, and the answer still comes back), and a
slow side slows the fast one: soket never buffers a connection without bound. Each connection ends with one
line: bytes up (client → target) and down, duration and why it ended. A target that refuses closes that
client cleanly; the relay keeps serving. Ctrl-C stops accepting, lets connections finish up to
--close-timeout, and prints the totals.
${examples([
  'soket relay 8080 127.0.0.1:80',
  'soket relay --tls --cert c.pem --key k.pem :8443 127.0.0.1:8080',
  'soket relay 127.0.0.1:8080 tls:192.0.2.10:443 --servername example.com',
  'soket relay unix:/tmp/app.sock 127.0.0.1:5432 --unix-perm 0660',
  'soket relay [::]:2525 127.0.0.1:25 --send-proxy v2 --allow 192.0.2.0/24',
  'soket relay udp:[::1]:5353 udp:127.0.0.1:53 --idle-timeout 30s',
])}
Datagrams: udp:LISTEN udp:TARGET gives each client (address and port) its own upstream socket, so replies
find their client; --idle-timeout expires idle clients (default ${UDP_RELAY_DEFAULTS.idleTimeout / 1000} s), --max-conns bounds the
client table (default ${UDP_RELAY_DEFAULTS.maxClients}; a new client evicts the one idle longest), --allow/--deny and --hex apply.`,
    )
    .action(
      run(async (io, listen: string, target: string, flags: RelayFlags) => {
        const kind = kindOf(listen, target);
        const relay = RELAYS[kind];
        if (!relay) throw new ValidationError(`soket relay does not relay ${kind} addresses yet`);
        return relay(io, listen, target, flags);
      }),
    );
}
