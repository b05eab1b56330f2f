// `ambit apply` against a real local store: created / configured / unchanged, and a three-way merge that
// removes what the file dropped and keeps what others set; the namespace of a file's objects (-n); what
// `ambit get` shows of Services.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalStore, type KubeObject, type Service } from '@ambit/control-plane';
import { UsageError } from '../errors.js';
import { apply, get, kindOf, LAST_APPLIED, readManifests } from './resources.js';

describe('apply', () => {
  let dir: string;
  let store: LocalStore;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ambit-apply-'));
    store = await LocalStore.open(dir);
  });

  after(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  const namespace = (labels?: Record<string, string>): KubeObject => ({
    apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop', ...(labels === undefined ? {} : { labels }) },
  });
  const service = (spec: Service['spec']): Service => ({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'api', namespace: 'shop' }, spec });

  it('creates, then reports unchanged, and keeps a label someone else set (enrollment)', async () => {
    assert.deepEqual(await apply(store, [namespace({ team: 'a' })]), ['namespace/shop created']);
    await store.patch('Namespace', 'shop', undefined, { metadata: { labels: { 'ambit.dev/dataplane-mode': 'ambient' } } });
    assert.deepEqual(await apply(store, [namespace({ team: 'a' })]), ['namespace/shop unchanged']);
    assert.deepEqual((await store.get('Namespace', 'shop'))?.metadata.labels, { team: 'a', 'ambit.dev/dataplane-mode': 'ambient' });
  });

  it('removes a label the file dropped, and only that one', async () => {
    assert.deepEqual(await apply(store, [namespace()]), ['namespace/shop configured']);
    assert.deepEqual((await store.get('Namespace', 'shop'))?.metadata.labels, { 'ambit.dev/dataplane-mode': 'ambient' });
  });

  it('removes a spec field the file dropped and keeps one the cluster filled in', async () => {
    const ports = [{ name: 'http', port: 80, targetPort: 8080 }];
    assert.deepEqual(await apply(store, [service({ selector: { app: 'api' }, ports, sessionAffinity: 'ClientIP' } as Service['spec'])]), ['service/api created']);
    await store.patch('Service', 'api', 'shop', { spec: { clusterIP: '10.96.0.9' } });
    assert.deepEqual(await apply(store, [service({ selector: { app: 'api' }, ports })]), ['service/api configured']);
    const spec = (await store.get<Service>('Service', 'api', 'shop'))?.spec as Record<string, unknown>;
    assert.equal(spec.sessionAffinity, undefined, 'dropped from the file: removed');
    assert.equal(spec.clusterIP, '10.96.0.9', 'set by the cluster: kept');
    assert.deepEqual(await apply(store, [service({ selector: { app: 'api' }, ports })]), ['service/api unchanged']);
  });

  it('on an object apply did not make, adds and changes but removes nothing', async () => {
    await store.create({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'api', namespace: 'shop', labels: { owner: 'someone' } } });
    assert.deepEqual(await apply(store, [{ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'api', namespace: 'shop', labels: { team: 'a' } } }]),
      ['serviceaccount/api configured']);
    const account = await store.get('ServiceAccount', 'api', 'shop');
    assert.deepEqual(account?.metadata.labels, { owner: 'someone', team: 'a' });
    assert.ok(account?.metadata.annotations?.[LAST_APPLIED], 'the next apply has a record');
  });

  it('get shows a Service\'s type, cluster IP and ports, as kubectl, and -o wide its selector', async () => {
    const out = await get(store, 'Service', { namespace: 'shop', all: false, format: 'table' });
    assert.match(out, /^NAME\s+TYPE\s+CLUSTER-IP\s+PORT\(S\)\s+AGE\napi\s+ClusterIP\s+10\.96\.0\.9\s+80\/TCP\s+\S+\n$/);
    const wide = await get(store, 'Service', { namespace: 'shop', all: false, format: 'table', wide: true });
    assert.match(wide, /^NAME\s+TYPE\s+CLUSTER-IP\s+PORT\(S\)\s+SELECTOR\s+AGE\napi\s+ClusterIP\s+10\.96\.0\.9\s+80\/TCP\s+app=api\s+\S+\n$/);
  });

  it('get shows a ConfigMap\'s DATA count and a Deployment\'s READY, UP-TO-DATE and AVAILABLE, as kubectl', async () => {
    await store.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings', namespace: 'shop' }, data: { a: '1', b: '2' }, binaryData: { c: 'AA==' } });
    assert.match(await get(store, 'ConfigMap', { namespace: 'shop', all: false, format: 'table' }), /^NAME\s+DATA\s+AGE\nsettings\s+3\s+\S+\n$/);
    await store.create({
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'api', namespace: 'shop' },
      spec: { replicas: 2, selector: { matchLabels: { app: 'api' } }, template: { metadata: { labels: { app: 'api' } }, spec: { containers: [{ name: 'api', image: 'ambit/echo' }] } } },
    });
    await store.updateStatus('Deployment', 'api', 'shop', { replicas: 2, updatedReplicas: 2, readyReplicas: 1, availableReplicas: 1 });
    assert.match(await get(store, 'Deployment', { namespace: 'shop', all: false, format: 'table' }), /^NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE\napi\s+1\/2\s+2\s+1\s+\S+\n$/);
  });

  it('get -o wide shows a pod\'s IP and node', async () => {
    await store.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'api-0', namespace: 'shop' }, spec: { nodeName: 'node-2', containers: [{ name: 'api', image: 'ambit/echo' }] } });
    await store.updateStatus('Pod', 'api-0', 'shop', { phase: 'Running', podIP: '10.10.2.2' });
    const out = await get(store, 'Pod', { namespace: 'shop', all: false, format: 'table', wide: true });
    assert.match(out, /^NAME\s+STATUS\s+IP\s+NODE\s+AGE\napi-0\s+Running\s+10\.10\.2\.2\s+node-2\s+\S+\n$/);
  });
});

describe('readManifests', () => {
  let dir: string;
  before(async () => { dir = await mkdtemp(join(tmpdir(), 'ambit-manifests-')); });
  after(() => rm(dir, { recursive: true, force: true }));

  const file = async (text: string): Promise<string> => {
    const path = join(dir, `${Math.random().toString(36).slice(2)}.yaml`);
    await writeFile(path, text);
    return path;
  };
  const account = (namespace?: string): string => `apiVersion: v1\nkind: ServiceAccount\nmetadata: { name: a${namespace === undefined ? '' : `, namespace: ${namespace}`} }\n`;

  it('puts objects that name no namespace in -n, else in default; cluster-scoped ones stay without', async () => {
    const path = await file(`${account()}---\napiVersion: v1\nkind: Namespace\nmetadata: { name: shop }\n`);
    assert.deepEqual((await readManifests(path)).map((o) => o.metadata.namespace), ['default', undefined]);
    assert.deepEqual((await readManifests(path, 'shop')).map((o) => o.metadata.namespace), ['shop', undefined]);
    assert.deepEqual((await readManifests(await file(account('shop')), 'shop')).map((o) => o.metadata.namespace), ['shop']);
  });

  it('refuses a file whose object names another namespace than -n', async () => {
    await assert.rejects(readManifests(await file(`${account()}---\n${account('demo')}`), 'shop'), (error: unknown) => {
      assert.ok(error instanceof UsageError);
      assert.match(error.message, /serviceaccount\/a is in namespace demo, not shop \(-n\)/);
      assert.match(error.hint ?? '', /pass -n demo/);
      return true;
    });
  });
});

describe('kindOf', () => {
  it('takes a kind, its plural, any case, and kubectl\'s short names; refuses anything else with the list', () => {
    assert.deepEqual(['HTTPRoute', 'httproutes', 'svc', 'ns', 'AP', 'deploy'].map(kindOf), ['HTTPRoute', 'HTTPRoute', 'Service', 'Namespace', 'AuthorizationPolicy', 'Deployment']);
    assert.throws(() => kindOf('virtualservice'), (error: unknown) => error instanceof UsageError && /known: Namespace, .*\(short: ns, /.test(error.hint ?? ''));
  });
});
