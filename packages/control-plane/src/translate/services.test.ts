import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { resolveTargetPort, selectedPods, serviceVips, toService, toServicePort } from './services.js';
import type { Service } from '../resources.js';
import { pod, service } from './testing.js';

const named = (name: string, containerPort: number, extra: Record<string, string> = {}) =>
  pod(name, { labels: { app: 'echo', ...extra }, spec: { containers: [{ name: 'c', ports: [{ name: 'http', containerPort }] }] } });

describe('toService', () => {
  it('builds hostname, VIPs, ports and endpoints', () => {
    const svc = service('echo', {
      selector: { app: 'echo' }, clusterIPs: ['10.96.0.10', 'fd00:96::10'],
      ports: [{ name: 'web', port: 80, targetPort: 'http', appProtocol: 'http' }, { port: 9000 }, { port: 53, protocol: 'UDP' }],
    });
    const pods = [named('b', 8081), named('a', 8080, { extra: 'x' }), pod('other', { labels: { app: 'other' } })];
    assert.deepEqual(toService(svc, { clusterDomain: 'example.org', pods }), {
      name: 'echo', namespace: 'demo', hostname: 'echo.demo.svc.example.org', vips: ['10.96.0.10', 'fd00:96::10'],
      ports: [
        { name: 'web', port: 80, targetPort: 0, targetPortName: 'http', appProtocol: 'http' },
        { port: 9000, targetPort: 9000 },
      ],
      endpoints: [
        { workloadUid: 'uid-a', address: '10.0.0.1', ports: { 80: 8080, 9000: 9000 }, healthy: true },
        { workloadUid: 'uid-b', address: '10.0.0.1', ports: { 80: 8081, 9000: 9000 }, healthy: true },
      ],
    });
  });

  it('carries the waypoint binding', () => {
    const binding = { gateway: 'demo/wp', address: '10.0.9.9', port: 15008, identity: 'spiffe://td/ns/demo/sa/wp' };
    assert.deepEqual(toService(service('s', {}), { clusterDomain: 'cluster.local', pods: [], waypoint: binding }).waypoint, binding);
  });
});

describe('serviceVips', () => {
  const cases: { spec: Service['spec']; vips: string[] }[] = [
    { spec: { clusterIP: '10.96.0.1' }, vips: ['10.96.0.1'] },
    { spec: { clusterIP: '10.96.0.1', clusterIPs: ['10.96.0.1', 'fd00::1'] }, vips: ['10.96.0.1', 'fd00::1'] },
    { spec: { clusterIP: 'None', clusterIPs: ['None'] }, vips: [] },
    { spec: { clusterIP: 'None' }, vips: [] },
    { spec: { clusterIPs: [], clusterIP: '10.96.0.2' }, vips: ['10.96.0.2'] },
    { spec: {}, vips: [] },
  ];
  for (const c of cases) {
    it(JSON.stringify(c.spec), () => assert.deepEqual(serviceVips(service('s', c.spec ?? {})), c.vips));
  }
});

describe('target ports', () => {
  const cases: { name: string; targetPort?: number | string; expect: { targetPort: number; targetPortName?: string } }[] = [
    { name: 'absent → port', expect: { targetPort: 80 } },
    { name: 'number', targetPort: 8080, expect: { targetPort: 8080 } },
    { name: 'numeric string', targetPort: '8081', expect: { targetPort: 8081 } },
    { name: 'empty string → port', targetPort: '', expect: { targetPort: 80 } },
    { name: 'name', targetPort: 'http', expect: { targetPort: 0, targetPortName: 'http' } },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const port = toServicePort({ port: 80, ...(c.targetPort !== undefined ? { targetPort: c.targetPort } : {}) });
      assert.deepEqual(port, { port: 80, ...c.expect });
    });
  }

  it('a name resolves per pod, TCP container ports only, missing → undefined', () => {
    const port = toServicePort({ port: 80, targetPort: 'http' });
    assert.equal(resolveTargetPort(port, named('a', 8080)), 8080);
    const udp = pod('u', { spec: { containers: [{ name: 'c', ports: [{ name: 'http', containerPort: 9, protocol: 'UDP' }] }] } });
    assert.equal(resolveTargetPort(port, udp), undefined);
    assert.equal(resolveTargetPort(port, pod('none')), undefined);
  });

  it('an endpoint whose pod lacks the named port leaves that service port out', () => {
    const svc = service('s', { selector: { app: 'echo' }, ports: [{ port: 80, targetPort: 'http' }, { port: 81 }] });
    const mesh = toService(svc, { clusterDomain: 'cluster.local', pods: [pod('bare', { labels: { app: 'echo' } })] });
    assert.deepEqual(mesh.endpoints[0]?.ports, { 81: 81 });
  });
});

describe('selectedPods', () => {
  const svc = service('s', { selector: { app: 'echo' } });
  const cases: { name: string; pod: ReturnType<typeof pod>; selected: boolean }[] = [
    { name: 'matching', pod: pod('p', { labels: { app: 'echo', v: '1' } }), selected: true },
    { name: 'other namespace', pod: pod('p', { ns: 'other', labels: { app: 'echo' } }), selected: false },
    { name: 'no IP', pod: pod('p', { ip: null, labels: { app: 'echo' } }), selected: false },
    { name: 'unready stays as an unhealthy endpoint', pod: pod('p', { ready: false, labels: { app: 'echo' } }), selected: true },
    { name: 'terminating stays as an unhealthy endpoint', pod: pod('p', { deleting: true, labels: { app: 'echo' } }), selected: true },
    { name: 'succeeded is gone', pod: pod('p', { phase: 'Succeeded', labels: { app: 'echo' } }), selected: false },
    { name: 'label mismatch', pod: pod('p', { labels: { app: 'other' } }), selected: false },
  ];
  for (const c of cases) {
    it(c.name, () => assert.equal(selectedPods(svc, [c.pod]).length, c.selected ? 1 : 0));
  }

  it('no selector or an empty one selects nothing', () => {
    const p = pod('p', { labels: { app: 'echo' } });
    assert.deepEqual(selectedPods(service('s', {}), [p]), []);
    assert.deepEqual(selectedPods(service('s', { selector: {} }), [p]), []);
  });

  it('unhealthy endpoints are flagged', () => {
    const mesh = toService(svc, { clusterDomain: 'cluster.local', pods: [pod('p', { ready: false, labels: { app: 'echo' } })] });
    assert.equal(mesh.endpoints[0]?.healthy, false);
  });
});
