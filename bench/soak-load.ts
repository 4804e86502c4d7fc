/**
 * The abusive half of bench/soak.bench.ts, in its own process (so that the servers' memory is measured apart
 * from it): for SECONDS seconds, against a TCP echo server, a UDP echo server and an SNTP server on 127.0.0.1,
 *
 * - slowloris: SLOW connections held open, each trickling one byte every 5 s;
 * - RST storms: connections opened, written to, and reset (RST, not FIN) at once, 50 every 100 ms;
 * - connect floods: 300 connections opened and closed at once every 2 s;
 * - bulk garbage: 16 connections writing random bytes, half at ~1.3 MB/s reading the echo, half as fast as the
 *   server takes it and never reading the echo (the server must push back, not buffer), recreated every 30 s;
 * - UDP floods from many sources: 64 sockets on 127.0.1.1–127.0.1.64 sending random datagrams (1–1400 bytes)
 *   to the UDP echo server and to the SNTP server;
 * - SNTP floods of new sources (bench/ntpflood, each request from a new 127/8 address) and one source far over
 *   its rate (kiss-o'-death, then silence).
 *
 *   node --import tsx bench/soak-load.ts '{"tcp":P,"udp":P,"ntp":P,"seconds":600,"ntpflood":["/path"]}'
 *
 * Prints one JSON line of counters at the end. Loopback only.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';

interface Config {
  tcp: number;
  udp: number;
  ntp: number;
  seconds: number;
  /** The ntpflood command (C binary, or python3 + script). */
  ntpflood: string[];
  /** Scale of every rate (1 = the defaults above). @default 1 */
  scale?: number;
}

const config = JSON.parse(process.argv[2] ?? '{}') as Config;
const scale = config.scale ?? 1;
const HOST = '127.0.0.1';
const end = performance.now() + config.seconds * 1000;
const running = () => performance.now() < end;
const counters = {
  slowlorisHeld: 0,
  slowlorisErrors: 0,
  resets: 0,
  connectFlood: 0,
  connectErrors: 0,
  bulkBytes: 0,
  udpSent: 0,
  udpErrors: 0,
  ntpFloodRuns: 0,
  ntpFloodSent: 0,
  ntpFloodAnswered: 0,
  abusiveSent: 0,
  abusiveKod: 0,
};
const timers: NodeJS.Timeout[] = [];
const every = (ms: number, f: () => void) => timers.push(setInterval(f, ms));
const quiet = (s: net.Socket) => s.on('error', () => undefined);

// slowloris
const SLOW = Math.round(300 * scale);
const slow = new Set<net.Socket>();
function topUpSlowloris(): void {
  while (running() && slow.size < SLOW) {
    const s = net.connect(config.tcp, HOST);
    quiet(s);
    s.on('data', () => undefined);
    s.once('connect', () => counters.slowlorisHeld++);
    s.once('close', (hadError) => {
      slow.delete(s);
      if (hadError) counters.slowlorisErrors++;
    });
    slow.add(s);
  }
}
topUpSlowloris();
every(5000, () => {
  for (const s of slow) if (s.writable) s.write('x');
  topUpSlowloris();
});

// RST storms
every(100, () => {
  for (let i = 0; i < Math.round(50 * scale); i++) {
    const s = net.connect(config.tcp, HOST);
    quiet(s);
    s.once('connect', () => {
      s.write(randomBytes(512));
      s.resetAndDestroy();
      counters.resets++;
    });
  }
});

// connect floods
every(2000, () => {
  for (let i = 0; i < Math.round(300 * scale); i++) {
    const s = net.connect(config.tcp, HOST);
    s.once('error', () => counters.connectErrors++);
    s.once('connect', () => {
      counters.connectFlood++;
      s.destroy();
    });
  }
});

// bulk garbage, half never reading
let bulk: net.Socket[] = [];
function startBulk(): void {
  for (const s of bulk) s.destroy();
  bulk = [];
  for (let i = 0; i < 16; i++) {
    const s = net.connect(config.tcp, HOST);
    quiet(s);
    const reads = i % 2 === 0;
    if (reads) s.on('data', () => undefined);
    else s.pause();
    const chunk = randomBytes(64 * 1024);
    if (reads) {
      // garbage at ~1.3 MB/s per connection, its echo read and thrown away
      const t = setInterval(() => {
        if (!running() || s.destroyed) clearInterval(t);
        else if (s.write(chunk)) counters.bulkBytes += chunk.length;
      }, 50);
      s.once('close', () => clearInterval(t));
    } else {
      // as fast as the server takes it, never reading the echo: it must push back, not buffer
      const pump = () => {
        while (running() && !s.destroyed && s.write(chunk)) counters.bulkBytes += chunk.length;
      };
      s.on('drain', pump);
      s.once('connect', pump);
    }
    bulk.push(s);
  }
}
startBulk();
every(30_000, startBulk);

// UDP floods from many sources, to the UDP echo server and the SNTP server
const sources: dgram.Socket[] = [];
for (let i = 1; i <= 64; i++) {
  const s = dgram.createSocket('udp4');
  s.on('error', () => counters.udpErrors++);
  s.on('message', () => undefined);
  s.bind(0, `127.0.1.${i}`);
  sources.push(s);
}
every(10, () => {
  // 5,000/s to UDP echo, 1,000/s of garbage to SNTP (at scale 1)
  for (let i = 0; i < Math.round(50 * scale); i++) {
    const s = sources[(Math.random() * sources.length) | 0] as dgram.Socket;
    s.send(randomBytes(1 + ((Math.random() * 1400) | 0)), config.udp, HOST);
    counters.udpSent++;
  }
  for (let i = 0; i < Math.round(10 * scale); i++) {
    const s = sources[(Math.random() * sources.length) | 0] as dgram.Socket;
    s.send(randomBytes(1 + ((Math.random() * 120) | 0)), config.ntp, HOST);
    counters.udpSent++;
  }
});

// one SNTP client far over its rate: 200 requests/s from one address
const abusive = dgram.createSocket('udp4');
abusive.on('message', (m) => {
  if (m[1] === 0) counters.abusiveKod++;
});
abusive.bind(0, '127.0.2.1');
const request = Buffer.alloc(48);
request[0] = 0x23;
every(5, () => {
  randomBytes(8).copy(request, 40);
  abusive.send(request, config.ntp, HOST);
  counters.abusiveSent++;
});

// SNTP floods of new sources, one ntpflood run after another (10 s at 2,000/s each, at scale 1)
let floodFirst = 0;
async function ntpFloods(): Promise<void> {
  const [cmd = '', ...pre] = config.ntpflood;
  while (running()) {
    const count = Math.round(20_000 * scale);
    const rate = Math.round(2000 * scale);
    const seconds = Math.min(10, (end - performance.now()) / 1000);
    if (seconds < 1) break;
    const n = Math.min(count, Math.round(rate * seconds));
    const out = await new Promise<string>((resolve) => {
      const child = spawn(
        cmd,
        [...pre, HOST, String(config.ntp), String(floodFirst), String(n), String(rate), '500'],
        {
          stdio: ['ignore', 'pipe', 'ignore'],
        },
      );
      let text = '';
      child.stdout.on('data', (b: Buffer) => {
        text += b;
      });
      child.once('close', () => resolve(text));
    });
    floodFirst = (floodFirst + n) % 3_000_000;
    counters.ntpFloodRuns++;
    counters.ntpFloodSent += Number(/sent=(\d+)/.exec(out)?.[1] ?? 0);
    counters.ntpFloodAnswered +=
      Number(/answered=(\d+)/.exec(out)?.[1] ?? 0) + Number(/kod=(\d+)/.exec(out)?.[1] ?? 0);
  }
}
const floods = ntpFloods();

await new Promise((resolve) => setTimeout(resolve, config.seconds * 1000));
for (const t of timers) clearInterval(t);
await floods;
for (const s of [...slow, ...bulk]) s.destroy();
for (const s of [...sources, abusive]) s.close();
console.log(JSON.stringify(counters));
process.exit(0);
