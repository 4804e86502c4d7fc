import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  AbortError,
  KissOfDeathError,
  NetworkError,
  SoketError,
  TimeoutError,
  toSoketError,
  ValidationError,
} from '../../src/core/errors.js';

describe('errors', () => {
  test('every class has a stable code and name, and is a SoketError', () => {
    const cases: Array<[SoketError, string, string]> = [
      [new ValidationError('x'), 'SOKET_INVALID_ARGUMENT', 'ValidationError'],
      [new TimeoutError('connect', '127.0.0.1:9000', 2000), 'SOKET_TIMEOUT', 'TimeoutError'],
      [new AbortError(), 'SOKET_ABORTED', 'AbortError'],
      [new KissOfDeathError('RATE', '127.0.0.1:123', 'back off'), 'SOKET_KOD', 'KissOfDeathError'],
    ];
    for (const [err, code, name] of cases) {
      assert.ok(err instanceof SoketError);
      assert.ok(err instanceof Error);
      assert.equal(err.code, code);
      assert.equal(err.name, name);
    }
  });

  test('timeout messages say what, where and how long', () => {
    const err = new TimeoutError('connect', '127.0.0.1:9000', 2000);
    assert.equal(err.message, 'Connect to 127.0.0.1:9000 timed out after 2000 ms');
    assert.equal(err.phase, 'connect');
    assert.equal(err.timeoutMs, 2000);
    assert.equal(
      new TimeoutError('response', 'SNTP server time.example', 5000, '(3 tries)').message,
      'Waiting for a response from SNTP server time.example timed out after 5000 ms (3 tries)',
    );
  });

  test('toSoketError keeps OS codes and writes a readable message', () => {
    const sys = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), {
      code: 'ECONNREFUSED',
      syscall: 'connect',
      errno: -111,
    });
    const err = toSoketError(sys, 'Cannot reach 127.0.0.1:9');
    assert.ok(err instanceof NetworkError);
    assert.equal(err.code, 'ECONNREFUSED');
    assert.equal(err.message, 'Cannot reach 127.0.0.1:9: connection refused');
    assert.equal(err.cause, sys);
    const same = new ValidationError('v');
    assert.equal(toSoketError(same), same);
    assert.deepEqual(toSoketError('boom').toJSON(), { code: 'SOKET_ERROR', message: 'boom' });
  });
});
