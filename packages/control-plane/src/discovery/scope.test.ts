import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Authorization, HttpRoute, Resource, Service, Workload, WaypointBinding } from '@ambit/api';
import { ScopeIndex } from './scope.js';

const binding = (gateway: string): WaypointBinding => ({ gateway, address: '10.96.9.9', port: 15008, identity: `spiffe://cluster.local/ns/${gateway}` });

const workload = (uid: string, address: string, extra: Partial<Workload> = {}): Resource => ({
  kind: 'workload',
  value: {
    uid, name: uid, namespace: 'demo', serviceAccount: 'default', identity: 'spiffe://cluster.local/ns/demo/sa/default',
    addresses: [address], node: 'n1', protocol: 'HBONE', services: [], canonicalName: uid, canonicalRevision: 'v1', healthy: true, labels: {},
    ...extra,
  },
});

const service = (name: string, endpoints: [uid: string, address: string][], gateway?: string): Resource => ({
  kind: 'service',
  value: {
    name, namespace: 'demo', hostname: `${name}.demo.svc.cluster.local`, vips: [], ports: [{ port: 80, targetPort: 8080 }],
    endpoints: endpoints.map(([workloadUid, address]) => ({ workloadUid, address, ports: { 80: 8080 }, healthy: true })),
    ...(gateway === undefined ? {} : { waypoint: binding(gateway) }),
  } satisfies Service,
});

const route = (name: string, parents: HttpRoute['parents'], backends: string[]): Resource => ({
  kind: 'route',
  value: {
    key: `demo/${name}`, namespace: 'demo', name, parents, hostnames: [],
    rules: [{ matches: [], backends: backends.map((s) => ({ service: s, port: 80, weight: 1 })) }],
  },
});

const policy = (name: string, scope: Authorization['scope']): Resource => ({
  kind: 'authorization', value: { key: `demo/${name}`, name, namespace: 'demo', scope, action: 'ALLOW', rules: [] },
});

const targets = (...list: { kind: 'Gateway' | 'Service'; key: string }[]): Authorization['scope'] => ({ kind: 'targets', namespace: 'demo', targets: list });

const mesh: Resource[] = [
  service('echo', [['w-echo', '10.0.0.1'], ['demo/not-a-uid', '10.0.0.2']], 'demo/wp'),
  service('backend', [['w-backend', '10.0.0.3']]),
  service('gw-backend', [['w-gw-backend', '10.0.0.4']]),
  service('other', [['w-other', '10.0.0.5']], 'demo/wp2'),
  service('plain', [['w-plain', '10.0.0.6']]),
  route('r-echo', [{ kind: 'Service', key: 'demo/echo', port: 80 }], ['demo/backend', '!unresolved:demo/missing']),
  route('r-gateway', [{ kind: 'Gateway', key: 'demo/wp' }], ['demo/gw-backend']),
  route('r-other', [{ kind: 'Service', key: 'demo/other' }], ['demo/backend']),
  route('r-plain', [{ kind: 'Service', key: 'demo/plain' }], ['demo/plain']),
  policy('a-gateway', targets({ kind: 'Gateway', key: 'demo/wp' })),
  policy('a-backend', targets({ kind: 'Service', key: 'demo/backend' })),
  policy('a-other', targets({ kind: 'Service', key: 'demo/other' }, { kind: 'Gateway', key: 'demo/wp2' })),
  policy('a-namespace', { kind: 'namespace', namespace: 'demo' }),
  policy('a-mesh', { kind: 'mesh' }),
  workload('w-echo', '10.0.0.1'),
  workload('w-by-address', '10.0.0.2'),
  workload('w-backend', '10.0.0.3'),
  workload('w-gw-backend', '10.0.0.4'),
  workload('w-other', '10.0.0.5'),
  workload('w-plain', '10.0.0.6'),
  workload('w-bound', '10.0.0.7', { waypoint: binding('demo/wp') }),
  workload('w-stray', '10.0.0.8'),
];

const scope = (gateway: string, resources: Resource[] = mesh): string[] => [...new ScopeIndex(resources).scopeOf(gateway)].sort();

/** Every workload of `mesh`: a waypoint names its callers from any of them, bound or not, backing a service or not. */
const EVERY_WORKLOAD = [
  'workload/w-backend', 'workload/w-bound', 'workload/w-by-address', 'workload/w-echo',
  'workload/w-gw-backend', 'workload/w-other', 'workload/w-plain', 'workload/w-stray',
];

describe('ScopeIndex', () => {
  it('scopes a waypoint to its services, their routes, backends and policies, and every workload', () => {
    assert.deepEqual(scope('demo/wp'), [
      'authorization/demo/a-backend', // targets a route backend
      'authorization/demo/a-gateway',
      'route/demo/r-echo', // attached to a bound service
      'route/demo/r-gateway', // attached to the Gateway
      'service/demo/backend', // a backend of r-echo
      'service/demo/echo', // bound
      'service/demo/gw-backend', // a backend of r-gateway
      ...EVERY_WORKLOAD,
    ]);
  });

  it('keeps other waypoints\' services, routes and policies out, but not workloads', () => {
    assert.deepEqual(scope('demo/wp2'), [
      'authorization/demo/a-backend', 'authorization/demo/a-other', 'route/demo/r-other',
      'service/demo/backend', 'service/demo/other', ...EVERY_WORKLOAD,
    ]);
  });

  it('holds only the workloads for a Gateway nothing uses, and nothing in an empty mesh', () => {
    assert.deepEqual(scope('demo/unused'), EVERY_WORKLOAD);
    assert.deepEqual(scope('demo/wp', []), []);
  });

  it('takes in a workload no service or binding names, in any namespace', () => {
    const resources = [service('echo', [], 'demo/wp'), workload('w-lonely', '10.0.0.9', { namespace: 'elsewhere', node: 'n9' })];
    assert.deepEqual(scope('demo/wp', resources), ['service/demo/echo', 'workload/w-lonely']);
  });

  it('ignores backends that name no known service', () => {
    const resources = [service('echo', [], 'demo/wp'), route('r', [{ kind: 'Service', key: 'demo/echo' }], ['!unresolved:demo/x', 'demo/gone'])];
    assert.deepEqual(scope('demo/wp', resources), ['route/demo/r', 'service/demo/echo']);
  });

  it('routes attached only to a backend service are that service\'s waypoint\'s, not this one\'s', () => {
    const resources = [
      service('echo', [], 'demo/wp'), service('backend', []),
      route('r-echo', [{ kind: 'Service', key: 'demo/echo' }], ['demo/backend']),
      route('r-backend', [{ kind: 'Service', key: 'demo/backend' }], ['demo/backend']),
    ];
    assert.deepEqual(scope('demo/wp', resources), ['route/demo/r-echo', 'service/demo/backend', 'service/demo/echo']);
  });
});
