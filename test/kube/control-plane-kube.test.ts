// The control plane on the Kubernetes backend (against the fake API server), end to end.
import { after, before } from 'node:test';
import { KubernetesStore } from '@ambit/control-plane/kubernetes';
import { FakeApiServer } from '../support/fake-apiserver.js';
import { controlPlaneScenario } from '../support/control-plane-scenario.js';
import { runControlPlane } from '../support/control-plane.js';

let apiServer: FakeApiServer;
before(async () => {
  apiServer = await FakeApiServer.start();
  // Installed by the manifests on a real cluster; the root CA Secret lives here.
  await KubernetesStore.fromServer(apiServer.url).create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'ambit-system' } });
});
after(async () => { await apiServer.close(); });

controlPlaneScenario('kubernetes backend', () => runControlPlane({ backend: 'kubernetes', store: KubernetesStore.fromServer(apiServer.url) }));
