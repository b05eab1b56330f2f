// Leader election between control-plane replicas on the Kubernetes backend,
// against the test API server: every replica serves discovery and the CA,
// only the holder of the Lease writes. Each replica reaches the API server
// through its own TCP proxy, so a test can cut one replica off (to the
// others, a crash; to itself, a partition it must notice).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '@ambit/core';
import { httpRequest } from '@ambit/core/testing';
import type { Condition, KubeObject, Store } from '@ambit/control-plane';
import { KubernetesStore } from '@ambit/control-plane/kubernetes';
import { EXTRA_KINDS, FakeApiServer } from '../support/fake-apiserver.js';
import { runControlPlane, type RunningControlPlane } from '../support/control-plane.js';
import { writeKubeconfig } from '../support/kubeconfig.js';
import { eventually, tcpServer, type TestServer } from '../support/net.js';

// Short timings: a standby may take over 3 s after the last renewal it saw.
const LEASE_DURATION_MS = 3_000;
const TIMINGS = { 'lease-duration': '3s', 'lease-renew-deadline': '2s', 'lease-retry-period': '200ms' };

interface Replica {
  id: string;
  run: RunningControlPlane;
  /** Its way to the API server; closing it cuts the replica off. */
  proxy: TestServer;
  lines: string[];
  closed: boolean;
}

function condition(object: KubeObject | undefined, type: string): Condition | undefined {
  return ((object?.status as { conditions?: Condition[] } | undefined)?.conditions ?? []).find((c) => c.type === type);
}

/** Log lines (as parsed JSON) whose message matches. */
function logged(replica: Replica, message: RegExp): { msg: string; reason?: string }[] {
  return replica.lines.map((line) => JSON.parse(line) as { msg: string; reason?: string }).filter((entry) => message.test(entry.msg));
}

describe('leader election: two control planes, one writer, failover when the lease lapses', () => {
  let apiServer: FakeApiServer;
  let store: Store;
  let dir: string;
  const replicas: Replica[] = [];
  const proxies: TestServer[] = [];

  const lease = (): { holderIdentity?: string; leaseDurationSeconds?: number; leaseTransitions?: number; renewTime?: string; acquireTime?: string } =>
    apiServer.stored('Lease').find((l) => (l.metadata as { name?: string }).name === 'ambit-control-plane')?.spec ?? {};

  async function start(id: string): Promise<Replica> {
    const apiPort = new URL(apiServer.url).port;
    const proxy = await tcpServer((socket) => {
      const upstream = net.connect(Number(apiPort), '127.0.0.1');
      upstream.on('error', () => socket.destroy());
      socket.on('close', () => upstream.destroy());
      upstream.on('close', () => socket.destroy());
      socket.pipe(upstream).pipe(socket);
    });
    proxies.push(proxy);
    const kubeconfig = await writeKubeconfig(join(dir, `${id}.kubeconfig`), `http://127.0.0.1:${proxy.address.port}`);
    const lines: string[] = [];
    const logger = createLogger({ level: 'info', destination: { write: (line: string) => { lines.push(line); } } });
    const run = await runControlPlane({ backend: 'kubernetes', logger, settings: { kubeconfig, 'leader-id': id, ...TIMINGS } });
    const replica: Replica = { id, run, proxy, lines, closed: false };
    replicas.push(replica);
    return replica;
  }

  async function stop(replica: Replica): Promise<void> {
    if (replica.closed) return;
    replica.closed = true;
    await replica.run.close();
  }

  async function metric(replica: Replica, name: string): Promise<number> {
    const { body } = await httpRequest({ host: '127.0.0.1', port: replica.run.cp.metricsPort, path: '/metrics' });
    const match = new RegExp(`^${name} (\\S+)$`, 'm').exec(body);
    return match === null ? Number.NaN : Number(match[1]);
  }

  const leaders = (): Replica[] => replicas.filter((r) => !r.closed && r.run.cp.leadership().isLeader);

  /** Polls every replica's leadership, recording when each one started and stopped leading. */
  function watchTransitions(): { changes: { id: string; leading: boolean; at: number }[]; stop(): void } {
    const changes: { id: string; leading: boolean; at: number }[] = [];
    const last = new Map(replicas.map((r) => [r.id, !r.closed && r.run.cp.leadership().isLeader]));
    const timer = setInterval(() => {
      for (const replica of replicas) {
        const leading = !replica.closed && replica.run.cp.leadership().isLeader;
        if (last.get(replica.id) !== leading) changes.push({ id: replica.id, leading, at: Date.now() });
        last.set(replica.id, leading);
      }
    }, 5);
    return { changes, stop: () => clearInterval(timer) };
  }

  let leader: Replica;
  let standby: Replica;

  before(async () => {
    apiServer = await FakeApiServer.start();
    apiServer.registerKind(EXTRA_KINDS.Lease);
    apiServer.registerKind(EXTRA_KINDS.GatewayClass);
    store = KubernetesStore.fromServer(apiServer.url);
    for (const name of ['ambit-system', 'demo']) await store.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
    dir = await mkdtemp(join(tmpdir(), 'ambit-leader-'));
  });

  after(async () => {
    for (const replica of replicas) await stop(replica).catch(() => undefined);
    for (const proxy of proxies) await proxy.close();
    await store.close();
    await apiServer.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('exactly one of two replicas leads and the Lease names it; both are ready and serve', async () => {
    await start('cp-a');
    await start('cp-b');
    const [first] = await eventually(() => leaders().length === 1 && leaders(), 5_000);
    leader = first!;
    standby = replicas.find((r) => r !== leader)!;
    const spec = lease();
    assert.equal(spec.holderIdentity, leader.id);
    assert.equal(spec.leaseDurationSeconds, 3);
    assert.match(spec.renewTime ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/, 'a MicroTime');
    await eventually(() => standby.run.cp.leadership().holder === leader.id || undefined);
    assert.deepEqual(standby.run.cp.leadership(), {
      enabled: true, isLeader: false, identity: standby.id, holder: leader.id, lease: 'ambit-system/ambit-control-plane', leaseTransitions: spec.leaseTransitions,
      lastError: standby.run.cp.leadership().lastError,
    });
    assert.match(standby.run.cp.leadership().lastError ?? '', new RegExp(`${leader.id} holds the Lease`));
    for (const replica of [leader, standby]) {
      const ready = await httpRequest({ host: '127.0.0.1', port: replica.run.cp.readinessPort, path: '/healthz/ready' });
      assert.equal(ready.status, 200, `${replica.id} is ready whether it leads or not`);
      // Discovery and the CA on every replica: a ztunnel bootstraps and subscribes to the standby too.
      const { discovery } = await replica.run.ztunnel('node-1');
      assert.ok(discovery.index.counts().workloads >= 0);
    }
    assert.equal(await metric(leader, 'ambit_control_plane_leader'), 1);
    assert.equal(await metric(standby, 'ambit_control_plane_leader'), 0);
    assert.equal(logged(leader, /^started leading/).length, 1);
    assert.match(logged(leader, /^started leading/)[0]!.reason ?? '', /created the Lease|released|did not renew/);
  });

  it('only the leader writes status and runs the waypoint controller', async () => {
    await store.create({
      apiVersion: 'security.ambit.dev/v1', kind: 'AuthorizationPolicy', metadata: { name: 'allow-get', namespace: 'demo' },
      spec: { action: 'ALLOW', rules: [{ to: [{ operation: { methods: ['GET'] } }] }] },
    });
    await store.create({
      apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'waypoint', namespace: 'demo' },
      spec: { gatewayClassName: 'ambit-waypoint', listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] },
    });
    await eventually(async () => condition(await store.get('AuthorizationPolicy', 'allow-get', 'demo'), 'Accepted') || undefined);
    await eventually(() => store.get('Deployment', 'waypoint', 'demo'), 5_000);
    await eventually(async () => condition(await store.get('Gateway', 'waypoint', 'demo'), 'Programmed') || undefined);
    assert.ok(leader.run.cp.pipeline.status.writes > 0);
    assert.equal(standby.run.cp.pipeline.status.writes, 0, 'the standby translates but never writes');
    assert.ok(await metric(leader, 'ambit_status_writes_total') > 0);
    assert.equal(await metric(standby, 'ambit_status_writes_total'), 0);
    assert.ok(logged(leader, /^waypoint created/).length > 0);
    assert.deepEqual(logged(standby, /^waypoint /), [], 'the standby runs no waypoint controller');
    // The standby serves the same mesh state all the same.
    assert.equal(standby.run.cp.pipeline.last?.authorizations, leader.run.cp.pipeline.last?.authorizations);
  });

  it('the leader cut off from the API server stops writing; the standby leads once the Lease lapses, and writing resumes', async () => {
    const before = lease().leaseTransitions ?? 0;
    const writesBefore = standby.run.cp.pipeline.status.writes;
    const watch = watchTransitions();
    const cut = Date.now();
    await leader.proxy.close();
    try {
      await eventually(() => watch.changes.some((c) => c.id === standby.id && c.leading) || undefined, 10_000);
      await eventually(() => watch.changes.some((c) => c.id === leader.id && !c.leading) || undefined, 5_000);
    } finally {
      watch.stop();
    }
    const stopped = watch.changes.find((c) => c.id === leader.id && !c.leading)!;
    const started = watch.changes.find((c) => c.id === standby.id && c.leading)!;
    assert.ok(stopped.at < started.at, `never two writers: ${leader.id} stopped ${started.at - stopped.at} ms before ${standby.id} started`);
    assert.ok(stopped.at - cut < 2_000 + 1_000, `${leader.id} stopped ${stopped.at - cut} ms after the cut (renew deadline 2 s)`);
    assert.ok(started.at - cut >= LEASE_DURATION_MS - 500, `${standby.id} took over ${started.at - cut} ms after the cut: not before the Lease lapsed`);
    assert.ok(started.at - cut < LEASE_DURATION_MS + 3_000, `${standby.id} took over ${started.at - cut} ms after the cut`);
    assert.match(logged(leader, /^stopped leading/)[0]?.reason ?? '', /could not renew the Lease/);
    assert.match(logged(standby, /^started leading/)[0]?.reason ?? '', new RegExp(`${leader.id} did not renew the Lease within 3 s`));
    const spec = lease();
    assert.equal(spec.holderIdentity, standby.id);
    assert.equal(spec.leaseTransitions, before + 1);
    assert.equal(leader.run.cp.leadership().isLeader, false);
    assert.equal(await metric(leader, 'ambit_control_plane_leader'), 0);
    assert.equal(await metric(standby, 'ambit_control_plane_leader'), 1);

    // The new leader writes: the status the old one wrote is taken over, and new objects get theirs.
    await store.create({
      apiVersion: 'security.ambit.dev/v1', kind: 'AuthorizationPolicy', metadata: { name: 'deny-post', namespace: 'demo' },
      spec: { action: 'DENY', rules: [{ to: [{ operation: { methods: ['POST'] } }] }] },
    });
    await eventually(async () => condition(await store.get('AuthorizationPolicy', 'deny-post', 'demo'), 'Accepted') || undefined);
    assert.ok(standby.run.cp.pipeline.status.writes > writesBefore);

    // The old leader, still cut off, cannot release the Lease as it shuts down; that changes nothing.
    const closing = Date.now();
    await stop(leader);
    assert.ok(Date.now() - closing < 5_000, `closing the cut-off replica took ${Date.now() - closing} ms`);
    assert.equal(lease().holderIdentity, standby.id);
    [leader, standby] = [standby, leader];
  });

  it('a graceful stop releases the Lease: a standby takes over in well under the lease duration', async () => {
    const next = await start('cp-c');
    await eventually(() => next.run.cp.leadership().holder === leader.id || undefined);
    const before = lease().leaseTransitions ?? 0;
    const watch = watchTransitions();
    const stopping = Date.now();
    try {
      await stop(leader);
      await eventually(() => watch.changes.some((c) => c.id === next.id && c.leading) || undefined, 5_000);
    } finally {
      watch.stop();
    }
    const started = watch.changes.find((c) => c.id === next.id && c.leading)!;
    assert.ok(started.at - stopping < LEASE_DURATION_MS / 2, `took over ${started.at - stopping} ms after the stop began (lease duration ${LEASE_DURATION_MS} ms)`);
    assert.equal(logged(leader, /^released the Lease/).length, 1);
    assert.equal(logged(next, /^started leading/)[0]?.reason, 'the Lease was released');
    assert.equal(lease().holderIdentity, next.id);
    assert.equal(lease().leaseTransitions, before + 1);
  });
});
