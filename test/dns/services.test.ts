import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { NotFoundError, ValidationError } from '../../src/core/errors.js';
import {
  EMBEDDED_SOURCE,
  findServices,
  getServiceByName,
  getServiceByPort,
  listServices,
  loadServices,
  parseServiceQuery,
} from '../../src/dns/services.js';
import { findExecutable, requireCapability, requirePeer } from '../helpers/peers.js';

interface GetentEntry {
  name: string;
  port: number;
  protocol: string;
  aliases: string[];
}

function getent(keys: string[]): Map<string, GetentEntry> {
  // getent prints one line per key it found, in key order; unknown keys print nothing (exit 2).
  const out = new Map<string, GetentEntry>();
  for (const key of keys) {
    let line: string;
    try {
      line = execFileSync('getent', ['services', key], { encoding: 'utf8' }).trim();
    } catch {
      continue;
    }
    const [name, portProto, ...aliases] = line.split(/\s+/);
    const [port, protocol] = (portProto ?? '').split('/');
    out.set(key, { name: name ?? '', port: Number(port), protocol: protocol ?? '', aliases });
  }
  return out;
}

describe('services database', () => {
  test('agrees with getent services for every entry of /etc/services, in both directions', (t) => {
    if (!requirePeer(t, 'getent', 'apt-get install libc-bin')) return;
    if (
      !requireCapability(t, existsSync('/etc/services'), '/etc/services is missing (apt-get install netbase)')
    ) {
      return;
    }
    const db = loadServices({ path: '/etc/services' });
    assert.equal(db.source, '/etc/services');
    assert.ok(db.entries.length > 100, `only ${db.entries.length} entries parsed`);
    const nameKeys = [
      ...new Set(db.entries.flatMap((e) => [e.name, ...e.aliases].map((n) => `${n}/${e.protocol}`))),
    ];
    const portKeys = [...new Set(db.entries.map((e) => `${e.port}/${e.protocol}`))];
    const byName = getent(nameKeys);
    const byPort = getent(portKeys);
    assert.equal(byName.size, nameKeys.length, 'getent answered every name');
    assert.equal(byPort.size, portKeys.length, 'getent answered every port');
    for (const key of nameKeys) {
      const [name, proto] = key.split('/') as [string, string];
      const ours = getServiceByName(name, proto);
      assert.deepEqual(
        { name: ours.name, port: ours.port, protocol: ours.protocol, aliases: ours.aliases },
        byName.get(key),
        `getservbyname ${key}`,
      );
    }
    for (const key of portKeys) {
      const [port, proto] = key.split('/') as [string, string];
      const ours = getServiceByPort(Number(port), proto);
      assert.deepEqual(
        { name: ours.name, port: ours.port, protocol: ours.protocol, aliases: ours.aliases },
        byPort.get(key),
        `getservbyport ${key}`,
      );
    }
  });

  test('classic look-ups', () => {
    assert.equal(getServiceByName('http', 'tcp').port, 80);
    assert.deepEqual(getServiceByName('http', 'tcp').aliases, ['www']);
    assert.equal(getServiceByName('www', 'tcp').name, 'http');
    assert.equal(getServiceByPort(25, 'tcp').name, 'smtp');
    assert.equal(getServiceByPort(53, 'udp').name, 'domain');
    assert.equal(getServiceByName('domain', 'udp').port, 53);
    assert.deepEqual(
      findServices('domain').map((e) => `${e.port}/${e.protocol}`),
      ['53/tcp', '53/udp'],
    );
    assert.deepEqual(
      findServices('53/udp').map((e) => e.name),
      ['domain'],
    );
  });

  test('listServices filters by search, protocol and port', () => {
    const http = listServices({ search: 'http', protocol: 'tcp' });
    assert.ok(http.some((e) => e.name === 'http' && e.port === 80));
    assert.ok(http.every((e) => e.protocol === 'tcp'));
    assert.ok(listServices({ port: 53 }).every((e) => e.port === 53));
    assert.deepEqual(
      listServices({ search: '22' }).map((e) => e.name),
      listServices({ port: 22 }).map((e) => e.name),
    );
  });

  test('missing database falls back to the embedded table and says so', () => {
    const missing = join(mkdtempSync(join(tmpdir(), 'soket-')), 'no-such-services');
    const db = loadServices({ path: missing, fallback: true });
    assert.equal(db.source, EMBEDDED_SOURCE);
    assert.match(db.fallbackReason ?? '', /no such file/);
    const http = getServiceByName('http', 'tcp', { path: missing, fallback: true });
    assert.equal(http.port, 80);
    assert.equal(http.source, EMBEDDED_SOURCE);
    // netbase naming: 80/tcp is http, not www-http
    assert.equal(getServiceByPort(80, 'tcp', { embedded: true }).name, 'http');
    assert.equal(getServiceByPort(53, 'udp', { embedded: true }).name, 'domain');
  });

  test('unreadable database (a directory, no permission) falls back too', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'soket-'));
    const asDir = loadServices({ path: dir, fallback: true });
    assert.equal(asDir.source, EMBEDDED_SOURCE);
    assert.match(asDir.fallbackReason ?? '', /directory/);
    if (process.getuid?.() === 0) {
      t.diagnostic('running as root: a mode-000 file is still readable, skipping the permission case');
      return;
    }
    const file = join(dir, 'services');
    writeFileSync(file, 'x 1/tcp\n');
    chmodSync(file, 0);
    assert.equal(loadServices({ path: file, fallback: true }).source, EMBEDDED_SOURCE);
  });

  test('a chosen file that is missing is an error, not a silent fallback', () => {
    assert.throws(() => loadServices({ path: '/nonexistent/services' }), ValidationError);
  });

  test('a chosen file is used, and its malformed lines are counted', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'soket-')), 'services');
    writeFileSync(file, 'myproto 4242/tcp mp # mine\ngarbage\nweird 1/xtp\n');
    const db = loadServices({ path: file });
    assert.equal(db.skippedLines, 1);
    assert.deepEqual(getServiceByName('mp', 'tcp', { path: file }), {
      name: 'myproto',
      port: 4242,
      protocol: 'tcp',
      aliases: ['mp'],
      source: file,
    });
    // any protocol in the database is valid
    assert.equal(getServiceByPort(1, 'xtp', { path: file }).name, 'weird');
  });

  test('bad input is a ValidationError; unknown services are NotFoundError naming the query', () => {
    for (const port of [0, 65536, -1, 'abc', '']) {
      assert.throws(() => getServiceByPort(port as number), ValidationError, `port ${port}`);
    }
    assert.throws(() => getServiceByName(''), ValidationError);
    assert.throws(() => getServiceByName('http', 'xyz'), /Unknown protocol 'xyz'/);
    assert.throws(() => parseServiceQuery('53/'), ValidationError);
    assert.throws(
      () => getServiceByName('no-such-service'),
      (err: unknown) => {
        assert.ok(err instanceof NotFoundError);
        assert.match(err.message, /'no-such-service' not found/);
        return true;
      },
    );
    assert.throws(() => findServices('9/sctp'), /No service on port 9\/sctp/);
  });

  test('getent is on this machine for the comparison test', () => {
    // A guard so the comparison above can never silently compare nothing.
    assert.ok(findExecutable('getent'), 'getent (libc-bin) is part of every Debian system');
  });
});
