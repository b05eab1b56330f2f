import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { resourceKey, type Resource, type Service } from '@ambit/api';
import { ScopeMembership } from './membership.js';
import { ScopeIndex } from './scope.js';
import { VersionedState } from './state.js';

const GATEWAY = 'demo/wp';

const workload = (uid: string, node = 'n1'): Resource => ({
  kind: 'workload',
  value: {
    uid, name: uid, namespace: 'demo', serviceAccount: 'default', identity: 'spiffe://cluster.local/ns/demo/sa/default',
    addresses: [`10.0.0.${uid.length}`], node, protocol: 'HBONE', services: [], canonicalName: uid, canonicalRevision: 'v1', healthy: true, labels: {},
  },
});

/** A service, bound to GATEWAY when `bound`; `port` lets a test change it. */
const service = (name: string, options: { bound?: boolean; port?: number } = {}): Resource => ({
  kind: 'service',
  value: {
    name, namespace: 'demo', hostname: `${name}.demo.svc.cluster.local`, vips: [], ports: [{ port: options.port ?? 80, targetPort: 8080 }], endpoints: [],
    ...(options.bound === true ? { waypoint: { gateway: GATEWAY, address: '10.96.9.9', port: 15008, identity: 'spiffe://cluster.local/ns/demo/sa/wp' } } : {}),
  } satisfies Service,
});

/** The waypoint's own service. */
const echo = service('echo', { bound: true });

/** A route attached to `echo`, sending to `backends` (service names): those enter the scope with it. */
const route = (backends: string[]): Resource => ({
  kind: 'route',
  value: {
    key: 'demo/r-echo', namespace: 'demo', name: 'r-echo', parents: [{ kind: 'Service', key: 'demo/echo' }], hostnames: [],
    rules: [{ matches: [], backends: backends.map((name) => ({ service: `demo/${name}`, port: 80, weight: 1 })) }],
  },
});

/** A `targetRefs` policy on the service `target`: in the scope exactly when that service is. */
const policy = (name: string, target: string): Resource => ({
  kind: 'authorization',
  value: {
    key: `demo/${name}`, name, namespace: 'demo', action: 'ALLOW', rules: [],
    scope: { kind: 'targets', namespace: 'demo', targets: [{ kind: 'Service', key: `demo/${target}` }] },
  },
});

/** A state and the membership of GATEWAY's scope, both advanced by `publish`. */
function harness(tombstoneLimit?: number): { state: VersionedState; membership: ScopeMembership; publish: (resources: Resource[]) => number } {
  const state = new VersionedState();
  const membership = new ScopeMembership(0, [], tombstoneLimit);
  return {
    state,
    membership,
    publish(resources) {
      state.publish(resources);
      membership.update(state.version, new ScopeIndex(state.resources()).scopeOf(GATEWAY));
      return state.version;
    },
  };
}

const ids = (resources: Resource[]): string[] => resources.map((r) => `${r.kind}/${resourceKey(r)}`).sort();
const byKey = <T extends { key: string }>(list: T[]): T[] => [...list].sort((x, y) => x.key.localeCompare(y.key));

describe('ScopeMembership', () => {
  it('a snapshot holds only the scope', () => {
    const { state, membership, publish } = harness();
    publish([echo, service('backend'), service('other'), route(['backend']), policy('to-other', 'other'), workload('a')]);
    const snapshot = membership.changesSince(undefined, state);
    assert.equal(snapshot.snapshot, true);
    assert.deepEqual(ids(snapshot.upserts), ['route/demo/r-echo', 'service/demo/backend', 'service/demo/echo', 'workload/a']);
  });

  it('sends an unchanged resource that enters the scope as an upsert', () => {
    const { state, membership, publish } = harness();
    const v1 = publish([echo, service('backend'), policy('to-backend', 'backend')]);
    publish([echo, service('backend'), policy('to-backend', 'backend'), route(['backend'])]); // only the route is new
    assert.deepEqual(ids(state.changesSince(v1).upserts), ['route/demo/r-echo'], 'the backend and its policy did not change');
    const delta = membership.changesSince(v1, state);
    assert.equal(delta.snapshot, false);
    assert.deepEqual(ids(delta.upserts), ['authorization/demo/to-backend', 'route/demo/r-echo', 'service/demo/backend']);
    assert.deepEqual(delta.removals, []);
  });

  it('sends a resource that leaves the scope, or the state, as a removal', () => {
    const { state, membership, publish } = harness();
    const v1 = publish([echo, service('backend'), service('gone'), route(['backend', 'gone'])]);
    const v2 = publish([echo, service('backend')]); // backend still exists, out of scope; gone and the route deleted
    const delta = membership.changesSince(v1, state);
    assert.deepEqual(delta.upserts, []);
    assert.deepEqual(byKey(delta.removals), [
      { kind: 'service', key: 'demo/backend' }, { kind: 'service', key: 'demo/gone' }, { kind: 'route', key: 'demo/r-echo' },
    ]);
    assert.deepEqual(membership.changesSince(v2, state), { version: v2, snapshot: false, upserts: [], removals: [] });
  });

  it('sends every workload\'s changes and removals, whatever it serves', () => {
    const { state, membership, publish } = harness();
    const v1 = publish([echo, workload('a'), workload('b')]);
    publish([echo, workload('a', 'n2'), workload('c')]);
    const delta = membership.changesSince(v1, state);
    assert.deepEqual(ids(delta.upserts), ['workload/a', 'workload/c']);
    assert.deepEqual(delta.removals, [{ kind: 'workload', key: 'b' }]);
  });

  it('does not send changes to resources outside the scope', () => {
    const { state, membership, publish } = harness();
    const v1 = publish([echo, service('other'), workload('a')]);
    publish([echo, service('other', { port: 81 }), policy('to-other', 'other'), workload('a')]);
    assert.deepEqual(membership.changesSince(v1, state).upserts, []);
    assert.equal(state.changesSince(v1).upserts.length, 2, 'the whole state did change');
  });

  it('a member that left and came back is an upsert, not a removal', () => {
    const { state, membership, publish } = harness();
    const v1 = publish([echo, service('backend'), route(['backend'])]);
    publish([echo, service('backend'), route([])]);
    publish([echo, service('backend'), route(['backend'])]);
    const delta = membership.changesSince(v1, state);
    assert.deepEqual(ids(delta.upserts), ['route/demo/r-echo', 'service/demo/backend']);
    assert.deepEqual(delta.removals, []);
  });

  it('answers a delta from any version it recorded, and a snapshot before it or after it', () => {
    const state = new VersionedState();
    state.publish([echo, workload('a')]); // v1, before the membership existed
    state.publish([echo, workload('a'), workload('b')]); // v2
    const membership = new ScopeMembership(state.version, new ScopeIndex(state.resources()).scopeOf(GATEWAY));
    assert.equal(membership.changesSince(1, state).snapshot, true, 'not recorded at v1');
    assert.deepEqual(membership.changesSince(2, state), { version: 2, snapshot: false, upserts: [], removals: [] });
    assert.equal(membership.changesSince(3, state).snapshot, true, 'a version from the future (another run) is unknown');
  });

  it('answers a snapshot once the tombstones a delta needs were pruned', () => {
    const { state, membership, publish } = harness(1);
    const v1 = publish([echo, service('b1'), service('b2'), route(['b1', 'b2'])]);
    const v2 = publish([echo, service('b1'), service('b2'), route(['b2'])]);
    publish([echo, service('b1'), service('b2'), route([])]); // a second tombstone: the first is pruned
    assert.equal(membership.changesSince(v1, state).snapshot, true);
    assert.deepEqual(membership.changesSince(v2, state).removals, [{ kind: 'service', key: 'demo/b2' }]);
  });
});
