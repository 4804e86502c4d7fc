// A UDP relay that adds a fixed one-way delay in each direction, to put a DNS server "a few ms away" on
// loopback for bench/dns-batch.bench.ts. It runs as its own process (not on the measured client's event loop):
//   node bench/udp-delay-relay.mjs --listen 127.0.0.1:53 --upstream 127.0.0.1:5300 --delay 2
// Every client address (IP:port) gets its own upstream socket, as a NAT would: its datagrams go to the
// upstream from that socket, and what the upstream sends to that socket goes back to that client — so DNS IDs
// are never rewritten and many clients (getaddrinfo takes a fresh port per lookup, c-ares keeps one socket
// for many queries) can have many queries in flight at once. Each datagram is held for `--delay` ms (never
// less; timers are ms-granular, so a little more) in one FIFO queue under one timer: the delay is constant,
// so the queue stays in due order. Prints `listening HOST:PORT` once bound; on SIGTERM or SIGINT, or when its
// stdin closes (the parent is gone), prints `queries=N answers=N sockets=N cpu=MSms` and exits.
import dgram from 'node:dgram';

const args = process.argv.slice(2);
const arg = (flag) => {
  const i = args.indexOf(flag);
  const value = i === -1 ? undefined : args[i + 1];
  if (value === undefined) {
    process.stderr.write(`udp-delay-relay: missing ${flag}\n`);
    process.exit(2);
  }
  return value;
};
const hostPort = (text) => {
  const i = text.lastIndexOf(':');
  return { host: text.slice(0, i), port: Number(text.slice(i + 1)) };
};
const listen = hostPort(arg('--listen'));
const upstream = hostPort(arg('--upstream'));
const delay = Number(arg('--delay'));
/** Upstream sockets unused for this long are closed (a client port is not reused that soon in practice). */
const IDLE_MS = 2000;
/**
 * Receive buffers of the relay's sockets (capped by net.core.rmem_max): large, so that a burst is dropped —
 * if at all — by the resolver's or the client's own socket, as without the relay, and not by the relay.
 */
const BUFFER = 4 * 1024 * 1024;

let queries = 0;
let answers = 0;
let socketsOpened = 0;

/** Datagrams waiting for their time: { due (performance.now() ms), socket, message, port, host }. */
const queue = [];
let head = 0;
let timer;

function flush() {
  timer = undefined;
  const now = performance.now();
  while (head < queue.length && queue[head].due <= now) {
    const d = queue[head];
    queue[head++] = undefined;
    try {
      d.socket.send(d.message, d.port, d.host);
    } catch {
      // The socket was closed meanwhile: the datagram is lost, as on a network.
    }
  }
  if (head === queue.length) {
    queue.length = 0;
    head = 0;
  } else {
    if (head > 4096) {
      queue.splice(0, head);
      head = 0;
    }
    arm();
  }
}

function arm() {
  if (timer !== undefined || head === queue.length) return;
  timer = setTimeout(flush, Math.max(1, Math.ceil(queue[head].due - performance.now())));
}

function later(socket, message, port, host) {
  queue.push({ due: performance.now() + delay, socket, message, port, host });
  arm();
}

/** Client "ip:port" → { socket, address, port, last }. */
const clients = new Map();

const front = dgram.createSocket({ type: 'udp4', recvBufferSize: BUFFER });
front.on('error', (err) => {
  process.stderr.write(`udp-delay-relay: ${err.message}\n`);
  process.exit(1);
});
front.on('message', (message, rinfo) => {
  const key = `${rinfo.address}:${rinfo.port}`;
  let client = clients.get(key);
  if (!client) {
    const socket = dgram.createSocket({ type: 'udp4', recvBufferSize: BUFFER });
    socketsOpened++;
    client = { socket, address: rinfo.address, port: rinfo.port, last: 0 };
    const c = client;
    socket.on('error', () => {});
    socket.on('message', (answer, from) => {
      if (from.address !== upstream.host || from.port !== upstream.port) return;
      answers++;
      c.last = performance.now();
      later(front, answer, c.port, c.address);
    });
    clients.set(key, client);
  }
  queries++;
  client.last = performance.now();
  later(client.socket, message, upstream.port, upstream.host);
});

const sweep = setInterval(() => {
  const old = performance.now() - IDLE_MS;
  for (const [key, c] of clients) {
    if (c.last < old) {
      c.socket.close();
      clients.delete(key);
    }
  }
}, 1000);
sweep.unref();

let stopping = false;
function stop() {
  if (stopping) return;
  stopping = true;
  const cpu = process.cpuUsage();
  const cpuMs = Math.round((cpu.user + cpu.system) / 1000);
  process.stdout.write(
    `queries=${queries} answers=${answers} sockets=${socketsOpened} cpu=${cpuMs}ms\n`,
    () => process.exit(0),
  );
}
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
process.stdin.on('end', stop);
process.stdin.on('error', stop);
process.stdin.resume();

front.bind(listen.port, listen.host, () => {
  process.stdout.write(`listening ${listen.host}:${listen.port}\n`);
});
