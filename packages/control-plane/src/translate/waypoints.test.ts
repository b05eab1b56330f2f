import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { enforcementOf, isWaypointPod, resolveWaypoint, toWaypoint, waypointFor, waypointsOf } from './waypoints.js';
import type { BindingResult, BindingTarget } from './waypoints.js';
import { gateway, namespace, pod, service } from './testing.js';

const USE = 'ambit.dev/use-waypoint';
const USE_NS = 'ambit.dev/use-waypoint-namespace';
const FOR = 'ambit.dev/waypoint-for';

const gateways = [
  gateway('wp', { address: '10.0.9.1' }),
  gateway('wl', { address: '10.0.9.2', labels: { [FOR]: 'workload' } }),
  gateway('all', { address: '10.0.9.3', labels: { [FOR]: 'all' } }),
  gateway('off', { address: '10.0.9.4', labels: { [FOR]: 'none' } }),
  gateway('pending'),
  gateway('tcp', { address: '10.0.9.5', listener: { port: 80, protocol: 'HTTP' } }),
  gateway('shared', { ns: 'infra', address: '10.0.8.1', labels: { [FOR]: 'all' } }),
  gateway('ingress', { className: 'istio', address: '10.0.7.1' }),
];
const waypoints = waypointsOf(gateways, 'td');

function bound(gw: string, address: string): BindingResult {
  const [ns, name] = gw.split('/') as [string, string];
  return { state: 'bound', binding: { gateway: gw, address, port: 15008, identity: `spiffe://td/ns/${ns}/sa/${name}` } };
}

describe('waypointsOf', () => {
  it('keeps only ambit-waypoint gateways', () => assert.equal(waypoints.has('demo/ingress'), false));
  it('reads address, identity and waypoint-for', () => {
    assert.deepEqual(toWaypoint(gateway('wp', { address: '10.0.9.1' }), 'td'), {
      key: 'demo/wp', namespace: 'demo', name: 'wp', for: 'service', identity: 'spiffe://td/ns/demo/sa/wp', address: '10.0.9.1',
    });
  });
  it('flags a gateway without the HBONE listener', () => assert.match(waypoints.get('demo/tcp')?.invalid ?? '', /15008/));
  for (const [value, expected] of [[undefined, 'service'], ['service', 'service'], ['workload', 'workload'], ['all', 'all'], ['none', 'none'], ['bogus', 'service']] as const) {
    it(`waypoint-for ${String(value)} → ${expected}`, () => assert.equal(waypointFor(value), expected));
  }
});

describe('resolveWaypoint', () => {
  const cases: {
    name: string; target: BindingTarget; object?: Record<string, string>; ns?: Record<string, string>; objectNs?: string; expect: BindingResult | BindingResult['state'];
  }[] = [
    { name: 'no label anywhere', target: 'service', expect: 'none' },
    { name: 'namespace label binds a service', target: 'service', ns: { [USE]: 'wp' }, expect: bound('demo/wp', '10.0.9.1') },
    { name: 'service label binds', target: 'service', object: { [USE]: 'wp' }, expect: bound('demo/wp', '10.0.9.1') },
    { name: 'service label beats namespace label', target: 'service', object: { [USE]: 'all' }, ns: { [USE]: 'wp' }, expect: bound('demo/all', '10.0.9.3') },
    { name: 'service none opts out of the namespace waypoint', target: 'service', object: { [USE]: 'none' }, ns: { [USE]: 'wp' }, expect: 'none' },
    { name: 'namespace none', target: 'service', ns: { [USE]: 'none' }, expect: 'none' },
    { name: 'pod label beats namespace none', target: 'workload', object: { [USE]: 'wl' }, ns: { [USE]: 'none' }, expect: bound('demo/wl', '10.0.9.2') },
    { name: 'service-only waypoint does not take workloads', target: 'workload', object: { [USE]: 'wp' }, expect: { state: 'unbound', gateway: 'demo/wp', reason: 'WaypointNotForTarget', message: 'waypoint demo/wp has ambit.dev/waypoint-for=service; workload traffic needs workload or all' } },
    { name: 'workload-only waypoint does not take services', target: 'service', object: { [USE]: 'wl' }, expect: 'unbound' },
    { name: 'all takes workloads', target: 'workload', ns: { [USE]: 'all' }, expect: bound('demo/all', '10.0.9.3') },
    { name: 'all takes services', target: 'service', ns: { [USE]: 'all' }, expect: bound('demo/all', '10.0.9.3') },
    { name: 'waypoint-for none takes nothing', target: 'service', object: { [USE]: 'off' }, expect: 'unbound' },
    { name: 'missing waypoint', target: 'service', object: { [USE]: 'ghost' }, expect: { state: 'unbound', gateway: 'demo/ghost', reason: 'WaypointNotFound', message: 'no Gateway demo/ghost of class ambit-waypoint' } },
    { name: 'waypoint without address', target: 'service', object: { [USE]: 'pending' }, expect: { state: 'unbound', gateway: 'demo/pending', reason: 'WaypointNotReady', message: 'waypoint demo/pending has no address yet (not programmed)' } },
    { name: 'gateway without HBONE listener', target: 'service', object: { [USE]: 'tcp' }, expect: 'unbound' },
    { name: 'non-waypoint class is not found', target: 'service', object: { [USE]: 'ingress' }, expect: 'unbound' },
    { name: 'use-waypoint-namespace on the object', target: 'service', object: { [USE]: 'shared', [USE_NS]: 'infra' }, expect: bound('infra/shared', '10.0.8.1') },
    { name: 'use-waypoint-namespace on the namespace', target: 'workload', ns: { [USE]: 'shared', [USE_NS]: 'infra' }, expect: bound('infra/shared', '10.0.8.1') },
    { name: 'use-waypoint-namespace alone does nothing', target: 'service', object: { [USE_NS]: 'infra' }, expect: 'none' },
    { name: 'name without namespace label stays in the object namespace', target: 'service', object: { [USE]: 'shared' }, expect: 'unbound' },
    { name: 'ns/name is refused, not guessed', target: 'service', object: { [USE]: 'infra/shared' }, expect: { state: 'unbound', gateway: 'infra/shared', reason: 'InvalidReference', message: 'ambit.dev/use-waypoint="infra/shared" is not a Gateway name' } },
    { name: 'empty value is refused', target: 'service', object: { [USE]: '' }, expect: 'unbound' },
    { name: 'namespace label resolves in the object namespace', target: 'service', objectNs: 'infra', ns: { [USE]: 'shared' }, expect: bound('infra/shared', '10.0.8.1') },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const objectNs = c.objectNs ?? 'demo';
      const object = service('x', {}, { ns: objectNs, ...(c.object ? { labels: c.object } : {}) });
      const result = resolveWaypoint(object, namespace(objectNs, c.ns), c.target, waypoints);
      if (typeof c.expect === 'string') assert.equal(result.state, c.expect, JSON.stringify(result));
      else assert.deepEqual(result, c.expect);
    });
  }
});

describe('isWaypointPod', () => {
  it('recognises the pods of a known waypoint in its namespace only', () => {
    const label = 'gateway.networking.k8s.io/gateway-name';
    assert.equal(isWaypointPod(pod('wp-0', { labels: { [label]: 'wp' } }), waypoints), true);
    assert.equal(isWaypointPod(pod('wp-0', { ns: 'other', labels: { [label]: 'wp' } }), waypoints), false);
    assert.equal(isWaypointPod(pod('app'), waypoints), false);
  });
});

describe('enforcementOf (targetRefs policies)', () => {
  const gateways = new Map([['demo/wp', gateway('wp')], ['demo/ingress', gateway('ingress', { className: 'istio' })], ['demo/bad', gateway('bad', { listener: { port: 80, protocol: 'HTTP' } })]]);
  const context = { gateways, waypoints: waypointsOf([...gateways.values()], 'td'), serviceWaypoints: new Map([['demo/echo', 'demo/wp'], ['demo/plain', undefined]]) };
  const cases: { target: { kind: 'Gateway' | 'Service'; key: string }; expect: string }[] = [
    { target: { kind: 'Gateway', key: 'demo/wp' }, expect: 'waypoint demo/wp' },
    { target: { kind: 'Gateway', key: 'demo/ingress' }, expect: 'Gateway demo/ingress is not of class ambit-waypoint' },
    { target: { kind: 'Gateway', key: 'demo/bad' }, expect: 'Gateway demo/bad is not a waypoint: no listener with port 15008 and protocol HBONE' },
    { target: { kind: 'Gateway', key: 'demo/none' }, expect: 'Gateway demo/none not found' },
    { target: { kind: 'Service', key: 'demo/echo' }, expect: 'waypoint demo/wp' },
    { target: { kind: 'Service', key: 'demo/plain' }, expect: 'Service demo/plain has no waypoint (bind one with ambit.dev/use-waypoint), so its traffic bypasses this policy' },
    { target: { kind: 'Service', key: 'demo/ghost' }, expect: 'Service demo/ghost not found' },
  ];
  for (const c of cases) {
    it(`${c.target.kind} ${c.target.key}`, () => {
      const result = enforcementOf(c.target, context);
      assert.equal('waypoint' in result ? `waypoint ${result.waypoint}` : result.problem, c.expect);
    });
  }
});
