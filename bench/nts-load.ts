/**
 * An NTS-protected NTP load client for benchmarks, run as its own process:
 *
 *   node --import tsx bench/nts-load.ts KE_PORT CA_FILE SECONDS CONNS
 *
 * One NTS-KE exchange, then CONNS UDP sockets, each keeping one request in flight for SECONDS. The requests are
 * sealed before the clock starts (1024 per socket, cycling; each with its own transmit timestamp, unique
 * identifier and nonce, using the session's cookies in turn with a full jar, so each asks for one new cookie
 * — servers keep no record of used cookies), so
 * the client spends its time sending and matching, not encrypting. A reply counts when it is mode 4 and echoes
 * the request's transmit timestamp; one sample in 64 is fully verified (unique identifier, authenticator) to
 * be sure the server really authenticates. Prints one line: `msgs_per_s=… p50_us=… p99_us=… lost=… bad=…`.
 */
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import { encodeNtpPacket } from '../src/codec/ntp.js';
import { NtsClient } from '../src/ntp/nts-client.js';
import type { SealedRequest } from '../src/ntp/request-auth.js';

const [kePort, caFile, secondsText, connsText] = process.argv.slice(2);
const seconds = Number(secondsText ?? 5);
const conns = Number(connsText ?? 16);
const PER_SOCKET = 1024;

const nts = new NtsClient(`127.0.0.1:${kePort}`, { ca: readFileSync(caFile as string, 'utf8') });
const { session } = await nts.ensureSession({ timeout: 10_000 });
const cookies = [...session.cookies];
const ntpPort = session.ke.ntpPort;

/** Seal with a fixed cookie list, cycling: NtsClient's jar would otherwise run dry without replies. */
function sealMany(n: number): SealedRequest[] {
  const out: SealedRequest[] = [];
  for (let i = 0; i < n; i++) {
    // a full jar, as a client in its steady state has: each request spends one cookie and asks for one
    const s = nts.session as unknown as { cookies: Uint8Array[] };
    s.cookies.length = 0;
    for (let k = 0; k < cookies.length; k++) s.cookies.push(cookies[(i + k) % cookies.length] as Uint8Array);
    const tx = randomBytes(8).readBigUInt64BE(0) | 1n;
    out.push(nts.authenticator().seal(encodeNtpPacket({ version: 4, mode: 3, transmitTimestamp: tx })));
  }
  return out;
}

const lat: number[] = [];
let lost = 0;
let bad = 0;
let verified = 0;
const prepared = Array.from({ length: conns }, () => sealMany(PER_SOCKET));
const end = performance.now() + seconds * 1000;
await Promise.all(
  prepared.map(async (requests) => {
    const s = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => s.connect(ntpPort, '127.0.0.1', resolve));
    let i = 0;
    let current = requests[0] as SealedRequest;
    let t0 = 0;
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      const send = () => {
        if (performance.now() >= end) {
          resolve();
          return;
        }
        current = requests[i++ % requests.length] as SealedRequest;
        t0 = performance.now();
        s.send(current.packet);
        timer = setTimeout(() => {
          lost++;
          send();
        }, 200);
      };
      s.on('message', (m: Buffer) => {
        const p = current.packet;
        let match = m.length >= 48 && ((m[0] as number) & 7) === 4;
        for (let k = 0; match && k < 8; k++) if (m[24 + k] !== p[40 + k]) match = false;
        if (!match) {
          bad++;
          return;
        }
        clearTimeout(timer);
        lat.push((performance.now() - t0) * 1000);
        if ((lat.length & 63) === 0 && i <= requests.length) {
          const check = current.verify(m);
          if (check.ok) verified++;
          else bad++;
        }
        send();
      });
      send();
    });
    s.close();
  }),
);
lat.sort((a, b) => a - b);
const pick = (q: number) => Math.round(lat[Math.min(lat.length - 1, Math.floor(lat.length * q))] ?? 0);
console.log(
  `msgs_per_s=${Math.round(lat.length / seconds)} p50_us=${pick(0.5)} p99_us=${pick(0.99)} lost=${lost} bad=${bad} verified=${verified}`,
);
