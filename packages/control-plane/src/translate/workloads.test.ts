import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalName, canonicalRevision, toWorkload } from './workloads.js';
import { pod } from './testing.js';

describe('toWorkload', () => {
  it('maps every field of an enrolled, ready pod', () => {
    const p = pod('echo-v1-abc', {
      ns: 'demo', uid: 'u-1', ips: ['10.0.0.5', 'fd00::5'], labels: { app: 'echo', version: 'v1' },
      spec: { serviceAccountName: 'echo', nodeName: 'node-b' },
    });
    const binding = { gateway: 'demo/wp', address: '10.0.9.9', port: 15008, identity: 'spiffe://td/ns/demo/sa/wp' };
    assert.deepEqual(toWorkload(p, { trustDomain: 'td', enrolled: true, services: ['demo/z', 'demo/a'], waypoint: binding }), {
      uid: 'u-1', name: 'echo-v1-abc', namespace: 'demo', serviceAccount: 'echo',
      identity: 'spiffe://td/ns/demo/sa/echo', addresses: ['10.0.0.5', 'fd00::5'], node: 'node-b', protocol: 'HBONE',
      waypoint: binding, services: ['demo/a', 'demo/z'], canonicalName: 'echo', canonicalRevision: 'v1', healthy: true,
      labels: { app: 'echo', version: 'v1' },
    });
  });

  const cases: { name: string; check: () => void }[] = [
    { name: 'service account defaults to "default"', check: () => {
      const w = toWorkload(pod('p', { spec: { serviceAccountName: '' } }), { trustDomain: 'cluster.local', enrolled: false, services: [] });
      assert.equal(w.serviceAccount, 'default');
      assert.equal(w.identity, 'spiffe://cluster.local/ns/demo/sa/default');
    } },
    { name: 'not enrolled → TCP, no waypoint field', check: () => {
      const w = toWorkload(pod('p'), { trustDomain: 'td', enrolled: false, services: [] });
      assert.equal(w.protocol, 'TCP');
      assert.equal('waypoint' in w, false);
    } },
    { name: 'terminating → unhealthy', check: () => {
      assert.equal(toWorkload(pod('p', { deleting: true }), { trustDomain: 'td', enrolled: true, services: [] }).healthy, false);
    } },
    { name: 'labels are copied, not shared', check: () => {
      const p = pod('p', { labels: { a: '1' } });
      const w = toWorkload(p, { trustDomain: 'td', enrolled: true, services: [] });
      w.labels['b'] = '2';
      assert.deepEqual(p.metadata.labels, { a: '1' });
    } },
  ];
  for (const c of cases) it(c.name, c.check);
});

describe('canonical name and revision', () => {
  const cases: { labels?: Record<string, string>; name: string; revision: string }[] = [
    { labels: { app: 'a', 'app.kubernetes.io/name': 'k', version: 'v', 'app.kubernetes.io/version': 'kv' }, name: 'a', revision: 'v' },
    { labels: { 'app.kubernetes.io/name': 'k', 'app.kubernetes.io/version': 'kv' }, name: 'k', revision: 'kv' },
    { labels: { app: '', version: '' }, name: 'pod-x', revision: 'latest' },
    { name: 'pod-x', revision: 'latest' },
  ];
  for (const c of cases) {
    it(`${JSON.stringify(c.labels ?? {})} → ${c.name}/${c.revision}`, () => {
      const p = pod('pod-x', c.labels ? { labels: c.labels } : {});
      assert.equal(canonicalName(p), c.name);
      assert.equal(canonicalRevision(p), c.revision);
    });
  }
});
