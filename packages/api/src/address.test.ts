import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isAmbitError } from '@ambit/core';
import { parseAuthority, formatAuthority, socketAddress, normalizeIp } from './address.js';

describe('authority parsing', () => {
  const good: [string, string, number, 4 | 6][] = [
    ['10.244.1.7:8080', '10.244.1.7', 8080, 4],
    ['[::1]:15008', '::1', 15008, 6],
    ['[FD00::7]:1', 'fd00::7', 1, 6],
    ['127.0.0.1:65535', '127.0.0.1', 65535, 4],
  ];
  for (const [text, ip, port, family] of good) {
    it(`accepts ${text}`, () => {
      const address = parseAuthority(text);
      assert.deepEqual(address, { ip, port, family });
      assert.equal(parseAuthority(formatAuthority(address)).ip, ip);
    });
  }

  const bad = ['', 'example.com:80', '10.0.0.1', '10.0.0.1:', '10.0.0.1:0', '10.0.0.1:65536', '::1:80', '[::1]80',
    '[10.0.0.1]:80', '10.0.0.1:80x', '10.0.0.1:-1', ' 10.0.0.1:80'];
  for (const text of bad) {
    it(`refuses ${JSON.stringify(text)} with invalid-address`, () => {
      assert.throws(() => parseAuthority(text), (e) => isAmbitError(e, 'invalid-address'));
    });
  }

  it('normalizes v4-mapped v6 addresses', () => {
    assert.equal(normalizeIp('::ffff:10.1.2.3'), '10.1.2.3');
    assert.equal(socketAddress('::FFFF:127.0.0.1', 80).ip, '127.0.0.1');
    assert.equal(normalizeIp('::ffff:abcd'), '::ffff:abcd');
  });
});
