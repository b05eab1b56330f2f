import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AmbitError } from '@ambit/core';
import { formatAuthority, socketAddress, type WaypointBinding } from '@ambit/api';
import { ListLookup, service, workload } from '../testing.js';
import { describeRoute, resolveDirect, resolveOutbound, serviceVipByName, type Route } from './resolve.js';

const waypoint: WaypointBinding = { gateway: 'demo/waypoint', address: '10.0.0.50', port: 15008, identity: 'spiffe://cluster.local/ns/demo/sa/waypoint' };
const client = workload('client', { ip: '10.0.0.1' });
const local = workload('local', { ip: '10.0.0.2' });
const remote = workload('remote', { ip: '10.0.1.2', node: 'node-b' });
const legacy = workload('legacy', { ip: '10.0.1.3', node: 'node-b', protocol: 'TCP' });
const guarded = workload('guarded', { ip: '10.0.1.4', node: 'node-b', waypoint });
const waypointPod = workload('waypoint', { ip: '10.0.0.50' });
const sick = workload('sick', { ip: '10.0.1.5', node: 'node-b', healthy: false });

const echo = service('echo', {
  vips: ['10.96.0.10'],
  ports: [{ port: 80, targetPort: 8080 }],
  endpoints: [
    { workloadUid: remote.uid, address: '10.0.1.2', ports: { 80: 8080 }, healthy: true },
    { workloadUid: sick.uid, address: '10.0.1.5', ports: { 80: 8080 }, healthy: false },
  ],
});
const behindWaypoint = service('front', { vips: ['10.96.0.11'], waypoint, endpoints: [{ workloadUid: remote.uid, address: '10.0.1.2', ports: { 80: 8080 }, healthy: true }] });
const down = service('down', { vips: ['10.96.0.12'], endpoints: [{ workloadUid: sick.uid, address: '10.0.1.5', ports: { 80: 8080 }, healthy: false }] });
const empty = service('empty', { vips: ['10.96.0.13'] });
const external = service('external', { vips: ['10.96.0.14'], endpoints: [{ workloadUid: 'gone', address: '192.0.2.7', ports: { 80: 9090 }, healthy: true }] });
const toLegacy = service('legacy', { vips: ['10.96.0.15'], endpoints: [{ workloadUid: legacy.uid, address: '10.0.1.3', ports: { 80: 8080 }, healthy: true }] });
const toGuarded = service('guarded', { vips: ['10.96.0.16'], endpoints: [{ workloadUid: guarded.uid, address: '10.0.1.4', ports: { 80: 8080 }, healthy: true }] });
const pair = service('pair', {
  vips: ['10.96.0.17'],
  endpoints: [
    { workloadUid: local.uid, address: '10.0.0.2', ports: { 80: 8081 }, healthy: true },
    { workloadUid: remote.uid, address: '10.0.1.2', ports: { 80: 8080 }, healthy: true },
  ],
});

// A controller-run waypoint: its binding names its Service's VIP; ztunnel picks a ready pod of that Service.
const viaVip: WaypointBinding = { gateway: 'demo/wp-svc', address: '10.96.0.20', port: 15008, identity: 'spiffe://cluster.local/ns/demo/sa/wp-svc' };
const wpSvcPod = workload('wp-svc-0', { ip: '10.0.1.60', node: 'node-b' });
const wpSvc = service('wp-svc', {
  vips: ['10.96.0.20'], ports: [{ port: 15008, targetPort: 15008 }],
  endpoints: [{ workloadUid: wpSvcPod.uid, address: '10.0.1.60', ports: { 15008: 15008 }, healthy: true }],
});
const behindVipWaypoint = service('vip-front', { vips: ['10.96.0.21'], waypoint: viaVip, endpoints: [{ workloadUid: remote.uid, address: '10.0.1.2', ports: { 80: 8080 }, healthy: true }] });
const wpDown = service('wp-down', { vips: ['10.96.0.22'], ports: [{ port: 15008, targetPort: 15008 }], endpoints: [{ workloadUid: wpSvcPod.uid, address: '10.0.1.60', ports: { 15008: 15008 }, healthy: false }] });
const behindDownWaypoint = service('down-front', {
  vips: ['10.96.0.23'], waypoint: { ...viaVip, gateway: 'demo/wp-down', address: '10.96.0.22' },
  endpoints: [{ workloadUid: remote.uid, address: '10.0.1.2', ports: { 80: 8080 }, healthy: true }],
});

const lookup = new ListLookup(
  [client, local, remote, legacy, guarded, waypointPod, sick, wpSvcPod],
  [echo, behindWaypoint, down, empty, external, toLegacy, toGuarded, pair, wpSvc, behindVipWaypoint, wpDown, behindDownWaypoint],
);

function resolve(ip: string, port: number, source = client, pick = (): number => 0): Route {
  return resolveOutbound(lookup, { source, destination: socketAddress(ip, port), node: 'node-a' }, pick);
}

describe('outbound resolution', () => {
  const cases: { name: string; ip: string; port: number; source?: typeof client; route: string }[] = [
    { name: 'a VIP picks a healthy endpoint and maps the port', ip: '10.96.0.10', port: 80, route: 'hbone 10.0.1.2:8080' },
    { name: 'a VIP with a waypoint goes to the waypoint, authority VIP:port', ip: '10.96.0.11', port: 80, route: 'waypoint demo/waypoint (10.0.0.50:15008) for 10.96.0.11:80' },
    { name: 'the waypoint itself is not sent back to itself', ip: '10.96.0.11', port: 80, source: waypointPod, route: 'hbone 10.0.1.2:8080' },
    { name: 'a waypoint addressed by a VIP is reached at a ready pod of its Service', ip: '10.96.0.21', port: 80, route: 'waypoint demo/wp-svc (10.0.1.60:15008) for 10.96.0.21:80' },
    { name: 'a VIP endpoint without a workload is passthrough', ip: '10.96.0.14', port: 80, route: 'passthrough 192.0.2.7:9090' },
    { name: 'a VIP whose endpoint is not enrolled is plain TCP', ip: '10.96.0.15', port: 80, route: 'tcp 10.0.1.3:8080' },
    { name: 'a VIP whose endpoint has a workload waypoint goes there, authority pod:port', ip: '10.96.0.16', port: 80, route: 'waypoint demo/waypoint (10.0.0.50:15008) for 10.0.1.4:8080' },
    { name: 'an enrolled pod on another node is HBONE', ip: '10.0.1.2', port: 9000, route: 'hbone 10.0.1.2:9000' },
    { name: 'an enrolled pod on this node takes the same-node path', ip: '10.0.0.2', port: 9000, route: 'same-node 10.0.0.2:9000' },
    { name: 'a pod outside the mesh is plain TCP', ip: '10.0.1.3', port: 5432, route: 'tcp 10.0.1.3:5432' },
    { name: 'a pod with a waypoint is reached through it', ip: '10.0.1.4', port: 80, route: 'waypoint demo/waypoint (10.0.0.50:15008) for 10.0.1.4:80' },
    { name: 'an unhealthy pod addressed directly is still HBONE', ip: '10.0.1.5', port: 8080, route: 'hbone 10.0.1.5:8080' },
    { name: 'an unknown address is passthrough', ip: '192.0.2.1', port: 443, route: 'passthrough 192.0.2.1:443' },
  ];
  for (const c of cases) {
    it(c.name, () => {
      assert.equal(describeRoute(resolve(c.ip, c.port, c.source)), c.route);
    });
  }

  it('refuses (NR) when a VIP-addressed waypoint has no ready pod, rather than bypassing it', () => {
    assert.throws(() => resolve('10.96.0.23', 80), (error: unknown) => error instanceof AmbitError && /wp-down has no healthy endpoint/.test(error.message));
  });

  it('keeps the service on routes through it (for telemetry)', () => {
    const route = resolve('10.96.0.10', 80);
    assert.equal(route.kind, 'hbone');
    assert.equal(route.service?.name, 'echo');
    assert.equal(route.kind === 'hbone' && route.workload.name, 'remote');
  });

  it('chooses among healthy endpoints with the picker, never an unhealthy one', () => {
    assert.equal(describeRoute(resolve('10.96.0.17', 80, client, () => 0)), 'same-node 10.0.0.2:8081');
    assert.equal(describeRoute(resolve('10.96.0.17', 80, client, () => 1)), 'hbone 10.0.1.2:8080');
    const seen = new Set<string>();
    for (let i = 0; i < 50; i++) seen.add(describeRoute(resolveOutbound(lookup, { source: client, destination: socketAddress('10.96.0.10', 80), node: 'node-a' })));
    assert.deepEqual([...seen], ['hbone 10.0.1.2:8080']);
  });

  const refusals: { name: string; ip: string; port: number; reason: string; message: RegExp }[] = [
    { name: 'no healthy endpoint', ip: '10.96.0.12', port: 80, reason: 'no-healthy-endpoint', message: /demo\/down has no healthy endpoint for port 80/ },
    { name: 'no endpoint at all', ip: '10.96.0.13', port: 80, reason: 'no-healthy-endpoint', message: /demo\/empty/ },
    { name: 'a port the service does not have', ip: '10.96.0.10', port: 81, reason: 'no-service-port', message: /has no port 81/ },
  ];
  for (const c of refusals) {
    it(`refuses with NR: ${c.name}`, () => {
      assert.throws(() => resolve(c.ip, c.port), (error: unknown) => {
        assert.ok(error instanceof AmbitError);
        assert.equal(error.details.reason, c.reason);
        assert.equal(error.details.flag, 'NR');
        assert.match(error.message, c.message);
        return true;
      });
    });
  }
});

describe('service names (SOCKS5 names in the loopback mode)', () => {
  const services = [echo, behindWaypoint, service('echo', { namespace: 'other', vips: ['10.96.1.10'] }), service('headless', { vips: [] })];
  const cases: { name: string; from?: string; vip: string | undefined }[] = [
    { name: 'echo.demo.svc.cluster.local', vip: '10.96.0.10' },
    { name: 'ECHO.demo.svc.cluster.local.', vip: '10.96.0.10' },
    { name: 'echo.demo.svc', vip: '10.96.0.10' },
    { name: 'echo.other', vip: '10.96.1.10' },
    { name: 'echo', from: 'demo', vip: '10.96.0.10' },
    { name: 'echo', from: 'other', vip: '10.96.1.10' },
    { name: 'echo', vip: undefined },
    { name: 'front', from: 'other', vip: undefined },
    { name: 'headless.demo', vip: undefined },
    { name: 'echo.nowhere', vip: undefined },
  ];
  for (const c of cases) {
    it(`${c.name}${c.from === undefined ? '' : ` from ${c.from}`} → ${c.vip ?? 'nothing'}`, () => {
      assert.equal(serviceVipByName(services, c.name, c.from), c.vip);
    });
  }
});

describe('direct connections of pods outside the mesh (loopback kube-proxy)', () => {
  it('sends a VIP to a healthy endpoint, skipping waypoints and HBONE', () => {
    const route = resolveDirect(lookup, socketAddress('10.96.0.11', 80));
    assert.equal(formatAuthority(route.target), '10.0.1.2:8080');
    assert.equal(route.service?.name, 'front');
    assert.equal(route.workload?.name, 'remote');
  });
  it('leaves other addresses alone', () => {
    assert.equal(formatAuthority(resolveDirect(lookup, socketAddress('10.0.1.4', 8080)).target), '10.0.1.4:8080');
    assert.equal(resolveDirect(lookup, socketAddress('10.0.1.4', 8080)).workload?.name, 'guarded');
    assert.deepEqual(resolveDirect(lookup, socketAddress('192.0.2.1', 80)), { target: socketAddress('192.0.2.1', 80) });
  });
  it('refuses a VIP with nothing healthy behind it', () => {
    assert.throws(() => resolveDirect(lookup, socketAddress('10.96.0.12', 80)), /no healthy endpoint/);
  });
});
