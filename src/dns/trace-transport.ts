/**
 * One DNS query to one server for `trace` and DNSSEC validation: the shape the tracer asks in, and the default
 * transport, {@link dnsQuery} (UDP with EDNS, the reply matched on ID, source and question, TCP when
 * truncated). One try: asking again is the tracer's business (the next server, or another try of a resolver).
 * Tests put their own transport here (to check that every query stays on loopback, or to see the flags).
 *
 * @module
 */
import type { DnsMessage } from '../codec/dns.js';
import { dnsQuery } from './query.js';

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

/**
 * The default transport: one {@link dnsQuery} (UDP, TCP when the reply is truncated), one try.
 *
 * @example
 * ```ts
 * const reply = await queryOnce({ address: '127.0.0.1', port: 53, name: 'example.test.', type: 1,
 *   recursionDesired: false, dnssecOk: true, checkingDisabled: false, timeout: 1000 });
 * reply.message.rcode; // 'NOERROR'
 * ```
 */
export const queryOnce: TraceTransport = async (q) => {
  const options: Parameters<typeof dnsQuery>[1] = {
    server: { address: q.address, port: q.port },
    timeout: q.timeout,
    tries: 1,
    recursionDesired: q.recursionDesired,
    dnssecOk: q.dnssecOk,
    checkingDisabled: q.checkingDisabled,
  };
  if (q.signal) options.signal = q.signal;
  const r = await dnsQuery({ name: q.name, type: q.type }, options);
  return { message: r.message, bytes: r.size, transport: r.transport === 'tcp' ? 'tcp' : 'udp' };
};
