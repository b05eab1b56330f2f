// The Kubernetes store backend against the fake API server: the shared store
// contract, then what only this backend does — error mapping from Status
// objects, an unreachable server, kubeconfig credentials, watches the server
// ends or expires.
import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rejectsWith } from '@ambit/core/testing';
import { isAmbitError } from '@ambit/core';
import { Informer, type InformerEvent, type KubeObject } from '@ambit/control-plane';
import { KubernetesStore } from '@ambit/control-plane/kubernetes';
import { FakeApiServer } from '../support/fake-apiserver.js';
import { storeContract, Collector, namespace, service } from '../support/store-contract.js';
import { closedPort } from '../support/net.js';

storeContract('kubernetes', async (options) => {
  const server = await FakeApiServer.start({ historySize: options.historySize ?? 1000 });
  return { store: KubernetesStore.fromServer(server.url, { requestTimeoutMs: 5_000 }), cleanup: () => server.close() };
});

describe('Kubernetes store', () => {
  let server: FakeApiServer | undefined;
  let store: KubernetesStore | undefined;
  let dir: string | undefined;

  afterEach(async () => {
    await store?.close();
    await server?.close();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
    server = undefined;
    store = undefined;
    dir = undefined;
  });

  async function start(options: Parameters<typeof FakeApiServer.start>[0] = {}): Promise<{ server: FakeApiServer; store: KubernetesStore }> {
    server = await FakeApiServer.start(options);
    store = KubernetesStore.fromServer(server.url, { requestTimeoutMs: 5_000, rewatchDelayMs: 10 });
    await store.create(namespace('demo'));
    return { server, store };
  }

  it('maps 409 AlreadyExists and Conflict by reason, keeping the server message', async () => {
    const { store } = await start();
    const created = await store.create(service('echo', 'demo'));
    const exists = await rejectsWith(store.create(service('echo', 'demo')), 'already-exists', /services "echo" already exists/);
    assert.equal(exists.details.status, 409);
    assert.equal(exists.details.reason, 'AlreadyExists');
    await store.patch('Service', 'echo', 'demo', { metadata: { labels: { a: '1' } } });
    const conflict = await rejectsWith(store.update(created), 'conflict', /the object has been modified/);
    assert.equal(conflict.details.reason, 'Conflict');
    assert.match(conflict.hint ?? '', /resourceVersion/);
  });

  it('maps 404, 422 Invalid (with the field) and 400 BadRequest', async () => {
    const { store } = await start();
    await rejectsWith(store.delete('Service', 'missing', 'demo'), 'not-found', /services "missing" not found/);
    await rejectsWith(store.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'Bad_Name', namespace: 'demo' } }), 'invalid-resource', /metadata\.name/);
    await rejectsWith(store.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: '', namespace: 'demo' } }), 'invalid-resource', /name or generateName is required/);
    await rejectsWith(store.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'x' } }), 'invalid-resource', /metadata\.namespace/);
    await rejectsWith(store.create(service('in-nowhere', 'nowhere')), 'not-found', /namespaces "nowhere" not found/);
    await rejectsWith(store.list('Service', { labelSelector: 'app in (a' }), 'invalid-resource', /unable to parse requirement/);
  });

  it('updates the status of a custom resource without a version (JSON patch) and with one (PUT)', async () => {
    const { store } = await start();
    const gateway = await store.create<KubeObject>({
      apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway',
      metadata: { name: 'waypoint', namespace: 'demo' },
      spec: { gatewayClassName: 'ambit-waypoint', listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] },
    });
    const programmed = await store.updateStatus<KubeObject>('Gateway', 'waypoint', 'demo', { conditions: [{ type: 'Programmed', status: 'True', reason: 'Programmed', message: '' }] });
    assert.equal(programmed.metadata.generation, 1);
    await rejectsWith(store.updateStatus('Gateway', 'waypoint', 'demo', {}, gateway.metadata.resourceVersion), 'conflict');
    const cleared = await store.updateStatus<KubeObject>('Gateway', 'waypoint', 'demo', {}, programmed.metadata.resourceVersion);
    assert.deepEqual(cleared.status, {});
    // A custom resource refuses an update without a version, as a real API server does.
    const { resourceVersion: _rv, ...metadata } = cleared.metadata;
    await rejectsWith(store.update({ ...cleared, metadata }), 'invalid-resource', /resourceVersion/);
  });

  it('fills in kind and apiVersion on list items, which built-in lists leave out', async () => {
    const { store } = await start();
    await store.create(service('echo', 'demo'));
    const { items } = await store.list('Service');
    assert.equal(items[0]?.kind, 'Service');
    assert.equal(items[0]?.apiVersion, 'v1');
  });

  it('reports an unreachable server as unavailable, for requests and watches', async () => {
    const port = await closedPort();
    store = KubernetesStore.fromServer(`http://127.0.0.1:${port.port}`, { requestTimeoutMs: 2_000 });
    const error = await rejectsWith(store.get('Service', 'echo', 'demo'), 'unavailable', /unreachable/);
    assert.equal(error.details.code, 'ECONNREFUSED');
    await rejectsWith(store.list('Namespace'), 'unavailable');
    const events = new Collector();
    store.watch('Service', { resourceVersion: '1' }, events);
    const watchError = await events.waitForError();
    assert.ok(isAmbitError(watchError, 'unavailable'), String(watchError));
  });

  it('bounds a request the server never answers', async () => {
    const { tcpServer } = await import('../support/net.js');
    const silent = await tcpServer(() => undefined);
    try {
      const slow = KubernetesStore.fromServer(`http://127.0.0.1:${silent.address.port}`, { requestTimeoutMs: 200 });
      const started = Date.now();
      await rejectsWith(slow.get('Node', 'a'), 'unavailable', /no answer within 200 ms/);
      assert.ok(Date.now() - started < 2_000);
    } finally {
      await silent.close();
    }
  });

  it('authenticates with the kubeconfig token and maps 401 to denied', async () => {
    server = await FakeApiServer.start({ bearerToken: 'sekrit' });
    dir = await mkdtemp(join(tmpdir(), 'ambit-kube-'));
    const kubeconfig = (token: string): string => [
      'apiVersion: v1', 'kind: Config', 'current-context: test',
      'clusters: [{name: fake, cluster: {server: "' + server!.url + '", insecure-skip-tls-verify: true}}]',
      `users: [{name: me, user: {token: ${token}}}]`,
      'contexts: [{name: test, context: {cluster: fake, user: me}}]', '',
    ].join('\n');
    await writeFile(join(dir, 'good'), kubeconfig('sekrit'));
    await writeFile(join(dir, 'bad'), kubeconfig('wrong'));
    store = KubernetesStore.fromKubeconfig(join(dir, 'good'));
    await store.create(namespace('demo'));
    assert.equal((await store.get('Namespace', 'demo'))?.metadata.name, 'demo');
    const bad = KubernetesStore.fromKubeconfig(join(dir, 'bad'));
    await rejectsWith(bad.get('Namespace', 'demo'), 'denied', /Unauthorized/);
    const events = new Collector();
    bad.watch('Namespace', { resourceVersion: '' }, events);
    assert.ok(isAmbitError(await events.waitForError(), 'denied'));
    await bad.close();
  });

  it('refuses a kubeconfig that cannot be read, and bad options, with invalid-config', () => {
    assert.throws(() => KubernetesStore.fromKubeconfig('/nonexistent/kubeconfig'), (error: unknown) => isAmbitError(error, 'invalid-config'));
    assert.throws(() => KubernetesStore.fromServer('http://127.0.0.1:1', { requestTimeoutMs: 0 }), /requestTimeoutMs must be a positive number/);
  });

  it('refuses in-cluster configuration outside a pod', { skip: process.env.KUBERNETES_SERVICE_HOST !== undefined && 'running inside a pod' }, () => {
    assert.throws(() => KubernetesStore.inCluster(), (error: unknown) => isAmbitError(error, 'invalid-config'));
  });

  it('resumes a watch the server ended, from the last version seen, without duplicates', async () => {
    const { server, store } = await start();
    const { resourceVersion } = await store.list('Service');
    const events = new Collector();
    store.watch('Service', { resourceVersion }, events);
    await store.create(service('a', 'demo'));
    await events.waitFor(1);
    server.closeWatches();
    await store.create(service('b', 'demo'));
    await events.waitFor(2);
    server.closeWatches();
    server.closeWatches();
    await store.create(service('c', 'demo'));
    const got = await events.waitFor(3);
    assert.deepEqual(got.map((e) => `${e.type} ${e.object.metadata.name}`), ['ADDED a', 'ADDED b', 'ADDED c']);
    await events.quiet();
    assert.equal(events.events.length, 3);
    assert.equal(events.error, undefined);
    assert.ok(server.requests.filter((r) => r.query.includes('watch=true')).length >= 3, 'watched again');
  });

  it('advances its resume point on bookmarks, so a resume after compaction still works', async () => {
    const { server, store } = await start({ bookmarkIntervalMs: 20 });
    const { resourceVersion } = await store.list('Service');
    const events = new Collector();
    store.watch('Service', { resourceVersion }, events);
    // Changes to other kinds move the global version; only a bookmark tells the watch.
    for (let i = 0; i < 5; i++) await store.create(namespace(`ns-${i}`));
    await new Promise((resolve) => setTimeout(resolve, 100));
    server.compact();
    server.closeWatches();
    await store.create(service('after', 'demo'));
    assert.deepEqual((await events.waitFor(1)).map((e) => e.object.metadata.name), ['after']);
    assert.equal(events.error, undefined);
  });

  it('fails the watch with gone on an ERROR 410 Expired event mid-stream', async () => {
    const { server, store } = await start();
    const { resourceVersion } = await store.list('Service');
    const events = new Collector();
    store.watch('Service', { resourceVersion }, events);
    await store.create(service('a', 'demo'));
    await events.waitFor(1);
    server.compact();
    server.expireWatches();
    const error = await events.waitForError();
    assert.ok(isAmbitError(error, 'gone'), String(error));
    assert.match(error.message, /too old resource version/);
    await store.create(service('b', 'demo'));
    await events.quiet();
    assert.equal(events.events.length, 1, 'nothing after the error');
  });

  it('closes its watches on close() and refuses further calls', async () => {
    const { server, store: s } = await start();
    const events = new Collector();
    s.watch('Service', { resourceVersion: '' }, events);
    await waitUntil(() => server.openWatches === 1);
    await s.close();
    await waitUntil(() => server.openWatches === 0);
    await rejectsWith(s.get('Namespace', 'demo'), 'closed');
    assert.equal(events.error, undefined);
  });

  it('keeps unknown fields and string timestamps of built-in kinds', async () => {
    const { store } = await start();
    const pod: KubeObject = {
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'demo' },
      spec: { containers: [{ name: 'c', image: 'x' }], futureField: { nested: true } },
    };
    const created = await store.create(pod);
    assert.equal(typeof created.metadata.creationTimestamp, 'string');
    assert.deepEqual((created.spec as Record<string, unknown>).futureField, { nested: true });
    assert.deepEqual(created.status, { phase: 'Pending' });
  });
});

describe('Kubernetes store under an informer', () => {
  let server: FakeApiServer | undefined;
  let store: KubernetesStore | undefined;
  let informer: Informer | undefined;

  afterEach(async () => {
    informer?.stop();
    await store?.close();
    await server?.close();
    informer = undefined;
    store = undefined;
    server = undefined;
  });

  async function started(rewatchDelayMs: number): Promise<{ server: FakeApiServer; store: KubernetesStore; informer: Informer; events: string[] }> {
    server = await FakeApiServer.start();
    store = KubernetesStore.fromServer(server.url, { requestTimeoutMs: 5_000, rewatchDelayMs });
    await store.create(namespace('demo'));
    await store.create(service('a', 'demo'));
    await store.create(service('b', 'demo'));
    informer = new Informer(store, 'Service', { backoff: { initialMs: 10, maxMs: 50 } }).start();
    await informer.synced;
    const events: string[] = [];
    informer.on((event: InformerEvent) => events.push(`${event.type} ${event.object.metadata.name}`));
    await waitUntil(() => server!.openWatches === 1);
    return { server, store, informer, events };
  }

  it('relists on 410 Gone after a disconnect past compaction, emitting exactly what changed meanwhile', async () => {
    const { server, store, informer, events } = await started(1_000);
    assert.equal(informer.lists, 1);
    // The connection drops; while the store waits to re-watch, things change and etcd compacts.
    server.closeWatches();
    await store.delete('Service', 'a', 'demo');
    await store.patch('Service', 'b', 'demo', { metadata: { labels: { changed: 'yes' } } });
    await store.create(service('c', 'demo'));
    server.compact();
    await waitUntil(() => informer.lists === 2);
    await waitUntil(() => events.length >= 3);
    assert.deepEqual([...events].sort(), ['add c', 'delete a', 'update b']);
    assert.deepEqual(informer.list().map((s) => s.metadata.name), ['b', 'c']);
    assert.deepEqual(informer.get('b', 'demo')?.metadata.labels, { changed: 'yes' });
    // And it is watching again.
    await store.create(service('d', 'demo'));
    await waitUntil(() => events.includes('add d'));
    assert.equal(events.length, 4);
  });

  it('relists on an ERROR 410 Expired event without emitting anything twice', async () => {
    const { server, store, informer, events } = await started(10);
    await store.create(service('c', 'demo'));
    await waitUntil(() => events.includes('add c'));
    server.compact();
    server.expireWatches();
    await waitUntil(() => informer.lists === 2 && server.openWatches === 1);
    await store.patch('Service', 'a', 'demo', { metadata: { labels: { x: '1' } } });
    await waitUntil(() => events.includes('update a'));
    assert.deepEqual(events, ['add c', 'update a']);
  });
});

async function waitUntil(check: () => boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
