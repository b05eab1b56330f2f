// Discovery end to end on loopback with real certificates: snapshot, push
// latency, NACK bookkeeping, restart convergence, last-known-good state,
// slow subscribers, refusals and resume.
import { describe, it, afterEach } from 'node:test';
import http2 from 'node:http2';
import assert from 'node:assert/strict';
import { ControlPlaneEndpoint, DiscoveryService, DISCOVERY_PATH, type DiscoveryServiceOptions } from '@ambit/control-plane';
import { DiscoveryClient } from '@ambit/cp-client';
import type { AmbitError } from '@ambit/core';
import type { Resource, Service } from '@ambit/api';
import { rawRequest, rawSession } from '../support/hbone.js';
import { testMesh, type TestMesh } from '../support/pki.js';
import { eventually } from '../support/net.js';
import { asResources, service, workload } from '../support/mesh.js';

interface Setup {
  mesh: TestMesh;
  server: DiscoveryService;
  endpoint: ControlPlaneEndpoint;
  client: (node?: string) => Promise<DiscoveryClient>;
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
  };
}

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
