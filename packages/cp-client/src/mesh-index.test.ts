import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { DiscoveryUpdate, Service, Workload } from '@ambit/api';
import { isAmbitError } from '@ambit/core';
import { MeshIndex } from './mesh-index.js';

const wl = (uid: string, ip: string, node = 'n1', sa = 'default'): Workload => ({
  uid, name: uid, namespace: 'demo', serviceAccount: sa, identity: `spiffe://cluster.local/ns/demo/sa/${sa}`,
  addresses: [ip], node, protocol: 'HBONE', services: [], canonicalName: uid, canonicalRevision: 'v1', healthy: true, labels: {},
});
const svc = (name: string, vip: string): Service => ({
  name, namespace: 'demo', hostname: `${name}.demo.svc.cluster.local`, vips: [vip], ports: [{ port: 80, targetPort: 8080 }], endpoints: [],
});
const update = (version: string, snapshot: boolean, upserts: DiscoveryUpdate['upserts'], removals: DiscoveryUpdate['removals'] = []): DiscoveryUpdate =>
  ({ type: 'update', version, snapshot, upserts, removals });

describe('MeshIndex', () => {
  it('indexes a snapshot by address, VIP, node and identity', () => {
    const index = new MeshIndex();
    index.apply(update('e.1', true, [
      { kind: 'workload', value: wl('a', '10.0.0.1', 'n1', 'echo') },
      { kind: 'workload', value: wl('b', '10.0.0.2', 'n2', 'echo') },
      { kind: 'service', value: svc('echo', '10.96.0.10') },
    ]));
    assert.equal(index.version, 'e.1');
    assert.equal(index.workloadByAddress('10.0.0.2')?.uid, 'b');
    assert.equal(index.serviceByVip('10.96.0.10')?.name, 'echo');
    assert.deepEqual(index.workloadsOnNode('n1').map((w) => w.uid), ['a']);
    assert.deepEqual(index.workloadsWithIdentity('spiffe://cluster.local/ns/demo/sa/echo').map((w) => w.uid).sort(), ['a', 'b']);
  });

  it('applies deltas: moves, removals, and drops stale index entries', () => {
    const index = new MeshIndex();
    index.apply(update('e.1', true, [{ kind: 'workload', value: wl('a', '10.0.0.1') }, { kind: 'service', value: svc('echo', '10.96.0.10') }]));
    const change = index.apply(update('e.2', false, [{ kind: 'workload', value: wl('a', '10.0.0.9', 'n3') }], [{ kind: 'service', key: 'demo/echo' }]));
    assert.equal(index.workloadByAddress('10.0.0.1'), undefined, 'old address no longer resolves');
    assert.equal(index.workloadByAddress('10.0.0.9')?.node, 'n3');
    assert.deepEqual(index.workloadsOnNode('n1'), []);
    assert.equal(index.serviceByVip('10.96.0.10'), undefined);
    assert.equal(change.removed.length, 1);
  });

  it('a snapshot removes everything it does not contain', () => {
    const index = new MeshIndex();
    index.apply(update('e.1', true, [{ kind: 'workload', value: wl('a', '10.0.0.1') }, { kind: 'workload', value: wl('b', '10.0.0.2') }]));
    const change = index.apply(update('f.1', true, [{ kind: 'workload', value: wl('b', '10.0.0.2') }]));
    assert.equal(index.workload('a'), undefined);
    assert.deepEqual(change.removed.map((r) => (r.value as Workload).uid), ['a']);
    assert.deepEqual(index.counts(), { workloads: 1, services: 0, authorizations: 0 });
  });

  it('rejects a malformed update whole and keeps the previous state', () => {
    const index = new MeshIndex();
    index.apply(update('e.1', true, [{ kind: 'workload', value: wl('a', '10.0.0.1') }]));
    const bad = update('e.2', true, [
      { kind: 'workload', value: wl('b', '10.0.0.2') },
      { kind: 'workload', value: { ...wl('c', '10.0.0.3'), identity: 'not-spiffe' } },
    ]);
    assert.throws(() => index.apply(bad), (e) => isAmbitError(e, 'invalid-argument') && /upserts\[1\]\.value\.identity/.test(e.message));
    assert.equal(index.version, 'e.1');
    assert.equal(index.workload('a')?.uid, 'a');
    assert.equal(index.workload('b'), undefined);
    assert.throws(() => index.apply({ ...update('e.3', false, []), removals: [{ kind: 'pod', key: 'x' }] } as unknown as DiscoveryUpdate));
  });
});
