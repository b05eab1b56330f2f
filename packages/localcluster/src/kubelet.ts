// The local cluster's kubelet (and the bits of an API server it needs):
// what controllers and users write into the store becomes real here.
//
// - A Service written without a cluster IP gets one (a VIP, kube-proxy rules
//   and hosts entries). An edited Service object (any, the cluster's own
//   too) changes the service's selector, ports and labels: kube-proxy
//   follows. Deleting the object removes the service.
// - A Deployment whose container image has a runtime becomes `replicas`
//   pods, placed on the node with the fewest pods, each running the image's
//   process; the pod's Ready condition follows the runtime's probe; a process
//   that exits is restarted with backoff; a changed template replaces its
//   pods; pods of a deleted Deployment are removed. Deployment status
//   reports replicas and readyReplicas. A new kubelet (a restart) starts the
//   containers of the pods it finds again in place: same pods, same addresses.
// - A Pod written into the store (a user's `ambit apply`) whose image has a
//   runtime is adopted: it gets a network namespace and an address on its
//   `spec.nodeName` (else the node with the fewest pods) and runs like a
//   Deployment's pod; its object keeps the spec as written and gains node and
//   status. Deleting a pod's object (any, the cluster's own too) removes the
//   pod; a Deployment's is then made again.
// - Labels changed on any pod's object become the pod's labels in the
//   cluster: Services select it (or no longer do) by them.
// - A Namespace deleted from the store (which deletes what was in it) takes
//   its pods, their processes and its services out of the cluster, the
//   pods the cluster was made with too.
//
// Other images are not run: the Deployment reports Available=False and the
// Pod stays Pending, both with reason NoLocalRuntime and a message naming the
// images that do run. Of a container the kubelet reads the image, the env
// (plain values), the ports and the serviceAccountName, and hands the
// container to the image's runtime, which supplies the process, its flags and
// its files (the sample echo image takes the args as its flags). The command,
// volumes, probes and security context, which wire a container to a
// Kubernetes pod (the waypoint controller renders them:
// waypoint-controller/objects.ts), are ignored here: a runtime's own flags
// would conflict with them (the waypoint's admin-address against the admin
// socket it is given).
import { createHash } from 'node:crypto';
import { Backoff, isAmbitError, silentLogger, type Logger } from '@ambit/core';
import { deepEqual, Informer, type Container, type Deployment, type KubeObject, type Namespace, type Pod, type PodStatus, type Service, type Store } from '@ambit/control-plane';
import type { ClusterProcess, LocalCluster } from './cluster.js';
import { stopProcesses } from './processes.js';
import { isStored, type PodState } from './state.js';
import type { ServicePortOptions } from './specs.js';

/** Pods the kubelet made carry their Deployment's name and template hash. */
export const LABEL_DEPLOYMENT = 'ambit.dev/local-deployment';
export const LABEL_TEMPLATE_HASH = 'pod-template-hash';
export const DEFAULT_PROBE_INTERVAL_MS = 500;
/** The reason a Deployment or Pod whose image has no runtime here reports. */
export const REASON_NO_LOCAL_RUNTIME = 'NoLocalRuntime';

export interface RunContext {
  pod: PodState;
  container: Container;
  /** The container's env as a record (plain values only). */
  env: Record<string, string>;
}

export interface ContainerRun {
  argv: string[];
  env?: Record<string, string>;
  /** Whether the running process is ready (its readiness probe). */
  probe: (process: ClusterProcess) => Promise<boolean>;
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
  /** The owning Deployment's namespace/name; undefined for an adopted Pod. */
  deployment: string | undefined;
  /** The container's name, which names its log file. */
  container: string;
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
  private readonly pods: Informer<Pod>;
  private readonly namespaces: Informer<Namespace>;
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
    this.pods = new Informer<Pod>(store, 'Pod', { logger: this.log });
    this.namespaces = new Informer<Namespace>(store, 'Namespace', { logger: this.log });
  }

  private get informers(): Informer<KubeObject>[] {
    return [this.deployments, this.services, this.pods, this.namespaces] as Informer<KubeObject>[];
  }

  async start(): Promise<void> {
    for (const informer of this.informers) {
      informer.on(() => this.schedule());
      informer.start();
    }
    await Promise.all(this.informers.map((informer) => informer.synced));
    await this.reconcile();
    this.probeTimer = setInterval(() => { void this.serial(() => this.probeAll()); }, this.options.probeIntervalMs ?? DEFAULT_PROBE_INTERVAL_MS);
    this.probeTimer.unref();
  }

  /** Stops watching and probing; pods and their processes stay (the cluster's teardown removes them). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.probeTimer);
    for (const informer of this.informers) informer.stop();
    await this.tail;
  }

  /** Applies the store's Namespaces, Deployments, Pods and Services now (also called after every change). */
  reconcile(): Promise<void> {
    return this.serial(async () => {
      // Another process (a CLI command) may have changed the cluster.
      await this.cluster.refresh();
      await this.reconcileNamespaces();
      await this.reconcileServices();
      await this.reconcileDeployments();
      await this.reconcilePods();
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

  // --- namespaces ------------------------------------------------------------------

  private async reconcileNamespaces(): Promise<void> {
    const inStore = new Set(this.namespaces.list().map((n) => n.metadata.name));
    for (const namespace of this.cluster.namespaces) {
      if (namespace.stored !== true || inStore.has(namespace.name)) continue;
      if (!await this.cluster.dropDeletedNamespace(namespace.name)) continue;
      for (const key of [...this.running.keys()]) if (key.startsWith(`${namespace.name}/`)) this.forget(key);
      this.log.info({ namespace: namespace.name }, 'namespace deleted: its pods and services removed');
    }
  }

  // --- services ------------------------------------------------------------------

  private async reconcileServices(): Promise<void> {
    const inStore = new Map(this.services.list().map((s) => [keyOf(s), s]));
    const known = new Map(this.cluster.services.map((s) => [`${s.namespace}/${s.name}`, s]));
    for (const [key, service] of inStore) {
      if (known.has(key) || !wantsClusterIp(service)) continue;
      const added = await this.cluster.addService({
        namespace: service.metadata.namespace ?? 'default', name: service.metadata.name, selector: service.spec?.selector ?? {},
        ports: servicePortsOf(service), labels: service.metadata.labels ?? {}, adopted: true,
      });
      this.log.info({ service: key, vip: added.vip }, 'assigned a cluster IP');
    }
    for (const [key, service] of known) {
      const object = inStore.get(key);
      if (object === undefined) {
        if (await this.deleted('Service', service)) {
          await this.cluster.removeService(key as `${string}/${string}`);
          this.log.info({ service: key }, 'service removed: its object was deleted');
        }
        continue;
      }
      // Selector, ports and labels are the object's: kube-proxy follows an edited Service.
      try {
        const changed = await this.cluster.updateService(key as `${string}/${string}`, {
          selector: object.spec?.selector ?? {}, ports: servicePortsOf(object), labels: object.metadata.labels ?? {},
        });
        if (changed) this.log.info({ service: key }, 'service updated from its object');
      } catch (error) {
        this.log.warn({ service: key, err: error }, 'service object not applied: kube-proxy keeps its previous selector and ports');
      }
    }
  }

  // --- deployments -----------------------------------------------------------------

  private async reconcileDeployments(): Promise<void> {
    const wanted = new Map<string, { deployment: Deployment; hash: string; container: Container }>();
    for (const deployment of this.deployments.list()) {
      const container = deployment.spec?.template.spec.containers[0];
      const key = keyOf(deployment);
      if (container === undefined || this.options.runtimes[container.image ?? ''] === undefined) {
        await this.notRunnable('Deployment', deployment, container?.image);
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
      const keep = want !== undefined && pod.labels[LABEL_TEMPLATE_HASH] === want.hash && index < replicasOf(want.deployment);
      if (!keep) await this.removePod(pod);
      else if (!this.running.has(`${pod.namespace}/${pod.name}`)) await this.restartInPlace(pod, want.container, `${pod.namespace}/${owner}`);
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
    const template = deployment.spec?.template;
    const pod = await this.cluster.addPod({
      namespace: deployment.metadata.namespace ?? 'default', name, node: this.leastLoadedNode(),
      serviceAccount: template?.spec.serviceAccountName ?? 'default',
      labels: { ...(template?.metadata?.labels ?? {}), [LABEL_DEPLOYMENT]: deployment.metadata.name, [LABEL_TEMPLATE_HASH]: hash },
      ports: portsOf(container),
      container: { name: container.name, ...(container.image === undefined ? {} : { image: container.image }) },
      ready: false,
    });
    await this.run(pod, container, key);
  }

  // --- pods written by users ---------------------------------------------------------

  private async reconcilePods(): Promise<void> {
    const inStore = new Map(this.pods.list().map((p) => [keyOf(p), p]));
    for (const pod of this.cluster.pods) {
      const key = `${pod.namespace}/${pod.name}`;
      const object = inStore.get(key);
      if (object === undefined) {
        // Its object deleted: the pod goes; a Deployment's is made again on the next round.
        if (await this.deleted('Pod', pod)) {
          await this.removePod(pod);
          if (pod.labels[LABEL_DEPLOYMENT] !== undefined) this.schedule();
        }
        continue;
      }
      // Labels are the one thing users change on a running pod; the cluster's copy picks which Services send it traffic.
      const labels = object.metadata.labels ?? {};
      if (!deepEqual(labels, pod.labels)) await this.cluster.setPodLabels(key as `${string}/${string}`, labels);
      if (pod.adopted !== true) continue;
      if (!this.running.has(key)) {
        const container = object.spec?.containers?.[0];
        if (container === undefined || this.options.runtimes[container.image ?? ''] === undefined) continue;
        await this.restartInPlace(pod, container, undefined);
      }
    }
    const local = new Set(this.cluster.pods.map((p) => `${p.namespace}/${p.name}`));
    for (const [key, object] of inStore) {
      // A pod this cluster wrote has an address: one without a local pod is being removed, not new.
      if (local.has(key) || (object.status?.podIP ?? '') !== '') continue;
      await this.adopt(object);
    }
  }

  private async adopt(object: Pod): Promise<void> {
    const container = object.spec?.containers?.[0];
    if (container === undefined || this.options.runtimes[container.image ?? ''] === undefined) {
      await this.notRunnable('Pod', object, container?.image);
      return;
    }
    const wanted = object.spec?.nodeName;
    if (wanted !== undefined && wanted !== '' && !this.cluster.nodes.some((n) => n.name === wanted)) {
      await this.writePending(object, 'UnknownNode', `spec.nodeName ${wanted} is not a node of this cluster (${this.cluster.nodes.map((n) => n.name).join(', ')})`);
      return;
    }
    const pod = await this.cluster.addPod({
      namespace: object.metadata.namespace ?? 'default', name: object.metadata.name,
      node: wanted !== undefined && wanted !== '' ? wanted : this.leastLoadedNode(),
      serviceAccount: object.spec?.serviceAccountName ?? 'default',
      labels: object.metadata.labels ?? {},
      ports: portsOf(container),
      ready: false,
      adopted: true,
    });
    await this.run(pod, container, undefined);
  }

  /** Says once, in the object's status and the log, that its image is not run here. */
  private async notRunnable(kind: 'Deployment' | 'Pod', object: Deployment | Pod, image: string | undefined): Promise<void> {
    const key = keyOf(object);
    const images = Object.keys(this.options.runtimes).sort();
    const message = `the local cluster runs only the images ${images.join(', ')}; this ${kind.toLowerCase()}'s is ${JSON.stringify(image ?? '')}`;
    if (!this.warned.has(`${kind}/${key}`)) this.log.warn({ [kind.toLowerCase()]: key, image }, `no local runtime for this image; the ${kind.toLowerCase()} is not run`);
    this.warned.add(`${kind}/${key}`);
    if (kind === 'Pod') return this.writePending(object as Pod, REASON_NO_LOCAL_RUNTIME, message);
    const deployment = object as Deployment;
    const condition = (deployment.status?.conditions ?? []).find((c) => c.type === 'Available');
    if (condition?.status === 'False' && condition.reason === REASON_NO_LOCAL_RUNTIME && condition.message === message) return;
    await this.writeStatus('Deployment', deployment, {
      ...(deployment.metadata.generation === undefined ? {} : { observedGeneration: deployment.metadata.generation }),
      replicas: 0, readyReplicas: 0, availableReplicas: 0,
      conditions: [{ type: 'Available', status: 'False', reason: REASON_NO_LOCAL_RUNTIME, message, lastTransitionTime: new Date().toISOString() }],
    });
  }

  private async writePending(pod: Pod, reason: string, message: string): Promise<void> {
    const condition = (pod.status?.conditions ?? []).find((c) => c.type === 'PodScheduled');
    if (pod.status?.phase === 'Pending' && condition?.reason === reason && condition.message === message) return;
    const status: PodStatus = { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason, message }] };
    await this.writeStatus('Pod', pod, status);
  }

  /** Writes a status, unless the object went away meanwhile. */
  private async writeStatus(kind: 'Deployment' | 'Pod', object: Deployment | Pod, status: object): Promise<void> {
    try {
      await this.store.updateStatus(kind, object.metadata.name, object.metadata.namespace ?? 'default', status);
    } catch (error) {
      if (!isAmbitError(error, 'not-found')) throw error;
    }
  }

  // --- processes -----------------------------------------------------------------------

  /** Starts the container's process in the pod and keeps it running and probed. */
  private async run(pod: PodState, container: Container, deployment: string | undefined): Promise<void> {
    const env = Object.fromEntries((container.env ?? []).filter((e) => e.value !== undefined).map((e) => [e.name, e.value as string]));
    const run = await (this.options.runtimes[container.image ?? ''] as ImageRuntime)({ pod, container, env });
    const running: Running = {
      key: `${pod.namespace}/${pod.name}`, deployment, container: container.name, run, process: undefined, exited: true, ready: false,
      backoff: new Backoff({ initialMs: 500, maxMs: 10_000 }), restartAt: 0, restarts: -1,
    };
    this.running.set(running.key, running);
    await this.startProcess(running, pod);
    this.log.info({ pod: running.key, node: pod.node, ip: pod.ip, ...(deployment === undefined ? {} : { deployment }) }, 'pod started');
  }

  /**
   * A pod a kubelet before this one ran: its container starts again where it is, same pod and address (a
   * process this kubelet did not start cannot be watched for its exit).
   */
  private async restartInPlace(pod: PodState, container: Container, deployment: string | undefined): Promise<void> {
    await stopProcesses((await this.cluster.processes(pod)).map((p) => p.pid));
    await this.run(pod, container, deployment);
  }

  private async startProcess(running: Running, pod: PodState): Promise<void> {
    running.restarts++;
    running.exited = false;
    const process = await this.cluster.spawn({ namespace: pod.namespace, name: pod.name }, running.run.argv, { env: running.run.env ?? {}, logName: running.container });
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

  /** Stops watching a pod's process (its exit is then not restarted). */
  private forget(key: string): void {
    const running = this.running.get(key);
    this.running.delete(key);
    if (running !== undefined) running.process = undefined;
  }

  /**
   * Whether the object of a pod or service the cluster holds was deleted: it
   * had one (see isStored), and the store, asked now (the informer may not
   * have seen a write yet), has none.
   */
  private async deleted(kind: 'Pod' | 'Service', entry: { namespace: string; name: string; adopted?: boolean; stored?: boolean }): Promise<boolean> {
    return isStored(entry) && await this.store.get(kind, entry.name, entry.namespace) === undefined;
  }

  private async removePod(pod: PodState): Promise<void> {
    const key = `${pod.namespace}/${pod.name}`;
    this.forget(key);
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
        if (Date.now() >= running.restartAt) await this.startProcess(running, pod);
      } else if (running.process !== undefined) {
        ready = await running.run.probe(running.process).catch(() => false);
        if (ready) running.backoff.reset();
      }
      if (ready !== running.ready || ready !== pod.ready) {
        running.ready = ready;
        await this.cluster.setPodReady(running.key as `${string}/${string}`, ready);
        if (running.deployment !== undefined) changed.add(running.deployment);
      }
    }
    for (const key of changed) {
      const deployment = this.deployments.list().find((d) => keyOf(d) === key);
      if (deployment !== undefined) await this.writeDeploymentStatus(deployment);
    }
  }

  private async writeDeploymentStatus(deployment: Deployment): Promise<void> {
    const namespace = deployment.metadata.namespace ?? 'default';
    const pods = this.cluster.pods.filter((p) => p.namespace === namespace && p.labels[LABEL_DEPLOYMENT] === deployment.metadata.name);
    const ready = pods.filter((p) => p.ready).length;
    const available = ready >= replicasOf(deployment);
    const current = deployment.status ?? {};
    const was = (current.conditions ?? []).find((c) => c.type === 'Available');
    if (current.replicas === pods.length && current.readyReplicas === ready && current.observedGeneration === deployment.metadata.generation
      && was?.status === (available ? 'True' : 'False') && was.reason !== REASON_NO_LOCAL_RUNTIME) return;
    await this.writeStatus('Deployment', deployment, {
      ...(deployment.metadata.generation === undefined ? {} : { observedGeneration: deployment.metadata.generation }),
      replicas: pods.length, readyReplicas: ready, availableReplicas: ready,
      conditions: [{
        type: 'Available', status: available ? 'True' : 'False',
        reason: available ? 'MinimumReplicasAvailable' : 'MinimumReplicasUnavailable',
        message: `${ready} of ${replicasOf(deployment)} replicas ready`, lastTransitionTime: new Date().toISOString(),
      }],
    });
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

function servicePortsOf(service: Service): ServicePortOptions[] {
  return (service.spec?.ports ?? []).map((p) => ({
    ...(p.name === undefined ? {} : { name: p.name }), port: p.port,
    ...(p.targetPort === undefined ? {} : { targetPort: p.targetPort }),
    protocol: p.protocol === 'UDP' ? 'UDP' as const : 'TCP' as const,
  }));
}

/** `namespace/name`, as the cluster keys its pods and services. */
function keyOf(object: KubeObject): string {
  return `${object.metadata.namespace ?? 'default'}/${object.metadata.name}`;
}

function portsOf(container: Container): { containerPort: number; name?: string }[] {
  return (container.ports ?? []).map((p) => ({ containerPort: p.containerPort, ...(p.name === undefined ? {} : { name: p.name }) }));
}

function replicasOf(deployment: Deployment): number {
  const replicas = deployment.spec?.replicas ?? 1;
  return Number.isInteger(replicas) && replicas >= 0 ? Math.min(replicas, 16) : 1;
}

/** Kubernetes' pod-template-hash idea: pods of another template are replaced. */
export function templateHash(deployment: Deployment): string {
  return createHash('sha256').update(JSON.stringify(deployment.spec?.template ?? {})).digest('hex').slice(0, 8);
}
