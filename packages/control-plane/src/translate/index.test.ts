import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { evaluateL4, translate } from './index.js';
import type { ClusterSnapshot } from './types.js';
import { gateway, httpRoute, namespace, pod, policy, service } from './testing.js';
import type { StatusUpdate } from './types.js';

const MODE = 'ambit.dev/dataplane-mode';
const USE = 'ambit.dev/use-waypoint';

function snapshot(): ClusterSnapshot {
  return {
    namespaces: [namespace('demo', { [MODE]: 'ambient', [USE]: 'wp' }), namespace('plain'), namespace('ambit-system')],
    pods: [
      pod('echo-v2', { uid: 'u2', ip: '10.0.0.12', labels: { app: 'echo', version: 'v2' } }),
      pod('echo-v1', { uid: 'u1', ip: '10.0.0.11', labels: { app: 'echo', version: 'v1', [USE]: 'wpall' } }),
      pod('wp-0', { uid: 'uw', ip: '10.0.0.99', labels: { 'gateway.networking.k8s.io/gateway-name': 'wpall' } }),
      pod('legacy', { uid: 'ul', ns: 'plain', ip: '10.0.1.1' }),
      pod('pending', { uid: 'up', ip: null, phase: 'Pending' }),
      pod('done', { uid: 'ud', ip: '10.0.0.50', phase: 'Succeeded' }),
    ],
    services: [
      service('echo', { selector: { app: 'echo' }, clusterIP: '10.96.0.10', ports: [{ port: 80, targetPort: 8080 }] }),
      service('db', { selector: { app: 'db' }, clusterIP: '10.96.0.11', ports: [{ port: 5432 }] }, { labels: { [USE]: 'none' } }),
      service('ghosted', { clusterIP: '10.96.0.12' }, { labels: { [USE]: 'ghost' } }),
    ],
    gateways: [gateway('wp', { address: '10.0.9.1' }), gateway('wpall', { address: '10.0.0.99', labels: { 'ambit.dev/waypoint-for': 'all' } })],
    httpRoutes: [
      httpRoute('echo-split', {
        parentRefs: [{ group: '', kind: 'Service', name: 'echo', port: 80 }],
        rules: [{ backendRefs: [{ name: 'echo', weight: 9 }, { name: 'echo-canary', weight: 1 }] }],
      }),
      httpRoute('orphan', { parentRefs: [{ group: '', kind: 'Service', name: 'nope' }] }),
    ],
    policies: [
      policy('deny-admin', { action: 'DENY', rules: [{ to: [{ operation: { ports: ['9000'], paths: ['/admin'] } }] }] }),
      policy('l7', { targetRefs: [{ kind: 'Service', name: 'echo' }], rules: [{ to: [{ operation: { methods: ['GET'] } }] }] }),
      policy('allow-client', { selector: { matchLabels: { app: 'echo' } }, rules: [{ from: [{ source: { namespaces: ['client'] } }] }] }),
    ],
  };
}

describe('translate', () => {
  const state = translate(snapshot(), { trustDomain: 'td' });

  it('emits one workload per pod with an IP that is not finished, sorted', () => {
    assert.deepEqual(state.workloads.map((w) => `${w.namespace}/${w.name}:${w.protocol}`), [
      'demo/echo-v1:HBONE', 'demo/echo-v2:HBONE', 'demo/wp-0:HBONE', 'plain/legacy:TCP',
    ]);
  });

  it('binds workloads only to workload-capable waypoints; the waypoint pod itself is never bound', () => {
    const byName = new Map(state.workloads.map((w) => [w.name, w]));
    assert.equal(byName.get('echo-v1')?.waypoint?.gateway, 'demo/wpall');
    assert.equal(byName.get('echo-v2')?.waypoint, undefined, 'namespace waypoint wp is service-only');
    assert.equal(byName.get('wp-0')?.waypoint, undefined);
    assert.deepEqual(byName.get('echo-v1')?.services, ['demo/echo']);
  });

  it('builds services with bindings and endpoints', () => {
    assert.deepEqual(state.services.map((s) => s.name), ['db', 'echo', 'ghosted']);
    const echo = state.services.find((s) => s.name === 'echo');
    assert.equal(echo?.hostname, 'echo.demo.svc.cluster.local');
    assert.deepEqual(echo?.waypoint, { gateway: 'demo/wp', address: '10.0.9.1', port: 15008, identity: 'spiffe://td/ns/demo/sa/wp' });
    assert.deepEqual(echo?.endpoints.map((e) => [e.workloadUid, e.ports]), [['u1', { 80: 8080 }], ['u2', { 80: 8080 }]]);
    assert.equal(state.services.find((s) => s.name === 'db')?.waypoint, undefined);
  });

  it('publishes L4 policies with L7 parts resolved, and targetRefs policies for waypoints', () => {
    assert.deepEqual(state.authorizations.map((a) => `${a.key} ${a.scope.kind}`), ['demo/allow-client workload', 'demo/deny-admin namespace', 'demo/l7 targets']);
    assert.deepEqual(state.authorizations.find((a) => a.name === 'l7')?.rules, [{ from: [], to: [{ methods: ['GET'] }] }]);
    assert.deepEqual(state.authorizations.find((a) => a.name === 'deny-admin')?.rules, [{ from: [], to: [{ ports: [9000] }] }]);
  });

  it('publishes routes whose parent was accepted, rules resolved', () => {
    assert.deepEqual(state.routes, [{
      key: 'demo/echo-split', namespace: 'demo', name: 'echo-split', parents: [{ kind: 'Service', key: 'demo/echo', port: 80 }], hostnames: [],
      rules: [{
        matches: [{ path: { type: 'PathPrefix', value: '/' } }],
        backends: [{ service: 'demo/echo', port: 80, weight: 9 }, { service: 'demo/echo-canary', port: 80, weight: 1 }],
      }],
    }]);
  });

  it('writes status for gateways, bound services, routes and every policy, in order', () => {
    const describe = (s: StatusUpdate): string => (s.kind === 'HTTPRoute'
      ? s.parents.map((p) => p.conditions.map((c) => `${c.type}=${c.status}/${c.reason}`).join(',')).join(' | ')
      : s.conditions.map((c) => `${c.type}=${c.status}/${c.reason}`).join(','));
    assert.deepEqual(state.status.map((s) => `${s.kind} ${s.namespace}/${s.name} ${describe(s)}`), [
      'AuthorizationPolicy demo/allow-client Accepted=True/Accepted',
      'AuthorizationPolicy demo/deny-admin Accepted=True/PartiallyEnforced',
      'AuthorizationPolicy demo/l7 Accepted=True/Accepted',
      'Gateway demo/wp Accepted=True/Accepted,Programmed=True/Programmed',
      'Gateway demo/wpall Accepted=True/Accepted,Programmed=True/Programmed',
      'HTTPRoute demo/echo-split Accepted=True/Accepted,ResolvedRefs=False/BackendNotFound',
      'HTTPRoute demo/orphan Accepted=False/NoMatchingParent,ResolvedRefs=True/ResolvedRefs',
      'Service demo/echo ambit.dev/WaypointBound=True/WaypointAccepted',
      'Service demo/ghosted ambit.dev/WaypointBound=False/WaypointNotFound',
    ]);
  });

  it('is deterministic whatever the input order', () => {
    const shuffled = snapshot();
    for (const key of ['namespaces', 'pods', 'services', 'gateways', 'httpRoutes', 'policies'] as const) (shuffled[key] as unknown[]).reverse();
    assert.deepEqual(translate(shuffled, { trustDomain: 'td' }), state);
  });

  it('honours clusterDomain', () => {
    assert.equal(translate(snapshot(), { trustDomain: 'td', clusterDomain: 'example.org' }).services[0]?.hostname, 'db.demo.svc.example.org');
  });

  it('feeds evaluateL4: the DENY on 9000 (paths ignored) and the ALLOW for namespace client', () => {
    const echo = state.workloads.find((w) => w.name === 'echo-v1');
    assert.ok(echo);
    const from = (ns: string, port: number) =>
      evaluateL4(state.authorizations, { workload: echo, port, source: { identity: `spiffe://td/ns/${ns}/sa/default`, ip: '10.0.3.3' } });
    assert.deepEqual(from('client', 8080), { allowed: true, policy: 'demo/allow-client', reason: 'allowed-by-policy' });
    assert.deepEqual(from('client', 9000), { allowed: false, policy: 'demo/deny-admin', reason: 'denied-by-policy' });
    assert.deepEqual(from('other', 8080), { allowed: false, reason: 'no-allow-match' });
  });

  it('with several replicas, a ready waypoint pod stands for its acknowledgement (it may be subscribed to another replica)', () => {
    const programmed = (runtime: NonNullable<ClusterSnapshot['waypointRuntime']>): string | undefined => translate({ ...snapshot(), waypointRuntime: runtime }, { trustDomain: 'td' })
      .status.flatMap((s) => (s.kind === 'Gateway' && s.name === 'wpall' && 'conditions' in s ? s.conditions : [])).find((c) => c.type === 'Programmed')?.reason;
    const none = { synced: new Set<string>(), problems: new Map<string, string>() };
    assert.equal(programmed(none), 'Pending', 'one replica: the acknowledgement is awaited');
    assert.equal(programmed({ ...none, synced: new Set(['demo/wpall']) }), 'Programmed');
    assert.equal(programmed({ ...none, readyMeansSynced: true }), 'Programmed');
  });

  it('an empty cluster translates to nothing', () => {
    assert.deepEqual(translate({ namespaces: [], pods: [], services: [], gateways: [], httpRoutes: [], policies: [] }, { trustDomain: 'td' }),
      { workloads: [], services: [], authorizations: [], routes: [], status: [] });
  });
});
