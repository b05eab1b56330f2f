// The control plane's end-to-end behaviour, written once and run against
// both store backends (test/direct: local; test/kube: the fake API server).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { buildCsr } from '@ambit/identity';
import { rejectsWith } from '@ambit/core/testing';
import type { Condition, Deployment, Gateway, KubeObject, Store } from '@ambit/control-plane';
import { eventually } from './net.js';
import { testKeys } from './pki.js';
import { createNamespace, createPod, type RunningControlPlane } from './control-plane.js';

function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path }, (response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => { body += chunk.toString(); });
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

function condition(object: KubeObject | undefined, type: string): Condition | undefined {
  return ((object?.status as { conditions?: Condition[] } | undefined)?.conditions ?? []).find((c) => c.type === type);
}

export function controlPlaneScenario(name: string, start: () => Promise<RunningControlPlane>): void {
  describe(`control plane end to end (${name})`, () => {
    let run: RunningControlPlane;
    let store: Store;

    before(async () => {
      run = await start();
      store = run.cp.store;
      await createNamespace(store, 'demo');
      await createNamespace(store, 'other');
      await createPod(store, { name: 'echo-1', namespace: 'demo', node: 'node-1', ip: '10.244.1.5', serviceAccount: 'echo', labels: { app: 'echo', version: 'v1' } });
      await createPod(store, { name: 'client-1', namespace: 'demo', node: 'node-2', ip: '10.244.2.5', serviceAccount: 'client', labels: { app: 'client' } });
      await createPod(store, { name: 'db-1', namespace: 'other', node: 'node-1', ip: '10.244.1.9', serviceAccount: 'db' });
    });

    after(async () => {
      await run.close();
    });

    it('is ready, serves metrics, and subscribers get the cluster as mesh state', async () => {
      assert.equal((await get(run.cp.readinessPort, '/healthz/ready')).status, 200);
      const { discovery } = await run.ztunnel('node-1');
      await eventually(() => discovery.index.counts().workloads === 3 || undefined);
      assert.equal(discovery.index.workloadByAddress('10.244.1.5')?.protocol, 'TCP', 'not enrolled yet');
      const metrics = (await get(run.cp.metricsPort, '/metrics')).body;
      assert.match(metrics, /ambit_discovery_subscribers\{role="ztunnel"\} 1/);
      assert.match(metrics, /ambit_ca_certificates_issued_total [1-9]/);
      assert.match(metrics, /process_resident_memory_bytes/);
    });

    it('enrolls a namespace: its workloads reach a subscriber as HBONE within 1 s', async () => {
      const { discovery } = await run.ztunnel('node-2');
      const started = Date.now();
      await store.patch('Namespace', 'demo', undefined, { metadata: { labels: { 'ambit.dev/dataplane-mode': 'ambient' } } });
      await eventually(() => (discovery.index.workloadByAddress('10.244.1.5')?.protocol === 'HBONE'
        && discovery.index.workloadByAddress('10.244.2.5')?.protocol === 'HBONE') || undefined, 1_000, 5);
      assert.ok(Date.now() - started < 1_000);
      assert.equal(discovery.index.workloadByAddress('10.244.1.9')?.protocol, 'TCP', 'another namespace stays out');
      await eventually(() => run.cp.discovery.subscribers().find((s) => s.node === 'node-2')?.lastAckedVersion === run.cp.discovery.version || undefined);
    });

    it('issues only certificates for pods on the ztunnel\'s own node, and counts refusals', async () => {
      const { ca } = await run.ztunnel('node-1');
      const keys = await testKeys();
      const echo = run.cp.identity.trustDomain === 'cluster.local' ? 'spiffe://cluster.local/ns/demo/sa/echo' : '';
      const { SpiffeId } = await import('@ambit/core');
      const chain = await ca.request(SpiffeId.parse(echo), buildCsr(keys, SpiffeId.parse(echo)));
      assert.equal(chain.chain.length, 1);
      const client = SpiffeId.parse('spiffe://cluster.local/ns/demo/sa/client');
      await rejectsWith(ca.request(client, buildCsr(keys, client)), 'not-entitled', /not-on-node.*node-1/);
      const metrics = (await get(run.cp.metricsPort, '/metrics')).body;
      assert.match(metrics, /ambit_ca_certificates_refused_total\{reason="not-on-node"\} 1/);
    });

    it('writes status conditions back: waypoint binding, gateway programming, policy acceptance', async () => {
      await store.create({
        apiVersion: 'v1', kind: 'Service',
        metadata: { name: 'echo', namespace: 'demo', labels: { 'ambit.dev/use-waypoint': 'missing' } },
        spec: { selector: { app: 'echo' }, clusterIP: '10.96.0.10', ports: [{ port: 80, targetPort: 8080 }] },
      });
      await store.create({
        apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'waypoint', namespace: 'demo' },
        spec: { gatewayClassName: 'ambit-waypoint', listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] },
      });
      await store.create({
        apiVersion: 'security.ambit.dev/v1', kind: 'AuthorizationPolicy', metadata: { name: 'allow-get', namespace: 'demo' },
        spec: { action: 'ALLOW', rules: [{ to: [{ operation: { methods: ['GET'] } }] }] },
      });
      await eventually(async () => condition(await store.get('Service', 'echo', 'demo'), 'ambit.dev/WaypointBound')?.status === 'False' || undefined);
      const service = await store.get('Service', 'echo', 'demo');
      assert.match(condition(service, 'ambit.dev/WaypointBound')?.reason ?? '', /WaypointNotFound/);
      await eventually(async () => condition(await store.get('Gateway', 'waypoint', 'demo'), 'Programmed')?.status === 'False' || undefined);
      await eventually(async () => condition(await store.get('AuthorizationPolicy', 'allow-get', 'demo'), 'Accepted') || undefined);
      const policy = await store.get('AuthorizationPolicy', 'allow-get', 'demo');
      assert.match(JSON.stringify(condition(policy, 'Accepted')), /PartiallyEnforced|methods/);
      await store.create({
        apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'echo', namespace: 'demo' },
        spec: { parentRefs: [{ group: '', kind: 'Service', name: 'echo', port: 80 }], rules: [{ backendRefs: [{ name: 'echo-v2' }] }] },
      });
      type Parents = { parents?: { controllerName: string; conditions: Condition[] }[] } | undefined;
      const routeParents = async () => ((await store.get('HTTPRoute', 'echo', 'demo'))?.status as Parents)?.parents;
      await eventually(async () => (await routeParents())?.[0] || undefined);
      const [parent] = (await routeParents()) ?? [];
      assert.equal(parent?.controllerName, 'ambit.dev/waypoint-controller');
      assert.deepEqual(parent?.conditions.map((c) => `${c.type}=${c.status}/${c.reason}`), ['Accepted=True/Accepted', 'ResolvedRefs=False/BackendNotFound']);
      // Settled: a further translation writes nothing new.
      const before = run.cp.pipeline.status.writes;
      await run.cp.pipeline.run();
      assert.equal(run.cp.pipeline.status.writes, before);
    });

    it('runs a waypoint Gateway: its objects owned by it, Programmed once it runs, all gone with it', async () => {
      await createNamespace(store, 'shop', { 'ambit.dev/dataplane-mode': 'ambient' });
      const gateway = await store.create<Gateway>({
        apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'wp', namespace: 'shop' },
        spec: { gatewayClassName: 'ambit-waypoint', listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] },
      });
      const kinds = ['ServiceAccount', 'Deployment', 'Service'] as const;
      const objects = await eventually(async () => {
        const found = await Promise.all(kinds.map((kind) => store.get(kind, 'wp', 'shop')));
        return found.every((o) => o !== undefined) ? found : undefined;
      }, 5_000);
      for (const object of objects) {
        assert.deepEqual(object.metadata.ownerReferences, [{
          apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', name: 'wp', uid: gateway.metadata.uid, controller: true, blockOwnerDeletion: true,
        }], `${object.kind} is owned by the Gateway, as its controller`);
        assert.equal(object.metadata.labels?.['ambit.dev/managed-by'], 'waypoint-controller');
      }
      await eventually(async () => condition(await store.get('Gateway', 'wp', 'shop'), 'Programmed')?.reason === 'AddressNotAssigned' || undefined);

      // What the cluster does next, played by hand: the API server assigns the Service its IP, the
      // Deployment's pod runs and is ready, and the waypoint in it subscribes with the Gateway's identity.
      await store.patch('Service', 'wp', 'shop', { spec: { clusterIP: '10.96.0.60' } });
      await createPod(store, {
        name: 'wp-7d9f-0', namespace: 'shop', node: 'node-1', ip: '10.244.1.60', serviceAccount: 'wp',
        labels: { 'gateway.networking.k8s.io/gateway-name': 'wp' },
      });
      const deployment = await store.get<Deployment>('Deployment', 'wp', 'shop');
      await store.updateStatus('Deployment', 'wp', 'shop', {
        observedGeneration: deployment?.metadata.generation, replicas: 1, updatedReplicas: 1, readyReplicas: 1, availableReplicas: 1,
      });
      const waypoint = await run.waypoint('shop', 'wp');
      const programmed = await eventually(async () => {
        const found = condition(await store.get('Gateway', 'wp', 'shop'), 'Programmed');
        return found?.status === 'True' ? found : undefined;
      }, 5_000);
      assert.equal(programmed.reason, 'Programmed');
      assert.deepEqual((await store.get<Gateway>('Gateway', 'wp', 'shop'))?.status?.addresses, [{ type: 'IPAddress', value: '10.96.0.60' }]);
      waypoint.close();

      await store.delete('Gateway', 'wp', 'shop');
      await eventually(async () => (await Promise.all(kinds.map((kind) => store.get(kind, 'wp', 'shop')))).every((o) => o === undefined) || undefined, 5_000);
      await store.delete('Pod', 'wp-7d9f-0', 'shop');
    });

    it('converges after a restart with no stale entries, and subscribers reconnect', async () => {
      const { discovery } = await run.ztunnel('node-1');
      await eventually(() => discovery.index.workloadByAddress('10.244.1.9') !== undefined || undefined);
      await run.cp.close();
      // While the control plane is down, the cluster changes: the proxy still answers from its last state.
      assert.equal(discovery.index.workloadByAddress('10.244.1.9')?.name, 'db-1');
      await run.restart();
      store = run.cp.store;
      await store.delete('Pod', 'db-1', 'other');
      await eventually(() => (discovery.connected && discovery.index.workloadByAddress('10.244.1.9') === undefined) || undefined, 10_000);
      assert.equal(discovery.index.workloadByAddress('10.244.1.5')?.protocol, 'HBONE');
    });

    it('refuses a ztunnel subscribing for another node than its certificate names', async () => {
      const { certificate } = await run.ztunnel('node-1');
      const { DiscoveryClient } = await import('@ambit/cp-client');
      const imposter = new DiscoveryClient({
        address: run.cp.address, serverIdentity: run.cp.identity, certificate: () => certificate,
        subscription: { role: 'ztunnel', node: 'node-2' }, backoff: { initialMs: 5_000, maxMs: 5_000, jitter: 0 },
      });
      const reason = new Promise<Error>((resolve) => imposter.once('disconnected', resolve));
      void imposter.start();
      assert.match((await reason).message, /403.*node-1/);
      imposter.close();
    });
  });
}
