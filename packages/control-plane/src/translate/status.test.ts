import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { translatePolicy } from './authorization.js';
import { gatewayStatus, policyStatus, serviceStatus, type WaypointRuntime } from './status.js';
import type { AuthorizationPolicySpec } from '../resources.js';
import { gateway, policy, service } from './testing.js';
import { toWaypoint } from './waypoints.js';
import type { BindingResult, TargetEnforcement } from './waypoints.js';

describe('gatewayStatus', () => {
  const cases: { name: string; gw: ReturnType<typeof gateway>; runtime?: WaypointRuntime; status: string; reason: string; message: RegExp; accepted?: string }[] = [
    { name: 'address → Programmed', gw: gateway('wp', { address: '10.0.9.1' }), status: 'True', reason: 'Programmed', message: /service traffic at 10\.0\.9\.1/ },
    { name: 'no address → AddressNotAssigned', gw: gateway('wp'), status: 'False', reason: 'AddressNotAssigned', message: /no address/ },
    {
      name: 'no HBONE listener → Invalid, not Accepted', gw: gateway('wp', { address: '10.0.9.1', listener: { port: 15008, protocol: 'TCP' } }),
      status: 'False', reason: 'Invalid', message: /HBONE/, accepted: 'False',
    },
    {
      name: 'run by the controller, no pod yet → Pending', gw: gateway('wp', { address: '10.0.9.1' }),
      runtime: { pods: 0, readyPods: 0, synced: false }, status: 'False', reason: 'Pending', message: /no waypoint pod/,
    },
    {
      name: 'pod not ready → Pending with the count', gw: gateway('wp', { address: '10.0.9.1' }),
      runtime: { pods: 1, readyPods: 0, synced: false }, status: 'False', reason: 'Pending', message: /0 of 1/,
    },
    {
      name: 'ready but not synced → Pending', gw: gateway('wp', { address: '10.0.9.1' }),
      runtime: { pods: 1, readyPods: 1, synced: false }, status: 'False', reason: 'Pending', message: /not acknowledged/,
    },
    {
      name: 'ready and synced → Programmed', gw: gateway('wp', { address: '10.0.9.1' }),
      runtime: { pods: 2, readyPods: 1, synced: true }, status: 'True', reason: 'Programmed', message: /1 of 2 pod/,
    },
    {
      name: 'a controller problem → Invalid, with the problem', gw: gateway('wp', { address: '10.0.9.1' }),
      runtime: { pods: 0, readyPods: 0, synced: false, problem: 'a Service demo/wp that the waypoint controller does not manage already exists' },
      status: 'False', reason: 'Invalid', message: /does not manage/,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const update = gatewayStatus(c.gw, toWaypoint(c.gw, 'td'), c.runtime);
      assert.equal(update.kind, 'Gateway');
      assert.equal(update.name, 'wp');
      assert.equal(update.namespace, 'demo');
      const [accepted, condition] = update.conditions;
      assert.equal(accepted?.type, 'Accepted');
      assert.equal(accepted.status, c.accepted ?? 'True');
      assert.equal(condition?.type, 'Programmed');
      assert.equal(condition.status, c.status);
      assert.equal(condition.reason, c.reason);
      assert.match(condition.message, c.message);
      assert.equal(condition.observedGeneration, 2);
    });
  }
  it('publishes the address in status.addresses, and none without one', () => {
    const gw = gateway('wp', { address: '10.0.9.1' });
    assert.deepEqual(gatewayStatus(gw, toWaypoint(gw, 'td')).addresses, [{ type: 'IPAddress', value: '10.0.9.1' }]);
    assert.deepEqual(gatewayStatus(gateway('wp'), toWaypoint(gateway('wp'), 'td')).addresses, []);
  });
  it("prefers the managed Service's cluster IP over a stale status address", () => {
    const gw = gateway('wp', { address: '10.0.9.1' });
    assert.equal(toWaypoint(gw, 'td', '10.96.0.40').address, '10.96.0.40');
  });
});

describe('serviceStatus', () => {
  const svc = service('echo', {});
  it('no binding requested → no update', () => assert.equal(serviceStatus(svc, { state: 'none' }), undefined));
  it('bound → True', () => {
    const result: BindingResult = { state: 'bound', binding: { gateway: 'demo/wp', address: '10.0.9.1', port: 15008, identity: 'x' } };
    assert.deepEqual(serviceStatus(svc, result), {
      kind: 'Service', namespace: 'demo', name: 'echo',
      conditions: [{ type: 'ambit.dev/WaypointBound', status: 'True', reason: 'WaypointAccepted', message: 'bound to waypoint demo/wp at 10.0.9.1', observedGeneration: 1 }],
    });
  });
  it('unbound → False with the reason', () => {
    const update = serviceStatus(svc, { state: 'unbound', gateway: 'demo/wp', reason: 'WaypointNotReady', message: 'm' });
    assert.deepEqual(update?.conditions[0], { type: 'ambit.dev/WaypointBound', status: 'False', reason: 'WaypointNotReady', message: 'm', observedGeneration: 1 });
  });
});

describe('policyStatus: targetRefs', () => {
  const wp = { kind: 'Gateway' as const, key: 'demo/wp' };
  const echo = { kind: 'Service' as const, key: 'demo/echo' };
  const other = { kind: 'Service' as const, key: 'demo/other' };
  const cases: { name: string; spec: AuthorizationPolicySpec; enforcement: TargetEnforcement[]; status: string; reason: string; message: string | RegExp }[] = [
    {
      name: 'a Gateway target', spec: { targetRefs: [{ kind: 'Gateway', name: 'wp' }], rules: [{}] },
      enforcement: [{ target: wp, waypoint: 'demo/wp' }], status: 'True', reason: 'Accepted', message: 'enforced by the waypoint demo/wp.',
    },
    {
      name: 'a Service target names the Service', spec: { targetRefs: [{ kind: 'Service', name: 'echo' }], rules: [{}] },
      enforcement: [{ target: echo, waypoint: 'demo/wp' }], status: 'True', reason: 'Accepted', message: 'enforced by the waypoint demo/wp (for Service demo/echo).',
    },
    {
      name: 'some targets without a waypoint → PartiallyEnforced',
      spec: { targetRefs: [{ kind: 'Service', name: 'echo' }, { kind: 'Service', name: 'other' }], rules: [{}] },
      enforcement: [{ target: echo, waypoint: 'demo/wp' }, { target: other, problem: 'Service demo/other has no waypoint' }],
      status: 'True', reason: 'PartiallyEnforced', message: /demo\/wp \(for Service demo\/echo\)\. Not enforced for: Service demo\/other has no waypoint/,
    },
    {
      name: 'no target with a waypoint → not accepted',
      spec: { targetRefs: [{ kind: 'Service', name: 'other' }] },
      enforcement: [{ target: other, problem: 'Service demo/other has no waypoint' }],
      status: 'False', reason: 'NoWaypoint', message: 'no target is served by a waypoint: Service demo/other has no waypoint',
    },
    {
      name: 'unsupported fields → PartiallyEnforced, says the consequence',
      spec: { targetRefs: [{ kind: 'Gateway', name: 'wp' }], rules: [{ from: [{ source: { requestPrincipals: ['*'] } }] }] },
      enforcement: [{ target: wp, waypoint: 'demo/wp' }], status: 'True', reason: 'PartiallyEnforced',
      message: /does not support requestPrincipals\. Within an ALLOW policy, rules using them are omitted.*denies all requests/,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const p = policy('p', c.spec);
      const [condition] = policyStatus(p, translatePolicy(p), c.enforcement).conditions;
      assert.equal(condition?.status, c.status);
      assert.equal(condition.reason, c.reason);
      if (typeof c.message === 'string') assert.equal(condition.message, c.message);
      else assert.match(condition.message, c.message);
    });
  }
});

describe('policyStatus', () => {
  const cases: { name: string; spec: AuthorizationPolicySpec; status: string; reason: string; message: RegExp }[] = [
    { name: 'plain L4', spec: { rules: [{ from: [{ source: { namespaces: ['a'] } }] }] }, status: 'True', reason: 'Accepted', message: /enforced by ztunnel/ },
    { name: 'CUSTOM', spec: { action: 'CUSTOM' }, status: 'False', reason: 'UnsupportedValue', message: /CUSTOM/ },
    { name: 'ALLOW with L7', spec: { rules: [{ to: [{ operation: { methods: ['GET'] } }] }] }, status: 'True', reason: 'PartiallyEnforced', message: /found: methods.*omitted.*denies all traffic/ },
    { name: 'DENY with L7', spec: { action: 'DENY', rules: [{ to: [{ operation: { ports: ['80'], paths: ['/a'] } }] }] }, status: 'True', reason: 'PartiallyEnforced', message: /found: paths.*without the HTTP parts/ },
    { name: 'invalid values', spec: { rules: [{ to: [{ operation: { ports: ['80', 'http'] } }] }] }, status: 'True', reason: 'PartiallyInvalid', message: /ports: "http"/ },
    { name: 'ALLOW with no rules says it denies all', spec: {}, status: 'True', reason: 'Accepted', message: /denies all traffic/ },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const p = policy('p', c.spec);
      const update = policyStatus(p, translatePolicy(p));
      const [condition] = update.conditions;
      assert.equal(update.kind, 'AuthorizationPolicy');
      assert.equal(condition?.type, 'Accepted');
      assert.equal(condition.status, c.status);
      assert.equal(condition.reason, c.reason);
      assert.match(condition.message, c.message);
    });
  }
});
