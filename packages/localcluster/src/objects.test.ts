// The objects a local cluster writes, against the real embedded store.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalStore, type Pod, type Service } from '@ambit/control-plane';
import { ensure, nodeObject, podObject, remove, serviceAccountObject, serviceObject, upsert } from './objects.js';
import type { NodeState, PodState } from './state.js';

const node: NodeState = { name: 'node-1', index: 1, netns: 'ambit-x-node-1', address: '10.200.0.11', podCidr: '10.244.1.0/24', gateway: '10.244.1.1' };
const pod: PodState = {
  namespace: 'default', name: 'echo', node: 'node-1', netns: 'ambit-x-default-echo', ip: '10.244.1.2', host: 2, serviceAccount: 'echo',
  labels: { app: 'echo', version: 'v1' }, ports: [{ containerPort: 8080 }], ready: true,
};

describe('store objects', () => {
  const dirs: string[] = [];
  after(async () => { for (const dir of dirs) await rm(dir, { recursive: true, force: true }); });

  it('writes a running, ready pod and a service with its VIP; upsert is idempotent', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ambit-lc-objects-'));
    dirs.push(dir);
    const store = await LocalStore.open(dir);
    try {
      await upsert(store, nodeObject('abc123', node));
      await upsert(store, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'default' } });
      await upsert(store, podObject(pod, node));
      await upsert(store, podObject({ ...pod, ready: false, labels: { app: 'echo', version: 'v2' } }, node));
      await upsert(store, serviceObject({ namespace: 'default', name: 'echo', vip: '10.96.0.10', selector: { app: 'echo' }, labels: {}, ports: [{ port: 80, targetPort: 8080, protocol: 'TCP' }] }));
      const stored = await store.get<Pod>('Pod', 'echo', 'default');
      assert.equal(stored?.spec?.nodeName, 'node-1');
      assert.equal(stored?.spec?.serviceAccountName, 'echo');
      assert.equal(stored?.metadata.labels?.['version'], 'v2');
      assert.equal(stored?.status?.phase, 'Running');
      assert.equal(stored?.status?.podIP, '10.244.1.2');
      assert.deepEqual(stored?.status?.conditions?.find((c) => c.type === 'Ready'), { type: 'Ready', status: 'False' });
      const service = await store.get<Service>('Service', 'echo', 'default');
      assert.equal(service?.spec?.clusterIP, '10.96.0.10');
      assert.deepEqual(service?.spec?.ports, [{ port: 80, targetPort: 8080, protocol: 'TCP' }]);
      const stored1 = await store.get('Node', 'node-1');
      assert.deepEqual((stored1?.spec as { podCIDR?: string }).podCIDR, '10.244.1.0/24');
      // ensure() leaves an existing object alone (a controller's ServiceAccount keeps its labels).
      await store.create({ ...serviceAccountObject('default', 'waypoint'), metadata: { name: 'waypoint', namespace: 'default', labels: { owner: 'controller' } } });
      await ensure(store, serviceAccountObject('default', 'waypoint'));
      await ensure(store, serviceAccountObject('default', 'fresh'));
      assert.deepEqual((await store.get('ServiceAccount', 'waypoint', 'default'))?.metadata.labels, { owner: 'controller' });
      assert.notEqual(await store.get('ServiceAccount', 'fresh', 'default'), undefined);
      await remove(store, 'Pod', 'echo', 'default');
      await remove(store, 'Pod', 'echo', 'default');
      assert.equal(await store.get('Pod', 'echo', 'default'), undefined);
    } finally {
      await store.close();
    }
  });
});
