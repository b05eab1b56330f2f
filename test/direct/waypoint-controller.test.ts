// The waypoint controller inside a running control plane (loopback, no
// root): a Gateway makes it write a ServiceAccount, Deployment and Service;
// the Gateway is Programmed only once the Service has a cluster IP, a pod
// is ready and a waypoint subscriber with the Gateway's identity has
// acknowledged discovery, and stops being so when that subscriber leaves.
// This test plays the API server and kubelet by hand (cluster IP, pod).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Condition, Deployment, Gateway, Service } from '@ambit/control-plane';
import { API_SOCKET_FILE, RemoteStore, writeBootstrapToken } from '@ambit/control-plane';
import { join } from 'node:path';
import { CaClient, DiscoveryClient } from '@ambit/cp-client';
import { CertificateManager } from '@ambit/identity';
import { SpiffeId } from '@ambit/core';
import { createNamespace, createPod, runControlPlane, type RunningControlPlane } from '../support/control-plane.js';
import { eventually } from '../support/netns.js';
import { testKeys } from '../support/pki.js';

const NS = 'shop';

describe('waypoint controller in the control plane', () => {
  let run: RunningControlPlane;

  const gateway = async (name = 'waypoint'): Promise<Gateway | undefined> => run.cp.store.get<Gateway>('Gateway', name, NS);
  const programmed = async (name = 'waypoint'): Promise<Condition | undefined> =>
    (await gateway(name))?.status?.conditions?.find((c) => c.type === 'Programmed');
  const until = (reason: string, name = 'waypoint'): Promise<Condition> => eventually(async () => {
    const condition = await programmed(name);
    if (condition?.reason !== reason) throw new Error(`Programmed is ${JSON.stringify(condition)}`);
    return condition;
  }, `Programmed reason ${reason}`, 10_000);

  async function createGateway(name: string): Promise<void> {
    await run.cp.store.create<Gateway>({
      apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name, namespace: NS },
      spec: { gatewayClassName: 'ambit-waypoint', listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] },
    });
  }

  /** A waypoint process's control-plane side: its workload certificate, then a discovery subscription. */
  async function subscribeAsWaypoint(name: string): Promise<DiscoveryClient> {
    const identity = SpiffeId.of('cluster.local', NS, name);
    const { token } = await writeBootstrapToken(run.stateDir, { identity });
    const ca = new CaClient({ address: run.cp.address, serverIdentity: run.cp.identity, roots: run.cp.ca.roots, bootstrapToken: () => token });
    const manager = new CertificateManager({ source: ca.source(), generateKeys: testKeys });
    const certificate = await manager.fetch(identity);
    manager.close();
    const discovery = new DiscoveryClient({
      address: run.cp.address, serverIdentity: run.cp.identity, certificate: () => certificate,
      subscription: { role: 'waypoint', gateway: `${NS}/${name}` }, backoff: { initialMs: 50, maxMs: 300, jitter: 0 },
    });
    await discovery.start();
    return discovery;
  }

  before(async () => {
    run = await runControlPlane();
    await createNamespace(run.cp.store, NS, { 'ambit.dev/dataplane-mode': 'ambient' });
  });

  after(async () => {
    await run?.close();
  });

  it('writes the ServiceAccount, Deployment and Service of a new waypoint Gateway; no address yet', async () => {
    await createGateway('waypoint');
    const deployment = await eventually(() => run.cp.store.get<Deployment>('Deployment', 'waypoint', NS), 'the Deployment', 10_000);
    assert.equal(deployment.spec?.template.spec.serviceAccountName, 'waypoint');
    assert.ok(await run.cp.store.get('ServiceAccount', 'waypoint', NS));
    assert.ok(await run.cp.store.get('Service', 'waypoint', NS));
    await until('AddressNotAssigned');
    assert.equal((await gateway())?.status?.conditions?.find((c) => c.type === 'Accepted')?.status, 'True');
  });

  it('is Pending until a pod is ready, then until the waypoint acknowledges discovery, then Programmed; Pending again when it leaves', async () => {
    await run.cp.store.patch<Service>('Service', 'waypoint', NS, { spec: { clusterIP: '10.96.0.50' } });
    assert.match((await until('Pending')).message, /no waypoint pod/);
    await createPod(run.cp.store, { name: 'waypoint-0', namespace: NS, node: 'node-a', ip: '10.0.0.50', serviceAccount: 'waypoint', labels: { 'gateway.networking.k8s.io/gateway-name': 'waypoint' } });
    assert.match((await eventually(async () => {
      const condition = await programmed();
      return /not acknowledged/.test(condition?.message ?? '') ? condition : undefined;
    }, 'waiting for the acknowledgement', 10_000)).message, /running but has not acknowledged/);
    const discovery = await subscribeAsWaypoint('waypoint');
    const condition = await until('Programmed');
    assert.equal(condition.status, 'True');
    // The control plane's own view, as `ambit proxy-status` reads it over the API socket.
    const remote = new RemoteStore(join(run.stateDir, API_SOCKET_FILE));
    try {
      const status = await remote.controlPlaneStatus();
      assert.equal(status.ready, true);
      assert.ok(Date.parse(status.rootCertificate.notAfter) > Date.now() + 300 * 86_400_000, 'root valid for years');
      const subscriber = status.subscribers.find((s) => s.role === 'waypoint');
      assert.equal(subscriber?.gateway, `${NS}/waypoint`);
      assert.equal(subscriber?.lastAckedVersion, status.version);
    } finally {
      await remote.close();
    }
    assert.deepEqual((await gateway())?.status?.addresses, [{ type: 'IPAddress', value: '10.96.0.50' }]);
    discovery.close();
    assert.match((await until('Pending')).message, /not acknowledged/);
  });

  it('says so when an object it does not manage is in the way, and leaves that object alone', async () => {
    await run.cp.store.create<Service>({
      apiVersion: 'v1', kind: 'Service', metadata: { name: 'taken', namespace: NS, labels: { app: 'mine' } },
      spec: { selector: { app: 'mine' }, ports: [{ port: 80 }] },
    });
    await createGateway('taken');
    const condition = await until('Invalid', 'taken');
    assert.match(condition.message, /Service shop\/taken that the waypoint controller does not manage already exists/);
    assert.deepEqual((await run.cp.store.get<Service>('Service', 'taken', NS))?.metadata.labels, { app: 'mine' });
  });

  it('deletes what a deleted Gateway owned', async () => {
    await run.cp.store.delete('Gateway', 'waypoint', NS);
    await eventually(async () => ((await run.cp.store.get('Deployment', 'waypoint', NS)) === undefined ? true : undefined), 'the Deployment deleted', 10_000);
    assert.equal(await run.cp.store.get('Service', 'waypoint', NS), undefined);
    assert.equal(await run.cp.store.get('ServiceAccount', 'waypoint', NS), undefined);
    assert.ok(await run.cp.store.get('Service', 'taken', NS), 'the foreign Service stays');
  });
});
