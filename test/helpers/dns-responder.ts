/**
 * A tiny DNS responder on a loopback UDP socket for the answers dnsmasq will not give on demand: every query
 * gets the same response code (SERVFAIL, NOTIMP, ...) with the question echoed, or no answer at all (to make
 * a client time out). It counts the queries it receives.
 */
import dgram from 'node:dgram';

/** Response codes (RFC 1035 §4.1.1). */
export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;

/** A running responder. */
export interface DnsResponder {
  server: string;
  port: number;
  /** Queries received so far. */
  queries(): number;
  close(): Promise<void>;
}

/**
 * Answer every query with `rcode` (QR=1, RA=1, the question section copied, no records), or never answer
 * when `rcode` is `'silent'`.
 */
export async function startDnsResponder(rcode: number | 'silent'): Promise<DnsResponder> {
  const socket = dgram.createSocket('udp4');
  let count = 0;
  socket.on('message', (msg, rinfo) => {
    count++;
    if (rcode === 'silent' || msg.length < 12) return;
    const reply = Buffer.from(msg);
    // Flags: QR=1, opcode and RD copied from the query, RA=1, the given RCODE.
    reply[2] = 0x80 | ((msg[2] ?? 0) & 0x79);
    reply[3] = 0x80 | (rcode & 0x0f);
    reply.writeUInt16BE(0, 6); // ANCOUNT
    reply.writeUInt16BE(0, 8); // NSCOUNT
    reply.writeUInt16BE(0, 10); // ARCOUNT (drops an EDNS OPT record from the copy's count)
    const end = questionEnd(msg);
    socket.send(reply.subarray(0, end), rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address();
  return {
    server: `127.0.0.1:${port}`,
    port,
    queries: () => count,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}

/** Offset just past the first question (name, type, class). */
function questionEnd(msg: Buffer): number {
  let i = 12;
  while (i < msg.length && (msg[i] ?? 0) !== 0) i += (msg[i] ?? 0) + 1;
  return Math.min(msg.length, i + 1 + 4);
}

/** What a {@link startSplitDnsResponder} does for one query type. */
export type SplitAnswer = string | number | 'silent';

/**
 * Answer by query type, for the cases where a server treats A and AAAA differently: an address string is
 * answered as one record (A: IPv4, AAAA: IPv6; TTL 60), a number is that RCODE with no records, `'silent'`
 * never answers, and a type not listed gets NOERROR with no records (NODATA).
 */
export async function startSplitDnsResponder(
  answers: Partial<Record<'A' | 'AAAA', SplitAnswer>>,
): Promise<DnsResponder> {
  const socket = dgram.createSocket('udp4');
  let count = 0;
  socket.on('message', (msg, rinfo) => {
    count++;
    if (msg.length < 12) return;
    const end = questionEnd(msg);
    const qtype = msg.length >= end ? msg.readUInt16BE(end - 4) : 0;
    const answer = qtype === 1 ? answers.A : qtype === 28 ? answers.AAAA : undefined;
    if (answer === 'silent') return;
    const head = Buffer.from(msg.subarray(0, end));
    head[2] = 0x80 | ((msg[2] ?? 0) & 0x79);
    head[3] = 0x80 | (typeof answer === 'number' ? answer & 0x0f : 0);
    head.writeUInt16BE(typeof answer === 'string' ? 1 : 0, 6);
    head.writeUInt16BE(0, 8);
    head.writeUInt16BE(0, 10);
    let rr = Buffer.alloc(0);
    if (typeof answer === 'string') {
      const rdata =
        qtype === 1 ? Buffer.from(answer.split('.').map(Number)) : Buffer.from(expandIPv6(answer), 'hex');
      rr = Buffer.alloc(12 + rdata.length);
      rr.writeUInt16BE(0xc00c, 0); // the name: a pointer to the question
      rr.writeUInt16BE(qtype, 2);
      rr.writeUInt16BE(1, 4); // class IN
      rr.writeUInt32BE(60, 6);
      rr.writeUInt16BE(rdata.length, 10);
      rdata.copy(rr, 12);
    }
    socket.send(Buffer.concat([head, rr]), rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address();
  return {
    server: `127.0.0.1:${port}`,
    port,
    queries: () => count,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}

/** An IPv6 address as 32 hex digits. */
function expandIPv6(address: string): string {
  const [head = '', tail = ''] = address.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = address.includes('::') ? [...h, ...new Array(8 - h.length - t.length).fill('0'), ...t] : h;
  return groups.map((g) => g.padStart(4, '0')).join('');
}
