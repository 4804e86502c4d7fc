/**
 * Interop with real NTP implementations on loopback (recipes in ../shared/PEERS.md):
 * - soket's client against chronyd serving its local clock (`-x`: it never touches the system clock);
 * - chronyd -Q (a strict client: it checks the origin timestamp) against soket's server;
 * - Python's ntplib (the system Python) against soket's server.
 *
 * The server runs with `leap: 0` here: on a machine where no daemon disciplines the clock the kernel says
 * TIME_ERROR, soket's server then (rightly) announces LI = 3, and chrony would refuse to use it.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, describe, test } from 'node:test';
import { KissOfDeathError } from '../../src/core/errors.js';
import { sntpQuery } from '../../src/ntp/client.js';
import { getNetworkTime } from '../../src/ntp/network-time.js';
import { createSntpServer, type SntpServer } from '../../src/ntp/server.js';
import { type ChronyServer, runChronyClient, startChronyServer } from '../helpers/chrony.js';
import { requirePeer, requirePythonModule } from '../helpers/peers.js';

const stops: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const stop of stops) await stop();
});

async function soketServer(): Promise<SntpServer> {
  const s = await createSntpServer({ port: 0, leap: 0 });
  stops.push(() => s.close());
  return s;
}

describe('SNTP interop', () => {
  test('soket client → chronyd: offset within tens of microseconds of zero', async (t) => {
    const chronyd = requirePeer(t, 'chronyd', 'apt-get install chrony');
    if (!chronyd) return;
    const chrony: ChronyServer = await startChronyServer(chronyd, { stratum: 7 });
    stops.push(() => chrony.stop());
    const r = await getNetworkTime(`127.0.0.1:${chrony.port}`, { samples: 8, interval: 20, timeout: 2000 });
    const best = r.servers[0]?.best;
    assert.ok(best);
    assert.equal(best.stratum, 7);
    assert.equal(best.referenceIdText, '127.127.1.1');
    assert.equal(best.leap, 0);
    assert.equal(best.version, 4);
    // chrony serves the same system clock: the true offset is zero, so what we measure is our error
    t.diagnostic(`offset ${(best.offset * 1e6).toFixed(1)} µs, delay ${(best.delay * 1e6).toFixed(1)} µs`);
    assert.ok(Math.abs(best.offset) < 100e-6, `offset ${best.offset * 1e6} µs`);
    assert.ok(Math.abs(best.offset) <= best.delay / 2 + 1e-6);
    const v3 = await sntpQuery('127.0.0.1', { port: chrony.port, version: 3, timeout: 2000 });
    assert.equal(v3.version, 3);
  });

  test('chrony rate limiting with kod yields a RATE kiss-o-death soket reports (where chrony has kod)', async (t) => {
    const chronyd = requirePeer(t, 'chronyd', 'apt-get install chrony');
    if (!chronyd) return;
    let chrony: ChronyServer;
    try {
      chrony = await startChronyServer(chronyd, { extra: ['ratelimit interval 1 burst 1 kod 1'] });
    } catch (err) {
      if (/Could not parse ratelimit directive/.test((err as Error).message)) {
        // Debian's chrony 4.3 has no `kod` option; KoD handling is tested against our own responder in
        // test/ntp/client.test.ts instead.
        t.skip(
          'this chrony has no `ratelimit ... kod` option (Debian chrony 4.3); KoD is covered by client.test.ts',
        );
        return;
      }
      throw err;
    }
    stops.push(() => chrony.stop());
    let kod: KissOfDeathError | undefined;
    for (let i = 0; i < 20 && !kod; i++) {
      try {
        await sntpQuery('127.0.0.1', { port: chrony.port, timeout: 200, retries: 0 });
      } catch (err) {
        if (err instanceof KissOfDeathError) kod = err;
      }
    }
    assert.ok(kod, 'chrony sent a kiss-o-death');
    assert.equal(kod.kissCode, 'RATE');
  });

  test('chronyd -Q (strict client) accepts soket server replies', async (t) => {
    const chronyd = requirePeer(t, 'chronyd', 'apt-get install chrony');
    if (!chronyd) return;
    const s = await soketServer();
    const r = await runChronyClient(chronyd, s.address.port, 15);
    t.diagnostic(r.output.trim().split('\n').slice(-2).join(' | '));
    assert.equal(r.code, 0, r.output);
    assert.ok(r.offset !== undefined, `chrony did not accept the server: ${r.output}`);
    assert.ok(Math.abs(r.offset) < 0.005, `chrony measured ${r.offset} s`);
    const st = s.stats();
    assert.ok(st.answered >= 1);
    assert.equal(st.dropped.malformed + st.dropped.notClient, 0);
  });

  test('Python ntplib accepts soket server replies', async (t) => {
    const python = requirePythonModule(t, 'ntplib', 'apt-get install python3-ntplib');
    if (!python) return;
    const s = await soketServer();
    const script = [
      'import json, sys, ntplib',
      "r = ntplib.NTPClient().request('127.0.0.1', version=4, port=int(sys.argv[1]), timeout=3)",
      'print(json.dumps({"offset": r.offset, "delay": r.delay, "version": r.version, "mode": r.mode,',
      '  "stratum": r.stratum, "leap": r.leap, "ref_id": ntplib.ref_id_to_text(r.ref_id, r.stratum),',
      '  "mode_text": ntplib.mode_to_text(r.mode), "leap_text": ntplib.leap_to_text(r.leap)}))',
    ].join('\n');
    const out = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(python, ['-c', script, String(s.address.port)]);
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (b: Buffer) => {
        stdout += b;
      });
      child.stderr.on('data', (b: Buffer) => {
        stderr += b;
      });
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
    assert.equal(out.code, 0, out.stderr);
    const r = JSON.parse(out.stdout) as Record<string, unknown>;
    assert.equal(r.version, 4);
    assert.equal(r.mode, 4);
    assert.equal(r.mode_text, 'server');
    assert.equal(r.stratum, 10);
    assert.equal(r.leap, 0);
    assert.equal(r.ref_id, '127.127.1.1');
    // Same clock on both ends: the true offset is 0, so what ntplib measures is bounded by half the round trip
    // (plus the clocks' reading precision), however loaded the machine is.
    const bound = (r.delay as number) / 2 + 0.0005;
    assert.ok(Math.abs(r.offset as number) <= bound, `ntplib measured ${r.offset} s, delay ${r.delay} s`);
    assert.equal(s.stats().answered, 1);
  });
});
