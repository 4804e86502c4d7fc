/**
 * Loopback ports for peers that cannot listen on port 0 and report the port they got (socat, chronyd,
 * dnsmasq, ...), and a wait for a listener to come up. "Free" means free a moment ago: bind to port 0, read
 * the port, close — a small race that is fine on a test machine.
 */
import dgram from 'node:dgram';
import net from 'node:net';

/** A TCP port on 127.0.0.1 that nobody listens on right now (connecting to it is refused). */
export async function freeTcpPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as net.AddressInfo;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

/** A UDP port on 127.0.0.1 that is free right now. */
export async function freeUdpPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
  const { port } = s.address();
  await new Promise<void>((resolve) => s.close(resolve));
  return port;
}

/** A port on 127.0.0.1 free for both UDP and TCP (a DNS server listens on both). */
export async function freeTcpUdpPort(): Promise<number> {
  for (;;) {
    const udp = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));
    const { port } = udp.address();
    const tcp = net.createServer();
    const ok = await new Promise<boolean>((resolve) => {
      tcp.once('error', () => resolve(false));
      tcp.listen(port, '127.0.0.1', () => resolve(true));
    });
    udp.close();
    if (ok) {
      await new Promise<void>((resolve) => tcp.close(() => resolve()));
      return port;
    }
  }
}

/** Wait until something accepts TCP connections on 127.0.0.1:port (up to about 5 s). */
export async function waitListening(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`nothing listens on 127.0.0.1:${port}`);
}

/**
 * Wait until a TCP socket listens on the port, without connecting to it (for peers such as `ncat -l` that
 * accept a single client, which a probe connection would use up). Reads /proc/net/tcp{,6} (Linux).
 */
export async function waitListeningPassive(port: number, timeoutMs = 10_000): Promise<void> {
  const { readFileSync } = await import('node:fs');
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  const end = performance.now() + timeoutMs;
  while (performance.now() < end) {
    for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
      let text = '';
      try {
        text = readFileSync(table, 'utf8');
      } catch {
        continue;
      }
      // columns: sl local_address rem_address st ...; st 0A is LISTEN
      if (
        text
          .split('\n')
          .some((l) => l.trim().split(/\s+/)[1]?.endsWith(`:${hex}`) && l.trim().split(/\s+/)[3] === '0A')
      ) {
        return;
      }
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`nothing listens on port ${port} after ${timeoutMs} ms`);
}
