import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ValidationError } from '../../src/core/errors.js';
import {
  exclusive,
  formatHostPort,
  isHostname,
  parseAddress,
  parseDuration,
  parseHost,
  parseHostPort,
  parseInteger,
  parsePort,
} from '../../src/core/validate.js';

describe('validate', () => {
  test('parsePort', () => {
    assert.equal(parsePort('80'), 80);
    assert.equal(parsePort(65535), 65535);
    assert.equal(parsePort('0', { allowZero: true }), 0);
    for (const bad of ['0', '65536', '-1', 'abc', '', '80.5', '1e3', ' ', '0x50']) {
      assert.throws(() => parsePort(bad), ValidationError, bad);
    }
    assert.throws(
      () => parsePort('x', { what: '--port' }),
      /Invalid --port 'x': expected an integer from 1 to 65535/,
    );
  });

  test('parseInteger', () => {
    assert.equal(parseInteger('16', '--concurrency', { min: 1, max: 100 }), 16);
    assert.throws(() => parseInteger('0', '--concurrency', { min: 1, max: 100 }), /from 1 to 100/);
    assert.throws(() => parseInteger('-5', '--size'), /at least 0/);
    assert.throws(() => parseInteger('1.5', '--size'), ValidationError);
  });

  test('parseDuration', () => {
    assert.equal(parseDuration('500'), 500);
    assert.equal(parseDuration('250ms'), 250);
    assert.equal(parseDuration('2s'), 2000);
    assert.equal(parseDuration('1.5s'), 1500);
    assert.equal(parseDuration('1m'), 60_000);
    assert.equal(parseDuration(0), 0);
    for (const bad of ['-1', 'soon', '', '5 days', '3000000000']) {
      assert.throws(() => parseDuration(bad, '--timeout'), /Invalid --timeout/, bad);
    }
    assert.throws(() => parseDuration('0', '--interval', { allowZero: false }), ValidationError);
  });

  test('hosts and addresses', () => {
    assert.ok(isHostname('www.example.com'));
    assert.ok(isHostname('example.com.'));
    assert.ok(isHostname('_sip._udp.example.test'));
    assert.ok(!isHostname('bad..name'));
    assert.ok(!isHostname('-lead.example'));
    assert.ok(!isHostname(`${'a'.repeat(64)}.example`));
    assert.equal(parseHost('[::1]'), '::1');
    assert.equal(parseHost('localhost'), 'localhost');
    assert.throws(() => parseHost(''), /must not be empty/);
    assert.throws(() => parseHost('no spaces.example'), /not an IP address or a valid host name/);
    assert.deepEqual(parseAddress('192.0.2.1'), { address: '192.0.2.1', family: 4 });
    assert.deepEqual(parseAddress('[2001:db8::1]'), { address: '2001:db8::1', family: 6 });
    assert.throws(() => parseAddress('300.1.1.1'), /not an IPv4 or IPv6 address/);
  });

  test('parseHostPort', () => {
    assert.deepEqual(parseHostPort('8080', { defaultHost: '127.0.0.1' }), { host: '127.0.0.1', port: 8080 });
    assert.deepEqual(parseHostPort('0', { defaultHost: '127.0.0.1', allowZero: true }), {
      host: '127.0.0.1',
      port: 0,
    });
    assert.deepEqual(parseHostPort('example.com:53'), { host: 'example.com', port: 53 });
    assert.deepEqual(parseHostPort('[::1]:53'), { host: '::1', port: 53 });
    assert.deepEqual(parseHostPort('::1', { defaultPort: 123 }), { host: '::1', port: 123 });
    assert.deepEqual(parseHostPort('[::]', { defaultPort: 123 }), { host: '::', port: 123 });
    assert.throws(() => parseHostPort('8080'), /expected HOST:PORT/);
    assert.throws(() => parseHostPort('host'), /missing port/);
    assert.throws(() => parseHostPort('host:99999'), /Invalid port/);
    assert.throws(() => parseHostPort(''), /must not be empty/);
    assert.equal(formatHostPort('::1', 53), '[::1]:53');
    assert.equal(formatHostPort('127.0.0.1', 53), '127.0.0.1:53');
  });

  test('exclusive', () => {
    exclusive({ '-4': true, '-6': false });
    assert.throws(() => exclusive({ '-4': true, '-6': true }), /Options -4 and -6 cannot be used together/);
  });
});
