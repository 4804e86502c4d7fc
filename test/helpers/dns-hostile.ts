/**
 * A DNS server that misbehaves on purpose, on loopback UDP and TCP (the same port), for the answers no real
 * server gives on demand: a wrong ID, a wrong question, a message cut short, a compression loop, a pointer past
 * the end, a 64 KiB TCP answer, silence, a reply from another port, a truncated UDP answer (TC) with the full
 * answer over TCP, a TCP connection closed mid-message. Each query is answered according to `mode`; a correct
 * answer is `www.example.test. 300 A 192.0.2.1` (plus the question echoed). Queries are counted.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { type DnsMessageInit, decodeDnsMessage, encodeDnsMessage } from '../../src/codec/dns.js';

/** How the server misbehaves. */
export type HostileMode =
  | 'ok'
  | 'silent'
  | 'wrong-id'
  | 'wrong-id-then-ok'
  | 'wrong-question'
  | 'wrong-question-then-ok'
  | 'other-port'
  | 'other-port-then-ok'
  | 'cut-short'
  | 'compression-loop'
  | 'pointer-past-end'
  | 'tc-then-tcp'
  | 'tc-cut-then-tcp'
  | 'big-tcp'
  | 'tcp-close'
  | 'tcp-partial'
  | 'not-a-response'
  | 'formerr-no-question';

/** A running hostile server. */
export interface HostileServer {
  port: number;
  server: string;
  /** Queries received, UDP and TCP. */
  udpQueries(): number;
  tcpQueries(): number;
  /** TCP connections accepted. */
  tcpConnections(): number;
  /** The message IDs of the queries received, in order. */
  ids(): number[];
  close(): Promise<void>;
}

/** The one answer every well-formed reply carries. */
export const HOSTILE_ANSWER = { name: 'www.example.test.', address: '192.0.2.1', ttl: 300 } as const;

function answerTo(query: Uint8Array, extra: Partial<DnsMessageInit> = {}): Uint8Array {
  const q = decodeDnsMessage(query);
  const question = q.question[0];
  return encodeDnsMessage({
    id: q.id,
    flags: { qr: true, aa: true, rd: q.flags.rd },
    question: q.question,
    answer: question
      ? [
          {
            name: question.name,
            type: 'A',
            ttl: HOSTILE_ANSWER.ttl,
            data: { format: 'a', address: HOSTILE_ANSWER.address },
          },
        ]
      : [],
    ...extra,
  });
}

/** A reply of about 64,500 bytes: 240 TXT records of one 255-byte string each. */
function bigAnswer(query: Uint8Array): Uint8Array {
  const q = decodeDnsMessage(query);
  const name = q.question[0]?.name ?? '.';
  const answer = Array.from({ length: 240 }, (_, i) => ({
    name,
    type: 'TXT',
    ttl: 60,
    data: { format: 'txt' as const, strings: [`${String(i).padStart(3, '0')}${'y'.repeat(252)}`] },
  }));
  return encodeDnsMessage({ id: q.id, flags: { qr: true, aa: true }, question: q.question, answer });
}

/** Start the server on 127.0.0.1 (a port free for UDP and TCP). */
export async function startHostileServer(mode: HostileMode): Promise<HostileServer> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await start(mode);
    } catch (err) {
      if (attempt >= 5 || (err as { code?: string }).code !== 'EADDRINUSE') throw err;
    }
  }
}

async function start(mode: HostileMode): Promise<HostileServer> {
  const udp = dgram.createSocket('udp4');
  const other = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));
  await new Promise<void>((resolve) => other.bind(0, '127.0.0.1', resolve));
  const port = udp.address().port;
  let udpCount = 0;
  let tcpCount = 0;
  let connections = 0;
  const ids: number[] = [];
  udp.on('message', (msg, rinfo) => {
    udpCount++;
    if (msg.length >= 2) ids.push(msg.readUInt16BE(0));
    const send = (b: Uint8Array, from = udp) => from.send(b, rinfo.port, rinfo.address);
    const reply = () => answerTo(msg);
    switch (mode) {
      case 'silent':
        return;
      case 'ok':
        return send(reply());
      case 'wrong-id':
      case 'wrong-id-then-ok': {
        const r = reply();
        const bad = Buffer.from(r);
        bad.writeUInt16BE((bad.readUInt16BE(0) + 1) & 0xffff, 0);
        send(bad);
        if (mode === 'wrong-id-then-ok') send(r);
        return;
      }
      case 'wrong-question':
      case 'wrong-question-then-ok': {
        const q = decodeDnsMessage(msg);
        send(
          encodeDnsMessage({
            id: q.id,
            flags: { qr: true },
            question: [{ name: 'other.example.test', type: 'A' }],
            answer: [
              {
                name: 'other.example.test',
                type: 'A',
                ttl: 1,
                data: { format: 'a', address: '203.0.113.66' },
              },
            ],
          }),
        );
        if (mode === 'wrong-question-then-ok') send(reply());
        return;
      }
      case 'other-port':
      case 'other-port-then-ok':
        send(reply(), other);
        if (mode === 'other-port-then-ok') send(reply());
        return;
      case 'cut-short': {
        const r = reply();
        return send(r.subarray(0, r.length - 3));
      }
      case 'compression-loop':
      case 'pointer-past-end': {
        // The answer's owner name (compressed to a pointer to the question's name) becomes a pointer to
        // itself, or to the last offset a pointer can hold.
        const r = Buffer.from(reply());
        const ownerAt = encodeDnsMessage({ question: decodeDnsMessage(msg).question }).length;
        const target = mode === 'compression-loop' ? ownerAt : 0x3fff;
        r[ownerAt] = 0xc0 | (target >> 8);
        r[ownerAt + 1] = target & 0xff;
        return send(r);
      }
      case 'tc-then-tcp':
      case 'tc-cut-then-tcp': {
        const q = decodeDnsMessage(msg);
        const tc = encodeDnsMessage({ id: q.id, flags: { qr: true, tc: true }, question: q.question });
        if (mode === 'tc-then-tcp') return send(tc);
        // Cut in the middle of a record with TC set, as some old servers truncate at 512 bytes.
        const full = Buffer.from(answerTo(msg));
        full[2] = (full[2] as number) | 0x02;
        return send(full.subarray(0, full.length - 5));
      }
      case 'big-tcp':
      case 'tcp-close':
      case 'tcp-partial': {
        const q = decodeDnsMessage(msg);
        return send(encodeDnsMessage({ id: q.id, flags: { qr: true, tc: true }, question: q.question }));
      }
      case 'not-a-response': {
        const r = Buffer.from(reply());
        r[2] = (r[2] as number) & 0x7f;
        return send(r);
      }
      case 'formerr-no-question': {
        const q = decodeDnsMessage(msg);
        return send(encodeDnsMessage({ id: q.id, flags: { qr: true }, rcode: 'FORMERR' }));
      }
    }
  });
  const tcp = net.createServer((sock) => {
    connections++;
    let buf = Buffer.alloc(0);
    sock.on('error', () => undefined);
    sock.on('data', (b: Buffer) => {
      buf = Buffer.concat([buf, b]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const msg = buf.subarray(2, 2 + buf.readUInt16BE(0));
        buf = buf.subarray(2 + msg.length);
        tcpCount++;
        if (msg.length >= 2) ids.push(msg.readUInt16BE(0));
        const frame = (m: Uint8Array) => Buffer.concat([Buffer.from([m.length >> 8, m.length & 0xff]), m]);
        if (mode === 'silent') continue;
        if (mode === 'tcp-close') {
          sock.destroy();
          return;
        }
        if (mode === 'tcp-partial') {
          const full = frame(answerTo(msg));
          sock.end(full.subarray(0, full.length - 4));
          return;
        }
        // Written in small pieces, so the reader has to put the message together.
        const out = frame(mode === 'big-tcp' ? bigAnswer(msg) : answerTo(msg));
        for (let i = 0; i < out.length; i += 7000) sock.write(out.subarray(i, i + 7000));
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    tcp.once('error', reject);
    tcp.listen(port, '127.0.0.1', () => resolve());
  }).catch(async (err) => {
    // The kernel gave UDP a port that is taken for TCP: start again on another.
    await new Promise<void>((resolve) => udp.close(() => resolve()));
    await new Promise<void>((resolve) => other.close(() => resolve()));
    throw err;
  });
  return {
    port,
    server: `127.0.0.1:${port}`,
    udpQueries: () => udpCount,
    tcpQueries: () => tcpCount,
    tcpConnections: () => connections,
    ids: () => ids,
    async close() {
      await new Promise<void>((resolve) => udp.close(() => resolve()));
      await new Promise<void>((resolve) => other.close(() => resolve()));
      await new Promise<void>((resolve) => tcp.close(() => resolve()));
    },
  };
}
