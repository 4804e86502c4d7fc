// The Node fallback for ../shared/tools/echoload.c when no C compiler is present (slower, so a run with it
// is more often client-bound; the server CPU time per message in the results shows when). Same arguments and
// the same one-line key=value output:
//   node bench/echo-client.mjs tcp-rr|tcp-stream|tcp-hold|udp-rr HOST PORT [-c CONNS] [-s SIZE] [-d SECONDS]
import dgram from 'node:dgram';
import net from 'node:net';

const [mode, host, portText, ...rest] = process.argv.slice(2);
const port = Number(portText);
const opt = (flag, dflt) => {
  const i = rest.indexOf(flag);
  return i === -1 ? dflt : Number(rest[i + 1]);
};
const conns = opt('-c', 50);
const size = opt('-s', 64);
const secs = opt('-d', 5);
const pattern = (i) => (i * 131 + 7) & 0xff;
const lat = [];
let msgs = 0;
let bytes = 0;
let errors = 0;
let mismatches = 0;
let lost = 0;

function connect() {
  return new Promise((resolve) => {
    const s = net.connect({ host, port, noDelay: true });
    s.once('connect', () => resolve(s));
    s.once('error', () => {
      errors++;
      resolve(null);
    });
  });
}

function percentile(p) {
  if (!lat.length) return 0;
  lat.sort((a, b) => a - b);
  return lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))];
}

function report(extra = '') {
  const el = secs;
  console.log(
    `mode=${mode} conns=${conns} size=${size} secs=${el.toFixed(2)} msgs=${msgs} msgs_per_s=${Math.round(msgs / el)} mb_per_s=${(bytes / el / 1e6).toFixed(1)} p50_us=${percentile(50)} p99_us=${percentile(99)} errors=${errors} mismatches=${mismatches} lost=${lost}${extra}`,
  );
  process.exit(errors || mismatches ? 1 : 0);
}

const msg = Buffer.alloc(size);
for (let i = 0; i < size; i++) msg[i] = pattern(i);
const end = Date.now() + secs * 1000;

if (mode === 'tcp-rr') {
  const sockets = await Promise.all(Array.from({ length: conns }, connect));
  await Promise.all(
    sockets.map(
      (s) =>
        new Promise((resolve) => {
          if (!s) return resolve();
          let got = 0;
          let t0 = process.hrtime.bigint();
          s.on('data', (b) => {
            if (!b.equals(msg.subarray(got, got + b.length))) mismatches++;
            got += b.length;
            if (got < size) return;
            got = 0;
            msgs++;
            bytes += size;
            const now = process.hrtime.bigint();
            lat.push(Number((now - t0) / 1000n));
            if (Date.now() >= end) {
              s.destroy();
              return resolve();
            }
            t0 = now;
            s.write(msg);
          });
          s.on('error', () => {
            errors++;
            resolve();
          });
          s.write(msg);
        }),
    ),
  );
  report();
} else if (mode === 'tcp-stream') {
  const s = await connect();
  const block = Buffer.alloc(65536);
  for (let i = 0; i < block.length; i++) block[i] = pattern(i % 256);
  let rx = 0;
  s.on('data', (b) => {
    for (let i = 0; i < b.length; i += 4099) if (b[i] !== pattern((rx + i) % 256)) mismatches++;
    rx += b.length;
    bytes += b.length;
  });
  const pump = () => {
    while (Date.now() < end) if (!s.write(block)) return s.once('drain', pump);
  };
  pump();
  await new Promise((r) => setTimeout(r, secs * 1000));
  s.destroy();
  report();
} else if (mode === 'tcp-hold') {
  const sockets = [];
  let before = 0;
  let after = 0;
  const echo = (s) =>
    new Promise((resolve) => {
      let got = 0;
      const onData = (b) => {
        got += b.length;
        if (got >= size) {
          s.off('data', onData);
          resolve(true);
        }
      };
      s.on('data', onData);
      s.write(msg);
    });
  for (let i = 0; i < conns; i += 256) {
    const batch = await Promise.all(Array.from({ length: Math.min(256, conns - i) }, connect));
    for (const s of batch) {
      if (s && (await echo(s))) {
        before++;
        sockets.push(s);
      }
    }
  }
  await new Promise((r) => setTimeout(r, secs * 1000));
  for (const ok of await Promise.all(sockets.map(echo))) if (ok) after++;
  for (const s of sockets) s.destroy();
  console.log(
    `mode=tcp-hold conns=${conns} established=${sockets.length} echo_before=${before} echo_after=${after} held_secs=${secs} errors=${errors} mismatches=${mismatches}`,
  );
  process.exit(after === conns ? 0 : 1);
} else if (mode === 'udp-rr') {
  let seq = 0;
  const sockets = Array.from({ length: conns }, () => dgram.createSocket('udp4'));
  await Promise.all(
    sockets.map(
      (s) =>
        new Promise((resolve) => {
          let token = 0;
          let t0 = process.hrtime.bigint();
          let timer;
          const send = () => {
            token = ++seq;
            msg.writeUInt32LE(token, 0);
            t0 = process.hrtime.bigint();
            s.send(msg, port, host);
            clearTimeout(timer);
            timer = setTimeout(() => {
              lost++;
              send();
            }, 200);
          };
          s.on('message', (m) => {
            if (m.length !== size || m.readUInt32LE(0) !== token) return mismatches++;
            msgs++;
            bytes += m.length;
            lat.push(Number((process.hrtime.bigint() - t0) / 1000n));
            if (Date.now() >= end) {
              clearTimeout(timer);
              s.close();
              return resolve();
            }
            send();
          });
          send();
        }),
    ),
  );
  report();
} else {
  console.error(`echo-client: unknown mode ${mode}`);
  process.exit(2);
}
