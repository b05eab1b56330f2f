import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isAmbitError } from '@ambit/core';
import { parseWaypointConfig } from './config.js';

const required = {
  gateway: 'demo/waypoint', 'control-plane': 'cp.ambit-system:15012', 'ca-root-file': '/roots.pem',
  'bootstrap-token-file': '/token', 'admin-socket': '/run/wp.sock',
};

describe('waypoint config', () => {
  it('fills the defaults', () => {
    const config = parseWaypointConfig(required);
    assert.deepEqual(config.gateway, { namespace: 'demo', name: 'waypoint' });
    assert.deepEqual(config.hbone, { host: '0.0.0.0', port: 15008 });
    assert.equal(config.upstreamHbonePort, 15008);
    assert.equal(config.controlPlaneIdentity.uri, 'spiffe://cluster.local/ns/ambit-system/sa/control-plane');
    assert.equal(config.connectTimeoutMs, 5_000);
  });
  const errors: [string, Record<string, string>, RegExp][] = [
    ['gateway missing', { ...required, gateway: '' }, /gateway="" is required/],
    ['gateway without namespace', { ...required, gateway: 'waypoint' }, /namespace\/name/],
    ['hbone must be an IP', { ...required, hbone: 'localhost:15008' }, /hbone="localhost:15008" must be ip:port/],
    ['control plane port 0', { ...required, 'control-plane': '10.0.0.1:0' }, /port other than 0/],
    ['bad duration', { ...required, 'connect-timeout': 'soon' }, /connect-timeout="soon" must be a duration/],
    ['unknown key', { ...required, hbon: '1' }, /hbon="1" is not a setting/],
    ['bad log level', { ...required, 'log-level': 'loud' }, /log-level="loud"/],
  ];
  for (const [name, record, message] of errors) {
    it(`rejects: ${name}`, () => {
      assert.throws(() => parseWaypointConfig(record), (error: unknown) => isAmbitError(error, 'invalid-config') && message.test((error as Error).message));
    });
  }
  it('accepts bracketed IPv6 listeners', () => {
    assert.deepEqual(parseWaypointConfig({ ...required, metrics: '[::1]:0' }).metrics, { host: '::1', port: 0 });
  });
});
