// The root CA in a Kubernetes Secret: created once, reused across restarts
// and replicas, and a creation race ends with one root for everyone.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { loadOrCreateRootSecret, ROOT_SECRET, type Secret } from '@ambit/control-plane';
import { KubernetesStore } from '@ambit/control-plane/kubernetes';
import { FakeApiServer } from '../support/fake-apiserver.js';

describe('root CA secret', () => {
  let apiServer: FakeApiServer;
  let store: KubernetesStore;

  before(async () => {
    apiServer = await FakeApiServer.start();
    store = KubernetesStore.fromServer(apiServer.url);
    await store.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'ambit-system' } });
  });

  after(async () => {
    await store.close();
    await apiServer.close();
  });

  it('creates the root once and loads the same root afterwards', async () => {
    const first = await loadOrCreateRootSecret(store, { trustDomain: 'cluster.local' });
    assert.equal(first.created, true);
    const secret = await store.get<Secret>('Secret', ROOT_SECRET.name, ROOT_SECRET.namespace);
    assert.deepEqual(Object.keys(secret?.data ?? {}).sort(), ['root-cert.pem', 'root-key.pem']);
    const again = await loadOrCreateRootSecret(KubernetesStore.fromServer(apiServer.url), { trustDomain: 'cluster.local' });
    assert.equal(again.created, false);
    assert.equal(again.ca.rootCertificate.fingerprint256, first.ca.rootCertificate.fingerprint256);
  });

  it('resolves a creation race between replicas to a single root', async () => {
    const where = { namespace: 'ambit-system', name: 'race-root' };
    const results = await Promise.all(Array.from({ length: 3 }, () => loadOrCreateRootSecret(KubernetesStore.fromServer(apiServer.url), {}, where)));
    assert.equal(results.filter((r) => r.created).length, 1);
    assert.equal(new Set(results.map((r) => r.ca.rootCertificate.fingerprint256)).size, 1);
  });

  it('refuses a damaged secret with a hint and does not replace it', async () => {
    const where = { namespace: 'ambit-system', name: 'damaged-root' };
    await store.create<Secret>({ apiVersion: 'v1', kind: 'Secret', metadata: where, data: { 'root-cert.pem': Buffer.from('x').toString('base64') } });
    await assert.rejects(loadOrCreateRootSecret(store, {}, where), (error: Error & { code?: string }) => error.code === 'invalid-config' && /lacks/.test(error.message));
    const after = await store.get<Secret>('Secret', where.name, where.namespace);
    assert.deepEqual(Object.keys(after?.data ?? {}), ['root-cert.pem']);
  });
});
