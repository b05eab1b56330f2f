import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Resource, Workload } from '@ambit/api';
import { VersionedState } from './state.js';

const w = (uid: string, node = 'n1'): Resource => ({
  kind: 'workload',
  value: {
    uid, name: uid, namespace: 'demo', serviceAccount: 'default', identity: 'spiffe://cluster.local/ns/demo/sa/default',
    addresses: ['10.0.0.1'], node, protocol: 'HBONE', services: [], canonicalName: uid, canonicalRevision: 'v1', healthy: true, labels: {},
  } satisfies Workload,
});

describe('VersionedState', () => {
  it('bumps the version only when something changed', () => {
    const state = new VersionedState();
    assert.equal(state.publish([w('a'), w('b')]), 2);
    assert.equal(state.version, 1);
    assert.equal(state.publish([w('a'), w('b')]), 0, 'identical state');
    assert.equal(state.version, 1);
    assert.equal(state.publish([w('a', 'n2'), w('b')]), 1);
    assert.equal(state.version, 2);
  });

  it('answers deltas since any known version, removals included', () => {
    const state = new VersionedState();
    state.publish([w('a'), w('b')]); // v1
    state.publish([w('a', 'n2'), w('b'), w('c')]); // v2
    state.publish([w('a', 'n2'), w('c')]); // v3: b removed
    const fromV1 = state.changesSince(1);
    assert.equal(fromV1.snapshot, false);
    assert.deepEqual(fromV1.upserts.map((r) => (r.value as Workload).uid).sort(), ['a', 'c']);
    assert.deepEqual(fromV1.removals, [{ kind: 'workload', key: 'b' }]);
    const fromV2 = state.changesSince(2);
    assert.deepEqual(fromV2.upserts, []);
    assert.deepEqual(fromV2.removals, [{ kind: 'workload', key: 'b' }]);
    assert.deepEqual(state.changesSince(3), { version: 3, snapshot: false, upserts: [], removals: [] });
  });

  it('sends a snapshot to new, unknown-version and too-old receivers', () => {
    const state = new VersionedState(1);
    state.publish([w('a'), w('b'), w('c')]); // v1
    state.publish([w('a')]); // v2: two tombstones, limit 1 → the older is pruned, floor = 2
    assert.equal(state.changesSince(undefined).snapshot, true);
    assert.equal(state.changesSince(99).snapshot, true, 'a version from the future (another run) is unknown');
    const old = state.changesSince(1);
    assert.equal(old.snapshot, true);
    assert.deepEqual(old.upserts.map((r) => (r.value as Workload).uid), ['a']);
    assert.equal(state.changesSince(2).snapshot, false);
  });

  it('a resource removed then re-added is an upsert, not a removal', () => {
    const state = new VersionedState();
    state.publish([w('a')]);
    state.publish([]);
    state.publish([w('a')]);
    const changes = state.changesSince(1);
    assert.deepEqual(changes.removals, []);
    assert.equal(changes.upserts.length, 1);
  });
});
