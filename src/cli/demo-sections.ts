// contract: v2 (issue 10: sections return data and a text function; the CLI renders)
/**
 * The sections of `soket demo`: each shows one capability against soket's own servers on loopback, says in one
 * line what happens at the socket level, and returns a JSON-able result plus a function that turns it into the
 * lines to print (given the colours). Servers a
 * section starts are registered with `ctx.defer` and closed by the command when the demo ends or is
 * interrupted. Nothing here sends a packet beyond loopback.
 *
 * @module
 */
import { once } from 'node:events';
import net from 'node:net';
import { withTimeout } from '../core/deadline.js';
import { resolve } from '../dns/resolve.js';
import { reverse } from '../dns/reverse.js';
import { findServices } from '../dns/services.js';
import { hostInfo } from '../net/host-info.js';
import { probe } from '../net/probe.js';
import { createRelay } from '../net/relay.js';
import { getSocketOptions, setSocketOptions } from '../net/sockopt.js';
import { connectStream } from '../net/stream-connect.js';
import { connectTcp } from '../net/tcp-client.js';
import { replyHandler } from '../net/tcp-modes.js';
import { tcpRequest } from '../net/tcp-request.js';
import { createTcpServer } from '../net/tcp-server.js';
import { udpRequest } from '../net/udp-client.js';
import { createUdpServer, udpReplyHandler } from '../net/udp-server.js';
import { sntpQuery } from '../ntp/client.js';
import { NtsClient } from '../ntp/nts-client.js';
import { NtsCookieKeys } from '../ntp/nts-cookies.js';
import { createNtsKeServer } from '../ntp/nts-ke-server.js';
import { createSntpServer } from '../ntp/server.js';
import { ffiAvailable } from '../platform/ffi.js';
import { formatBytes, formatMs, table } from './format.js';
import type { Colors } from './io.js';

/** What a section gets. */
export interface DemoContext {
  /** Fires when the demo is interrupted. */
  signal: AbortSignal;
  /** Register a cleanup (server close) to run when the demo ends, even when interrupted. */
  defer(cleanup: () => unknown): void;
  /** Ports of the demo's own servers, for the probe section. */
  ports: { tcp?: number; closed?: number };
}

/** What a section returns. */
export interface SectionOutput {
  /** The machine-readable result (`--json`). */
  result: Record<string, unknown>;
  /** The text lines to print under the section heading. */
  lines: (color: Colors) => string[];
}

/** One section of the demo. */
export interface DemoSection {
  id: string;
  title: string;
  /** One line: what happens at the socket level. */
  socketLevel: string;
  run(ctx: DemoContext): Promise<SectionOutput>;
}

/** The reply the demo's TCP and UDP servers send, as in a classic course exercise. */
const REPLY = 'message received';
const HELLO = 'Hello, server!';
const CONCURRENT_CLIENTS = 100;

async function tcpExchange(
  port: number,
  message: string,
  signal: AbortSignal,
): Promise<{ reply: string; ms: number }> {
  const t0 = performance.now();
  const r = await tcpRequest({
    host: '127.0.0.1',
    port,
    message: `${message}\n`,
    connectTimeout: 2000,
    timeout: 5000,
    signal,
  });
  return { reply: r.data.toString('utf8').trim(), ms: performance.now() - t0 };
}

/** A free loopback port nobody listens on (bound, then released), for the probe's "closed" case. */
async function closedPort(): Promise<number> {
  const s = net.createServer().listen(0, '127.0.0.1');
  await once(s, 'listening'); // rejects on 'error' (EMFILE), never an unhandled event
  const { port } = s.address() as net.AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

/** Every section, in order. */
export const DEMO_SECTIONS: readonly DemoSection[] = [
  {
    id: 'host',
    title: 'Host information',
    socketLevel:
      'gethostname(), getaddrinfo() on it, and connect() on a UDP socket so the kernel picks the source address (no packet is sent)',
    async run(ctx) {
      const info = await hostInfo({ signal: ctx.signal });
      const p4 = info.primary.ipv4;
      const p6 = info.primary.ipv6;
      const result = {
        hostname: info.hostname,
        fqdn: info.fqdn,
        resolvesTo: info.resolved.addresses,
        primaryIPv4: p4.address,
        primaryIPv6: p6.address,
        interfaces: info.interfaces.length,
        warnings: info.warnings,
      };
      const lines = (_c: Colors) => [
        table([
          ['host name', info.hostname],
          ['FQDN', info.fqdn],
          [
            'resolves to',
            info.resolved.addresses.join(', ') + (info.resolved.loopback ? '  (loopback!)' : ''),
          ],
          ['primary IPv4', p4.address ?? `unavailable: ${p4.unavailable}`],
          ['primary IPv6', p6.address ?? `unavailable: ${p6.unavailable}`],
          [
            'interfaces',
            `${info.interfaces.length} addresses on ${new Set(info.interfaces.map((i) => i.name)).size} interfaces`,
          ],
        ]),
      ];
      const text = (c: Colors) => [
        ...lines(c),
        ...(info.resolved.loopback
          ? [
              c.yellow(
                'gethostbyname(gethostname()) gives a loopback address here; the primary address is the real one',
              ),
            ]
          : []),
      ];
      return { result, lines: text };
    },
  },
  {
    id: 'dns',
    title: 'Name resolution',
    socketLevel:
      'getaddrinfo("localhost") reads /etc/hosts (then DNS); getnameinfo(127.0.0.1) maps the address back',
    async run(ctx) {
      const fwd = await resolve('localhost', { timeout: 3000, signal: ctx.signal });
      const rev = await reverse('127.0.0.1', { timeout: 3000, signal: ctx.signal });
      const addresses = fwd.records.map((r) => r.data);
      return {
        result: {
          forward: { name: 'localhost', addresses, elapsedMs: fwd.elapsedMs },
          reverse: { address: '127.0.0.1', names: rev.names, elapsedMs: rev.elapsedMs },
        },
        lines: (c: Colors) => [
          table([
            ['localhost →', `${addresses.join(', ')}  ${c.dim(formatMs(fwd.elapsedMs))}`],
            ['127.0.0.1 →', `${rev.names.join(', ')}  ${c.dim(formatMs(rev.elapsedMs))}`],
          ]),
        ],
      };
    },
  },
  {
    id: 'services',
    title: 'Services',
    socketLevel:
      'getservbyport()/getservbyname(): the /etc/services database (an embedded copy where it is missing)',
    async run() {
      const found = ['80/tcp', '25/tcp', '53/udp'].map((q) => ({ query: q, entry: findServices(q)[0] }));
      const source = found[0]?.entry?.source ?? 'unknown';
      return {
        result: {
          source,
          services: found.map(({ query, entry }) => ({
            query,
            name: entry?.name,
            port: entry?.port,
            protocol: entry?.protocol,
            aliases: entry?.aliases,
          })),
        },
        lines: (_c: Colors) => [
          table(
            found.map(({ query, entry }) => [
              query,
              '→',
              entry?.name ?? '?',
              entry?.aliases.length ? aliasText(entry.aliases) : '',
            ]),
          ),
          `source: ${source}`,
        ],
      };
    },
  },
  {
    id: 'sockopt',
    title: 'Socket options and timeouts',
    socketLevel:
      "getsockopt()/setsockopt() on the socket's file descriptor: SO_SNDBUF before and after setting 4096 bytes",
    async run(ctx) {
      const server = net.createServer((s) => s.resume()).listen(0, '127.0.0.1');
      await once(server, 'listening'); // rejects on 'error' (EMFILE), never an unhandled event
      ctx.defer(() => new Promise((r) => server.close(r)));
      const { socket } = await connectTcp({
        host: '127.0.0.1',
        port: (server.address() as net.AddressInfo).port,
        connectTimeout: 2000,
        signal: ctx.signal,
      });
      ctx.defer(() => {
        socket.destroy();
      });
      const defaultTimeout = socket.timeout ?? null;
      const ffi = ffiAvailable();
      if (!ffi.ok) {
        return {
          result: { defaultTimeoutMs: defaultTimeout, sendBuffer: null, unavailable: ffi.reason },
          lines: (c: Colors) => [
            `default timeout of a fresh socket: ${defaultTimeout ?? 'none'} (it waits forever unless told)`,
            c.yellow(`socket options unavailable: ${ffi.reason}`),
          ],
        };
      }
      const before = getSocketOptions(socket);
      const after = setSocketOptions(socket, { sendBufferSize: 4096 });
      socket.destroy();
      return {
        result: {
          defaultTimeoutMs: defaultTimeout,
          sendBuffer: { before: before.sendBufferSize, requested: 4096, after: after.sendBufferSize },
          receiveBuffer: before.receiveBufferSize,
          noDelay: before.noDelay,
        },
        lines: (_c: Colors) => [
          `default timeout of a fresh socket: ${defaultTimeout ?? 'none'} (it waits forever unless told; soket's calls take a timeout)`,
          `SO_SNDBUF before: ${before.sendBufferSize} bytes (${formatBytes(before.sendBufferSize)}; TCP sizes it automatically until you set it)`,
          `SO_SNDBUF after setting 4096: ${after.sendBufferSize} bytes${after.sendBufferSize === 8192 ? ' (Linux doubles what you set, for its bookkeeping)' : ''}`,
        ],
      };
    },
  },
  {
    id: 'tcp',
    title: 'TCP server and clients',
    socketLevel:
      'socket(), bind(), listen(), accept() on one side; connect(), send(), recv() on the other; FIN closes each direction',
    async run(ctx) {
      const server = await createTcpServer(
        { host: '127.0.0.1', port: 0, signal: ctx.signal },
        replyHandler({ text: REPLY }),
      );
      ctx.defer(() => server.close());
      const one = await tcpExchange(server.address.port, HELLO, ctx.signal);
      // All clients connect first and only then send, so the server really holds them at the same time. Each
      // client is registered for cleanup as it connects: if one fails (EMFILE under a low `ulimit -n`), the
      // others are closed with the section instead of holding descriptors the next sections need.
      const t0 = performance.now();
      const connected = await Promise.allSettled(
        Array.from({ length: CONCURRENT_CLIENTS }, () =>
          connectTcp({
            host: '127.0.0.1',
            port: server.address.port,
            connectTimeout: 2000,
            timeout: 5000,
            signal: ctx.signal,
          }).then((c) => {
            ctx.defer(() => c.socket.destroy());
            return c;
          }),
        ),
      );
      const refused = connected.find((r) => r.status === 'rejected');
      if (refused) throw refused.reason;
      const clients = connected.map(
        (r) => (r as PromiseFulfilledResult<Awaited<ReturnType<typeof connectTcp>>>).value,
      );
      // The kernel completes handshakes before the server's accept() runs: wait until it has accepted all.
      await withTimeout(
        async (signal) => {
          while (server.stats().active < CONCURRENT_CLIENTS) await once(server, 'connect', { signal });
        },
        { timeout: 5000, signal: ctx.signal },
        { phase: 'response', target: `the demo TCP server accepting ${CONCURRENT_CLIENTS} clients` },
      );
      const held = server.stats().active;
      const replies = await Promise.all(
        clients.map(async ({ socket }, i) => {
          socket.end(`client ${i}\n`);
          const chunks: Buffer[] = [];
          for await (const chunk of socket) chunks.push(chunk as Buffer);
          socket.destroy();
          return Buffer.concat(chunks).toString('utf8').trim();
        }),
      );
      const ok = replies.filter((r) => r === REPLY).length;
      const ms = performance.now() - t0;
      const stats = server.stats();
      // only a server that worked is offered to the probe section
      ctx.ports.tcp = server.address.port;
      return {
        result: {
          port: server.address.port,
          mode: 'reply',
          first: { sent: HELLO, reply: one.reply, ms: one.ms },
          concurrent: { clients: CONCURRENT_CLIENTS, held, ok, ms },
          accepted: stats.accepted,
        },
        lines: (_c: Colors) => [
          `server on 127.0.0.1:${server.address.port} in reply mode`,
          `one client sent "${HELLO}", got "${one.reply}" in ${formatMs(one.ms)}`,
          `${CONCURRENT_CLIENTS} clients connected at once (${held} held by the server), then all sent: ${ok}/${CONCURRENT_CLIENTS} correct replies in ${formatMs(ms)}`,
        ],
      };
    },
  },
  {
    id: 'udp',
    title: 'UDP server and client',
    socketLevel:
      "sendto() one datagram and recvfrom() the reply; no connection, each reply goes to the sender's own address",
    async run(ctx) {
      const server = await createUdpServer(
        { host: '127.0.0.1', port: 0, signal: ctx.signal },
        udpReplyHandler(REPLY),
      );
      ctx.defer(() => server.close());
      const reply = await udpRequest({
        host: '127.0.0.1',
        port: server.address.port,
        message: HELLO,
        timeout: 2000,
        signal: ctx.signal,
      });
      const text = reply.data.toString('utf8');
      return {
        result: {
          port: server.address.port,
          sent: HELLO,
          reply: text,
          from: reply.from,
          rttMs: reply.rttMs,
          truncated: reply.truncated,
        },
        lines: (_c: Colors) => [
          `server on 127.0.0.1:${server.address.port}`,
          `sent "${HELLO}" from port ${reply.local.port}, got "${text}" from ${reply.from.address}:${reply.from.port} in ${formatMs(reply.rttMs)}`,
        ],
      };
    },
  },
  {
    id: 'ntp',
    title: 'SNTP time',
    socketLevel:
      'a 48-byte NTP request over UDP; the server copies our transmit time into its origin field, and four timestamps give offset and delay',
    async run(ctx) {
      // This demo server declares itself synchronised (leap 0): a machine without NTP would otherwise make it
      // announce "unsynchronised" (leap 3), which soket's client rightly refuses.
      const server = await createSntpServer({
        host: '127.0.0.1',
        port: 0,
        leap: 0,
        stratum: 2,
        signal: ctx.signal,
      });
      ctx.defer(() => server.close());
      const r = await sntpQuery('127.0.0.1', {
        port: server.address.port,
        timeout: 2000,
        signal: ctx.signal,
      });
      return {
        result: {
          port: server.address.port,
          offsetMs: r.offset * 1000,
          delayMs: r.delay * 1000,
          stratum: r.stratum,
          referenceId: r.referenceIdText,
          leap: r.leapText,
        },
        lines: (_c: Colors) => [
          `server on 127.0.0.1:${server.address.port}, stratum 2`,
          `offset ${formatMs(r.offset * 1000)}, delay ${formatMs(r.delay * 1000)}, stratum ${r.stratum}, reference ${r.referenceIdText}, leap ${r.leapText}`,
        ],
      };
    },
  },
  {
    id: 'tls',
    title: 'TLS relay',
    socketLevel:
      "a relay accepts TLS and forwards the plain bytes to the TCP server above; the client trusts the relay's self-signed certificate by its pin",
    async run(ctx) {
      let target = ctx.ports.tcp;
      if (target === undefined) {
        // run alone (`--only tls`): a reply server of its own behind the relay
        const server = await createTcpServer(
          { host: '127.0.0.1', port: 0, signal: ctx.signal },
          replyHandler({ text: REPLY }),
        );
        ctx.defer(() => server.close());
        target = server.address.port;
      }
      const relay = await createRelay({
        listen: 'tls:127.0.0.1:0',
        target: `127.0.0.1:${target}`,
        signal: ctx.signal,
      });
      ctx.defer(() => relay.close());
      const pin = relay.tlsServer?.certificate.pin ?? '';
      const { port } = relay.address as { port: number };
      const t0 = performance.now();
      const conn = await connectStream(`tls:127.0.0.1:${port}`, {
        tlsOptions: { pin },
        connectTimeout: 2000,
        timeout: 5000,
        signal: ctx.signal,
      });
      ctx.defer(() => conn.socket.destroy());
      conn.socket.end(`${HELLO}\n`);
      const chunks: Buffer[] = [];
      for await (const chunk of conn.socket) chunks.push(chunk as Buffer);
      const reply = Buffer.concat(chunks).toString('utf8').trim();
      const ms = performance.now() - t0;
      const tls = conn.tls;
      return {
        result: {
          relay: port,
          target,
          protocol: tls?.protocol,
          cipher: tls?.cipher,
          accepted: tls?.accepted,
          pin,
          sent: HELLO,
          reply,
          ms,
        },
        lines: (_c: Colors) => [
          `relay tls:127.0.0.1:${port} → 127.0.0.1:${target}, self-signed certificate ${pin.slice(0, 19)}…`,
          `${tls?.protocol} ${tls?.cipher}, certificate ${tls?.accepted}; sent "${HELLO}", got "${reply}" in ${formatMs(ms)}`,
        ],
      };
    },
  },
  {
    id: 'nts',
    title: 'Authenticated time (NTS)',
    socketLevel:
      'NTS-KE over TLS 1.3 hands the client keys and cookies; each NTP request then carries a cookie and an AES-SIV authenticator the server checks',
    async run(ctx) {
      const cookieKeys = new NtsCookieKeys();
      const ntp = await createSntpServer({
        host: '127.0.0.1',
        port: 0,
        leap: 0,
        stratum: 2,
        nts: cookieKeys,
        signal: ctx.signal,
      });
      ctx.defer(() => ntp.close());
      const ke = await createNtsKeServer({
        host: '127.0.0.1',
        port: 0,
        cookieKeys,
        ntpPort: ntp.address.port,
        signal: ctx.signal,
      });
      ctx.defer(() => ke.close());
      const nts = new NtsClient(`127.0.0.1:${ke.address.port}`, { pin: ke.certificate.pin });
      const first = await sntpQuery(nts.keServer, { nts, timeout: 3000, signal: ctx.signal });
      const second = await sntpQuery(nts.keServer, { nts, timeout: 3000, signal: ctx.signal });
      return {
        result: {
          keServer: ke.address.port,
          ntpServer: ntp.address.port,
          authenticated: second.authenticated,
          keyExchanged: [first.nts?.keyExchanged, second.nts?.keyExchanged],
          offsetMs: second.offset * 1000,
          delayMs: second.delay * 1000,
          auth: ntp.stats().auth,
        },
        lines: (_c: Colors) => [
          `NTS-KE on 127.0.0.1:${ke.address.port}, NTP on 127.0.0.1:${ntp.address.port}`,
          `1st query: key exchange, then NTP; 2nd: a cookie from the 1st reply, no key exchange`,
          `authenticated (${second.authenticated}): offset ${formatMs(second.offset * 1000)}, delay ${formatMs(second.delay * 1000)}; server verified ${ntp.stats().auth?.nts ?? 0} requests`,
        ],
      };
    },
  },
  {
    id: 'probe',
    title: 'Port probe',
    socketLevel:
      'connect() to each port: a completed handshake is open, a reset (connection refused) is closed',
    async run(ctx) {
      const open = ctx.ports.tcp;
      const closed = await closedPort();
      const ports = open === undefined ? [closed] : [open, closed];
      const results = await probe('127.0.0.1', ports, { timeout: 1000, signal: ctx.signal });
      return {
        result: {
          host: '127.0.0.1',
          results: results.map((r) => ({ port: r.port, state: r.state, connectMs: r.connectMs })),
        },
        lines: (c: Colors) => [
          table(
            results.map((r) => [
              String(r.port),
              r.state === 'open' ? c.green('open') : c.dim(r.state),
              r.port === open ? "(the demo's TCP server)" : '(nobody listens)',
              r.connectMs === null ? '' : formatMs(r.connectMs),
            ]),
          ),
        ],
      };
    },
  },
];

function aliasText(aliases: string[]): string {
  return `aliases: ${aliases.join(' ')}`;
}
