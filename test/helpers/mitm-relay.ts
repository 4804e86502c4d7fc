/**
 * A man in the middle for NTP on loopback: a UDP relay between clients and a server that can tamper with
 * what passes, for the attack fixtures of authenticated time. Clients send to the relay; the relay forwards to
 * the server from one socket per client (so replies find their way back) and applies the attack to requests
 * or replies. Every attack is counted, so a test can check that the attack happened and that the client
 * rejected what it did.
 *
 * Attacks:
 * - `alter-transmit`: add one second to a reply's receive and transmit timestamps (the on-path clock shift:
 *   moving the transmit timestamp alone shows as a round trip of minus one second, which a client's sanity
 *   check refuses anyway);
 * - `replay`: answer a request, instead of the server, with the previous reply the relay saw (an old, genuine
 *   reply), its origin timestamp set to the new request's transmit timestamp, held as long as the server held
 *   the original (T3 − T2, so the round trip a client computes is not negative) — what an on-path attacker can
 *   do, and what the origin check alone cannot tell from a fresh reply;
 * - `strip-auth`: cut the reply down to the header and the Unique Identifier (no authenticator, no MAC);
 * - `strip-mac`: cut a MAC-authenticated reply down to its 48-byte header;
 * - `swap-cookies`: exchange the NTS Cookie fields of two requests from two different clients.
 * `times` limits how many packets are attacked (then the relay passes everything through).
 */
import dgram from 'node:dgram';

/** The attacks. */
export type MitmAttack = 'none' | 'alter-transmit' | 'replay' | 'strip-auth' | 'strip-mac' | 'swap-cookies';

/** A running relay. */
export interface MitmRelay {
  /** The port clients send to (127.0.0.1). */
  port: number;
  /** Packets attacked so far. */
  readonly attacked: number;
  /** Datagrams forwarded each way. */
  readonly requests: number;
  readonly replies: number;
  /** Change the attack (and reset its budget). */
  set(attack: MitmAttack, times?: number): void;
  close(): Promise<void>;
}

interface Client {
  address: string;
  port: number;
  upstream: dgram.Socket;
}

function cookieField(p: Buffer): { at: number; length: number } | undefined {
  let at = 48;
  while (at + 4 <= p.length) {
    const type = p.readUInt16BE(at);
    const len = p.readUInt16BE(at + 2);
    if (len < 16 || at + len > p.length) return undefined;
    if (type === 0x0204) return { at, length: len };
    at += len;
  }
  return undefined;
}

/**
 * Start a relay in front of 127.0.0.1:serverPort.
 *
 * @param serverPort - the real NTP server's UDP port
 * @param attack - what to do @default 'none'
 * @param times - how many packets to attack @default Infinity
 */
export async function startMitmRelay(
  serverPort: number,
  attack: MitmAttack = 'none',
  times = Infinity,
): Promise<MitmRelay> {
  const front = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => front.bind(0, '127.0.0.1', () => resolve()));
  const clients = new Map<string, Client>();
  let mode = attack;
  let budget = times;
  let attacked = 0;
  let requests = 0;
  let replies = 0;
  let lastReply: Buffer | undefined;
  let held: { client: Client; msg: Buffer; cookie: { at: number; length: number } } | undefined;

  const take = () => {
    if (budget <= 0) return false;
    budget--;
    attacked++;
    return true;
  };

  const clientFor = async (address: string, port: number): Promise<Client> => {
    const key = `${address}:${port}`;
    let c = clients.get(key);
    if (c) return c;
    const upstream = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => upstream.bind(0, '127.0.0.1', () => resolve()));
    c = { address, port, upstream };
    clients.set(key, c);
    upstream.on('message', (reply: Buffer) => {
      replies++;
      let out = reply;
      if (mode === 'alter-transmit' && reply.length >= 48 && take()) {
        out = Buffer.from(reply);
        out.writeUInt32BE((out.readUInt32BE(32) + 1) >>> 0, 32);
        out.writeUInt32BE((out.readUInt32BE(40) + 1) >>> 0, 40);
      } else if (mode === 'strip-auth' && reply.length > 48 && take()) {
        const uidLen = reply.readUInt16BE(50);
        out = Buffer.from(reply.subarray(0, Math.min(reply.length, 48 + uidLen)));
      } else if (mode === 'strip-mac' && reply.length > 48 && take()) {
        out = Buffer.from(reply.subarray(0, 48));
      }
      lastReply = Buffer.from(reply);
      front.send(out, port, address);
    });
    return c;
  };

  front.on('message', async (msg: Buffer, rinfo) => {
    requests++;
    const client = await clientFor(rinfo.address, rinfo.port);
    if (mode === 'replay' && lastReply && lastReply.length >= 48 && msg.length >= 48 && take()) {
      const old = Buffer.from(lastReply);
      msg.copy(old, 24, 40, 48);
      const heldMs =
        (old.readUInt32BE(40) - old.readUInt32BE(32)) * 1000 +
        ((old.readUInt32BE(44) - old.readUInt32BE(36)) * 1000) / 2 ** 32;
      const wait = Math.min(1000, Math.max(0, Math.ceil(heldMs)) + 1);
      setTimeout(() => front.send(old, rinfo.port, rinfo.address), wait);
      return;
    }
    if (mode === 'swap-cookies' && budget > 0) {
      const cookie = cookieField(msg);
      if (cookie) {
        if (!held) {
          held = { client, msg: Buffer.from(msg), cookie };
          return; // hold it until a request from another client comes
        }
        if (held.client !== client && held.cookie.length === cookie.length) {
          const a = Buffer.from(msg);
          const b = held.msg;
          const tmp = Buffer.from(a.subarray(cookie.at, cookie.at + cookie.length));
          b.copy(a, cookie.at, held.cookie.at, held.cookie.at + cookie.length);
          tmp.copy(b, held.cookie.at);
          take();
          take();
          held.client.upstream.send(b, serverPort, '127.0.0.1');
          client.upstream.send(a, serverPort, '127.0.0.1');
          held = undefined;
          return;
        }
      }
    }
    client.upstream.send(msg, serverPort, '127.0.0.1');
  });

  return {
    port: (front.address() as { port: number }).port,
    get attacked() {
      return attacked;
    },
    get requests() {
      return requests;
    },
    get replies() {
      return replies;
    },
    set(attack: MitmAttack, n = Infinity) {
      mode = attack;
      budget = n;
      held = undefined;
    },
    async close() {
      for (const c of clients.values()) c.upstream.close();
      await new Promise<void>((resolve) => front.close(() => resolve()));
    },
  };
}
