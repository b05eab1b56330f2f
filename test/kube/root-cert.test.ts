// The mesh root certificate published by the control plane on the
// Kubernetes backend (against the test API server): the ConfigMap
// ambit-root-cert in the control plane's namespace (the ztunnels mount it)
// and in every namespace with a waypoint Gateway (the waypoint pods do),
// holding the certificate from the root CA Secret and never its key; kept
// correct against deletes and edits; removed with the namespace's last
// waypoint; someone else's ConfigMap of that name left alone; written only
// by the leader.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { createLogger } from '@ambit/core';
import { httpRequest } from '@ambit/core/testing';
import {
  CONTROLLER_NAME, RootCertPublisher, ROOT_CERT_CONFIGMAP, ROOT_SECRET, type ConfigMap, type Gateway, type GatewayClass, type Secret, type Store,
} from '@ambit/control-plane';
import { KubernetesStore } from '@ambit/control-plane/kubernetes';
import { EXTRA_KINDS, FakeApiServer } from '../support/fake-apiserver.js';
import { createNamespace, runControlPlane, type RunningControlPlane } from '../support/control-plane.js';
import { writeKubeconfig } from '../support/kubeconfig.js';
import { eventually } from '../support/net.js';

const SYSTEM = 'ambit-system';
const LABEL = 'ambit.dev/managed-by';

interface LogLine {
  level: string;
  msg: string;
  namespace?: string;
}

/** The control plane's log lines, for the warnings the tests expect. */
function memoryLog(): { logger: ReturnType<typeof createLogger>; lines: () => LogLine[] } {
  const raw: string[] = [];
  const logger = createLogger({ level: 'info', destination: { write: (line: string) => { raw.push(line); } } });
  return { logger, lines: () => raw.map((line) => JSON.parse(line) as LogLine) };
}

async function waypointGateway(store: Store, namespace: string, name: string): Promise<void> {
  await store.create<Gateway>({
    apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name, namespace },
    spec: { gatewayClassName: 'ambit-waypoint', listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] },
  });
}

const rootCert = (store: Store, namespace: string): Promise<ConfigMap | undefined> => store.get<ConfigMap>('ConfigMap', ROOT_CERT_CONFIGMAP, namespace);

/** The root certificate the control plane keeps in its Secret (the same root the proxies must trust). */
async function secretRoot(store: Store): Promise<string> {
  const secret = await store.get<Secret>('Secret', ROOT_SECRET.name, ROOT_SECRET.namespace);
  const pem = secret?.data?.['root-cert.pem'];
  assert.ok(pem !== undefined, 'the root CA Secret exists');
  return Buffer.from(pem, 'base64').toString('utf8');
}

/** Resolves once the ConfigMap in `namespace` holds exactly the root certificate, labelled as the control plane's. */
function published(store: Store, namespace: string, root: string): Promise<ConfigMap> {
  return eventually(async () => {
    const configMap = await rootCert(store, namespace);
    const good = configMap?.metadata.labels?.[LABEL] === 'root-cert-publisher'
      && JSON.stringify(configMap.data) === JSON.stringify({ 'root-cert.pem': root }) && configMap.binaryData === undefined;
    return good ? configMap : undefined;
  }, 5_000);
}

async function metric(run: RunningControlPlane, pattern: RegExp): Promise<string | undefined> {
  const { body } = await httpRequest({ host: '127.0.0.1', port: run.cp.metricsPort, path: '/metrics' });
  return pattern.exec(body)?.[1];
}

describe('root certificate publication (kubernetes backend, leader)', () => {
  let apiServer: FakeApiServer;
  let store: KubernetesStore;
  let dir: string;
  let run: RunningControlPlane;
  let log: ReturnType<typeof memoryLog>;
  let root: string;

  before(async () => {
    apiServer = await FakeApiServer.start();
    apiServer.registerKind(EXTRA_KINDS.Lease);
    apiServer.registerKind(EXTRA_KINDS.GatewayClass);
    store = KubernetesStore.fromServer(apiServer.url);
    for (const name of [SYSTEM, 'shop', 'legacy', 'quiet']) await createNamespace(store, name);
    dir = await mkdtemp(join(tmpdir(), 'ambit-root-cert-'));
    log = memoryLog();
    run = await runControlPlane({
      backend: 'kubernetes', logger: log.logger, stateDir: join(dir, 'state'),
      settings: { kubeconfig: await writeKubeconfig(join(dir, 'kubeconfig'), apiServer.url) },
    });
    root = await secretRoot(store);
  });

  after(async () => {
    await run.close();
    await store.close();
    await apiServer.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('publishes the root certificate, and only it, in its own namespace on start', async () => {
    const configMap = await published(store, SYSTEM, root);
    assert.equal(new X509Certificate(root).fingerprint256, run.cp.ca.rootCertificate.fingerprint256);
    assert.doesNotMatch(JSON.stringify(configMap), /PRIVATE KEY/, 'never the key');
    assert.equal(configMap.metadata.labels?.['app.kubernetes.io/part-of'], 'ambit');
    assert.equal(await rootCert(store, 'quiet'), undefined, 'not in a namespace without a waypoint');
    assert.equal(await metric(run, /^ambit_root_cert_writes_total\{op="create"\} (\d+)$/m), '1');
  });

  it('publishes it in a namespace once it holds a waypoint Gateway, and in no other', async () => {
    await waypointGateway(store, 'shop', 'waypoint');
    await published(store, 'shop', root);
    // A Gateway of another class needs no root certificate.
    await store.create<Gateway>({
      apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'ingress', namespace: 'quiet' },
      spec: { gatewayClassName: 'istio', listeners: [{ name: 'http', port: 80, protocol: 'HTTP' }] },
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(await rootCert(store, 'quiet'), undefined);
  });

  it('recreates a deleted one', async () => {
    const before = await published(store, 'shop', root);
    await store.delete('ConfigMap', ROOT_CERT_CONFIGMAP, 'shop');
    const after = await published(store, 'shop', root);
    assert.notEqual(after.metadata.uid, before.metadata.uid, 'a new object');
    await store.delete('ConfigMap', ROOT_CERT_CONFIGMAP, SYSTEM);
    await published(store, SYSTEM, root);
  });

  it('repairs an edited one: the certificate restored, added keys removed', async () => {
    await store.patch('ConfigMap', ROOT_CERT_CONFIGMAP, 'shop', {
      data: { 'root-cert.pem': '-----BEGIN CERTIFICATE-----\nnot ours\n-----END CERTIFICATE-----\n', extra: 'x' },
    });
    await published(store, 'shop', root);
    assert.ok(log.lines().some((l) => l.namespace === 'shop' && /^repaired ConfigMap shop\/ambit-root-cert: root-cert\.pem is not the current root certificate/.test(l.msg)));
  });

  it('leaves an unlabelled ConfigMap of the same name alone, with a warning and a count', async () => {
    const mine = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: ROOT_CERT_CONFIGMAP, namespace: 'legacy' }, data: { 'root-cert.pem': 'made by hand' } };
    const created = await store.create<ConfigMap>(mine);
    await waypointGateway(store, 'legacy', 'waypoint');
    await eventually(() => metric(run, /^ambit_root_cert_unmanaged_total\{namespace="legacy"\} (\d+)$/m), 5_000);
    const warning = log.lines().find((l) => l.namespace === 'legacy' && l.level === 'warn');
    assert.match(warning?.msg ?? '', /exists without the label ambit\.dev\/managed-by=root-cert-publisher, so it is not the control plane's and is left alone.*delete it/);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const after = await rootCert(store, 'legacy');
    assert.equal(after?.metadata.resourceVersion, created.metadata.resourceVersion, 'untouched');
    assert.deepEqual(after?.data, mine.data);
    assert.equal(await metric(run, /^ambit_root_cert_unmanaged_total\{namespace="legacy"\} (\d+)$/m), '1', 'counted once, not every round');
    // Nor removed when the namespace's waypoint goes.
    await store.delete('Gateway', 'waypoint', 'legacy');
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal((await rootCert(store, 'legacy'))?.metadata.uid, created.metadata.uid);
  });

  it('removes it when the last waypoint Gateway of a namespace goes', async () => {
    await waypointGateway(store, 'shop', 'second');
    await store.delete('Gateway', 'waypoint', 'shop');
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.ok(await rootCert(store, 'shop'), 'kept while a waypoint remains');
    await store.delete('Gateway', 'second', 'shop');
    await eventually(async () => (await rootCert(store, 'shop')) === undefined, 5_000);
    assert.ok(await rootCert(store, SYSTEM), 'its own namespace keeps one');
  });

  it('publishes a new root after a restart with a replaced root CA Secret', async () => {
    await waypointGateway(store, 'shop', 'waypoint');
    await published(store, 'shop', root);
    await store.delete('Secret', ROOT_SECRET.name, ROOT_SECRET.namespace);
    await run.restart();
    const next = await secretRoot(store);
    assert.notEqual(next, root, 'a new root');
    await published(store, SYSTEM, next);
    await published(store, 'shop', next);
    root = next;
  });
});

describe('root certificate publication: only the leader writes (and the GatewayClass status)', () => {
  let apiServer: FakeApiServer;
  let store: KubernetesStore;
  let dir: string;
  let run: RunningControlPlane | undefined;

  before(async () => {
    apiServer = await FakeApiServer.start();
    apiServer.registerKind(EXTRA_KINDS.Lease);
    apiServer.registerKind(EXTRA_KINDS.GatewayClass);
    store = KubernetesStore.fromServer(apiServer.url);
    await createNamespace(store, SYSTEM);
    await createNamespace(store, 'shop');
    await waypointGateway(store, 'shop', 'waypoint');
    await store.create<GatewayClass>({
      apiVersion: 'gateway.networking.k8s.io/v1', kind: 'GatewayClass', metadata: { name: 'ambit-waypoint' }, spec: { controllerName: CONTROLLER_NAME },
    });
    dir = await mkdtemp(join(tmpdir(), 'ambit-root-cert-standby-'));
    // Another replica holds the Lease and keeps it for an hour.
    const now = new Date().toISOString().replace('Z', '000Z');
    await store.raw('POST', `/apis/coordination.k8s.io/v1/namespaces/${SYSTEM}/leases`, 'create the Lease', {
      apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'ambit-control-plane', namespace: SYSTEM },
      spec: { holderIdentity: 'cp-elsewhere', leaseDurationSeconds: 3600, acquireTime: now, renewTime: now, leaseTransitions: 0 },
    });
  });

  after(async () => {
    await run?.close();
    await store.close();
    await apiServer.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('a standby publishes nothing; once it takes the Lease, it publishes', async () => {
    run = await runControlPlane({
      backend: 'kubernetes', stateDir: join(dir, 'state'),
      settings: { kubeconfig: await writeKubeconfig(join(dir, 'kubeconfig'), apiServer.url), 'leader-id': 'cp-here', 'lease-retry-period': '100ms', 'lease-renew-deadline': '1s', 'lease-duration': '2s' },
    });
    const standby = run;
    await eventually(() => standby.cp.leadership().holder === 'cp-elsewhere' || undefined, 5_000);
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(standby.cp.leadership().isLeader, false);
    assert.equal(standby.cp.notReady(), undefined, 'ready while following');
    assert.deepEqual(apiServer.stored('ConfigMap'), [], 'no ConfigMap written');
    assert.deepEqual(apiServer.requests.filter((r) => r.path.includes('/configmaps')), [], 'nor even watched');
    assert.equal((await store.get<GatewayClass>('GatewayClass', 'ambit-waypoint'))?.status, undefined, 'no GatewayClass status either');

    // The other replica steps down (releases the Lease): this one leads and publishes.
    const lease = `/apis/coordination.k8s.io/v1/namespaces/${SYSTEM}/leases/ambit-control-plane`;
    const released = await store.raw('PATCH', lease, 'release the Lease', { spec: { holderIdentity: '' } }, 'application/merge-patch+json');
    assert.equal(released.status, 200);
    await eventually(() => standby.cp.leadership().isLeader || undefined, 5_000);
    const root = await secretRoot(store);
    await published(store, SYSTEM, root);
    await published(store, 'shop', root);
    await eventually(async () => (await store.get<GatewayClass>('GatewayClass', 'ambit-waypoint'))?.status?.conditions?.[0]?.status === 'True' || undefined, 5_000);
  });
});

describe('root certificate publisher: a namespace blocked by someone else\'s ConfigMap', () => {
  let apiServer: FakeApiServer;
  let store: KubernetesStore;

  before(async () => {
    apiServer = await FakeApiServer.start();
    store = KubernetesStore.fromServer(apiServer.url);
    for (const name of [SYSTEM, 'legacy']) await createNamespace(store, name);
  });

  after(async () => {
    await store.close();
    await apiServer.close();
  });

  it('is tried again after the retry period, and published there once that ConfigMap is gone', async () => {
    const hand = await store.create<ConfigMap>({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: ROOT_CERT_CONFIGMAP, namespace: 'legacy' }, data: { x: 'y' } });
    const gateway: Gateway = {
      apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'waypoint', namespace: 'legacy' },
      spec: { gatewayClassName: 'ambit-waypoint', listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] },
    };
    const unmanaged: string[] = [];
    const root = '-----BEGIN CERTIFICATE-----\nroot\n-----END CERTIFICATE-----\n';
    const publisher = new RootCertPublisher(store, {
      rootPem: root, namespace: SYSTEM, gateways: () => [gateway], debounceMs: 10, retryMs: 200, onUnmanaged: (namespace) => unmanaged.push(namespace),
    });
    try {
      await publisher.start();
      await published(store, SYSTEM, root);
      assert.deepEqual(publisher.unmanaged(), ['legacy']);
      await new Promise((resolve) => setTimeout(resolve, 500));
      assert.deepEqual(unmanaged, ['legacy'], 'reported once, though tried again');
      assert.equal((await rootCert(store, 'legacy'))?.metadata.resourceVersion, hand.metadata.resourceVersion);
      await store.delete('ConfigMap', ROOT_CERT_CONFIGMAP, 'legacy');
      await published(store, 'legacy', root);
      assert.deepEqual(publisher.unmanaged(), []);
    } finally {
      publisher.stop();
    }
  });
});
