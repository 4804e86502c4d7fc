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
