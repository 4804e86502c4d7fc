/**
 * One DNS query to one server for `trace` and DNSSEC validation: UDP with EDNS (DO when asked), a reply
 * accepted only when it comes from the server's address and port and carries the query's ID and question,
 * then TCP when the reply is truncated. One try: trying again is the tracer's business (the next server).
 *
 * @module
 */
import { randomInt } from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';
import { type DnsMessage, decodeDnsMessage, encodeDnsMessage } from '../codec/dns.js';
import { dnsTypeName } from '../codec/dns-types.js';
import { BadPacketError, NetworkError, toSoketError } from '../core/errors.js';
import { exchange } from '../core/exchange.js';
import { formatHostPort } from '../core/validate.js';

/** One query. */
export interface TraceQuery {
  /** The server's IP address. */
  address: string;
  /** The server's port. */
  port: number;
  /** The name asked, absolute. */
  name: string;
  /** The type asked (number). */
  type: number;
  /** RD: ask the server to recurse (a resolver); an iterative trace asks without. */
  recursionDesired: boolean;
  /** DO: ask for DNSSEC records. */
  dnssecOk: boolean;
  /** CD: ask a validating resolver not to validate (soket validates). */
  checkingDisabled: boolean;
  /** Milliseconds for this query (UDP and a TCP retry together). */
  timeout: number;
  /** Cancels the query. */
  signal?: AbortSignal | undefined;
}

/** A reply. */
export interface TraceReply {
  message: DnsMessage;
  /** Size of the reply on the wire. */
  bytes: number;
  transport: 'udp' | 'tcp';
}

/** Sends one query and returns the reply (or throws a soket error: timeout, refused, bad packet). */
export type TraceTransport = (query: TraceQuery) => Promise<TraceReply>;

function encodeQuery(q: TraceQuery, id: number): Uint8Array {
  return encodeDnsMessage({
    id,
    flags: { rd: q.recursionDesired, cd: q.checkingDisabled },
    question: [{ name: q.name, type: q.type }],
    edns: { udpSize: 1232, dnssecOk: q.dnssecOk },
  });
}

function matches(msg: DnsMessage, q: TraceQuery, id: number): boolean {
  const question = msg.question[0];
  return (
    msg.flags.qr &&
    msg.id === id &&
    msg.question.length === 1 &&
    question !== undefined &&
    question.name.toLowerCase() === q.name.toLowerCase() &&
    question.type === dnsTypeName(q.type)
  );
}

/**
 * The default transport: UDP, then TCP when the reply is truncated.
 *
 * @example
 * ```ts
 * const reply = await udpThenTcp({ address: '127.0.0.1', port: 53, name: 'example.test.', type: 1,
 *   recursionDesired: false, dnssecOk: true, checkingDisabled: false, timeout: 1000 });
 * reply.message.rcode; // 'NOERROR'
 * ```
 */
export const udpThenTcp: TraceTransport = async (q) => {
  const started = performance.now();
  const reply = await queryUdp(q);
  if (!reply.message.flags.tc) return reply;
  const left = Math.max(1, q.timeout - (performance.now() - started));
  return queryTcp({ ...q, timeout: left });
};

function queryUdp(q: TraceQuery): Promise<TraceReply> {
  const id = randomInt(0, 0x10000);
  const request = encodeQuery(q, id);
  const family = net.isIPv6(q.address) ? 'udp6' : 'udp4';
  const target = `${formatHostPort(q.address, q.port)} (${q.name} ${dnsTypeName(q.type)})`;
  const socket = dgram.createSocket(family);
  return exchange<TraceReply>({ target, tries: 1, timeout: q.timeout, signal: q.signal }, (ctl) => {
    socket.on('message', (data, rinfo) => {
      if (rinfo.address !== q.address || rinfo.port !== q.port) return;
      let msg: DnsMessage;
      try {
        msg = decodeDnsMessage(data);
      } catch {
        return; // not a DNS reply to us: keep waiting
      }
      if (matches(msg, q, id)) ctl.resolve({ message: msg, bytes: data.length, transport: 'udp' });
    });
    socket.on('error', (err) =>
      ctl.reject(toSoketError(err, `Cannot query ${formatHostPort(q.address, q.port)}`)),
    );
    return {
      send: () =>
        new Promise<void>((resolve, reject) => {
          socket.send(request, q.port, q.address, (err) =>
            err ? reject(toSoketError(err, `Cannot query ${formatHostPort(q.address, q.port)}`)) : resolve(),
          );
        }),
      cleanup: () => socket.close(),
    };
  });
}

function queryTcp(q: TraceQuery): Promise<TraceReply> {
  const id = randomInt(0, 0x10000);
  const request = encodeQuery(q, id);
  const where = formatHostPort(q.address, q.port);
  const target = `${where} over TCP (${q.name} ${dnsTypeName(q.type)})`;
  let socket: net.Socket | undefined;
  return exchange<TraceReply>({ target, tries: 1, timeout: q.timeout, signal: q.signal }, (ctl) => {
    let buffered = Buffer.alloc(0);
    return {
      send: () => {
        socket = net.connect({ host: q.address, port: q.port });
        socket.on('error', (err) => ctl.reject(toSoketError(err, `Cannot query ${where} over TCP`)));
        socket.on('connect', () => {
          const prefix = Buffer.alloc(2);
          prefix.writeUInt16BE(request.length);
          socket?.write(Buffer.concat([prefix, request]));
        });
        socket.on('data', (chunk: Buffer) => {
          buffered = Buffer.concat([buffered, chunk]);
          if (buffered.length < 2) return;
          const len = buffered.readUInt16BE(0);
          if (buffered.length < 2 + len) return;
          try {
            const msg = decodeDnsMessage(buffered.subarray(2, 2 + len));
            if (matches(msg, q, id)) ctl.resolve({ message: msg, bytes: len, transport: 'tcp' });
            else ctl.reject(new BadPacketError(`Reply from ${where} over TCP does not match the query`));
          } catch (err) {
            ctl.reject(err);
          }
        });
        socket.on('end', () =>
          ctl.reject(new NetworkError(`${where} closed the TCP connection without a reply`, 'ECONNRESET')),
        );
      },
      cleanup: () => socket?.destroy(),
    };
  });
}
