// GatewayClass status on the Kubernetes backend (against the test API
// server): the leader marks the classes whose controllerName is Ambit's
// Accepted with the generation it saw, refuses parameters with a reason, and
// never touches another controller's class.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONTROLLER_NAME, type Condition, type GatewayClass } from '@ambit/control-plane';
import { KubernetesStore } from '@ambit/control-plane/kubernetes';
import { EXTRA_KINDS, FakeApiServer } from '../support/fake-apiserver.js';
import { createNamespace, runControlPlane, type RunningControlPlane } from '../support/control-plane.js';
import { writeKubeconfig } from '../support/kubeconfig.js';
import { eventually } from '../support/net.js';

const accepted = (object: GatewayClass | undefined): Condition | undefined => object?.status?.conditions?.find((c) => c.type === 'Accepted');

describe('GatewayClass status (kubernetes backend)', () => {
  let apiServer: FakeApiServer;
  let store: KubernetesStore;
  let dir: string;
  let run: RunningControlPlane;

  const get = (name: string): Promise<GatewayClass | undefined> => store.get<GatewayClass>('GatewayClass', name);
  const until = (name: string, check: (condition: Condition) => boolean): Promise<Condition> =>
    eventually(async () => {
      const condition = accepted(await get(name));
      return condition !== undefined && check(condition) ? condition : undefined;
    }, 5_000);

  before(async () => {
    apiServer = await FakeApiServer.start();
    apiServer.registerKind(EXTRA_KINDS.Lease);
    apiServer.registerKind(EXTRA_KINDS.GatewayClass);
    store = KubernetesStore.fromServer(apiServer.url);
    await createNamespace(store, 'ambit-system');
    // As gateway-api's CRD defaults it, before any controller has looked.
    const pending = { conditions: [{ type: 'Accepted', status: 'Unknown', reason: 'Pending', message: 'Waiting for controller', lastTransitionTime: '1970-01-01T00:00:00Z' }] };
    for (const [name, controllerName] of [['ambit-waypoint', CONTROLLER_NAME], ['istio', 'istio.io/gateway-controller']] as const) {
      const created = await store.create<GatewayClass>({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'GatewayClass', metadata: { name }, spec: { controllerName } });
      await store.updateStatus('GatewayClass', name, undefined, pending, created.metadata.resourceVersion);
    }
    dir = await mkdtemp(join(tmpdir(), 'ambit-gatewayclass-'));
    run = await runControlPlane({ backend: 'kubernetes', stateDir: join(dir, 'state'), settings: { kubeconfig: await writeKubeconfig(join(dir, 'kubeconfig'), apiServer.url) } });
  });

  after(async () => {
    await run.close();
    await store.close();
    await apiServer.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('marks its own class Accepted=True with the generation it saw', async () => {
    const condition = await until('ambit-waypoint', (c) => c.status === 'True');
    const gatewayClass = await get('ambit-waypoint');
    assert.equal(condition.reason, 'Accepted');
    assert.equal(condition.observedGeneration, gatewayClass?.metadata.generation);
    assert.notEqual(condition.lastTransitionTime, '1970-01-01T00:00:00Z', 'Unknown → True is a transition');
    assert.deepEqual(gatewayClass?.status?.conditions?.map((c) => c.type), ['Accepted'], 'one Accepted condition, replaced');
  });

  it('never touches another controller\'s class', async () => {
    await until('ambit-waypoint', (c) => c.status === 'True');
    const other = await get('istio');
    assert.deepEqual(accepted(other), { type: 'Accepted', status: 'Unknown', reason: 'Pending', message: 'Waiting for controller', lastTransitionTime: '1970-01-01T00:00:00Z' });
    assert.equal(apiServer.requests.filter((r) => r.path === '/apis/gateway.networking.k8s.io/v1/gatewayclasses/istio/status').length, 1, 'only the set-up write');
  });

  it('follows a new generation, keeping the transition time while the status stays', async () => {
    const before = await until('ambit-waypoint', (c) => c.status === 'True');
    const updated = await store.patch<GatewayClass>('GatewayClass', 'ambit-waypoint', undefined, { spec: { description: 'waypoints' } });
    assert.ok((updated.metadata.generation ?? 0) > (before.observedGeneration ?? 0));
    const after = await until('ambit-waypoint', (c) => c.observedGeneration === updated.metadata.generation);
    assert.equal(after.lastTransitionTime, before.lastTransitionTime);
  });

  it('does not accept parameters, says why, and accepts again once they are gone', async () => {
    await store.patch('GatewayClass', 'ambit-waypoint', undefined, { spec: { parametersRef: { group: '', kind: 'ConfigMap', name: 'tuning', namespace: 'ambit-system' } } });
    const refused = await until('ambit-waypoint', (c) => c.status === 'False');
    assert.equal(refused.reason, 'InvalidParameters');
    assert.match(refused.message, /take no parameters.*ConfigMap ambit-system\/tuning; remove it/);
    await store.patch('GatewayClass', 'ambit-waypoint', undefined, { spec: { parametersRef: null } });
    await until('ambit-waypoint', (c) => c.status === 'True');
  });

  it('marks a class created later, and settles (no write when nothing changed)', async () => {
    await store.create<GatewayClass>({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'GatewayClass', metadata: { name: 'ambit-second' }, spec: { controllerName: CONTROLLER_NAME } });
    await until('ambit-second', (c) => c.status === 'True');
    const writes = (): number => apiServer.requests.filter((r) => r.method === 'PUT' && r.path.endsWith('/status') && r.path.includes('/gatewayclasses/')).length;
    const settled = writes();
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(writes(), settled);
  });
});
