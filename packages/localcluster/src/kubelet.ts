// The local cluster's kubelet (and the bits of an API server it needs):
// what controllers write into the store becomes real here.
//
// - A Service written without a cluster IP gets one (a VIP, kube-proxy rules
//   and hosts entries) and is removed from the network when its object goes.
// - A Deployment whose container image has a runtime becomes `replicas`
//   pods, placed on the node with the fewest pods, each running the image's
//   process; the pod's Ready condition follows the runtime's probe; a process
//   that exits is restarted with backoff; a changed template replaces its
//   pods; pods of a deleted Deployment are removed. Deployment status
//   reports replicas and readyReplicas.
//
// Other images are left alone (and logged once): the local cluster runs only
// what it knows. Of a container it reads the image, the env (plain values),
// the ports and the serviceAccountName; the image's runtime supplies the
// process, its flags and its files. The command, args, volumes, probes and
// security context, which wire the container to a Kubernetes pod (the
// waypoint controller renders them: waypoint-controller/objects.ts), are
// ignored here: a runtime's own flags would conflict with them (the
// waypoint's admin-address against the admin socket it is given).
import { createHash } from 'node:crypto';
import { Backoff, isAmbitError, silentLogger, type Logger } from '@ambit/core';
import { Informer, type Container, type Deployment, type Service, type Store } from '@ambit/control-plane';
import type { ClusterProcess, LocalCluster } from './cluster.js';
import type { PodState } from './state.js';

/** Pods the kubelet made carry their Deployment's name and template hash. */
export const LABEL_DEPLOYMENT = 'ambit.dev/local-deployment';
export const LABEL_TEMPLATE_HASH = 'pod-template-hash';
export const DEFAULT_PROBE_INTERVAL_MS = 500;

export interface RunContext {
  pod: PodState;
  container: Container;
  /** The container's env as a record (plain values only). */
  env: Record<string, string>;
}

export interface ContainerRun {
  argv: string[];
  env?: Record<string, string>;
  /** Whether the process is ready (its readiness probe). */
  probe: () => Promise<boolean>;
}

/** How to run one image: the process and its readiness probe. */
export type ImageRuntime = (context: RunContext) => Promise<ContainerRun>;

export interface KubeletOptions {
  runtimes: Readonly<Record<string, ImageRuntime>>;
  probeIntervalMs?: number;
  debounceMs?: number;
  logger?: Logger;
}

interface Running {
  key: string;
  deployment: string;
  run: ContainerRun;
  process: ClusterProcess | undefined;
  exited: boolean;
  ready: boolean;
  backoff: Backoff;
  restartAt: number;
  restarts: number;
}

export class LocalKubelet {
  private readonly deployments: Informer<Deployment>;
  private readonly services: Informer<Service>;
  private readonly log: Logger;
  private readonly running = new Map<string, Running>();
  private readonly warned = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private probeTimer: NodeJS.Timeout | undefined;
  private tail: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(private readonly cluster: LocalCluster, private readonly store: Store, private readonly options: KubeletOptions) {
    this.log = (options.logger ?? silentLogger).child({ component: 'kubelet' });
    this.deployments = new Informer<Deployment>(store, 'Deployment', { logger: this.log });
    this.services = new Informer<Service>(store, 'Service', { logger: this.log });
  }

  async start(): Promise<void> {
    for (const informer of [this.deployments, this.services]) {
      informer.on(() => this.schedule());
      informer.start();
    }
    await Promise.all([this.deployments.synced, this.services.synced]);
    await this.reconcile();
    this.probeTimer = setInterval(() => { void this.serial(() => this.probeAll()); }, this.options.probeIntervalMs ?? DEFAULT_PROBE_INTERVAL_MS);
    this.probeTimer.unref();
  }

  /** Stops watching and probing; pods and their processes stay (the cluster's teardown removes them). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.probeTimer);
    this.deployments.stop();
    this.services.stop();
    await this.tail;
  }

  /** Applies the store's Deployments and Services now (also called after every change). */
  reconcile(): Promise<void> {
    return this.serial(async () => {
      // Another process (a CLI command) may have changed the cluster.
      await this.cluster.refresh();
      await this.reconcileServices();
      await this.reconcileDeployments();
    });
  }

  private schedule(): void {
    if (this.stopped || this.timer !== undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.reconcile();
    }, this.options.debounceMs ?? 50);
  }

  private serial(operation: () => Promise<void>): Promise<void> {
    const next = this.tail.then(async () => {
      if (this.stopped) return;
      try {
        await operation();
      } catch (error) {
        if (isAmbitError(error, 'closed')) return;
        this.log.warn({ err: (error as Error).message }, 'kubelet round failed; retrying on the next change');
      }
    });
    this.tail = next;
    return next;
  }

  // --- services ------------------------------------------------------------------

  private async reconcileServices(): Promise<void> {
    const inStore = new Map(this.services.list().map((s) => [`${s.metadata.namespace ?? 'default'}/${s.metadata.name}`, s]));
    const known = new Map(this.cluster.services.map((s) => [`${s.namespace}/${s.name}`, s]));
    for (const [key, service] of inStore) {
      if (known.has(key) || !wantsClusterIp(service)) continue;
      const ports = (service.spec?.ports ?? []).map((p) => ({
        ...(p.name === undefined ? {} : { name: p.name }), port: p.port,
        ...(p.targetPort === undefined ? {} : { targetPort: p.targetPort }),
        protocol: p.protocol === 'UDP' ? 'UDP' as const : 'TCP' as const,
      }));
      const added = await this.cluster.addService({
        namespace: service.metadata.namespace ?? 'default', name: service.metadata.name, selector: service.spec?.selector ?? {},
        ports, labels: service.metadata.labels ?? {}, adopted: true,
      });
      this.log.info({ service: key, vip: added.vip }, 'assigned a cluster IP');
    }
    for (const [key, service] of known) {
      if (service.adopted === true && !inStore.has(key)) await this.cluster.removeService(key as `${string}/${string}`);
    }
  }

  // --- deployments -----------------------------------------------------------------

  private async reconcileDeployments(): Promise<void> {
    const wanted = new Map<string, { deployment: Deployment; hash: string; container: Container }>();
    for (const deployment of this.deployments.list()) {
      const container = deployment.spec?.template.spec.containers[0];
      const image = container?.image ?? '';
      const key = `${deployment.metadata.namespace ?? 'default'}/${deployment.metadata.name}`;
      if (container === undefined || this.options.runtimes[image] === undefined) {
        if (!this.warned.has(key)) this.log.warn({ deployment: key, image }, 'no local runtime for this image; the deployment is not run');
        this.warned.add(key);
        continue;
      }
      wanted.set(key, { deployment, hash: templateHash(deployment), container });
    }
    // Remove pods whose deployment is gone, whose template changed, or that are beyond the replica count.
    for (const pod of this.cluster.pods) {
      const owner = pod.labels[LABEL_DEPLOYMENT];
      if (owner === undefined) continue;
      const want = wanted.get(`${pod.namespace}/${owner}`);
      const index = Number(pod.name.slice(pod.name.lastIndexOf('-') + 1));
      const keep = want !== undefined && pod.labels[LABEL_TEMPLATE_HASH] === want.hash && index < replicasOf(want.deployment)
        && this.running.has(`${pod.namespace}/${pod.name}`);
      if (!keep) await this.removePod(pod);
    }
    for (const [key, { deployment, hash, container }] of wanted) {
      const namespace = deployment.metadata.namespace ?? 'default';
      for (let i = 0; i < replicasOf(deployment); i++) {
        const name = `${deployment.metadata.name}-${hash}-${i}`;
        if (this.cluster.pods.some((p) => p.namespace === namespace && p.name === name)) continue;
        await this.createPod(key, deployment, container, name, hash);
      }
      await this.writeDeploymentStatus(deployment);
    }
  }

  private async createPod(key: string, deployment: Deployment, container: Container, name: string, hash: string): Promise<void> {
    const namespace = deployment.metadata.namespace ?? 'default';
    const template = deployment.spec?.template;
    const pod = await this.cluster.addPod({
      namespace, name, node: this.leastLoadedNode(),
      serviceAccount: template?.spec.serviceAccountName ?? 'default',
      labels: { ...(template?.metadata?.labels ?? {}), [LABEL_DEPLOYMENT]: deployment.metadata.name, [LABEL_TEMPLATE_HASH]: hash },
      ports: (container.ports ?? []).map((p) => ({ containerPort: p.containerPort, ...(p.name === undefined ? {} : { name: p.name }) })),
      ready: false,
    });
    const env = Object.fromEntries((container.env ?? []).filter((e) => e.value !== undefined).map((e) => [e.name, e.value as string]));
    const run = await (this.options.runtimes[container.image ?? ''] as ImageRuntime)({ pod, container, env });
    const running: Running = {
      key: `${namespace}/${name}`, deployment: key, run, process: undefined, exited: true, ready: false,
      backoff: new Backoff({ initialMs: 500, maxMs: 10_000 }), restartAt: 0, restarts: -1,
    };
    this.running.set(running.key, running);
    await this.startProcess(running, pod, container.name);
    this.log.info({ pod: running.key, node: pod.node, ip: pod.ip, deployment: key }, 'pod started');
  }

  private async startProcess(running: Running, pod: PodState, logName: string): Promise<void> {
    running.restarts++;
    running.exited = false;
    const process = await this.cluster.spawn({ namespace: pod.namespace, name: pod.name }, running.run.argv, { env: running.run.env ?? {}, logName });
    running.process = process;
    void process.exited.then(({ code, signal }) => {
      if (running.process !== process) return;
      running.exited = true;
      running.restartAt = Date.now() + running.backoff.next();
      if (!this.stopped && this.running.get(running.key) === running) {
        this.log.warn({ pod: running.key, code, signal, log: process.log }, 'container exited; restarting with backoff');
      }
    });
  }

  private async removePod(pod: PodState): Promise<void> {
    const key = `${pod.namespace}/${pod.name}`;
    const running = this.running.get(key);
    this.running.delete(key);
    if (running !== undefined) running.process = undefined;
    await this.cluster.removePod(key as `${string}/${string}`);
    this.log.info({ pod: key }, 'pod removed');
  }

  private async probeAll(): Promise<void> {
    if (this.running.size === 0) return;
    await this.cluster.refresh();
    const changed = new Set<string>();
    for (const running of this.running.values()) {
      const pod = this.cluster.pods.find((p) => `${p.namespace}/${p.name}` === running.key);
      if (pod === undefined) continue;
      let ready = false;
      if (running.exited) {
        if (Date.now() >= running.restartAt) {
          const deployment = this.deployments.list().find((d) => `${d.metadata.namespace ?? 'default'}/${d.metadata.name}` === running.deployment);
          await this.startProcess(running, pod, deployment?.spec?.template.spec.containers[0]?.name ?? 'app');
        }
      } else {
        ready = await running.run.probe().catch(() => false);
        if (ready) running.backoff.reset();
      }
      if (ready !== running.ready || ready !== pod.ready) {
        running.ready = ready;
        await this.cluster.setPodReady(running.key as `${string}/${string}`, ready);
        changed.add(running.deployment);
      }
    }
    for (const key of changed) {
      const deployment = this.deployments.list().find((d) => `${d.metadata.namespace ?? 'default'}/${d.metadata.name}` === key);
      if (deployment !== undefined) await this.writeDeploymentStatus(deployment);
    }
  }

  private async writeDeploymentStatus(deployment: Deployment): Promise<void> {
    const namespace = deployment.metadata.namespace ?? 'default';
    const pods = this.cluster.pods.filter((p) => p.namespace === namespace && p.labels[LABEL_DEPLOYMENT] === deployment.metadata.name);
    const ready = pods.filter((p) => p.ready).length;
    const status = {
      ...(deployment.metadata.generation === undefined ? {} : { observedGeneration: deployment.metadata.generation }),
      replicas: pods.length, readyReplicas: ready, availableReplicas: ready,
    };
    const current = deployment.status ?? {};
    if (current.replicas === status.replicas && current.readyReplicas === status.readyReplicas && current.observedGeneration === status.observedGeneration) return;
    try {
      await this.store.updateStatus('Deployment', deployment.metadata.name, namespace, status);
    } catch (error) {
      if (!isAmbitError(error, 'not-found')) throw error;
    }
  }

  private leastLoadedNode(): string {
    const pods = this.cluster.pods;
    const nodes = this.cluster.nodes.map((n) => ({ name: n.name, count: pods.filter((p) => p.node === n.name).length }));
    nodes.sort((a, b) => a.count - b.count || (a.name < b.name ? -1 : 1));
    return (nodes[0] as { name: string }).name;
  }
}

function wantsClusterIp(service: Service): boolean {
  const ip = service.spec?.clusterIP;
  return (ip === undefined || ip === '') && (service.spec?.type ?? 'ClusterIP') === 'ClusterIP' && (service.spec?.ports ?? []).length > 0;
}

function replicasOf(deployment: Deployment): number {
  const replicas = deployment.spec?.replicas ?? 1;
  return Number.isInteger(replicas) && replicas >= 0 ? Math.min(replicas, 16) : 1;
}

/** Kubernetes' pod-template-hash idea: pods of another template are replaced. */
export function templateHash(deployment: Deployment): string {
  return createHash('sha256').update(JSON.stringify(deployment.spec?.template ?? {})).digest('hex').slice(0, 8);
}
