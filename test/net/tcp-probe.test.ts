import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { AbortError } from '../../src/core/errors.js';
import { freeDescriptors, openFilesLimit } from '../../src/net/fd-limit.js';
import { probeTcpPort, SELF_CONNECT } from '../../src/net/tcp-probe.js';
import { canUseNetns, createNetns, deleteNetns } from '../helpers/netns.js';
import { STRICT } from '../helpers/peers.js';
import { freeTcpPort } from '../helpers/ports.js';

const SCAN = fileURLToPath(new URL('../fixtures/probe-scan.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface Scan {
  listening: number[];
  open: number[];
  closed: number;
  filtered: number[];
  errors: string[];
}

/** Run the scan fixture in a namespace of its own: the only listeners there are the fixture's. */
function scanInNetns(ns: string, args: string[], ulimit?: number): Scan {
  const node = `${JSON.stringify(process.execPath)} --import tsx ${JSON.stringify(SCAN)} ${args.join(' ')}`;
  const out = execFileSync(
    'ip',
    ['netns', 'exec', ns, 'sh', '-c', ulimit ? `ulimit -n ${ulimit} && ${node}` : node],
    { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 << 20 },
  );
  return JSON.parse(out.trim().split('\n').pop() as string) as Scan;
}

describe('TCP probe accuracy under load', () => {
  const netns = canUseNetns();
  let ns: string | undefined;
  after(() => {
    if (ns) deleteNetns(ns);
  });

  test('a full-range loopback scan at concurrency 5000 finds exactly the listening ports, nothing filtered', {
    timeout: 600_000,
  }, (t) => {
    if (!netns.ok) {
      if (STRICT) throw new Error(`network namespaces needed under CI=true: ${netns.reason}`);
      t.skip(netns.reason);
      return;
    }
    ns ??= createNetns('probe', true);
    const scan = scanInNetns(ns, ['5000', '1000']);
    assert.deepEqual(scan.errors, []);
    assert.deepEqual(scan.filtered, []);
    assert.deepEqual(scan.open, scan.listening);
    assert.equal(scan.closed + scan.open.length, 65535);
  });

  test('under `ulimit -n 200` the concurrency is capped: no EMFILE, the same answers', {
    timeout: 600_000,
  }, (t) => {
    if (!netns.ok) {
      if (STRICT) throw new Error(`network namespaces needed under CI=true: ${netns.reason}`);
      t.skip(netns.reason);
      return;
    }
    ns ??= createNetns('probe', true);
    const scan = scanInNetns(ns, ['5000', '1000', '8080'], 200);
    assert.deepEqual(scan.errors, []);
    assert.deepEqual(scan.filtered, []);
    assert.deepEqual(scan.open, [1, 22, 80, 443, 8080]);
    assert.deepEqual(scan.listening, [1, 22, 80, 443, 8080]);
  });
});

describe('probeTcpPort', () => {
  const servers: net.Server[] = [];
  after(() => {
    for (const s of servers) s.close();
  });

  test('open, closed, and a self-connect is not open', async () => {
    const server = net.createServer((s) => s.destroy()).listen(0, '127.0.0.1');
    servers.push(server);
    await once(server, 'listening');
    const open = (server.address() as net.AddressInfo).port;
    const r = await probeTcpPort('127.0.0.1', open, { timeout: 5000 });
    assert.equal(r.state, 'open');
    assert.ok(r.connectMs !== null && r.connectMs >= 0);

    const free = await freeTcpPort();
    const closed = await probeTcpPort('127.0.0.1', free, { timeout: 5000 });
    assert.deepEqual([closed.state, closed.code], ['closed', 'ECONNREFUSED']);

    // Connecting from the very port probed: TCP simultaneous open connects the socket to itself, which is
    // what happens by chance when the kernel picks the probed port as the ephemeral source port.
    const self = await probeTcpPort('127.0.0.1', free, { timeout: 5000, localPort: free });
    assert.deepEqual([self.state, self.code], ['closed', SELF_CONNECT]);
  });

  test('the signal aborts a probe', async () => {
    await assert.rejects(
      probeTcpPort('127.0.0.1', 9, { timeout: 5000, signal: AbortSignal.abort() }),
      AbortError,
    );
  });
});

describe('open-files limit', () => {
  test('read from /proc/self/limits, as `ulimit -n` says', () => {
    const limit = openFilesLimit();
    assert.ok(limit, 'Linux has /proc/self/limits');
    const shell = execFileSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim();
    assert.equal(String(limit.soft), shell === 'unlimited' ? 'Infinity' : shell);
    const room = freeDescriptors();
    assert.ok(room !== undefined && room >= 1 && room < limit.soft);
  });
});
