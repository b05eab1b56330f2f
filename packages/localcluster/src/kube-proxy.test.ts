import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CAPTURE_MARK } from '@ambit/ztunnel';
import { kubeProxyRuleset, serviceRules } from './kube-proxy.js';
import type { PodState, ServiceState } from './state.js';

const pod = (name: string, ip: string, labels: Record<string, string>, ready = true): PodState => ({
  namespace: 'default', name, node: 'node-1', netns: `ambit-x-default-${name}`, ip, host: 2, serviceAccount: 'default', labels,
  ports: [{ name: 'http', containerPort: 8080 }], ready,
});

describe('serviceRules', () => {
  const pods = [
    pod('echo-1', '10.244.2.2', { app: 'echo' }),
    pod('echo-2', '10.244.1.3', { app: 'echo' }),
    pod('echo-3', '10.244.1.4', { app: 'echo' }, false),
    pod('other', '10.244.1.5', { app: 'other' }),
  ];
  const services: ServiceState[] = [
    { namespace: 'default', name: 'echo', vip: '10.96.0.10', selector: { app: 'echo' }, labels: {}, ports: [{ port: 80, targetPort: 'http', protocol: 'TCP' }, { port: 9000, protocol: 'TCP' }] },
    { namespace: 'default', name: 'none', vip: '10.96.0.11', selector: { app: 'nobody' }, labels: {}, ports: [{ port: 80, protocol: 'TCP' }] },
    { namespace: 'elsewhere', name: 'echo', vip: '10.96.0.12', selector: { app: 'echo' }, labels: {}, ports: [{ port: 80, protocol: 'TCP' }] },
  ];

  it('selects ready pods of the same namespace and resolves named target ports', () => {
    const rules = serviceRules(services, pods);
    assert.deepEqual(rules.map((r) => [r.key, r.endpoints]), [
      ['default/echo:80', [{ ip: '10.244.1.3', port: 8080 }, { ip: '10.244.2.2', port: 8080 }]],
      ['default/echo:9000', [{ ip: '10.244.1.3', port: 9000 }, { ip: '10.244.2.2', port: 9000 }]],
      ['default/none:80', []],
      ['elsewhere/echo:80', []],
    ]);
  });

  it('writes DNAT with random selection, rejects without endpoints, and skips captured packets first', () => {
    const text = kubeProxyRuleset(serviceRules(services, pods));
    const mark = `0x${CAPTURE_MARK.toString(16)}`;
    assert.ok(text.startsWith('add table ip ambit-kubeproxy\ndelete table ip ambit-kubeproxy\n'));
    assert.match(text, /ip daddr 10\.96\.0\.10 tcp dport 80 dnat ip addr \. port to numgen random mod 2 map \{ 0 : 10\.244\.1\.3 \. 8080, 1 : 10\.244\.2\.2 \. 8080 \}/);
    assert.match(text, /ip daddr 10\.96\.0\.11 tcp dport 80 reject with tcp reset/);
    for (const chain of ['dstnat', 'output', 'reject-prerouting', 'reject-output']) {
      const body = text.slice(text.indexOf(`chain ${chain} {`)).split('\n');
      assert.equal(body[2]?.trim(), `meta mark & ${mark} == ${mark} return`, `${chain} skips captured packets first`);
    }
    assert.match(text, /chain dstnat \{\n\s+type nat hook prerouting priority -100;/);
  });

  it('uses a plain dnat for a single endpoint', () => {
    const text = kubeProxyRuleset(serviceRules([services[0]!], [pods[0]!]));
    assert.match(text, /tcp dport 80 dnat to 10\.244\.2\.2:8080 comment "default\/echo:80"/);
  });
});
