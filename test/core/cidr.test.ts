import assert from 'node:assert/strict';
import { BlockList } from 'node:net';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { createAccessList, parseCidr, parseCidrList } from '../../src/core/cidr.js';
import { ValidationError } from '../../src/core/errors.js';

describe('cidr', () => {
  test('parseCidr normalises networks', () => {
    assert.equal(parseCidr('10.1.2.3/8').text, '10.0.0.0/8');
    assert.equal(parseCidr('192.0.2.7').text, '192.0.2.7/32');
    assert.equal(parseCidr('0.0.0.0/0').text, '0.0.0.0/0');
    assert.equal(parseCidr('::1').text, '::1/128');
    assert.equal(parseCidr('[2001:db8::1]/32').text, '2001:db8::/32');
    assert.equal(parseCidr('2001:db8:0:0:1:0:0:1/128').text, '2001:db8::1:0:0:1/128');
    assert.equal(parseCidr('::ffff:10.0.0.1/104').text, '::ffff:a00:0/104');
    assert.equal(parseCidr('::/0').text, '::/0');
    assert.equal(parseCidr('fe80::/10').family, 6);
  });

  test('bad rules are ValidationErrors naming the rule', () => {
    for (const bad of [
      '10.0.0.0/33',
      '::/129',
      '10.0.0.0/',
      '10.0.0.0/-1',
      '10.0.0/8',
      '300.0.0.1',
      'example.com',
      '',
      '10.0.0.0/8/8',
      'fe80::1%eth0',
      '::1/0x10',
    ]) {
      assert.throws(() => parseCidr(bad, '--allow'), ValidationError, bad);
    }
    assert.throws(() => parseCidr('10.0.0.0/33', '--allow'), {
      message: "Invalid --allow '10.0.0.0/33': prefix length must be 0 to 32",
    });
  });

  test('parseCidrList splits on commas and spaces; arrays are several lists', () => {
    assert.deepEqual(
      parseCidrList('10.0.0.0/8, 192.168.0.0/16 ::1').map((r) => r.text),
      ['10.0.0.0/8', '192.168.0.0/16', '::1/128'],
    );
    assert.deepEqual(
      parseCidrList(['127.0.0.1', '::1/128,fd00::/8']).map((r) => r.text),
      ['127.0.0.1/32', '::1/128', 'fd00::/8'],
    );
    assert.deepEqual(parseCidrList(''), []);
    assert.throws(() => parseCidrList('10.0.0.0/8,,::1', '--deny'), /Invalid --deny .*empty item/);
  });

  test('allow and deny', () => {
    const none = createAccessList();
    assert.equal(none.active, false);
    assert.equal(none.allows('203.0.113.9'), true);

    const acl = createAccessList({ allow: '127.0.0.0/8,::1', deny: '127.0.0.2' });
    assert.equal(acl.allows('127.0.0.1'), true);
    assert.equal(acl.allows('127.0.0.2'), false);
    assert.equal(acl.allows('10.0.0.1'), false);
    assert.equal(acl.allows('::1'), true);
    assert.equal(acl.allows('::2'), false);
    assert.equal(acl.allows('not-an-address'), false);
    assert.equal(acl.reason('127.0.0.2'), 'deny 127.0.0.2/32');
    assert.equal(acl.reason('127.0.0.9'), 'allow 127.0.0.0/8');
    assert.equal(acl.reason('10.0.0.1'), 'not in the allow list');
    assert.deepEqual(acl.toJSON(), { allow: ['127.0.0.0/8', '::1/128'], deny: ['127.0.0.2/32'] });

    const denyOnly = createAccessList({ deny: ['10.0.0.0/8'] });
    assert.equal(denyOnly.allows('10.9.9.9'), false);
    assert.equal(denyOnly.allows('192.0.2.1'), true);
    assert.equal(denyOnly.allows('2001:db8::1'), true);
  });

  test('IPv4-mapped IPv6 peers match IPv4 rules, and IPv4 peers match ::ffff:0:0/96 rules', () => {
    const acl = createAccessList({ allow: '192.0.2.0/24' });
    assert.equal(acl.allows('::ffff:192.0.2.7'), true);
    assert.equal(acl.allows('::FFFF:192.0.2.7'), true);
    assert.equal(acl.allows('::ffff:c000:207'), true);
    assert.equal(acl.allows('::ffff:198.51.100.1'), false);
    assert.equal(acl.allows('::192.0.2.7'), false, 'IPv4-compatible is not IPv4-mapped');
    const mapped = createAccessList({ allow: '::ffff:0:0/96' });
    assert.equal(mapped.allows('203.0.113.5'), true);
    assert.equal(mapped.allows('2001:db8::1'), false);
  });

  test('a zone index is ignored when matching', () => {
    const acl = createAccessList({ allow: 'fe80::/10' });
    assert.equal(acl.allows('fe80::1%eth0'), true);
    assert.equal(acl.allows('fe80::1%2'), true);
  });

  test('rules given as parsed objects', () => {
    const acl = createAccessList({ allow: [parseCidr('10.0.0.0/8')] });
    assert.equal(acl.allows('10.2.3.4'), true);
    assert.throws(() => createAccessList({ allow: [{} as never] }), ValidationError);
  });

  test('agrees with node:net BlockList on random IPv4 and IPv6 subnets', () => {
    const v4 = fc.tuple(fc.ipV4(), fc.integer({ min: 0, max: 32 }), fc.ipV4());
    fc.assert(
      fc.property(v4, ([net, prefix, peer]) => {
        const rule = parseCidr(`${net}/${prefix}`);
        const bl = new BlockList();
        bl.addSubnet(rule.text.split('/')[0] as string, prefix, 'ipv4');
        const acl = createAccessList({ allow: [rule] });
        return acl.allows(peer) === bl.check(peer, 'ipv4');
      }),
      { numRuns: 2000 },
    );
    const v6 = fc.tuple(fc.ipV6(), fc.integer({ min: 0, max: 128 }), fc.ipV6());
    fc.assert(
      fc.property(v6, ([net, prefix, peer]) => {
        const rule = parseCidr(`${net}/${prefix}`);
        const bl = new BlockList();
        bl.addSubnet(rule.text.split('/')[0] as string, prefix, 'ipv6');
        const acl = createAccessList({ allow: [rule] });
        // BlockList treats IPv4-mapped peers specially only for IPv4 rules; compare on plain IPv6 rules.
        return acl.allows(peer) === bl.check(peer, 'ipv6');
      }),
      { numRuns: 2000 },
    );
  });
});
