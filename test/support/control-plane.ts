// A running control plane for end-to-end tests, and the cluster edits a
// test makes through its store (the same calls a user or kubelet would).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DirectoryBootstrap, parseConfig, startControlPlane, writeBootstrapToken, type ControlPlane, type Pod, type Store, type StartOptions,
} from '@ambit/control-plane';
import { CaClient, DiscoveryClient } from '@ambit/cp-client';
import { CertificateManager, type WorkloadCertificate } from '@ambit/identity';
import { SpiffeId } from '@ambit/core';
import { testKeys } from './pki.js';

export interface RunningControlPlane {
  cp: ControlPlane;
  stateDir: string;
  /** A ztunnel for `node`: bootstraps its node certificate with a token, then subscribes. */
  ztunnel(node: string): Promise<{ certificate: WorkloadCertificate; discovery: DiscoveryClient; ca: CaClient }>;
  /** The waypoint of Gateway `namespace/name`: bootstraps the Gateway's identity with a token, then subscribes. */
  waypoint(namespace: string, name: string): Promise<DiscoveryClient>;
  restart(): Promise<void>;
  close(): Promise<void>;
}

export interface RunOptions extends StartOptions {
  stateDir?: string;
  backend?: 'local' | 'kubernetes';
  /** Further control-plane settings, as the config record names them (e.g. `'waypoint-image': 'off'`). */
  settings?: Record<string, string>;
}

export async function runControlPlane(options: RunOptions = {}): Promise<RunningControlPlane> {
  const stateDir = options.stateDir ?? await mkdtemp(join(tmpdir(), 'ambit-cp-'));
  const config = parseConfig({
    backend: options.backend ?? 'local', 'state-dir': stateDir, listen: '127.0.0.1:0', metrics: '127.0.0.1:0', readiness: '127.0.0.1:0',
    debounce: '20ms', 'log-level': 'silent', ...options.settings,
  });
  // Tests bootstrap ztunnels with token files on either backend (TokenReview has its own tests).
  const startOptions: StartOptions = { ...options, bootstrap: options.bootstrap ?? new DirectoryBootstrap(stateDir) };
  const start = (listenPort = 0): Promise<ControlPlane> => startControlPlane({ ...config, listen: { host: '127.0.0.1', port: listenPort } }, startOptions);
  let cp = await start();
  const clients: { close(): void }[] = [];
  const running: RunningControlPlane = {
    get cp() { return cp; },
    stateDir,
    async ztunnel(node) {
      const { token } = await writeBootstrapToken(stateDir, { node });
      // Bootstrap with the token; afterwards the CA client authenticates with the node certificate.
      const held: { certificate?: WorkloadCertificate } = {};
      const ca = new CaClient({
        address: cp.address, serverIdentity: cp.identity, roots: cp.ca.roots,
        credential: () => held.certificate, bootstrapToken: () => token,
      });
      const manager = new CertificateManager({ source: ca.source(node), generateKeys: testKeys });
      const nodeCertificate = await manager.fetch(SpiffeId.of('cluster.local', 'ambit-system', 'ztunnel'));
      held.certificate = nodeCertificate;
      manager.close();
      const discovery = new DiscoveryClient({
        address: cp.address, serverIdentity: cp.identity, certificate: () => nodeCertificate,
        subscription: { role: 'ztunnel', node }, backoff: { initialMs: 50, maxMs: 300, jitter: 0 },
      });
      clients.push(discovery);
      await discovery.start();
      return { certificate: nodeCertificate, discovery, ca };
    },
    async waypoint(namespace, name) {
      const identity = SpiffeId.of(cp.identity.trustDomain, namespace, name);
      const { token } = await writeBootstrapToken(stateDir, { identity });
      const ca = new CaClient({ address: cp.address, serverIdentity: cp.identity, roots: cp.ca.roots, bootstrapToken: () => token });
      const manager = new CertificateManager({ source: ca.source(), generateKeys: testKeys });
      const certificate = await manager.fetch(identity);
      manager.close();
      const discovery = new DiscoveryClient({
        address: cp.address, serverIdentity: cp.identity, certificate: () => certificate,
        subscription: { role: 'waypoint', gateway: `${namespace}/${name}` }, backoff: { initialMs: 50, maxMs: 300, jitter: 0 },
      });
      clients.push(discovery);
      await discovery.start();
      return discovery;
    },
    async restart() {
      const port = cp.address.port;
      await cp.close();
      cp = await start(port);
    },
    async close() {
      for (const client of clients) client.close();
      await cp.close();
      if (options.stateDir === undefined) await rm(stateDir, { recursive: true, force: true });
    },
  };
  return running;
}

/** Creates a running, ready pod with an IP on a node, as the kubelet would report it. */
export async function createPod(store: Store, pod: { name: string; namespace: string; node: string; ip: string; serviceAccount?: string; labels?: Record<string, string> }): Promise<Pod> {
  await store.create<Pod>({
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name: pod.name, namespace: pod.namespace, labels: pod.labels ?? {} },
    spec: { nodeName: pod.node, serviceAccountName: pod.serviceAccount ?? 'default', containers: [{ name: 'app', ports: [{ containerPort: 8080 }] }] },
  });
  return store.updateStatus<Pod>('Pod', pod.name, pod.namespace, {
    phase: 'Running', podIP: pod.ip, podIPs: [{ ip: pod.ip }], conditions: [{ type: 'Ready', status: 'True' }],
  });
}

export async function createNamespace(store: Store, name: string, labels: Record<string, string> = {}): Promise<void> {
  await store.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } });
}
