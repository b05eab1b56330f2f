// A kubelet (and the Deployment/DaemonSet controllers) for the test API
// server, enough to run what `ambit install` applies: when the control-plane
// Deployment exists it starts its replicas in this process, with the
// Deployment's own container arguments (addresses moved to 127.0.0.1:0, the
// kubeconfig of the test server); when the ztunnel DaemonSet exists it starts
// one ztunnel per node with the DaemonSet's arguments, once the ConfigMap
// ambit-root-cert its pods mount exists (as a real pod waits for its volume).
// Each gets a Pod object (Running, Ready, the container's args) and its admin
// address registered as the pod's port for port-forward; the workload's
// status reports the pods ready. Each waypoint Deployment the controller
// creates runs a waypoint with the container's args and env (as the image's
// ambit-waypoint reads them), bootstrapped with a workload token for the
// Deployment's service account, against one of the replicas; its pod and the
// Deployment's status report ready once the waypoint is (certificate and
// first discovery sync), and its Service gets a cluster IP (the test server
// does not allocate them). Deleting a workload stops its processes and
// deletes its pods.
//
// Differences from a cluster, on purpose: no root here, so ztunnels run with
// `--capture none` (a cluster's run nftables); bootstrap uses token files the
// control plane's DirectoryBootstrap reads (TokenReview has its own tests).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, daemonSettings, DEFAULT_TRUST_DOMAIN, SpiffeId, type Logger } from '@ambit/core';
import { adminPortOf } from '@ambit/cli';
import { writeBootstrapToken, type Deployment, type KubeObject, type Pod, type Service } from '@ambit/control-plane';
import { KubernetesStore } from '@ambit/control-plane/kubernetes';
import { CONFIG_KEYS as WAYPOINT_CONFIG_KEYS, ENV_PREFIX as WAYPOINT_ENV_PREFIX, parseWaypointConfig, startWaypoint, type Waypoint } from '@ambit/waypoint';
import { parseZtunnelConfig, startZtunnel, type Ztunnel } from '@ambit/ztunnel';
import { runControlPlane, type RunningControlPlane } from './control-plane.js';
import type { FakeApiServer } from './fake-apiserver.js';
import { testKeys } from './pki.js';

const SYSTEM = 'ambit-system';
const LOCAL = '127.0.0.1:0';
const WAYPOINT_READY_MS = 15_000;

type Container = { name?: string; args?: string[]; env?: { name: string; value?: string }[] };
type Template = { metadata?: { labels?: Record<string, string> }; spec?: { serviceAccountName?: string; containers?: Container[] } };
type Workload = KubeObject<{ replicas?: number; template?: Template }>;

/** `--key value` pairs to a config record. */
export function argsRecord(args: readonly string[]): Record<string, string> {
  const record: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    if (!arg.startsWith('--')) continue;
    const eq = arg.indexOf('=');
    if (eq > 0) record[arg.slice(2, eq)] = arg.slice(eq + 1);
    else record[arg.slice(2)] = args[++i] ?? '';
  }
  return record;
}

export interface FakeKubeletOptions {
  server: FakeApiServer;
  store: KubernetesStore;
  kubeconfig: string;
  nodes: string[];
}

export class FakeKubelet {
  readonly controlPlanes: RunningControlPlane[] = [];
  readonly ztunnels = new Map<string, Ztunnel>();
  /** Running waypoints by `namespace/deployment`. */
  readonly waypoints = new Map<string, Waypoint>();
  private stateDir = '';
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  private stopped = false;
  /** Problems met while reconciling (a test asserts there are none). */
  readonly errors: string[] = [];

  constructor(private readonly options: FakeKubeletOptions) {}

  async start(): Promise<void> {
    this.stateDir = await mkdtemp(join(tmpdir(), 'ambit-kubelet-'));
    this.timer = setInterval(() => void this.tick(), 100);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    while (this.busy) await new Promise((resolve) => setTimeout(resolve, 20));
    for (const waypoint of this.waypoints.values()) await waypoint.close();
    this.waypoints.clear();
    await this.stopZtunnels();
    await this.stopControlPlanes();
    await rm(this.stateDir, { recursive: true, force: true });
  }

  private async tick(): Promise<void> {
    if (this.busy || this.stopped) return;
    this.busy = true;
    try {
      await this.reconcile();
    } catch (error) {
      this.errors.push((error as Error).stack ?? String(error));
    } finally {
      this.busy = false;
    }
  }

  private async workload(kind: 'deployments' | 'daemonsets', name: string, namespace = SYSTEM): Promise<Workload | undefined> {
    const answer = await this.options.store.raw('GET', `/apis/apps/v1/namespaces/${namespace}/${kind}/${name}`, 'kubelet read');
    return answer.status === 200 ? answer.body as Workload : undefined;
  }

  private async reconcile(): Promise<void> {
    const deployment = await this.workload('deployments', 'ambit-control-plane');
    if (deployment === undefined && this.controlPlanes.length > 0) await this.stopControlPlanes();
    if (deployment !== undefined && this.controlPlanes.length === 0) await this.startControlPlanes(deployment);
    const daemonSet = await this.workload('daemonsets', 'ambit-ztunnel');
    if (daemonSet === undefined && this.ztunnels.size > 0) await this.stopZtunnels();
    if (daemonSet !== undefined && this.ztunnels.size === 0 && this.controlPlanes.length > 0) await this.startZtunnels(daemonSet);
    await this.runWaypoints();
  }

  private async startControlPlanes(deployment: Workload): Promise<void> {
    const template = deployment.spec?.template;
    const args = template?.spec?.containers?.[0]?.args ?? [];
    const replicas = deployment.spec?.replicas ?? 1;
    for (let i = 0; i < replicas; i++) {
      const name = `ambit-control-plane-${i}`;
      const run = await runControlPlane({
        backend: 'kubernetes', stateDir: this.stateDir, logger: this.podLogger('control-plane', SYSTEM, name, template),
        store: KubernetesStore.fromKubeconfig(this.options.kubeconfig),
        settings: {
          ...argsRecord(args), listen: LOCAL, metrics: LOCAL, readiness: LOCAL, 'admin-address': LOCAL, kubeconfig: this.options.kubeconfig,
          'leader-id': name, 'lease-namespace': SYSTEM, 'log-level': 'silent', debounce: '20ms',
        },
      });
      this.controlPlanes.push(run);
      await this.createPod(name, this.options.nodes[0] ?? 'node-1', template, run.cp.admin);
    }
    await this.setStatus('deployments', 'ambit-control-plane', { replicas, updatedReplicas: replicas, readyReplicas: replicas, availableReplicas: replicas });
  }

  private async startZtunnels(daemonSet: Workload): Promise<void> {
    const rootFile = await this.rootCertFile();
    if (rootFile === undefined) return; // the pods wait for their volume
    const template = daemonSet.spec?.template;
    const record = argsRecord(template?.spec?.containers?.[0]?.args ?? []);
    for (const [index, node] of this.options.nodes.entries()) {
      // Spread over the replicas, as the Service would.
      const replica = this.controlPlanes[index % this.controlPlanes.length]!;
      const { file } = await writeBootstrapToken(this.stateDir, { node });
      const ztunnel = await startZtunnel(parseZtunnelConfig({
        ...record, node, 'control-plane': `127.0.0.1:${replica.cp.address.port}`, 'ca-root-file': rootFile, 'bootstrap-token-file': file,
        capture: 'none', metrics: LOCAL, readiness: LOCAL, 'admin-address': LOCAL, 'log-level': 'silent', 'drain-deadline': '1s',
      }), { logger: this.podLogger('ztunnel', SYSTEM, `ambit-ztunnel-${node}`, template), generateKeys: testKeys, discoveryBackoff: { initialMs: 50, maxMs: 300, jitter: 0 } });
      this.ztunnels.set(node, ztunnel);
      await this.createPod(`ambit-ztunnel-${node}`, node, template, ztunnel.admin, true);
    }
    const count = this.options.nodes.length;
    await this.setStatus('daemonsets', 'ambit-ztunnel', { desiredNumberScheduled: count, currentNumberScheduled: count, updatedNumberScheduled: count, numberReady: count, numberAvailable: count });
  }

  /** The published root certificate (ConfigMap ambit-root-cert) as the file a pod's volume would hold; undefined until it exists. */
  private async rootCertFile(): Promise<string | undefined> {
    const rootCert = (await this.options.store.get('ConfigMap', 'ambit-root-cert', SYSTEM) as { data?: Record<string, string> } | undefined)?.data?.['root-cert.pem'];
    if (rootCert === undefined) return undefined;
    const file = join(this.stateDir, 'root-cert.pem');
    await writeFile(file, rootCert);
    return file;
  }

  /** Each managed waypoint Deployment runs its waypoint; a deleted one's waypoint stops and its pod goes. */
  private async runWaypoints(): Promise<void> {
    const deployments = (await this.options.store.list<Deployment>('Deployment', { labelSelector: 'ambit.dev/managed-by=waypoint-controller' })).items;
    const present = new Set(deployments.map((d) => `${d.metadata.namespace ?? 'default'}/${d.metadata.name}`));
    for (const deployment of deployments) {
      const key = `${deployment.metadata.namespace ?? 'default'}/${deployment.metadata.name}`;
      if (this.waypoints.has(key) || this.controlPlanes.length === 0) continue;
      const rootFile = await this.rootCertFile();
      if (rootFile === undefined) continue; // the pod waits for its volume
      this.waypoints.set(key, await this.startWaypoint(deployment, rootFile));
    }
    for (const [key, waypoint] of [...this.waypoints]) {
      if (present.has(key)) continue;
      this.waypoints.delete(key);
      await waypoint.close();
      const [namespace, name] = key.split('/') as [string, string];
      await this.options.store.delete('Pod', `${name}-0`, namespace).catch(() => undefined);
    }
  }

  private async startWaypoint(deployment: Workload, rootFile: string): Promise<Waypoint> {
    const { name } = deployment.metadata;
    const namespace = deployment.metadata.namespace ?? 'default';
    const template = deployment.spec?.template;
    const container = template?.spec?.containers?.[0] ?? {};
    // What ambit-waypoint reads: its flags, else AMBIT_WAYPOINT_<SETTING> from the env.
    const env = Object.fromEntries((container.env ?? []).map((e) => [e.name, e.value]));
    const settings = daemonSettings(WAYPOINT_CONFIG_KEYS, argsRecord(container.args ?? []), env, WAYPOINT_ENV_PREFIX);
    // The pod's token names its service account (a cluster's TokenReview says the same of the projected token).
    const identity = SpiffeId.of(settings['trust-domain'] ?? DEFAULT_TRUST_DOMAIN, namespace, template?.spec?.serviceAccountName ?? 'default');
    const { file } = await writeBootstrapToken(this.stateDir, { identity });
    // The Service spreads pods over the replicas; this one takes the first.
    const replica = this.controlPlanes[0]!;
    const waypoint = await startWaypoint(parseWaypointConfig({
      ...settings, 'control-plane': `127.0.0.1:${replica.cp.address.port}`, 'ca-root-file': rootFile, 'bootstrap-token-file': file,
      hbone: LOCAL, metrics: LOCAL, readiness: LOCAL, 'admin-address': LOCAL, 'log-level': 'silent', 'drain-deadline': '1s',
    }, `the waypoint Deployment ${namespace}/${name}`), { logger: this.podLogger('waypoint', namespace, `${name}-0`, template), generateKeys: testKeys, discoveryBackoff: { initialMs: 50, maxMs: 300, jitter: 0 } });
    let timer: NodeJS.Timeout | undefined;
    try {
      // A pod that never gets ready fails the reconcile (and the test, through `errors`) rather than holding it.
      await Promise.race([waypoint.ready(), new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`the waypoint of ${namespace}/${name} is not ready after ${WAYPOINT_READY_MS} ms: ${waypoint.notReady() ?? ''}`)), WAYPOINT_READY_MS);
      })]);
      // The API server's Service IP allocator (the test server does not allocate).
      const service = await this.options.store.get<Service>('Service', name, namespace);
      if (service !== undefined && (service.spec?.clusterIP ?? '') === '') {
        await this.options.store.patch('Service', name, namespace, { spec: { clusterIP: `10.96.1.${this.nextIp++}` } });
      }
      await this.createPod(`${name}-0`, this.options.nodes[0] ?? 'node-1', template, waypoint.admin, false, namespace);
      await this.setStatus('deployments', name, { replicas: 1, updatedReplicas: 1, readyReplicas: 1, availableReplicas: 1 }, namespace);
      return waypoint;
    } catch (error) {
      await waypoint.close();
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  private nextIp = 10;

  /** What the pod's (first) container logs, as its program would (`app` names it): the API server's pods/log serves it. */
  private podLogger(app: string, namespace: string, pod: string, template: Template | undefined): Logger {
    const container = template?.spec?.containers?.[0]?.name ?? 'main';
    return createLogger({ name: app, level: 'info', destination: this.options.server.podLogs.destination(namespace, pod, container) });
  }

  private async createPod(name: string, node: string, template: { metadata?: { labels?: Record<string, string> }; spec?: object } | undefined, admin: { host: string; port: number } | { socketPath: string } | undefined, hostNetwork = false, namespace = SYSTEM): Promise<void> {
    const store = this.options.store;
    await store.create<Pod>({
      apiVersion: 'v1', kind: 'Pod',
      metadata: { name, namespace, labels: template?.metadata?.labels ?? {} },
      spec: { ...(template?.spec ?? {}), nodeName: node, ...(hostNetwork ? { hostNetwork: true } : {}) },
    });
    const ip = `127.0.200.${this.nextIp++}`;
    await store.updateStatus<Pod>('Pod', name, namespace, { phase: 'Running', podIP: ip, podIPs: [{ ip }], conditions: [{ type: 'Ready', status: 'True' }] });
    if (admin !== undefined && 'port' in admin) {
      const pod = await store.get<Pod>('Pod', name, namespace);
      // The port the CLI forwards to: the one the pod's --admin-address names.
      if (pod !== undefined) this.options.server.forwardPort(namespace, name, adminPortOf(pod), admin);
    }
  }

  private async setStatus(kind: 'deployments' | 'daemonsets', name: string, status: object, namespace = SYSTEM): Promise<void> {
    const path = `/apis/apps/v1/namespaces/${namespace}/${kind}/${name}`;
    const current = await this.options.store.raw('GET', path, 'kubelet read');
    const generation = (current.body as { metadata?: { generation?: number } }).metadata?.generation ?? 1;
    await this.options.store.raw('PATCH', `${path}/status`, 'kubelet status', { status: { ...status, observedGeneration: generation } }, 'application/merge-patch+json');
  }

  private async stopControlPlanes(): Promise<void> {
    for (const run of this.controlPlanes.splice(0)) await run.close();
    for (let i = 0; i < 8; i++) await this.options.store.delete('Pod', `ambit-control-plane-${i}`, SYSTEM).catch(() => undefined);
  }

  private async stopZtunnels(): Promise<void> {
    for (const [node, ztunnel] of [...this.ztunnels]) {
      await ztunnel.close();
      this.ztunnels.delete(node);
      await this.options.store.delete('Pod', `ambit-ztunnel-${node}`, SYSTEM).catch(() => undefined);
    }
  }
}
