import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AmbitError } from '@ambit/core';
import { CONFIG_KEYS, parseZtunnelConfig } from './config.js';

const minimal = {
  node: 'node-1',
  'control-plane': '10.0.0.2:15012',
  'ca-root-file': '/var/lib/ambit/ca/root-cert.pem',
  'bootstrap-token-file': '/var/lib/ambit/bootstrap/node-node-1.token',
  'admin-socket': '/run/ambit/ztunnel.sock',
};

function fails(record: Record<string, string | number | undefined>, key: string, reason: RegExp): void {
  assert.throws(() => parseZtunnelConfig(record), (error: unknown) => {
    assert.ok(error instanceof AmbitError);
    assert.equal(error.code, 'invalid-config');
    assert.equal(error.details.key, key, error.message);
    assert.match(error.message, new RegExp(`^ztunnel config: ${key}=`));
    assert.match(error.message, reason);
    return true;
  });
}

describe('ztunnel config', () => {
  it('fills the documented defaults', () => {
    const config = parseZtunnelConfig(minimal);
    assert.equal(config.node, 'node-1');
    assert.deepEqual(config.controlPlane, { host: '10.0.0.2', port: 15012 });
    assert.equal(config.controlPlaneIdentity.uri, 'spiffe://cluster.local/ns/ambit-system/sa/control-plane');
    assert.equal(config.trustDomain, 'cluster.local');
    assert.equal(config.capture, 'none');
    assert.equal(config.hbonePort, 15008);
    assert.equal(config.outboundPort, 15001);
    assert.equal(config.inboundPlaintextPort, 15006);
    assert.deepEqual(config.socks5, { host: '127.0.0.1', port: 15080 });
    assert.deepEqual(config.metrics, { host: '127.0.0.1', port: 15020 });
    assert.deepEqual(config.readiness, { host: '127.0.0.1', port: 15021 });
    assert.equal(config.drainDeadlineMs, 10_000);
    assert.equal(config.connectTimeoutMs, 5_000);
    assert.equal(config.logLevel, 'info');
    assert.equal(config.table, 'ambit-ztunnel');
    assert.equal(config.sourceIp, 'preserve');
  });

  it('reads every key, with the control plane identity following the trust domain', () => {
    const config = parseZtunnelConfig({
      ...minimal, 'trust-domain': 'example.org', capture: 'nftables', 'hbone-port': '25008', 'outbound-port': 25001, 'inbound-plaintext-port': '25006',
      socks5: 'off', metrics: '[::1]:0', readiness: '0.0.0.0:0', 'drain-deadline': '30s', 'connect-timeout': '250ms', 'log-level': 'debug', table: 'zt_2', 'source-ip': 'node',
      'control-plane': 'control-plane.ambit-system.svc:15012',
    });
    assert.equal(config.controlPlaneIdentity.uri, 'spiffe://example.org/ns/ambit-system/sa/control-plane');
    assert.equal(config.capture, 'nftables');
    assert.equal(config.hbonePort, 25008);
    assert.equal(config.outboundPort, 25001);
    assert.equal(config.socks5, undefined);
    assert.deepEqual(config.metrics, { host: '::1', port: 0 });
    assert.deepEqual(config.controlPlane, { host: 'control-plane.ambit-system.svc', port: 15012 });
    assert.equal(config.drainDeadlineMs, 30_000);
    assert.equal(config.connectTimeoutMs, 250);
    assert.equal(config.table, 'zt_2');
    assert.equal(config.sourceIp, 'node');
  });

  const required = ['node', 'control-plane', 'ca-root-file', 'bootstrap-token-file', 'admin-socket'] as const;
  for (const key of required) {
    it(`requires ${key}`, () => fails({ ...minimal, [key]: undefined }, key, /is required/));
  }

  it('takes a loopback admin-address instead of admin-socket, and refuses both or a reachable address', () => {
    assert.deepEqual(parseZtunnelConfig({ ...minimal, 'admin-socket': undefined, 'admin-address': '127.0.0.1:15000' }).admin, { host: '127.0.0.1', port: 15000 });
    assert.deepEqual(parseZtunnelConfig({ ...minimal, 'admin-socket': undefined, 'admin-address': '[::1]:0' }).admin, { host: '::1', port: 0 });
    assert.equal(parseZtunnelConfig(minimal).admin, minimal['admin-socket']);
    fails({ ...minimal, 'admin-address': '127.0.0.1:15000' }, 'admin-address', /and admin-socket are alternatives/);
    fails({ ...minimal, 'admin-socket': undefined, 'admin-address': '0.0.0.0:15000' }, 'admin-address', /must be a loopback address/);
    fails({ ...minimal, 'admin-socket': undefined, 'admin-address': 'localhost:15000' }, 'admin-address', /must be ip:port/);
  });

  const bad: { key: string; value: string; reason: RegExp }[] = [
    { key: 'node', value: 'Node_1', reason: /Kubernetes node name/ },
    { key: 'control-plane', value: '10.0.0.2', reason: /must be host:port/ },
    { key: 'control-plane', value: '10.0.0.2:0', reason: /port other than 0/ },
    { key: 'control-plane', value: '::1:15012', reason: /must be host:port/ },
    { key: 'control-plane-identity', value: 'spiffe://cluster.local/control-plane', reason: /not a workload SPIFFE ID/ },
    { key: 'trust-domain', value: 'Bad Domain', reason: /trust domain/ },
    { key: 'capture', value: 'iptables', reason: /must be one of nftables, none/ },
    { key: 'hbone-port', value: '0', reason: /at least 1/ },
    { key: 'outbound-port', value: '70000', reason: /at most 65535/ },
    { key: 'socks5', value: 'localhost', reason: /must be host:port/ },
    { key: 'metrics', value: '127.0.0.1:99999', reason: /must be host:port/ },
    { key: 'drain-deadline', value: 'soon', reason: /duration/ },
    { key: 'connect-timeout', value: '0', reason: /more than 0/ },
    { key: 'log-level', value: 'verbose', reason: /must be one of/ },
    { key: 'table', value: '1table', reason: /nftables name/ },
    { key: 'source-ip', value: 'spoof', reason: /must be one of preserve, node/ },
    { key: 'admin-socket', value: `/tmp/${'x'.repeat(120)}.sock`, reason: /longer than 107 bytes/ },
    { key: 'admin-sockets', value: '/tmp/a.sock', reason: /is not a setting; known: node, control-plane/ },
  ];
  for (const c of bad) {
    it(`rejects ${c.key}=${c.value.length > 30 ? `${c.value.slice(0, 30)}...` : c.value}`, () => fails({ ...minimal, [c.key]: c.value }, c.key, c.reason));
  }

  it('rejects capture ports that collide, naming the later key', () => {
    fails({ ...minimal, capture: 'nftables', 'outbound-port': '15008' }, 'outbound-port', /is also hbone-port/);
  });

  it('lists every key it reads', () => {
    const record = Object.fromEntries(CONFIG_KEYS.map((k) => [k, undefined]));
    assert.doesNotThrow(() => parseZtunnelConfig({ ...record, ...minimal }));
  });
});
