// Discovery end to end on loopback with real certificates: snapshot, push
// latency, NACK bookkeeping, restart convergence, last-known-good state,
// slow subscribers, refusals, resume, and waypoints scoped to their Gateway.
import { describe, it, afterEach } from 'node:test';
import http2 from 'node:http2';
import assert from 'node:assert/strict';
import { ControlPlaneEndpoint, DiscoveryService, DISCOVERY_PATH, type DiscoveryServiceOptions } from '@ambit/control-plane';
import { DiscoveryClient, type MeshChange } from '@ambit/cp-client';
import type { AmbitError } from '@ambit/core';
import type { Authorization, Endpoint, Resource, Service, WaypointBinding } from '@ambit/api';
import { rawRequest, rawSession } from '../support/hbone.js';
import { testMesh, type TestMesh } from '../support/pki.js';
import { eventually } from '../support/net.js';
import { addressFor, asResources, policy, service, workload } from '../support/mesh.js';

interface Setup {
  mesh: TestMesh;
  server: DiscoveryService;
  endpoint: ControlPlaneEndpoint;
  client: (node?: string) => Promise<DiscoveryClient>;
  /** A waypoint's subscription, presenting the Gateway's identity. */
  waypoint: (gateway?: string) => Promise<DiscoveryClient>;
  close: () => Promise<void>;
}

const closers: { close(): unknown }[] = [];

async function setup(options: { debounceMs?: number; mesh?: TestMesh; port?: number; authorize?: DiscoveryServiceOptions['authorize'] } = {}): Promise<Setup> {
  const mesh = options.mesh ?? await testMesh();
  const cpCert = await mesh.cert('ambit-system', 'control-plane');
  const endpoint = new ControlPlaneEndpoint({ certificate: cpCert });
  const server = new DiscoveryService({ debounceMs: options.debounceMs ?? 20, ...(options.authorize ? { authorize: options.authorize } : {}) });
  endpoint.route(DISCOVERY_PATH, server.handle);
  const close = async (): Promise<void> => {
    server.close();
    await endpoint.close();
  };
  closers.push({ close });
  await endpoint.listen(options.port ?? 0);
  const ztunnelCert = await mesh.cert('ambit-system', 'ztunnel');
  return {
    mesh,
    server,
    endpoint,
    close,
    client: async (node = 'node-1') => {
      const client = new DiscoveryClient({
        address: endpoint.address,
        serverIdentity: cpCert.identity,
        certificate: () => ztunnelCert,
        subscription: { role: 'ztunnel', node },
        backoff: { initialMs: 50, maxMs: 200, jitter: 0 },
      });
      closers.push(client);
      await client.start();
      return client;
    },
    waypoint: async (gateway = 'demo/wp') => {
      const [namespace = '', name = ''] = gateway.split('/');
      const certificate = await mesh.cert(namespace, name);
      const client = new DiscoveryClient({
        address: endpoint.address,
        serverIdentity: cpCert.identity,
        certificate: () => certificate,
        subscription: { role: 'waypoint', gateway },
        backoff: { initialMs: 50, maxMs: 200, jitter: 0 },
      });
      closers.push(client);
      await client.start();
      return client;
    },
  };
}

const WAYPOINT: WaypointBinding = { gateway: 'demo/wp', address: '10.244.9.9', port: 15008, identity: 'spiffe://cluster.local/ns/demo/sa/wp' };

const endpoints = (...uids: string[]): Endpoint[] =>
  uids.map((uid) => ({ workloadUid: uid, address: addressFor(uid), ports: { 80: 8080 }, healthy: true }));

const toService = (name: string): Authorization['scope'] => ({ kind: 'targets', namespace: 'demo', targets: [{ kind: 'Service', key: `demo/${name}` }] });

/** The route attached to `echo`, sending to the services `backends`. */
const echoRoute = (backends: string[]): Resource => ({
  kind: 'route',
  value: {
    key: 'demo/echo', namespace: 'demo', name: 'echo', parents: [{ kind: 'Service', key: 'demo/echo', port: 80 }], hostnames: [],
    rules: [{ matches: [], backends: backends.map((name) => ({ service: `demo/${name}`, port: 80, weight: 1 })) }],
  },
});

/**
 * `echo` is bound to the waypoint demo/wp; `a` and `b` are not, and each has
 * a policy; workloads w1..w3 exist throughout. With `backends`, a route on
 * echo sends to them, which brings them (and their policies) into the
 * waypoint's scope though they do not change.
 */
const scopedMesh = (...backends: string[]): Resource[] => [
  ...asResources({
    workloads: [workload('w1'), workload('w2'), workload('w3')],
    services: [
      service('echo', '10.96.0.10', { waypoint: WAYPOINT, endpoints: endpoints('w1') }),
      service('a', '10.96.0.11', { endpoints: endpoints('w2') }),
      service('b', '10.96.0.12', { endpoints: endpoints('w3') }),
    ],
    policies: [policy('to-a', { scope: toService('a') }), policy('to-b', { scope: toService('b') })],
  }),
  ...(backends.length === 0 ? [] : [echoRoute(backends)]),
];

const ids = (resources: Resource[]): string[] =>
  resources.map((r) => `${r.kind}/${r.kind === 'workload' ? r.value.uid : r.kind === 'service' ? r.value.name : r.value.key}`).sort();

describe('discovery', () => {
  afterEach(async () => {
    for (const closer of closers.splice(0).reverse()) await closer.close();
  });

  it('sends a full snapshot to a new subscriber and records its ACK', async () => {
    const { server, client } = await setup();
    server.publish(asResources({ workloads: [workload('w1'), workload('w2')], services: [service('echo', '10.96.0.10')] }));
    server.flush();
    const c = await client();
    assert.deepEqual(c.index.counts(), { workloads: 2, services: 1, authorizations: 0 });
    await eventually(() => server.subscribers()[0]?.lastAckedVersion === server.version || undefined);
    const [status] = server.subscribers();
    assert.equal(status?.role, 'ztunnel');
    assert.equal(status?.node, 'node-1');
    assert.equal(status?.peer, 'spiffe://cluster.local/ns/ambit-system/sa/ztunnel');
  });

  it('pushes a change to every subscriber within 1 s, as a delta', async () => {
    const { server, client } = await setup({ debounceMs: 100 });
    server.publish(asResources({ workloads: [workload('w1')] }));
    server.flush();
    const clients = await Promise.all([client('node-1'), client('node-2'), client('node-3')]);
    const snapshots: boolean[] = [];
    for (const c of clients) c.index.on('change', (change) => snapshots.push(change.snapshot));
    const started = Date.now();
    server.publish(asResources({ workloads: [workload('w1'), workload('w2', { node: 'node-2' })] }));
    await eventually(() => clients.every((c) => c.index.workload('w2') !== undefined) || undefined, 1_000, 5);
    assert.ok(Date.now() - started < 1_000);
    assert.deepEqual(snapshots, [false, false, false]);
    assert.deepEqual(clients[1].index.workloadsOnNode('node-2').map((w) => w.uid), ['w2']);
  });

  it('coalesces a burst of publishes into one push', async () => {
    const { server, client } = await setup({ debounceMs: 100 });
    const c = await client();
    const versions: string[] = [];
    c.on('synced', (v) => versions.push(v));
    for (let i = 0; i < 20; i++) server.publish(asResources({ workloads: Array.from({ length: i + 1 }, (_, j) => workload(`w${j}`)) }));
    await eventually(() => c.index.counts().workloads === 20 || undefined);
    assert.equal(versions.length, 1, 'twenty publishes in one window became one update');
  });

  it('records a NACK and the client keeps its last good state', async () => {
    const { server, client } = await setup();
    server.publish(asResources({ workloads: [workload('w1')] }));
    server.flush();
    const c = await client();
    const bad: Resource = { kind: 'workload', value: { ...workload('w2'), identity: 'not-a-spiffe-id' } };
    const rejected = new Promise<AmbitError>((resolve) => c.once('rejected', (_v, e) => resolve(e)));
    server.publish([...asResources({ workloads: [workload('w1')] }), bad]);
    const error = await rejected;
    assert.match(error.message, /identity/);
    await eventually(() => server.subscribers()[0]?.lastNack);
    const status = server.subscribers()[0]!;
    assert.equal(status.lastNack?.version, server.version);
    assert.match(status.lastNack?.error ?? '', /must be a SPIFFE ID/);
    assert.notEqual(status.lastAckedVersion, server.version);
    assert.equal(c.index.workload('w1')?.uid, 'w1');
    assert.equal(c.index.workload('w2'), undefined);
  });

  it('keeps serving the last known state while the control plane is down, then converges with no stale entries', async () => {
    const mesh = await testMesh();
    const first = await setup({ mesh });
    first.server.publish(asResources({ workloads: [workload('w1'), workload('gone')], services: [service('echo', '10.96.0.10')] }));
    first.server.flush();
    const c = await first.client();
    const port = first.endpoint.address.port;
    await first.close();
    await eventually(() => !c.connected || undefined);
    // Down: lookups still answer from the last known state.
    assert.equal(c.index.workloadByAddress(workload('w1').addresses[0]!)?.uid, 'w1');
    assert.equal(c.index.serviceByVip('10.96.0.10')?.name, 'echo');
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(c.index.workload('gone')?.uid, 'gone');
    // A new control plane on the same port, whose state no longer has `gone`.
    const second = await setup({ mesh, port });
    second.server.publish(asResources({ workloads: [workload('w1'), workload('w3')], services: [service('echo', '10.96.0.10')] }));
    second.server.flush();
    await eventually(() => c.index.version === second.server.version || undefined, 5_000);
    assert.equal(c.index.workload('gone'), undefined, 'no stale entry survived the restart');
    assert.equal(c.index.workload('w3')?.uid, 'w3');
    await eventually(() => second.server.subscribers()[0]?.lastAckedVersion === second.server.version || undefined);
  });

  it('resumes from its version with a delta after a reconnect to the same control plane', async () => {
    const { server, client } = await setup();
    server.publish(asResources({ workloads: [workload('w1')] }));
    server.flush();
    const c = await client();
    const snapshots: boolean[] = [];
    c.index.on('change', (change) => snapshots.push(change.snapshot));
    server.goAway();
    await eventually(() => !c.connected || undefined);
    server.publish(asResources({ workloads: [workload('w1'), workload('w2')] }));
    server.flush();
    await eventually(() => c.index.workload('w2') !== undefined || undefined);
    assert.deepEqual(snapshots, [false]);
  });

  it('does not let a subscriber that stops reading delay the others', async () => {
    const { mesh, endpoint, client, server } = await setup();
    const stuckCert = await mesh.cert('ambit-system', 'ztunnel');
    const session = await rawSession(stuckCert, endpoint.address, (await mesh.cert('ambit-system', 'control-plane')).identity);
    closers.push({ close: () => session.destroy() });
    const stuck = session.request({ ':method': 'POST', ':path': '/ambit.v1/discovery' }, { endStream: false });
    stuck.on('error', () => undefined);
    stuck.write(`${JSON.stringify({ role: 'ztunnel', node: 'stuck' })}\n`);
    stuck.pause(); // never reads: its HTTP/2 window fills, then the server's stream buffer
    const healthy = await client();
    const big = (n: number): Service[] => Array.from({ length: 200 }, (_, i) => service(`s${i}`, `10.96.${n % 250}.${i + 1}`, { hostname: 'x'.repeat(2_000) }));
    for (let round = 1; round <= 30; round++) {
      server.publish(asResources({ services: big(round) }));
      server.flush();
      const version = server.version;
      await eventually(() => healthy.index.version === version || undefined, 2_000, 2);
    }
    const stuckStatus = server.subscribers().find((s) => s.node === 'stuck');
    assert.equal(stuckStatus?.backlogged, true, 'the stuck subscriber is skipped, not queued');
    assert.notEqual(stuckStatus?.lastSentVersion, server.version);
  });

  it('sends a waypoint its Gateway\'s scope and every workload, and a ztunnel everything', async () => {
    const { server, client, waypoint } = await setup();
    server.publish(scopedMesh('a'));
    server.flush();
    const [z, wp] = await Promise.all([client(), waypoint()]);
    assert.deepEqual(z.index.counts(), { workloads: 3, services: 3, authorizations: 2 });
    assert.deepEqual(wp.index.counts(), { workloads: 3, services: 2, authorizations: 1 });
    assert.equal(wp.index.service('demo/echo')?.name, 'echo');
    assert.equal(wp.index.service('demo/a')?.name, 'a', 'a route backend');
    assert.equal(wp.index.service('demo/b'), undefined);
    assert.deepEqual(wp.index.authorizations().map((p) => p.key), ['demo/to-a']);
    assert.deepEqual(wp.index.routes().map((r) => r.key), ['demo/echo']);
    assert.equal(wp.index.workload('w3')?.uid, 'w3', 'a workload of no service in scope: it may still call');
    await eventually(() => server.subscribers().every((s) => s.lastAckedVersion === server.version) || undefined);
    assert.deepEqual(server.subscribers().map((s) => s.role).sort(), ['waypoint', 'ztunnel']);
  });

  it('delivers a service entering or leaving a waypoint\'s scope as an upsert or a removal', async () => {
    const { server, client, waypoint } = await setup();
    server.publish(scopedMesh());
    server.flush();
    const [z, wp] = await Promise.all([client(), waypoint()]);
    assert.deepEqual(wp.index.counts(), { workloads: 3, services: 1, authorizations: 0 });
    const zChanges: MeshChange[] = [];
    const wpChanges: MeshChange[] = [];
    z.index.on('change', (change) => zChanges.push(change));
    wp.index.on('change', (change) => wpChanges.push(change));

    server.publish(scopedMesh('a')); // a and its policy enter the scope without changing
    server.flush();
    await eventually(() => wp.index.version === server.version && z.index.version === server.version || undefined);
    assert.equal(wpChanges[0]?.snapshot, false);
    assert.deepEqual(ids(wpChanges[0]?.upserted ?? []), ['authorization/demo/to-a', 'route/demo/echo', 'service/a']);
    assert.deepEqual(ids(zChanges[0]?.upserted ?? []), ['route/demo/echo'], 'the ztunnel gets only what changed');

    server.publish(scopedMesh()); // the route goes: a leaves the scope, still in the mesh
    server.flush();
    await eventually(() => wp.index.version === server.version && z.index.version === server.version || undefined);
    assert.equal(wpChanges[1]?.snapshot, false);
    assert.deepEqual(ids(wpChanges[1]?.upserted ?? []), []);
    assert.deepEqual(ids(wpChanges[1]?.removed ?? []), ['authorization/demo/to-a', 'route/demo/echo', 'service/a']);
    assert.equal(wp.index.service('demo/a'), undefined);
    assert.deepEqual(wp.index.counts(), { workloads: 3, services: 1, authorizations: 0 });
    assert.deepEqual(ids(zChanges[1]?.removed ?? []), ['route/demo/echo']);
    assert.equal(z.index.service('demo/a')?.name, 'a');
  });

  it('resumes a waypoint with a delta carrying what entered and left its scope while it was away', async () => {
    const { server, waypoint } = await setup();
    server.publish(scopedMesh('a'));
    server.flush();
    const wp = await waypoint();
    const changes: MeshChange[] = [];
    wp.index.on('change', (change) => changes.push(change));
    server.goAway();
    await eventually(() => !wp.connected || undefined);
    server.publish(scopedMesh('b')); // the route now sends to b: a leaves, b enters, neither changed
    server.flush();
    await eventually(() => wp.index.version === server.version || undefined);
    assert.deepEqual(changes.map((c) => c.snapshot), [false]);
    assert.deepEqual(ids(changes[0]?.upserted ?? []), ['authorization/demo/to-b', 'route/demo/echo', 'service/b']);
    assert.deepEqual(ids(changes[0]?.removed ?? []), ['authorization/demo/to-a', 'service/a']);
    assert.equal(wp.index.service('demo/a'), undefined);
    assert.equal(wp.index.service('demo/b')?.name, 'b');
    assert.deepEqual(wp.index.counts(), { workloads: 3, services: 2, authorizations: 1 });
  });

  it('refuses a subscription the authorize hook denies, with the reason', async () => {
    const { mesh, endpoint } = await setup({
      authorize: (caller, request) => (request.node === caller.identity?.serviceAccount ? { allowed: true } : { allowed: false, reason: 'node mismatch' }),
    });
    const client = new DiscoveryClient({
      address: endpoint.address, serverIdentity: mesh.id('ambit-system', 'control-plane'), certificate: () => mesh.cert('ambit-system', 'ztunnel'),
      subscription: { role: 'ztunnel', node: 'node-9' }, backoff: { initialMs: 1_000, maxMs: 1_000, jitter: 0 },
    });
    closers.push(client);
    const reason = new Promise<AmbitError>((resolve) => client.once('disconnected', resolve));
    void client.start();
    const error = await reason;
    assert.equal(error.code, 'denied');
    assert.match(error.message, /403.*node mismatch/);
  });

  it('refuses a subscriber without a client certificate', async () => {
    const { mesh, endpoint } = await setup();
    const session = http2.connect(`https://127.0.0.1:${endpoint.address.port}`, {
      ca: [...(await mesh.cert('x', 'y')).roots], checkServerIdentity: () => undefined, minVersion: 'TLSv1.3',
    });
    session.on('error', () => undefined);
    closers.push({ close: () => session.destroy() });
    const stream = session.request({ ':method': 'POST', ':path': DISCOVERY_PATH }, { endStream: false });
    const status = await new Promise<number>((resolve) => stream.once('response', (h) => resolve(Number(h[':status']))));
    assert.equal(status, 401);
  });

  it('answers other paths and malformed subscriptions with an error', async () => {
    const { mesh, endpoint } = await setup();
    const cpId = mesh.id('ambit-system', 'control-plane');
    const session = await rawSession(await mesh.cert('ambit-system', 'ztunnel'), endpoint.address, cpId);
    closers.push({ close: () => session.destroy() });
    assert.equal((await rawRequest(session, { ':method': 'GET', ':path': '/' }))[':status'], 404);
    const stream = session.request({ ':method': 'POST', ':path': '/ambit.v1/discovery' }, { endStream: false });
    const response = new Promise<number>((resolve) => stream.once('response', (h) => resolve(Number(h[':status']))));
    stream.end(`${JSON.stringify({ role: 'ztunnel' })}\n`);
    assert.equal(await response, 400);
  });
});
