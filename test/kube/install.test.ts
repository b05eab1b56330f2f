// `ambit install` / `ambit uninstall` against the test API server: server-side
// apply of a Kustomize base in its order, idempotent; nothing applied when a
// kind is not served; --wait on rollouts; uninstall refusing to lose users'
// waypoints and policies, keeping namespace labels unless asked. The same for
// the real deploy/ base: it applies cleanly, twice.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubernetesStore } from '@ambit/control-plane/kubernetes';
import { runAmbit, type CliResult } from '../support/cli.js';
import { EXTRA_KINDS, FakeApiServer, INSTALL_KINDS } from '../support/fake-apiserver.js';
import { writeKubeconfig } from '../support/kubeconfig.js';

const REPO_DEPLOY = new URL('../../../deploy/', import.meta.url).pathname;

const BASE = {
  'kustomization.yaml': 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [namespace.yaml, system.yaml]\n',
  'namespace.yaml': 'apiVersion: v1\nkind: Namespace\nmetadata: {name: ambit-system}\n',
  'system.yaml': [
    'apiVersion: rbac.authorization.k8s.io/v1', 'kind: ClusterRole', 'metadata: {name: ambit-control-plane}',
    'rules: [{apiGroups: [""], resources: [pods], verbs: [get, list, watch]}]',
    '---',
    'apiVersion: gateway.networking.k8s.io/v1', 'kind: GatewayClass', 'metadata: {name: ambit-waypoint}',
    'spec: {controllerName: ambit.dev/waypoint-controller}',
    '---',
    'apiVersion: apps/v1', 'kind: Deployment', 'metadata: {name: ambit-control-plane, namespace: ambit-system}',
    'spec: {replicas: 2, selector: {matchLabels: {app: cp}}, template: {metadata: {labels: {app: cp}}, spec: {containers: [{name: cp, image: ambit}]}}}',
    '---',
    'apiVersion: apps/v1', 'kind: DaemonSet', 'metadata: {name: ambit-ztunnel, namespace: ambit-system}',
    'spec: {selector: {matchLabels: {app: zt}}, template: {metadata: {labels: {app: zt}}, spec: {containers: [{name: zt, image: ambit}]}}}',
    '',
  ].join('\n'),
};

describe('ambit install / uninstall (test API server)', () => {
  let server: FakeApiServer;
  let store: KubernetesStore;
  let dir: string;
  let base: string;
  let kubeconfig: string;

  const ambit = (...argv: string[]): Promise<CliResult> => runAmbit(argv);
  const kube = (...argv: string[]): Promise<CliResult> => ambit('--kubeconfig', kubeconfig, ...argv);

  const exists = async (path: string): Promise<boolean> => (await store.raw('GET', path, 'test read')).status === 200;
  const markReady = async (): Promise<void> => {
    const status = async (path: string, value: object): Promise<void> => {
      const generation = ((await store.raw('GET', path, 'test read')).body as { metadata: { generation: number } }).metadata.generation;
      const answer = await store.raw('PATCH', `${path}/status`, 'test status', { status: { ...value, observedGeneration: generation } }, 'application/merge-patch+json');
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
    };
    await status('/apis/apps/v1/namespaces/ambit-system/deployments/ambit-control-plane', { replicas: 2, updatedReplicas: 2, readyReplicas: 2 });
    await status('/apis/apps/v1/namespaces/ambit-system/daemonsets/ambit-ztunnel', { desiredNumberScheduled: 3, updatedNumberScheduled: 3, numberReady: 3 });
  };

  before(async () => {
    server = await FakeApiServer.start();
    for (const kind of [...INSTALL_KINDS, EXTRA_KINDS.GatewayClass]) server.registerKind(kind);
    store = KubernetesStore.fromServer(server.url);
    await store.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'demo', labels: { 'ambit.dev/dataplane-mode': 'ambient' } } });
    dir = await mkdtemp(join(tmpdir(), 'ambit-install-'));
    base = join(dir, 'deploy');
    await mkdir(base);
    for (const [name, text] of Object.entries(BASE)) await writeFile(join(base, name), text);
    kubeconfig = join(dir, 'kubeconfig');
    await writeKubeconfig(kubeconfig, server.url);
  });

  after(async () => {
    await store.close();
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses without a cluster context, and a kustomization it cannot read, changing nothing', async () => {
    const local = await ambit('install', '--manifests', base);
    assert.equal(local.code, 1);
    assert.match(local.err, /acts on a Kubernetes cluster/);
    assert.match(local.err, /--kubeconfig/);
    const missing = await kube('install', '--manifests', join(dir, 'nowhere'));
    assert.equal(missing.code, 1);
    assert.match(missing.err, /cannot read .*kustomization\.yaml/);
    assert.equal(await exists('/api/v1/namespaces/ambit-system'), false);
  });

  it('applies nothing when a kind is not served, and says to install the Gateway API first', async () => {
    const bare = await FakeApiServer.start();
    try {
      for (const kind of INSTALL_KINDS) bare.registerKind(kind);
      const config = join(dir, 'bare-kubeconfig');
      await writeKubeconfig(config, bare.url);
      const result = await ambit('--kubeconfig', config, 'install', '--manifests', base);
      assert.equal(result.code, 1);
      assert.match(result.err, /does not serve GatewayClass \(gateway\.networking\.k8s\.io\/v1\); nothing was changed/);
      assert.match(result.err, /install the Gateway API CRDs first: kubectl apply -f https:\/\/github\.com\/kubernetes-sigs\/gateway-api/);
      const probe = KubernetesStore.fromServer(bare.url);
      assert.equal((await probe.raw('GET', '/api/v1/namespaces/ambit-system', 'test read')).status, 404, 'not even the namespace');
      await probe.close();
    } finally {
      await bare.close();
    }
  });

  it('applies every object in order with server-side apply; a second install changes nothing; an edit is configured', async () => {
    const first = await kube('install', '--manifests', base);
    assert.equal(first.code, 0, first.err);
    assert.deepEqual(first.out.split('\n').filter((l) => l.startsWith('✔')), [
      '✔ Namespace ambit-system created',
      '✔ ClusterRole ambit-control-plane created',
      '✔ GatewayClass ambit-waypoint created',
      '✔ Deployment ambit-system/ambit-control-plane created',
      '✔ DaemonSet ambit-system/ambit-ztunnel created',
    ]);
    assert.match(first.out, /5 object\(s\): 5 created, 0 configured, 0 unchanged/);
    const deployment = (await store.raw('GET', '/apis/apps/v1/namespaces/ambit-system/deployments/ambit-control-plane', 'test read')).body as { spec: { replicas: number } };
    assert.equal(deployment.spec.replicas, 2);

    const second = await kube('install', '--manifests', base);
    assert.equal(second.code, 0, second.err);
    assert.match(second.out, /5 object\(s\): 0 created, 0 configured, 5 unchanged/);

    await writeFile(join(base, 'system.yaml'), BASE['system.yaml'].replace('replicas: 2', 'replicas: 3'));
    const edited = await kube('install', '--manifests', base);
    assert.match(edited.out, /✔ Deployment ambit-system\/ambit-control-plane configured/);
    assert.match(edited.out, /1 configured, 4 unchanged/);
    await writeFile(join(base, 'system.yaml'), BASE['system.yaml']);
    assert.match((await kube('install', '--manifests', base)).out, /1 configured/);
  });

  it('--wait waits for the rollouts, and times out naming what is not ready', async () => {
    const slow = await kube('install', '--manifests', base, '--wait', '1s');
    assert.equal(slow.code, 1);
    assert.match(slow.err, /Deployment ambit-system\/ambit-control-plane is not ready after 1 s: .*(generation|replica)/);
    const waiting = kube('install', '--manifests', base, '--wait', '30s');
    setTimeout(() => void markReady(), 700);
    const ready = await waiting;
    assert.equal(ready.code, 0, ready.err);
    assert.match(ready.out, /✔ Deployment ambit-system\/ambit-control-plane ready/);
    assert.match(ready.out, /✔ DaemonSet ambit-system\/ambit-ztunnel ready/);
  });

  it('uninstall refuses to lose users\' waypoints and policies, then removes everything with --force', async () => {
    await store.create({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'waypoint', namespace: 'demo' }, spec: { gatewayClassName: 'ambit-waypoint', listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] } });
    await store.create({ apiVersion: 'security.ambit.dev/v1', kind: 'AuthorizationPolicy', metadata: { name: 'read-only', namespace: 'demo' }, spec: { action: 'ALLOW', rules: [{}] } });
    const refused = await kube('uninstall', '--manifests', base);
    assert.equal(refused.code, 1);
    assert.match(refused.err, /would be lost: Gateway demo\/waypoint, AuthorizationPolicy demo\/read-only; nothing was changed/);
    assert.match(refused.err, /--force/);
    assert.equal(await exists('/apis/apps/v1/namespaces/ambit-system/daemonsets/ambit-ztunnel'), true);

    const removed = await kube('uninstall', '--manifests', base, '--force', '--wait', '10s');
    assert.equal(removed.code, 0, removed.err);
    assert.match(removed.out, /✔ Gateway demo\/waypoint deleted \(--force\)/);
    assert.deepEqual(removed.out.split('\n').filter((l) => / deleted$/.test(l)), [
      '✔ DaemonSet ambit-system/ambit-ztunnel deleted',
      '✔ Deployment ambit-system/ambit-control-plane deleted',
      '✔ GatewayClass ambit-waypoint deleted',
      '✔ ClusterRole ambit-control-plane deleted',
      '✔ Namespace ambit-system deleted',
    ], 'reverse order: the namespace last');
    assert.match(removed.out, /‼ 1 namespace\(s\) keep their ambit\.dev labels \(demo\); --remove-labels removes them/);
    for (const path of ['/api/v1/namespaces/ambit-system', '/apis/gateway.networking.k8s.io/v1/gatewayclasses/ambit-waypoint', '/apis/security.ambit.dev/v1/namespaces/demo/authorizationpolicies/read-only']) {
      assert.equal(await exists(path), false, path);
    }
    assert.equal((await store.get('Namespace', 'demo'))?.metadata.labels?.['ambit.dev/dataplane-mode'], 'ambient', 'labels stay unless asked');

    const again = await kube('uninstall', '--manifests', base, '--remove-labels');
    assert.equal(again.code, 0, again.err);
    assert.match(again.out, /- Namespace ambit-system already gone/);
    assert.match(again.out, /✔ namespace demo: enrollment labels removed/);
    assert.equal((await store.get('Namespace', 'demo'))?.metadata.labels?.['ambit.dev/dataplane-mode'], undefined);
  });

  it('installs the repository\'s deploy/ base cleanly, twice, and uninstalls it', { skip: existsSync(join(REPO_DEPLOY, 'kustomization.yaml')) ? false : 'deploy/kustomization.yaml does not exist yet' }, async () => {
    const first = await kube('install');
    assert.equal(first.code, 0, first.err);
    assert.match(first.out, /object\(s\): \d+ created, 0 configured, 0 unchanged/);
    const second = await kube('install');
    assert.equal(second.code, 0, second.err);
    assert.match(second.out, /object\(s\): 0 created, 0 configured, \d+ unchanged/);
    const removed = await kube('uninstall');
    assert.equal(removed.code, 0, removed.err);
    assert.equal(await exists('/api/v1/namespaces/ambit-system'), false);
  });
});
