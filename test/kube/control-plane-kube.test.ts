// The control plane on the Kubernetes backend (against the fake API server), end to end.
import { after, before } from 'node:test';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubernetesStore } from '@ambit/control-plane/kubernetes';
import { EXTRA_KINDS, FakeApiServer } from '../support/fake-apiserver.js';
import { controlPlaneScenario } from '../support/control-plane-scenario.js';
import { runControlPlane } from '../support/control-plane.js';
import { writeKubeconfig } from '../support/kubeconfig.js';

let apiServer: FakeApiServer;
let dir: string;
let kubeconfig: string;
before(async () => {
  apiServer = await FakeApiServer.start();
  // Leader election is on by default on Kubernetes: one replica takes the Lease at once.
  apiServer.registerKind(EXTRA_KINDS.Lease);
  // The Gateway API's class, which the leader marks Accepted (none exists here).
  apiServer.registerKind(EXTRA_KINDS.GatewayClass);
  // Installed by the manifests on a real cluster; the root CA Secret and the Lease live here.
  await KubernetesStore.fromServer(apiServer.url).create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'ambit-system' } });
  dir = await mkdtemp(join(tmpdir(), 'ambit-cp-kube-'));
  kubeconfig = await writeKubeconfig(join(dir, 'kubeconfig'), apiServer.url);
});
after(async () => {
  await apiServer.close();
  await rm(dir, { recursive: true, force: true });
});

controlPlaneScenario('kubernetes backend', () => runControlPlane({ backend: 'kubernetes', store: KubernetesStore.fromServer(apiServer.url), settings: { kubeconfig } }));
