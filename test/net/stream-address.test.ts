import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ValidationError } from '../../src/core/errors.js';
import {
  addressScheme,
  formatStreamAddress,
  nodeUnixPath,
  parseStreamAddress,
  parseUnixPerm,
} from '../../src/net/stream-address.js';

describe('parseStreamAddress', () => {
  test('TCP forms', () => {
    assert.deepEqual(parseStreamAddress('127.0.0.1:80'), {
      kind: 'tcp',
      host: '127.0.0.1',
      port: 80,
      tls: false,
    });
    assert.deepEqual(parseStreamAddress('tcp:localhost:80'), {
      kind: 'tcp',
      host: 'localhost',
      port: 80,
      tls: false,
    });
    assert.deepEqual(parseStreamAddress('[::1]:8080'), { kind: 'tcp', host: '::1', port: 8080, tls: false });
    assert.deepEqual(parseStreamAddress('8080', { defaultHost: '127.0.0.1' }), {
      kind: 'tcp',
      host: '127.0.0.1',
      port: 8080,
      tls: false,
    });
    assert.deepEqual(parseStreamAddress(':0', { defaultHost: '::', allowZero: true }), {
      kind: 'tcp',
      host: '::',
      port: 0,
      tls: false,
    });
    assert.deepEqual(parseStreamAddress('192.0.2.1', { defaultPort: 443 }), {
      kind: 'tcp',
      host: '192.0.2.1',
      port: 443,
      tls: false,
    });
    assert.deepEqual(parseStreamAddress('::1', { defaultPort: 443 }), {
      kind: 'tcp',
      host: '::1',
      port: 443,
      tls: false,
    });
  });

  test('TLS and Unix forms', () => {
    assert.deepEqual(parseStreamAddress('tls:127.0.0.1:443'), {
      kind: 'tcp',
      host: '127.0.0.1',
      port: 443,
      tls: true,
    });
    assert.deepEqual(parseStreamAddress('tls:8443', { defaultHost: '127.0.0.1' }), {
      kind: 'tcp',
      host: '127.0.0.1',
      port: 8443,
      tls: true,
    });
    assert.deepEqual(parseStreamAddress('unix:/run/a.sock'), {
      kind: 'unix',
      path: '/run/a.sock',
      abstract: false,
      tls: false,
    });
    assert.deepEqual(parseStreamAddress('unix:@soket'), {
      kind: 'unix',
      path: '@soket',
      abstract: true,
      tls: false,
    });
    assert.deepEqual(parseStreamAddress('tls:unix:./x.sock'), {
      kind: 'unix',
      path: './x.sock',
      abstract: false,
      tls: true,
    });
  });

  test('the 108-byte sun_path limit is named', () => {
    const ok = `/tmp/${'a'.repeat(102)}`; // 107 bytes
    assert.equal(parseStreamAddress(`unix:${ok}`).kind, 'unix');
    assert.throws(
      () => parseStreamAddress(`unix:${ok}b`),
      (err: unknown) =>
        err instanceof ValidationError && /108 bytes/.test(err.message) && /at most 107/.test(err.message),
    );
    assert.throws(() => parseStreamAddress(`unix:@${'n'.repeat(108)}`), /at most 107/);
    // Bytes, not characters: 36 three-byte characters are 108 bytes.
    assert.throws(() => parseStreamAddress(`unix:${'€'.repeat(36)}`), /108 bytes/);
  });

  test('bad input names the argument', () => {
    for (const [text, re] of [
      ['', /must not be empty/],
      ['unix:', /unix:\/path/],
      ['udp:127.0.0.1:53', /not a stream address/],
      ['127.0.0.1', /missing port/],
      ['8080', /missing host/],
      ['::1:80', /missing port/], // a valid IPv6 address without a port
      ['host:1:2', /brackets/],
      ['[1.2.3.4]:80', /IPv6/],
      ['[::1:80', /unclosed/],
      ['127.0.0.1:0', /port/],
      ['127.0.0.1:70000', /port/],
      ['bad..name:80', /host/],
      ['tls:tls:1.2.3.4:5', /twice/],
    ] as const) {
      assert.throws(() => parseStreamAddress(text, { what: 'target' }), re, text);
    }
  });

  test('format reads back', () => {
    for (const text of [
      '127.0.0.1:80',
      '[::1]:80',
      'unix:/a/b',
      'unix:@x',
      'tls:127.0.0.1:443',
      'tls:unix:/s',
    ]) {
      assert.equal(formatStreamAddress(parseStreamAddress(text)), text);
    }
  });

  test('schemes, Node paths, modes', () => {
    assert.equal(addressScheme('udp:1.2.3.4:5'), 'udp');
    assert.equal(addressScheme('localhost:80'), 'tcp');
    assert.equal(addressScheme('TLS:1.2.3.4:5'), 'tls');
    assert.equal(nodeUnixPath({ kind: 'unix', path: '@n', abstract: true, tls: false }), '\0n');
    assert.equal(parseUnixPerm('0660'), 0o660);
    assert.equal(parseUnixPerm('600'), 0o600);
    assert.equal(parseUnixPerm('0o777'), 0o777);
    assert.throws(() => parseUnixPerm('0880'), /octal/);
    assert.throws(() => parseUnixPerm('rw'), /octal/);
  });
});
