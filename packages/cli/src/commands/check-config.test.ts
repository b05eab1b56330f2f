// `ambit check`'s configuration checks against a real local store: each
// use-waypoint label resolved as the control plane resolves it, routes judged
// by the status.parents entries of our controller only.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalStore, ROUTE_CONTROLLER_NAME, type Gateway, type HTTPRoute, type KubeObject } from '@ambit/control-plane';
import type { CheckResult } from './check.js';
import { checkConfiguration, type ConfigurationInput } from './check-config.js';
import { waypointGateway } from './waypoint.js';

const programmed = (gateway: Gateway, address: string): Gateway => ({
  ...gateway,
  status: { addresses: [{ type: 'IPAddress', value: address }], conditions: [{ type: 'Programmed', status: 'True', reason: 'Programmed', message: 'ready' }] },
});

function route(name: string, parentRefs: NonNullable<HTTPRoute['spec']>['parentRefs'], parents?: NonNullable<HTTPRoute['status']>['parents']): HTTPRoute {
  return {
    apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name, namespace: 'shop' },
    spec: { parentRefs, rules: [{ backendRefs: [{ name: 'api', port: 80 }] }] }, ...(parents === undefined ? {} : { status: { parents } }),
  };
}

const accepted = (message = 'attached') => ({ type: 'Accepted', status: 'True' as const, reason: 'Accepted', message });
const resolved = { type: 'ResolvedRefs', status: 'True' as const, reason: 'ResolvedRefs', message: 'all references resolved' };

describe('check: configuration', () => {
  let dir: string;
  let store: LocalStore;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ambit-check-config-'));
    store = await LocalStore.open(dir);
  });

  after(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function check(input: Partial<ConfigurationInput>, objects: KubeObject[]): Promise<CheckResult[]> {
    for (const object of objects) {
      await store.create(object);
      // As the control plane writes it: status is its own subresource.
      if (object.status !== undefined) await store.updateStatus(object.kind as 'HTTPRoute', object.metadata.name, object.metadata.namespace, object.status);
    }
    try {
      const results: CheckResult[] = [];
      await checkConfiguration({ store, trustDomain: 'cluster.local', gateways: [], namespaces: [], pods: [], ...input },
        (group, verdict, title, detail, hint) => results.push({ group, verdict, title, ...(detail === undefined ? {} : { detail }), ...(hint === undefined ? {} : { hint }) }));
      return results;
    } finally {
      for (const object of objects) await store.delete(object.kind as 'Service', object.metadata.name, object.metadata.namespace);
    }
  }
  const of = (results: CheckResult[], group: string): CheckResult[] => results.filter((r) => r.group === group);

  it('says there is nothing to check on an empty mesh', async () => {
    const results = await check({}, []);
    assert.deepEqual(results.map((r) => [r.group, r.verdict, r.title]), [
      ['waypoints', 'ok', 'no waypoints to check'],
      ['waypoint bindings', 'ok', 'no use-waypoint labels to check'],
      ['policies', 'ok', 'no authorization policies to check'],
      ['routes', 'ok', 'no HTTP routes to check'],
    ]);
  });

  it('resolves each use-waypoint label: bound, missing, not for its kind, waypoint-for none', async () => {
    const waypoint = programmed(waypointGateway('shop', 'waypoint', 'service'), '10.96.0.9');
    const pods = programmed(waypointGateway('shop', 'pods', 'workload'), '10.96.0.10');
    const idle = programmed(waypointGateway('shop', 'idle', 'none'), '10.96.0.11');
    const service = (name: string, labels: Record<string, string>): KubeObject => ({
      apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'shop', labels }, spec: { ports: [{ port: 80 }] },
    });
    const results = of(await check({
      gateways: [waypoint, pods, idle],
      namespaces: [
        { name: 'shop', labels: { 'ambit.dev/use-waypoint': 'waypoint' } },
        { name: 'pods-only', labels: { 'ambit.dev/use-waypoint': 'pods', 'ambit.dev/use-waypoint-namespace': 'shop' } },
        { name: 'idle', labels: { 'ambit.dev/use-waypoint': 'idle', 'ambit.dev/use-waypoint-namespace': 'shop' } },
        { name: 'typo', labels: { 'ambit.dev/use-waypoint': 'waypiont' } },
        { name: 'plain', labels: {} },
      ],
      pods: [
        { namespace: 'shop', name: 'direct', node: 'node-1', ip: '10.0.1.5', labels: { 'ambit.dev/use-waypoint': 'pods' } },
        { namespace: 'shop', name: 'wrong', node: 'node-1', ip: '10.0.1.6', labels: { 'ambit.dev/use-waypoint': 'waypoint' } },
        { namespace: 'shop', name: 'inherits', node: 'node-1', ip: '10.0.1.7', labels: {} },
      ],
    }, [service('api', {}), service('opted-out', { 'ambit.dev/use-waypoint': 'none' }), service('gone', { 'ambit.dev/use-waypoint': 'deleted' })]), 'waypoint bindings');
    const byTitle = new Map(results.map((r) => [r.title, r]));
    assert.equal(byTitle.get('namespace shop is bound to waypoint shop/waypoint')?.verdict, 'ok');
    assert.equal(byTitle.get('namespace pods-only is bound to waypoint shop/pods')?.verdict, 'ok', 'a namespace label is fine when its waypoint serves its pods');
    const idleNs = byTitle.get('namespace idle\'s waypoint shop/idle serves its traffic');
    assert.equal(idleNs?.verdict, 'warn');
    assert.match(idleNs?.hint ?? '', /ambit waypoint apply -n shop --name idle --for service/);
    const typo = byTitle.get('namespace typo is bound to its waypoint');
    assert.equal(typo?.verdict, 'fail');
    assert.match(typo?.detail ?? '', /^WaypointNotFound: no Gateway typo\/waypiont of class ambit-waypoint; its traffic goes straight/);
    assert.match(typo?.hint ?? '', /ambit label namespace typo ambit\.dev\/use-waypoint-/);
    const gone = byTitle.get('service shop/gone is bound to its waypoint');
    assert.equal(gone?.verdict, 'fail');
    assert.match(gone?.hint ?? '', /ambit label service gone -n shop ambit\.dev\/use-waypoint-/);
    assert.equal(byTitle.get('pod shop/direct is bound to waypoint shop/pods')?.verdict, 'ok');
    assert.match(byTitle.get('pod shop/wrong is bound to its waypoint')?.detail ?? '', /^WaypointNotForTarget: waypoint shop\/waypoint has ambit\.dev\/waypoint-for=service/);
    // Only objects with a label of their own (not `none`) are listed: not shop/api, plain, inherits, opted-out.
    assert.equal(results.length, 7, results.map((r) => r.title).join('\n'));
  });

  it('judges routes by our status entries: refused, unresolved, partly invalid, attached to a service without a waypoint, not yet seen, not ours', async () => {
    const waypoint = programmed(waypointGateway('shop', 'waypoint', 'service'), '10.96.0.9');
    const ours = (conditions: { type: string; status: 'True' | 'False'; reason: string; message: string }[], parentRef: { kind?: string; group?: string; name: string } = { group: '', kind: 'Service', name: 'api' }) =>
      [{ parentRef, controllerName: ROUTE_CONTROLLER_NAME, conditions }];
    const service = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'api', namespace: 'shop' }, spec: { ports: [{ port: 80 }] } };
    const bound = { name: 'shop', labels: { 'ambit.dev/use-waypoint': 'waypoint' } };
    const serviceRef = [{ group: '', kind: 'Service', name: 'api' }];
    const routes = [
      route('fine', serviceRef, ours([accepted(), resolved])),
      route('refused', [{ group: '', kind: 'Service', name: 'nope' }], ours([{ type: 'Accepted', status: 'False', reason: 'NoMatchingParent', message: 'Service shop/nope not found' }, resolved], { group: '', kind: 'Service', name: 'nope' })),
      route('unresolved', serviceRef, ours([accepted(), { type: 'ResolvedRefs', status: 'False', reason: 'BackendNotFound', message: 'backendRef Service shop/v3 not found' }])),
      route('partial', serviceRef, ours([accepted(), resolved, { type: 'PartiallyInvalid', status: 'True', reason: 'UnsupportedValue', message: 'rules[0].filters[0]: type Mirror is not supported; ignored' }])),
      route('fresh', [{ name: 'waypoint' }]),
      route('elsewhere', [{ name: 'ingress' }], [{ parentRef: { name: 'ingress' }, controllerName: 'example.com/gateway', conditions: [accepted()] }]),
    ];
    const withWaypoint = of(await check({ gateways: [waypoint], namespaces: [bound] }, [service, ...routes]), 'routes');
    const byTitle = new Map(withWaypoint.map((r) => [r.title.split(' ')[1], r]));
    assert.deepEqual([...byTitle.keys()].sort(), ['shop/fine', 'shop/fresh', 'shop/partial', 'shop/refused', 'shop/unresolved'], 'a route of another controller is not ours to judge');
    assert.deepEqual(withWaypoint.map((r) => [r.title, r.verdict]).sort(), [
      ['route shop/fine is accepted', 'ok'],
      ['route shop/fresh is accepted', 'warn'],
      ['route shop/partial is fully in effect', 'warn'],
      ['route shop/refused is accepted and its references resolve', 'fail'],
      ['route shop/unresolved is accepted and its references resolve', 'fail'],
    ]);
    assert.equal(byTitle.get('shop/fresh')?.detail, 'no status yet');
    assert.match(byTitle.get('shop/refused')?.detail ?? '', /^not accepted by Service shop\/nope: NoMatchingParent: Service shop\/nope not found$/);
    assert.equal(byTitle.get('shop/unresolved')?.detail, 'BackendNotFound: backendRef Service shop/v3 not found');
    assert.equal(byTitle.get('shop/partial')?.verdict, 'warn');
    assert.match(byTitle.get('shop/partial')?.hint ?? '', /ambit get httproute partial -n shop -o yaml/);

    // The same routes when the Service has no waypoint: the accepted ones have no effect.
    const without = of(await check({ gateways: [waypoint] }, [service, ...routes]), 'routes');
    const fine = without.find((r) => r.title.startsWith('route shop/fine '));
    assert.equal(fine?.verdict, 'warn');
    assert.match(fine?.detail ?? '', /Service shop\/api has no waypoint \(label ambit\.dev\/use-waypoint\), so the route has no effect/);
  });
});
