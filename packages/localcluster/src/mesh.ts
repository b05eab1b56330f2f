// The mesh on a local cluster: the control plane runs in the cluster
// namespace (the only place every node can reach, and no address in the root
// namespace), one ztunnel per node namespace with nftables capture. The host
// talks to them only through unix sockets in the state directory: the store
// API (objects in, via RemoteStore) and each ztunnel's admin socket.
//
//   <stateDir>/control-plane/          the control plane's state (store, CA root, bootstrap tokens, api.sock)
//   <stateDir>/ztunnel/<node>.sock     ztunnel admin (config dump, certificates, metrics, readiness)
//   <stateDir>/waypoint/<ns>.<pod>.sock  waypoint admin, for pods the kubelet runs from the
//                                        waypoint controller's Deployments
//
// The kubelet (kubelet.ts) runs in this process. Images it runs:
//   ambit/waypoint  a waypoint with a workload bootstrap token for the pod's
//                   service account, probed through its admin socket;
//   ambit/echo      the sample echo server (the container's args are its
//                   flags), ready when it listens on every declared port;
//   ambit/client    a pod to `ambit exec` the sample client in (it runs
//                   `sleep infinity`).
import http from 'node:http';
import { createRequire } from 'node:module';
import { access, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AmbitError, DEFAULT_TRUST_DOMAIN, silentLogger, SpiffeId, type Logger } from '@ambit/core';
import { API_SOCKET_FILE, BOOTSTRAP_DIR, RemoteStore, writeBootstrapToken, type Container } from '@ambit/control-plane';
import { WAYPOINT_NODE_FLAGS } from '@ambit/waypoint';
import { ZTUNNEL_NODE_FLAGS } from '@ambit/ztunnel';
import type { ClusterProcess, LocalCluster } from './cluster.js';
import { isAlive, listeningTcpPorts } from './processes.js';
import { CONTROL_PLANE_PORT, LOOPBACK_SOCKS5_PORT } from './addressing.js';
import { LocalKubelet, type ContainerRun, type RunContext } from './kubelet.js';
import type { PodRef } from './specs.js';
import type { ProcessTarget } from './state.js';

export { CONTROL_PLANE_PORT };
export const CONTROL_PLANE_DIR = 'control-plane';
export const ZTUNNEL_DIR = 'ztunnel';
const DEFAULT_READY_TIMEOUT_MS = 30_000;

const require = createRequire(import.meta.url);
/** The installed bins, resolved through the packages (no PATH lookups). */
export const BINS = {
  controlPlane: require.resolve('@ambit/control-plane/package.json').replace(/package\.json$/, 'dist/bin/control-plane.js'),
  ztunnel: require.resolve('@ambit/ztunnel/package.json').replace(/package\.json$/, 'dist/bin/ztunnel.js'),
  waypoint: require.resolve('@ambit/waypoint/package.json').replace(/package\.json$/, 'dist/bin/waypoint.js'),
  kubelet: new URL('./bin/kubelet.js', import.meta.url).pathname,
  /** The sample workloads. */
  echo: new URL('./bin/echo.js', import.meta.url).pathname,
  client: new URL('./bin/client.js', import.meta.url).pathname,
} as const;
export const WAYPOINT_DIR = 'waypoint';
export const WAYPOINT_IMAGE = 'ambit/waypoint';
/** The sample workloads as images users can run (Pods and Deployments). */
export const ECHO_IMAGE = 'ambit/echo';
export const CLIENT_IMAGE = 'ambit/client';

/** How long a stopped ztunnel may take to drain and exit. */
const STOP_TIMEOUT_MS = 30_000;

export interface MeshOptions {
  logLevel?: string;
  /** Extra settings for the control plane (flag name → value), e.g. {'cert-ttl': '1m'}. */
  controlPlaneSettings?: Record<string, string>;
  /** Extra settings for every ztunnel (flag name → value), e.g. {'drain-deadline': '2s'}. */
  ztunnelSettings?: Record<string, string>;
  /** Extra settings for every waypoint the kubelet runs (flag name → value). */
  waypointSettings?: Record<string, string>;
  /**
   * Extra Node/V8 flags on every ztunnel's command line, after its own (ZTUNNEL_NODE_FLAGS), so
   * they override them; any flag works, also those NODE_OPTIONS refuses (e.g. `--trace-gc`).
   */
  ztunnelNodeFlags?: readonly string[];
  /** The same for every waypoint the kubelet in this process runs (after WAYPOINT_NODE_FLAGS). */
  waypointNodeFlags?: readonly string[];
  /**
   * Where the kubelet runs: in this process (tests; it stops with the mesh) or
   * as its own process (`ambit up`: it outlives the command; teardown stops it).
   */
  kubelet?: 'in-process' | 'process';
  /** The store client to use (one the caller already has on this mesh's API socket); closed by stop(). */
  store?: RemoteStore;
  readyTimeoutMs?: number;
  logger?: Logger;
}

export class LocalMesh {
  private controlPlane: Tracked | undefined;
  private readonly ztunnels = new Map<string, Tracked>();
  private kubelet: LocalKubelet | undefined;
  private kubeletProcess: Tracked | undefined;
  private readonly log: Logger;
  readonly store: RemoteStore;

  constructor(readonly cluster: LocalCluster, private readonly options: MeshOptions = {}) {
    this.log = (options.logger ?? silentLogger).child({ component: 'local-mesh' });
    // One argument per flag: the processes are found again by their script, the first argument that is not one.
    const stray = [...options.ztunnelNodeFlags ?? [], ...options.waypointNodeFlags ?? []].find((flag) => !flag.startsWith('-'));
    if (stray !== undefined) {
      throw new AmbitError('invalid-argument', `Node flag ${JSON.stringify(stray)} is not an option`, { hint: 'give each flag as one argument, a value after =, e.g. --max-semi-space-size=4' });
    }
    this.store = options.store ?? new RemoteStore(this.apiSocket);
  }

  get controlPlaneDir(): string { return join(this.cluster.stateDir, CONTROL_PLANE_DIR); }
  get apiSocket(): string { return join(this.controlPlaneDir, API_SOCKET_FILE); }
  get rootCertFile(): string { return join(this.controlPlaneDir, 'ca', 'root-cert.pem'); }
  adminSocket(node: string): string { return join(this.cluster.stateDir, ZTUNNEL_DIR, `${node}.sock`); }
  tokenFile(node: string): string { return join(this.controlPlaneDir, BOOTSTRAP_DIR, `node-${node}.token`); }
  waypointAdminSocket(pod: PodRef): string {
    const { namespace, name } = this.cluster.pod(pod);
    return join(this.cluster.stateDir, WAYPOINT_DIR, `${namespace}.${name}.sock`);
  }

  /** Starts the control plane, attaches the cluster's objects to its store, a ztunnel per node, then the kubelet. */
  async start(): Promise<void> {
    await this.startControlPlane();
    await this.cluster.attachStore(this.store);
    for (const node of this.cluster.nodes) await this.startZtunnel(node.name);
    await this.startKubelet();
  }

  /** Runs what controllers put in the store (the waypoint controller's Deployments and Services). */
  async startKubelet(): Promise<void> {
    if (this.options.kubelet !== 'process') return this.runKubeletHere();
    if (this.kubeletProcess !== undefined && this.kubeletProcess.exit === undefined) return;
    if (this.kubeletProcess === undefined && await this.running(BINS.kubelet, { kind: 'host' })) return;
    const kubelet = track(await this.cluster.spawn('host', [
      process.execPath, BINS.kubelet, '--state-dir', this.cluster.stateDir, '--log-level', this.options.logLevel ?? 'info',
    ], { logName: 'kubelet' }));
    this.kubeletProcess = kubelet;
    await this.until('the kubelet to run', async () => (await readFile(kubelet.log, 'utf8')).includes('"kubelet running"'), kubelet);
  }

  /** The kubelet in this process (what the kubelet daemon runs). */
  async runKubeletHere(): Promise<void> {
    if (this.kubelet !== undefined) return;
    await this.cluster.attachStore(this.store);
    this.kubelet = new LocalKubelet(this.cluster, this.store, {
      runtimes: {
        [WAYPOINT_IMAGE]: (context) => this.waypointRun(context),
        [ECHO_IMAGE]: ({ container, env }) => Promise.resolve({
          argv: [process.execPath, BINS.echo, ...container.args ?? []], env, probe: listensOnDeclaredPorts(container),
        }),
        [CLIENT_IMAGE]: ({ env }) => Promise.resolve({ argv: ['sleep', 'infinity'], env, probe: () => Promise.resolve(true) }),
      },
      ...(this.options.logger === undefined ? {} : { logger: this.options.logger }),
    });
    await this.kubelet.start();
  }

  async stopKubelet(): Promise<void> {
    await this.kubelet?.stop();
    this.kubelet = undefined;
    await this.kubeletProcess?.stop();
    this.kubeletProcess = undefined;
  }

  private async waypointRun({ pod, env }: RunContext): Promise<ContainerRun> {
    const identity = SpiffeId.of(env['AMBIT_WAYPOINT_TRUST_DOMAIN'] ?? DEFAULT_TRUST_DOMAIN, pod.namespace, pod.serviceAccount);
    const { file } = await writeBootstrapToken(this.controlPlaneDir, { identity });
    const admin = join(this.cluster.stateDir, WAYPOINT_DIR, `${pod.namespace}.${pod.name}.sock`);
    await mkdir(join(this.cluster.stateDir, WAYPOINT_DIR), { recursive: true, mode: 0o700 });
    // Loopback: every pod shares the host's network, so each listens on its own address only.
    const listen = this.cluster.network === 'loopback' ? pod.ip : '0.0.0.0';
    const settings: Record<string, string> = {
      'control-plane': `${this.cluster.clusterAddress}:${CONTROL_PLANE_PORT}`,
      'ca-root-file': this.rootCertFile, 'bootstrap-token-file': file, 'admin-socket': admin,
      metrics: `${listen}:15020`, readiness: `${listen}:15021`, 'log-level': this.options.logLevel ?? 'info',
      ...(this.cluster.network === 'loopback' ? { hbone: `${listen}:15008` } : {}),
      ...this.options.waypointSettings,
    };
    return {
      // The container's env (gateway, trust domain) plus what this cluster supplies, as flags; the
      // waypoint's Node flags as its bin's shebang has them (node-flags.ts in @ambit/waypoint says why).
      argv: [process.execPath, ...WAYPOINT_NODE_FLAGS, ...this.options.waypointNodeFlags ?? [], BINS.waypoint, ...Object.entries(settings).flatMap(([k, v]) => [`--${k}`, v])],
      env,
      probe: async () => (await unixGet(admin, '/healthz/ready')).status === 200,
    };
  }

  /** Whether a process running `bin` (at `target`) that this cluster recorded is still alive (started by another command). */
  async running(bin: string, target?: ProcessTarget): Promise<boolean> {
    const processes = await this.cluster.processes();
    return processes.some((p) => scriptOf(p.argv) === bin && (target === undefined || JSON.stringify(p.target) === JSON.stringify(target)));
  }

  async startControlPlane(): Promise<void> {
    if (this.controlPlane !== undefined && this.controlPlane.exit === undefined) return;
    if (this.controlPlane === undefined && await this.running(BINS.controlPlane)) {
      await this.store.list('Namespace');
      return;
    }
    // Tokens exist before anyone needs them; the control plane reads the directory on demand.
    for (const node of this.cluster.nodes) await writeBootstrapToken(this.controlPlaneDir, { node: node.name });
    const address = this.cluster.clusterAddress;
    this.controlPlane = track(await this.cluster.spawn('cluster', [
      process.execPath, BINS.controlPlane, '--backend', 'local', '--state-dir', this.controlPlaneDir,
      '--listen', `${address}:${CONTROL_PLANE_PORT}`, '--metrics', `${address}:15020`, '--readiness', `${address}:15021`,
      '--log-level', this.options.logLevel ?? 'info',
      ...Object.entries(this.options.controlPlaneSettings ?? {}).flatMap(([k, v]) => [`--${k}`, v]),
    ], { logName: 'control-plane' }));
    await this.until(`the control plane's store API at ${this.apiSocket}`, async () => {
      await this.store.list('Namespace');
      await access(this.rootCertFile);
      return true;
    }, this.controlPlane);
    this.log.info({ address }, 'control plane running');
  }

  /** Starts the node's ztunnel unless it runs; resolves once it is ready. */
  async startZtunnel(node: string): Promise<void> {
    const running = this.ztunnels.get(node);
    if (running !== undefined && running.exit === undefined) return;
    if (running === undefined && await this.running(BINS.ztunnel, { kind: 'node', node })) {
      if ((await this.admin(node, '/healthz/ready')).status !== 200) throw new AmbitError('unavailable', `ztunnel on ${node} runs but is not ready`, { hint: `see ${join(this.cluster.stateDir, 'logs', '_node', node)}` });
      return;
    }
    // Loopback: no capture; HBONE and SOCKS5 at each pod's own address, the rest at the node's.
    const loopback = this.cluster.network === 'loopback';
    const address = loopback ? this.cluster.nodeAddress(node) : '0.0.0.0';
    const settings: Record<string, string> = {
      node, 'control-plane': `${this.cluster.clusterAddress}:${CONTROL_PLANE_PORT}`,
      'ca-root-file': this.rootCertFile, 'bootstrap-token-file': this.tokenFile(node),
      capture: loopback ? 'none' : 'nftables', 'admin-socket': this.adminSocket(node),
      metrics: `${address}:15020`, readiness: `${address}:15021`, socks5: loopback ? `${address}:15080` : '127.0.0.1:15080',
      ...(loopback ? { 'socks5-pods': String(LOOPBACK_SOCKS5_PORT) } : {}),
      'log-level': this.options.logLevel ?? 'info',
      ...this.options.ztunnelSettings,
    };
    await mkdir(join(this.cluster.stateDir, ZTUNNEL_DIR), { recursive: true, mode: 0o700 });
    // The ztunnel's Node flags, as its bin's shebang has them (node-flags.ts in @ambit/ztunnel says why).
    const argv = [process.execPath, ...ZTUNNEL_NODE_FLAGS, ...this.options.ztunnelNodeFlags ?? [], BINS.ztunnel, ...Object.entries(settings).flatMap(([k, v]) => [`--${k}`, v])];
    const ztunnel = track(await this.cluster.spawn({ node }, argv, { logName: 'ztunnel' }));
    this.ztunnels.set(node, ztunnel);
    await this.until(`ztunnel on ${node} to be ready`, async () => (await this.admin(node, '/healthz/ready')).status === 200, ztunnel);
    this.log.info({ node, pid: ztunnel.pid }, 'ztunnel ready');
  }

  /**
   * Stops a node's ztunnel, whichever process started it: SIGTERM (drain) by
   * default, SIGKILL to simulate a crash. Resolves false when none ran.
   */
  async stopZtunnel(node: string, signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<boolean> {
    const ztunnel = this.ztunnels.get(node);
    if (ztunnel !== undefined) {
      this.ztunnels.delete(node);
      if (signal === 'SIGTERM') {
        await ztunnel.stop();
        return true;
      }
    }
    const pid = ztunnel?.pid ?? (await this.cluster.processes())
      .find((p) => scriptOf(p.argv) === BINS.ztunnel && p.target.kind === 'node' && p.target.node === node)?.pid;
    if (pid === undefined) return false;
    process.kill(pid, signal);
    // Polled, not awaited through `exited`: the child is detached and unreferenced (or not ours at all).
    for (let waited = 0; await isAlive(pid); waited += 50) {
      if (waited > STOP_TIMEOUT_MS) throw new AmbitError('timeout', `ztunnel on ${node} (pid ${pid}) did not exit within ${STOP_TIMEOUT_MS / 1000} s of ${signal}`);
      await sleep(50);
    }
    return true;
  }

  /** GET (or POST) on a ztunnel's admin socket. */
  admin(node: string, path: string, method = 'GET'): Promise<{ status: number; body: string }> {
    return unixGet(this.adminSocket(node), path, method, `ztunnel admin on ${node}`);
  }

  /** GET on the admin socket of a waypoint pod the kubelet runs. */
  async waypointAdmin(pod: PodRef, path: string): Promise<{ status: number; body: string }> {
    await this.cluster.refresh();
    const { namespace, name } = this.cluster.pod(pod);
    return unixGet(this.waypointAdminSocket(pod), path, 'GET', `waypoint admin of ${namespace}/${name}`);
  }

  async adminJson<T>(node: string, path: string): Promise<T> {
    const { status, body } = await this.admin(node, path);
    if (status !== 200) throw new AmbitError('unavailable', `ztunnel admin on ${node} answered ${status} for ${path}: ${body.slice(0, 200)}`);
    return JSON.parse(body) as T;
  }

  async stop(): Promise<void> {
    await this.stopKubelet();
    for (const node of [...this.ztunnels.keys()]) await this.stopZtunnel(node);
    await this.store.close();
    await this.controlPlane?.stop();
    this.controlPlane = undefined;
  }

  private async until(what: string, probe: () => Promise<boolean>, owner: Tracked): Promise<void> {
    const deadline = Date.now() + (this.options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS);
    let last: unknown;
    while (Date.now() < deadline) {
      if (owner.exit !== undefined) {
        const tail = await lastLines(owner.log, 15);
        throw new AmbitError('unavailable', `gave up waiting for ${what}: the process exited (${owner.exit})${tail === '' ? '' : `; its log ends:\n${tail}`}`, {
          hint: `see its log, ${owner.log}`,
        });
      }
      try {
        if (await probe()) return;
      } catch (error) {
        last = error;
      }
      await sleep(100);
    }
    throw new AmbitError('timeout', `gave up waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`, {
      hint: `see the logs under ${join(this.cluster.stateDir, 'logs')}`,
    });
  }
}

/** A `tcpSocket` readiness probe for every declared TCP port (any listening port when none is declared). */
function listensOnDeclaredPorts(container: Container): (process: ClusterProcess) => Promise<boolean> {
  const declared = (container.ports ?? []).filter((p) => (p.protocol ?? 'TCP') === 'TCP').map((p) => p.containerPort);
  return async (process) => {
    const ports = await listeningTcpPorts(process.pid);
    return declared.length === 0 ? ports.size > 0 : declared.every((port) => ports.has(port));
  };
}

/** An HTTP request on a unix socket (admin APIs). */
function unixGet(socketPath: string, path: string, method = 'GET', what = socketPath): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.request({ socketPath, path, method, timeout: 5_000 }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.once('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      response.once('error', reject);
    });
    request.once('timeout', () => request.destroy(new AmbitError('timeout', `${what} did not answer ${path}`)));
    request.once('error', reject);
    request.end();
  });
}

/** A process and, once it ended, how. */
export type Tracked = ClusterProcess & { exit: string | undefined };

function track(process: ClusterProcess): Tracked {
  const tracked: Tracked = Object.assign(process, { exit: undefined as string | undefined });
  void process.exited.then(({ code, signal }) => { tracked.exit = signal === null ? `code ${code ?? '?'}` : `signal ${signal}`; });
  return tracked;
}

async function lastLines(file: string, count: number): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trimEnd().split('\n').slice(-count).join('\n');
  } catch {
    return '';
  }
}

/** The script a `node [flags] script args` command line runs. */
function scriptOf(argv: readonly string[]): string | undefined {
  return argv.slice(1).find((arg) => !arg.startsWith('-'));
}
