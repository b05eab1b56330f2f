// The local cluster: one machine, nodes and pods as network namespaces,
// Services as VIPs, and the matching objects in the control plane's store.
// This class is the one place the pieces are wired: address plan
// (addressing.ts), names (names.ts), links and routes (network.ts), DNAT
// (kube-proxy.ts), hosts files (hosts.ts), processes (processes.ts), state
// (state.ts), store objects (objects.ts), input checks (specs.ts), teardown
// (teardown.ts).
//
// Changes are serialised; after each one cluster.json is rewritten, so
// another process can `LocalCluster.load()` it or tear it down. One process
// at a time should change a given cluster.
import { promises as fs } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { AmbitError, isAmbitError, silentLogger, type Logger } from '@ambit/core';
import { deepEqual, type Store } from '@ambit/control-plane';
import {
  CLUSTER_ADDRESS, CONTROL_PLANE_PORT, LOOPBACK_SOCKS5_PORT, freePodHost, freeVip, loopbackBlock, loopbackPlan, nodeAddress, podAddress, podCidr, podGateway,
  type LoopbackPlan,
} from './addressing.js';
import { nftApply, type CommandResult } from './command.js';
import { hostsFile, removeEtcNetns, writePodResolution } from './hosts.js';
import { kubeProxyRuleset, serviceRules } from './kube-proxy.js';
import { clusterNetns, clusterPrefix, nodeNetns, podNetns, validateClusterId, validateNamespaceName, validateObjectName } from './names.js';
import { createClusterNetwork, createNodeNetwork, createPodNetwork, deleteNetns } from './network.js';
import { ensure, namespaceObject, nodeObject, podObject, remove, serviceAccountObject, serviceObject, upsert } from './objects.js';
import {
  execInNetns, isRecordedProcess, logPath, netnsPids, spawnInNetns, stopProcesses, type ExecOptions, type SpawnedProcess,
} from './processes.js';
import {
  nodeNames, normalizePodPort, normalizeServicePort, parseRef,
  type AddPodOptions, type AddServiceOptions, type PodRef, type ProcessTargetRef, type ServicePortOptions,
} from './specs.js';
import {
  LOGS_DIR, STATE_VERSION, isStored, lockState, readState, writeState,
  type ClusterState, type NamespaceState, type NetworkMode, type NodeState, type PodState, type ProcessState, type ProcessTarget, type ServicePortState, type ServiceState,
} from './state.js';
import { clusterIdInUse, teardownCluster, unusedClusterId, type TeardownOptions, type TeardownReport } from './teardown.js';

export const DEFAULT_NODE_COUNT = 2;
export const DEFAULT_SERVICE_ACCOUNT = 'default';

export interface LocalClusterOptions {
  /** Where cluster.json and logs/ live (created if missing). */
  stateDir: string;
  /** A count (nodes `node-1`..) or the node names; default 2. */
  nodes?: number | readonly string[];
  /** 4-12 hex characters; default a fresh random 6. */
  id?: string;
  /**
   * Network namespaces (default; needs root) or the loopback mode: every
   * address on lo, every process on the host, no capture and no kube-proxy —
   * pods reach the mesh through their ztunnel's SOCKS5 proxy (ALL_PROXY).
   */
  network?: NetworkMode;
  /** Where Node/Namespace/ServiceAccount/Pod/Service objects are written (see also attachStore). */
  store?: Store;
  logger?: Logger;
}

export interface LoadOptions {
  store?: Store;
  logger?: Logger;
}

export interface SpawnOptions {
  env?: Record<string, string>;
  /** Names the log file: logs/<ns>/<pod>.<logName>.log, logs/_node/<node>/<logName>.log, logs/_cluster/<logName>.log. */
  logName?: string;
}

export interface ClusterProcess extends SpawnedProcess {
  target: ProcessTarget;
  netns: string;
  argv: readonly string[];
  /** TERM, then KILL after the grace period. */
  stop(): Promise<void>;
}

export class LocalCluster {
  private tail: Promise<unknown> = Promise.resolve();
  private tornDown = false;

  private constructor(
    readonly stateDir: string,
    private readonly state: ClusterState,
    private store: Store | undefined,
    private readonly logger: Logger,
  ) {}

  /** Builds the cluster network: the cluster namespace with its bridge and every node. */
  static async create(options: LocalClusterOptions): Promise<LocalCluster> {
    const logger = (options.logger ?? silentLogger).child({ component: 'localcluster' });
    const names = nodeNames(options.nodes ?? DEFAULT_NODE_COUNT);
    await fs.mkdir(join(options.stateDir, LOGS_DIR), { recursive: true });
    const existing = await readState(options.stateDir);
    if (existing !== undefined) {
      throw new AmbitError('already-exists', `${options.stateDir} already holds local cluster ${existing.id}`, {
        hint: 'use LocalCluster.load(stateDir), or teardownCluster(stateDir) first',
      });
    }
    const id = options.id === undefined ? await unusedClusterId() : validateClusterId(options.id);
    if (options.id !== undefined && await clusterIdInUse(id)) {
      throw new AmbitError('already-exists', `cluster id ${id} is in use on this machine (namespaces or /etc/netns entries named ${clusterPrefix(id)}*)`, {
        hint: `tear it down with teardownCluster('${id}') or choose another id`,
      });
    }
    const loopback = options.network === 'loopback' ? loopbackPlan(await freeLoopbackBlock(id)) : undefined;
    const nodes: NodeState[] = names.map((name, i) => (loopback === undefined
      ? { name, index: i + 1, netns: nodeNetns(id, name), address: nodeAddress(i + 1), podCidr: podCidr(i + 1), gateway: podGateway(i + 1) }
      : { name, index: i + 1, netns: '', address: loopback.nodeAddress(i + 1), podCidr: loopback.podCidr(i + 1), gateway: loopback.nodeAddress(i + 1) }));
    const state: ClusterState = {
      version: STATE_VERSION, id, createdAt: new Date().toISOString(), network: options.network ?? 'netns',
      clusterNetns: loopback === undefined ? clusterNetns(id) : '', clusterAddress: loopback?.clusterAddress ?? CLUSTER_ADDRESS,
      nodes, namespaces: [], pods: [], services: [], processes: [],
    };
    const cluster = new LocalCluster(options.stateDir, state, options.store, logger.child({ cluster: id }));
    try {
      // Written first, so a crash halfway is still found by teardownCluster(stateDir).
      await writeState(options.stateDir, state);
      if (loopback === undefined) {
        await createClusterNetwork(state.clusterNetns);
        for (const node of nodes) await createNodeNetwork(state.clusterNetns, node, nodes);
        await cluster.applyKubeProxy();
      }
      await cluster.ensureNamespace('default');
      await writeState(options.stateDir, state);
      if (options.store !== undefined) await cluster.syncStore();
    } catch (error) {
      const report = await teardownCluster({ id, stateDir: options.stateDir }, { logger }).catch((teardownError: unknown) => teardownError);
      logger.error({ err: error, teardown: report }, 'local cluster creation failed; removed what was built');
      throw error;
    }
    logger.info({ cluster: id, nodes: names, stateDir: options.stateDir }, 'local cluster created');
    return cluster;
  }

  /** The cluster described by `<stateDir>/cluster.json` (built by another process). */
  static async load(stateDir: string, options: LoadOptions = {}): Promise<LocalCluster> {
    const state = await readState(stateDir);
    if (state === undefined) {
      throw new AmbitError('not-found', `no local cluster in ${stateDir} (no cluster.json)`, { hint: 'create one with LocalCluster.create({ stateDir })' });
    }
    const logger = (options.logger ?? silentLogger).child({ component: 'localcluster', cluster: state.id });
    return new LocalCluster(stateDir, state, options.store, logger);
  }

  get id(): string { return this.state.id; }
  get network(): NetworkMode { return this.state.network ?? 'netns'; }
  private get loopback(): LoopbackPlan | undefined {
    return this.network === 'loopback' ? loopbackPlan(loopbackBlock(this.state.clusterAddress)) : undefined;
  }
  /** The bridge address in the cluster namespace; nodes and pods reach the control plane here. */
  get clusterAddress(): string { return this.state.clusterAddress; }
  get clusterNetns(): string { return this.state.clusterNetns; }
  get nodes(): readonly NodeState[] { return structuredClone(this.state.nodes); }
  get namespaces(): readonly NamespaceState[] { return structuredClone(this.state.namespaces); }
  get pods(): readonly PodState[] { return structuredClone(this.state.pods); }
  get services(): readonly ServiceState[] { return structuredClone(this.state.services); }
  /** A copy of everything cluster.json holds. */
  snapshot(): ClusterState { return structuredClone(this.state); }

  node(name: string): NodeState { return structuredClone(this.findNode(name)); }
  nodeNetns(name: string): string { return this.findNode(name).netns; }
  nodeAddress(name: string): string { return this.findNode(name).address; }
  pod(ref: PodRef): PodState { return structuredClone(this.findPod(ref)); }
  podIp(ref: PodRef): string { return this.findPod(ref).ip; }
  podNetns(ref: PodRef): string { return this.findPod(ref).netns; }
  service(ref: PodRef): ServiceState { return structuredClone(this.findService(ref)); }
  serviceVip(ref: PodRef): string { return this.findService(ref).vip; }
  /** Addresses of the pods on `node` (what a ztunnel there would enroll). */
  podIpsOn(node: string): string[] { return this.state.pods.filter((pod) => pod.node === this.findNode(node).name).map((pod) => pod.ip); }

  /** Uses `store` from now on and writes every object the cluster holds into it. */
  async attachStore(store: Store): Promise<void> {
    this.store = store;
    await this.syncStore();
  }

  /**
   * Writes every Node (brought up to date), the Namespaces, ServiceAccounts,
   * Pods and Services not written yet, and the status of the pods. What was
   * written once is its object's: edited, it is left as edited; deleted, it
   * is not written back (the kubelet removes it).
   */
  syncStore(): Promise<void> {
    return this.serial(async () => {
      const store = this.store;
      if (store === undefined) return;
      for (const node of this.state.nodes) await upsert(store, nodeObject(this.id, node));
      const deleted = new Set<string>();
      for (const namespace of this.state.namespaces) {
        if (namespace.stored !== true) {
          await upsert(store, namespaceObject(namespace));
          namespace.stored = true;
        } else if (await store.get('Namespace', namespace.name) === undefined) {
          deleted.add(namespace.name);
          continue;
        }
        await ensure(store, serviceAccountObject(namespace.name, DEFAULT_SERVICE_ACCOUNT));
      }
      await this.save();
      for (const pod of this.state.pods) {
        if (deleted.has(pod.namespace)) continue;
        await ensure(store, serviceAccountObject(pod.namespace, pod.serviceAccount));
        await this.writePod(store, pod, false);
      }
      for (const service of this.state.services) {
        if (deleted.has(service.namespace) || isStored(service)) continue;
        await ensure(store, serviceObject(service));
        service.stored = true;
      }
      await this.save();
    });
  }

  /** Creates the namespace, or merges `labels` into an existing one. */
  addNamespace(name: string, labels: Record<string, string> = {}): Promise<NamespaceState> {
    validateNamespaceName(name);
    return this.serial(async () => structuredClone(await this.ensureNamespace(name, labels)));
  }

  addPod(options: AddPodOptions): Promise<PodState> {
    validateNamespaceName(options.namespace);
    validateObjectName('pod', options.name);
    const ports = (options.ports ?? []).map((port) => normalizePodPort(port, `${options.namespace}/${options.name}`));
    const serviceAccount = options.serviceAccount ?? DEFAULT_SERVICE_ACCOUNT;
    validateObjectName('pod', serviceAccount);
    return this.serial(async () => {
      const node = this.findNode(options.node);
      if (this.state.pods.some((pod) => pod.namespace === options.namespace && pod.name === options.name)) {
        throw new AmbitError('already-exists', `pod ${options.namespace}/${options.name} already exists`, { hint: 'remove it first or choose another name' });
      }
      const host = freePodHost(this.state.pods.filter((pod) => pod.node === node.name).map((pod) => pod.host));
      if (host === undefined) {
        throw new AmbitError('limit', `node ${node.name} has no free pod address in ${node.podCidr}`, { hint: 'remove a pod or place it on another node' });
      }
      const taken = new Set([this.state.clusterNetns, ...this.state.nodes.map((n) => n.netns), ...this.state.pods.map((p) => p.netns)]);
      const loopback = this.loopback;
      const pod: PodState = {
        namespace: options.namespace, name: options.name, node: node.name,
        netns: loopback === undefined ? podNetns(this.id, options.namespace, options.name, taken) : '',
        ip: loopback === undefined ? podAddress(node.index, host) : loopback.podAddress(node.index, host),
        host, serviceAccount, labels: { ...(options.labels ?? {}) }, ports, ready: options.ready ?? true,
        ...(options.container === undefined ? {} : { container: { ...options.container } }),
        ...(options.adopted === true ? { adopted: true } : {}),
      };
      await this.ensureNamespace(pod.namespace);
      if (loopback === undefined) {
        try {
          await createPodNetwork(node, pod);
          await writePodResolution(pod.netns, hostsFile(pod, this.state.services));
        } catch (error) {
          await deleteNetns(pod.netns).catch(() => false);
          await removeEtcNetns(pod.netns).catch(() => undefined);
          throw error;
        }
      }
      this.state.pods.push(pod);
      await this.save();
      await this.applyKubeProxy();
      if (this.store !== undefined) {
        await this.writeObjects(`pod ${pod.namespace}/${pod.name}`, async (store) => {
          await ensure(store, serviceAccountObject(pod.namespace, pod.serviceAccount));
          await this.writePod(store, pod, pod.adopted !== true);
        });
        await this.save();
      }
      this.logger.info({ pod: `${pod.namespace}/${pod.name}`, node: node.name, ip: pod.ip, netns: pod.netns }, 'pod added');
      return structuredClone(pod);
    });
  }

  /** Stops the pod's processes and deletes its namespace, hosts files and Pod object. */
  removePod(ref: PodRef): Promise<void> {
    return this.serial(async () => {
      const pod = this.findPod(ref);
      await this.dropPod(pod);
      await this.save();
      await this.applyKubeProxy();
      await this.writeObjects(`pod ${pod.namespace}/${pod.name}`, (store) => remove(store, 'Pod', pod.name, pod.namespace));
      this.logger.info({ pod: `${pod.namespace}/${pod.name}` }, 'pod removed');
    });
  }

  /**
   * After its Namespace object was deleted (the store deletes what was in it): stops and removes the
   * namespace's pods, removes its services and forgets it. Returns false, changing nothing, unless the
   * namespace was written to the store and the store has no Namespace of that name now.
   */
  dropDeletedNamespace(name: string): Promise<boolean> {
    return this.serial(async () => {
      const namespace = this.state.namespaces.find((n) => n.name === name);
      const store = this.store;
      if (namespace?.stored !== true || store === undefined || await store.get('Namespace', name) !== undefined) return false;
      const pods = this.state.pods.filter((p) => p.namespace === name);
      const services = this.state.services.filter((s) => s.namespace === name);
      for (const pod of pods) await this.dropPod(pod);
      this.state.services = this.state.services.filter((s) => s.namespace !== name);
      this.state.namespaces = this.state.namespaces.filter((n) => n !== namespace);
      await this.save();
      await this.applyKubeProxy();
      await this.writeHosts();
      // A status written meanwhile may have brought an object back.
      await this.writeObjects(`namespace ${name}`, async () => {
        for (const pod of pods) await remove(store, 'Pod', pod.name, name);
        for (const service of services) await remove(store, 'Service', service.name, name);
      });
      this.logger.info({ namespace: name, pods: pods.length, services: services.length }, 'namespace removed');
      return true;
    });
  }

  /** Replaces a pod's labels (from its object, where users change them): services select pods by them. */
  setPodLabels(ref: PodRef, labels: Record<string, string>): Promise<void> {
    return this.serial(async () => {
      const pod = this.findPod(ref);
      pod.labels = { ...labels };
      await this.save();
      await this.applyKubeProxy();
    });
  }

  /** Marks a pod (not) ready: its Ready condition and whether services send it traffic. */
  setPodReady(ref: PodRef, ready: boolean): Promise<void> {
    return this.serial(async () => {
      const pod = this.findPod(ref);
      if (pod.ready === ready) return;
      pod.ready = ready;
      await this.save();
      await this.applyKubeProxy();
      // Only the status: labels are the user's once the object exists (the kubelet copies them here later).
      await this.writeObjects(`pod ${pod.namespace}/${pod.name}`, (store) => this.writePodStatus(store, pod));
    });
  }

  addService(options: AddServiceOptions): Promise<ServiceState> {
    validateNamespaceName(options.namespace);
    validateObjectName('service', options.name);
    if (options.ports.length === 0) throw new AmbitError('invalid-argument', `service ${options.namespace}/${options.name} needs at least one port`);
    const ports = options.ports.map((port) => normalizeServicePort(port, `${options.namespace}/${options.name}`));
    return this.serial(async () => {
      if (this.state.services.some((s) => s.namespace === options.namespace && s.name === options.name)) {
        throw new AmbitError('already-exists', `service ${options.namespace}/${options.name} already exists`, { hint: 'remove it first or choose another name' });
      }
      const used = this.state.services.map((s) => s.vip);
      const vip = this.loopback?.freeVip(used) ?? (this.network === 'loopback' ? undefined : freeVip(used));
      if (vip === undefined) throw new AmbitError('limit', `no free service VIP in ${this.network === 'loopback' ? 'the loopback service range' : '10.96.0.0/16'}`, { hint: 'remove unused services' });
      const service: ServiceState = {
        namespace: options.namespace, name: options.name, vip, selector: { ...options.selector }, ports, labels: { ...(options.labels ?? {}) },
        ...(options.adopted === true ? { adopted: true } : {}),
      };
      await this.ensureNamespace(service.namespace);
      this.state.services.push(service);
      await this.save();
      await this.applyKubeProxy();
      await this.writeHosts();
      await this.writeObjects(`service ${service.namespace}/${service.name}`, async (store) => {
        await upsert(store, serviceObject(service));
        service.stored = true;
        await this.save();
      });
      this.logger.info({ service: `${service.namespace}/${service.name}`, vip }, 'service added');
      return structuredClone(service);
    });
  }

  /**
   * Replaces a service's selector, ports and labels (from its object, where
   * users change them): kube-proxy follows. Its name and VIP stay. False when
   * nothing changed.
   */
  updateService(ref: PodRef, spec: { selector: Record<string, string>; ports: readonly ServicePortOptions[]; labels: Record<string, string> }): Promise<boolean> {
    const service = this.findService(ref);
    const owner = `${service.namespace}/${service.name}`;
    if (spec.ports.length === 0) throw new AmbitError('invalid-argument', `service ${owner} needs at least one port`);
    const ports = spec.ports.map((port) => normalizeServicePort(port, owner));
    const effective = (list: readonly ServicePortState[]): ServicePortState[] => list.map((p) => ({ ...p, targetPort: p.targetPort ?? p.port }));
    return this.serial(async () => {
      const current = this.findService(ref);
      if (deepEqual(current.selector, spec.selector) && deepEqual(current.labels, spec.labels) && deepEqual(effective(current.ports), effective(ports))) return false;
      current.selector = { ...spec.selector };
      current.ports = ports;
      current.labels = { ...spec.labels };
      await this.save();
      await this.applyKubeProxy();
      this.logger.info({ service: owner }, 'service updated');
      return true;
    });
  }

  removeService(ref: PodRef): Promise<void> {
    return this.serial(async () => {
      const service = this.findService(ref);
      this.state.services = this.state.services.filter((s) => s !== service);
      await this.save();
      await this.applyKubeProxy();
      await this.writeHosts();
      await this.writeObjects(`service ${service.namespace}/${service.name}`, (store) => remove(store, 'Service', service.name, service.namespace));
    });
  }

  /**
   * Starts a long-running process in a pod, a node namespace or the cluster
   * namespace; output goes to a log file under <stateDir>/logs. The pod's (or
   * node's) identity is in the environment: POD_NAME, POD_NAMESPACE, POD_IP,
   * POD_SERVICE_ACCOUNT, POD_VERSION, NODE_NAME, NODE_IP, AMBIT_CLUSTER_ID,
   * AMBIT_CLUSTER_ADDRESS.
   */
  spawn(target: ProcessTargetRef, argv: readonly string[], options: SpawnOptions = {}): Promise<ClusterProcess> {
    if (options.logName !== undefined && !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(options.logName)) {
      throw new AmbitError('invalid-argument', `log name ${JSON.stringify(options.logName)} is not a plain file name`);
    }
    return this.serial(async () => {
      const where = this.resolveTarget(target);
      const log = logPath(this.stateDir, where.target, argv, options.logName);
      const spawned = await spawnInNetns(where.netns, argv, { ...where.env, ...(options.env ?? {}) }, log);
      const record: ProcessState = { pid: spawned.pid, target: where.target, netns: where.netns, argv: [...argv], log, startedAt: new Date().toISOString() };
      this.state.processes = [...await this.liveProcesses(), record];
      await this.save();
      void spawned.exited.then(() => this.forget(record.pid));
      this.logger.info({ pid: spawned.pid, netns: where.netns, argv, log }, 'process started');
      return {
        ...spawned, target: where.target, netns: where.netns, argv: [...argv],
        stop: async () => { await stopProcesses([spawned.pid]); },
      };
    });
  }

  /** Runs a command to completion in a pod, node or the cluster namespace (with the same environment as spawn). */
  async exec(target: ProcessTargetRef, argv: readonly string[], options: ExecOptions = {}): Promise<CommandResult> {
    const where = this.resolveTarget(target);
    return execInNetns(where.netns, argv, { ...options, env: { ...where.env, ...(options.env ?? {}) } });
  }

  /** Recorded processes that are still running (those started in `pod`, when given). */
  async processes(pod?: PodRef): Promise<ProcessState[]> {
    const live = await this.liveProcesses();
    if (pod === undefined) return structuredClone(live);
    const ref = parseRef(pod, 'pod');
    return structuredClone(live.filter((p) => startedIn(p, ref)));
  }

  /** Stops every process and removes every namespace, hosts directory and cluster.json. */
  async teardown(options: TeardownOptions = {}): Promise<TeardownReport> {
    this.tornDown = true;
    await this.tail.catch(() => undefined);
    return teardownCluster({ id: this.id, stateDir: this.stateDir }, { logger: this.logger, ...options });
  }

  // --- internals ---------------------------------------------------------------------

  /**
   * Runs one change at a time in this process, and under the cluster's lock
   * across processes, on the state as cluster.json holds it now.
   */
  private serial<T>(operation: () => Promise<T>): Promise<T> {
    const result = this.tail.then(async () => {
      if (this.tornDown) throw new AmbitError('closed', `local cluster ${this.id} was torn down`);
      const release = await lockState(this.stateDir);
      try {
        await this.reload();
        return await operation();
      } finally {
        await release();
      }
    });
    this.tail = result.catch(() => undefined);
    return result;
  }

  /** Brings the state up to date with cluster.json (another process may have changed it). */
  refresh(): Promise<void> {
    return this.serial(() => Promise.resolve());
  }

  private async reload(): Promise<void> {
    const current = await readState(this.stateDir);
    if (current === undefined || current.id !== this.state.id) {
      this.tornDown = true;
      throw new AmbitError('closed', `local cluster ${this.id} was torn down (${this.stateDir} no longer describes it)`);
    }
    Object.assign(this.state, current);
  }

  private async save(): Promise<void> {
    if (!this.tornDown) await writeState(this.stateDir, this.state);
  }

  private async ensureNamespace(name: string, labels: Record<string, string> = {}): Promise<NamespaceState> {
    let namespace = this.state.namespaces.find((n) => n.name === name);
    const changed = namespace === undefined || Object.entries(labels).some(([key, value]) => namespace?.labels[key] !== value);
    if (namespace === undefined) {
      namespace = { name, labels: { ...labels } };
      this.state.namespaces.push(namespace);
    } else {
      Object.assign(namespace.labels, labels);
    }
    if (changed) {
      await this.save();
      const current = namespace;
      await this.writeObjects(`namespace ${name}`, async (store) => {
        await upsert(store, namespaceObject(current));
        await ensure(store, serviceAccountObject(name, DEFAULT_SERVICE_ACCOUNT));
      });
      if (this.store !== undefined && namespace.stored !== true) {
        namespace.stored = true;
        await this.save();
      }
    }
    return namespace;
  }

  /**
   * The pod's object. `created`: a pod this cluster just made, whose object
   * is what the cluster holds. Otherwise the object, once written, is the
   * pod's (users change its labels, the kubelet copies them here): a pod not
   * written yet gets its object; an adopted one its node; then every pod its
   * status, if its object exists (a deleted one is not written back: the
   * kubelet removes the pod). The caller saves.
   */
  private async writePod(store: Store, pod: PodState, created: boolean): Promise<void> {
    const object = podObject(pod, this.findNode(pod.node));
    if (created) {
      await upsert(store, object);
      pod.stored = true;
      return;
    }
    if (pod.adopted === true) {
      try {
        await store.patch('Pod', pod.name, pod.namespace, { spec: { nodeName: pod.node } });
      } catch (error) {
        if (!isAmbitError(error, 'not-found')) throw error;
        return;
      }
    } else if (pod.stored !== true) {
      await ensure(store, object);
      pod.stored = true;
    }
    await this.writePodStatus(store, pod);
  }

  /** The pod's status (address, phase, Ready) on its object, if the object still exists. */
  private async writePodStatus(store: Store, pod: PodState): Promise<void> {
    try {
      await store.updateStatus('Pod', pod.name, pod.namespace, podObject(pod, this.findNode(pod.node)).status);
    } catch (error) {
      if (!isAmbitError(error, 'not-found')) throw error;
    }
  }

  /** Stops the pod's processes, deletes its network namespace and hosts files and forgets it (the caller saves). */
  private async dropPod(pod: PodState): Promise<void> {
    const ofPod = (p: ProcessState): boolean => startedIn(p, pod);
    if (this.network === 'loopback') {
      // No namespace to empty: the processes started for the pod are the recorded ones.
      await stopProcesses((await this.liveProcesses()).filter(ofPod).map((p) => p.pid));
    } else {
      // Everything we started there is inside the namespace, so its pid list is complete.
      await stopProcesses(await netnsPids(pod.netns));
      await deleteNetns(pod.netns);
      await removeEtcNetns(pod.netns);
    }
    this.state.pods = this.state.pods.filter((p) => p !== pod);
    this.state.processes = this.state.processes.filter((p) => !ofPod(p));
  }

  private async writeObjects(what: string, write: (store: Store) => Promise<void>): Promise<void> {
    const store = this.store;
    if (store === undefined) return;
    try {
      await write(store);
    } catch (error) {
      throw new AmbitError('unavailable', `the network for ${what} is in place, but writing it to the store failed: ${(error as Error).message}`, {
        cause: error,
        hint: 'check the control plane, then call syncStore() to retry',
      });
    }
  }

  private async applyKubeProxy(): Promise<void> {
    // Loopback: the pods' ztunnel SOCKS5 proxies resolve VIPs (no DNAT without namespaces).
    if (this.network === 'loopback') return;
    const ruleset = kubeProxyRuleset(serviceRules(this.state.services, this.state.pods));
    for (const node of this.state.nodes) await nftApply(node.netns, ruleset, `program services (kube-proxy) in ${node.netns}`);
  }

  private async writeHosts(): Promise<void> {
    // Loopback: names are resolved by the pods' SOCKS5 proxy (socks5h).
    if (this.network === 'loopback') return;
    for (const pod of this.state.pods) await writePodResolution(pod.netns, hostsFile(pod, this.state.services));
  }

  private async liveProcesses(): Promise<ProcessState[]> {
    const live: ProcessState[] = [];
    for (const record of this.state.processes) if (await isRecordedProcess(record)) live.push(record);
    return live;
  }

  private forget(pid: number): Promise<void> {
    if (this.tornDown) return Promise.resolve();
    return this.serial(async () => {
      const before = this.state.processes.length;
      this.state.processes = this.state.processes.filter((p) => p.pid !== pid);
      if (this.state.processes.length !== before) await this.save();
    }).catch((error: unknown) => this.logger.debug({ err: error, pid }, 'could not record process exit'));
  }

  /** The namespace and environment a process at `target` gets (what spawn and exec use). */
  where(target: ProcessTargetRef): { netns: string; env: Record<string, string> } {
    const { netns, env } = this.resolveTarget(target);
    return { netns, env };
  }

  private resolveTarget(target: ProcessTargetRef): { netns: string; target: ProcessTarget; env: Record<string, string> } {
    const common = { AMBIT_CLUSTER_ID: this.id, AMBIT_CLUSTER_ADDRESS: this.clusterAddress };
    if (target === 'cluster') return { netns: this.state.clusterNetns, target: { kind: 'cluster' }, env: common };
    if (target === 'host') return { netns: '', target: { kind: 'host' }, env: { ...common, AMBIT_CLUSTER_STATE: this.stateDir } };
    if (typeof target === 'object' && 'node' in target) {
      const node = this.findNode(target.node);
      return {
        netns: node.netns, target: { kind: 'node', node: node.name },
        env: { ...common, NODE_NAME: node.name, NODE_IP: node.address, POD_CIDR: node.podCidr },
      };
    }
    const pod = this.findPod(target);
    const node = this.findNode(pod.node);
    // Loopback: servers bind the pod's own address, clients go through the pod's SOCKS5 proxy.
    const proxy = `socks5h://${pod.ip}:${LOOPBACK_SOCKS5_PORT}`;
    const loopback: Record<string, string> = this.network === 'loopback'
      ? { AMBIT_LISTEN_ADDRESS: pod.ip, ALL_PROXY: proxy, all_proxy: proxy, NO_PROXY: '', no_proxy: '' }
      : {};
    return {
      netns: pod.netns, target: { kind: 'pod', namespace: pod.namespace, name: pod.name },
      env: {
        ...common, POD_NAME: pod.name, POD_NAMESPACE: pod.namespace, POD_IP: pod.ip, POD_SERVICE_ACCOUNT: pod.serviceAccount,
        POD_VERSION: pod.labels['version'] ?? '', NODE_NAME: node.name, NODE_IP: node.address, ...loopback,
      },
    };
  }

  private findNode(name: string): NodeState {
    const node = this.state.nodes.find((n) => n.name === name);
    if (node === undefined) {
      throw new AmbitError('not-found', `no node ${JSON.stringify(name)} in local cluster ${this.id}`, {
        hint: `nodes: ${this.state.nodes.map((n) => n.name).join(', ')}`,
      });
    }
    return node;
  }

  private findPod(ref: PodRef): PodState {
    const { namespace, name } = parseRef(ref, 'pod');
    const pod = this.state.pods.find((p) => p.namespace === namespace && p.name === name);
    if (pod === undefined) throw new AmbitError('not-found', `no pod ${namespace}/${name} in local cluster ${this.id}`);
    return pod;
  }

  private findService(ref: PodRef): ServiceState {
    const { namespace, name } = parseRef(ref, 'service');
    const service = this.state.services.find((s) => s.namespace === namespace && s.name === name);
    if (service === undefined) throw new AmbitError('not-found', `no service ${namespace}/${name} in local cluster ${this.id}`);
    return service;
  }
}

/**
 * A loopback block for a new cluster: derived from its id, then the next one
 * whose control-plane address can be bound (another loopback cluster holds it otherwise).
 */
function startedIn(process: ProcessState, pod: { namespace: string; name: string }): boolean {
  return process.target.kind === 'pod' && process.target.namespace === pod.namespace && process.target.name === pod.name;
}

async function freeLoopbackBlock(id: string): Promise<number> {
  const start = Number.parseInt(id.slice(0, 4), 16) % 253;
  for (let i = 0; i < 253; i++) {
    const block = 2 + ((start + i) % 253);
    if (await bindable(loopbackPlan(block).clusterAddress, CONTROL_PLANE_PORT)) return block;
  }
  throw new AmbitError('limit', 'every loopback block 127.2-254.0.1 has its control-plane port taken', { hint: 'tear down unused loopback clusters (ambit down)' });
}

function bindable(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}
