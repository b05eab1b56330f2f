// The mesh benchmark's cluster: two nodes, a client pod on node-1 and a
// server pod on node-2 for each of two namespaces, and three ways from a
// client to a server (routes):
//
//   no mesh   plain/client ──────────────────────────────────────────▶ plain/server
//   stunnel   plain/client ─▶ stunnel client (node-1, 10.244.1.1) ══TLS══▶ stunnel server (node-2, 10.200.0.12) ─▶ plain/server
//   ztunnel   mesh/client ─(captured)▶ ztunnel node-1 ══HBONE══▶ ztunnel node-2 ─▶ mesh/server
//
// With `sameNode`, the same three from a second client pod on node-2
// (`client-local`; its stunnel client listens on node-2's pod gateway, and
// node-2's ztunnel is both ends of the tunnel).
//
// `plain` is not enrolled, so its pods are reached both directly and through
// the stunnel pair; `mesh` carries the ambient label, so its client dials the
// server pod's own address and the kernel hands the connection to ztunnel.
// Each server pod runs iperf3 -s, nginx (the 1 KiB file) and the holder's echo.
import { chmod, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { BINS, LocalCluster, LocalMesh } from '@ambit/localcluster';
import { nodeFlags } from './args.js';
import { BODY_PATH, writeNginxConfig, writeStunnelConfig, type NginxServe, type PemFiles } from './fixtures.js';
import { stunnelBinary } from './machine.js';
import { procStatus, run, type Managed, type ProcessSet } from './processes.js';
import type { PathName } from './report.js';

export const HOLDER_SCRIPT = fileURLToPath(new URL('./mesh-holder.js', import.meta.url));
const MEMDUMP_PRELOAD = fileURLToPath(new URL('./mesh-memdump.js', import.meta.url));
export const CLIENT_BIN = fileURLToPath(new URL('../../../packages/localcluster/dist/bin/client.js', import.meta.url));
export const AMBIENT = { 'ambit.dev/dataplane-mode': 'ambient' };
export const CLIENT_NODE = 'node-1';
export const SERVER_NODE = 'node-2';
/** Ports inside the server pods. */
export const SERVER_PORTS = { iperf: 5201, http: 8080, hold: 9000 } as const;
/** The stunnel client's ports on node-1's pod gateway, and the stunnel server's on node-2's bridge address. */
const STUNNEL_CLIENT_PORTS = { iperf: 25201, http: 28080, hold: 29000 } as const;
const STUNNEL_SERVER_PORTS = { iperf: 35201, http: 38080, hold: 39000 } as const;
const READY_TIMEOUT_MS = 30_000;

/** A process whose CPU and memory are charged to a path. */
export interface Proxy {
  name: string;
  node: string;
  pid: number;
  /** Its log file, where a ztunnel answers SIGUSR2 with a memory dump (mesh-memdump.ts). */
  log?: string;
  /** Its own CPU (and peak RSS) is also reported, as metrics named `<metric>Cores`, `<metric>RssMiB`… (e.g. `l7`). */
  metric?: string;
}

/** How a client reaches an HTTP server on one path. */
export interface HttpRoute<P extends string = PathName> {
  path: P;
  clientNetns: string;
  /** The address the client dials (the server pod, a Service VIP, or a local proxy's listener). */
  host: string;
  httpPort: number;
  /** The request paths, taken in turn; default the 1 KiB file. */
  requestPaths?: readonly string[];
  proxies: Proxy[];
}

/** How a client reaches the servers on one path of the mesh benchmark. */
export interface Route extends HttpRoute {
  iperfPort: number;
  holdPort: number;
}

export interface MeshCluster {
  cluster: LocalCluster;
  mesh: LocalMesh;
  /** Client on node-1, server on node-2: no mesh, stunnel, ztunnel. */
  routes: Route[];
  /** Client and server on node-2, in the same order; empty unless asked for. */
  sameNodeRoutes: Route[];
  ztunnels: Proxy[];
  /** Managed processes that must stay up (servers and stunnels). */
  servers: Managed[];
}

export interface BuildOptions {
  logLevel: string;
  /** Where ztunnels write a heap snapshot with each memory dump; none when undefined. */
  heapSnapshotDir: string | undefined;
  /** Extra Node flags for the mesh's processes (NODE_OPTIONS: the control plane and the ztunnels). */
  meshNodeFlags: string | undefined;
  /** Extra Node/V8 flags on the ztunnels' command lines, after their own: these override them. */
  ztunnelNodeFlags?: string | undefined;
  /** The same for the waypoint the kubelet runs. */
  waypointNodeFlags?: string | undefined;
  pinLoad: string | undefined;
  pinProxies: string | undefined;
  sameNode: boolean;
  log: (message: string) => void;
}

/**
 * Builds the cluster and everything on it. `built` receives the cluster and
 * mesh as soon as they exist, so the caller can tear them down even when a
 * later step fails.
 */
export async function buildMeshCluster(
  set: ProcessSet, dir: string, pem: PemFiles, options: BuildOptions,
  built: (parts: { cluster: LocalCluster; mesh?: LocalMesh }) => void,
): Promise<MeshCluster> {
  const { cluster, mesh, ztunnels } = await startMesh(set, dir, options, built);

  await cluster.addNamespace('plain');
  await cluster.addNamespace('mesh', AMBIENT);
  for (const ns of ['plain', 'mesh']) {
    await cluster.addPod({ namespace: ns, name: 'client', node: CLIENT_NODE, serviceAccount: 'client' });
    await cluster.addPod({ namespace: ns, name: 'server', node: SERVER_NODE, serviceAccount: 'server', labels: { app: 'server' } });
    if (options.sameNode) await cluster.addPod({ namespace: ns, name: 'client-local', node: SERVER_NODE, serviceAccount: 'client' });
  }

  const servers: Managed[] = [];
  for (const ns of ['plain', 'mesh']) servers.push(...await startServers(set, dir, `${ns}/server`, cluster.podNetns(`${ns}/server`), options.pinLoad));
  const stunnelServer = await startStunnel(set, dir, pem, cluster, 'server', SERVER_NODE, options.pinProxies);
  const stunnelClient = await startStunnel(set, dir, pem, cluster, 'client', CLIENT_NODE, options.pinProxies);
  servers.push(stunnelServer.managed, stunnelClient.managed);

  const routesFrom = (client: string, stunnel: Proxy, ztunnelPath: Proxy[]): Route[] => [
    {
      path: 'direct', clientNetns: cluster.podNetns(`plain/${client}`), host: cluster.podIp('plain/server'),
      iperfPort: SERVER_PORTS.iperf, httpPort: SERVER_PORTS.http, holdPort: SERVER_PORTS.hold, proxies: [],
    },
    {
      path: 'stunnel', clientNetns: cluster.podNetns(`plain/${client}`), host: cluster.node(stunnel.node).gateway,
      iperfPort: STUNNEL_CLIENT_PORTS.iperf, httpPort: STUNNEL_CLIENT_PORTS.http, holdPort: STUNNEL_CLIENT_PORTS.hold,
      proxies: [stunnel, stunnelServer.proxy],
    },
    {
      path: 'hbone', clientNetns: cluster.podNetns(`mesh/${client}`), host: cluster.podIp('mesh/server'),
      iperfPort: SERVER_PORTS.iperf, httpPort: SERVER_PORTS.http, holdPort: SERVER_PORTS.hold, proxies: ztunnelPath,
    },
  ];
  const routes = routesFrom('client', stunnelClient.proxy, ztunnels);
  let sameNodeRoutes: Route[] = [];
  if (options.sameNode) {
    // A second stunnel client, on node-2 (its pod gateway), into the same stunnel server.
    const local = await startStunnel(set, dir, pem, cluster, 'client', SERVER_NODE, options.pinProxies);
    servers.push(local.managed);
    sameNodeRoutes = routesFrom('client-local', local.proxy, ztunnels.filter((z) => z.node === SERVER_NODE));
  }
  for (const route of [...routes, ...sameNodeRoutes]) await waitForRoute(set, route, servers);
  await provedCaptured(mesh);
  options.log('every path serves the 1 KiB file; the ztunnel path is mutual TLS (node-2 counted it)');
  return { cluster, mesh, routes, sameNodeRoutes, ztunnels, servers };
}

export type MeshOptionsForStart = Pick<BuildOptions, 'logLevel' | 'heapSnapshotDir' | 'meshNodeFlags' | 'ztunnelNodeFlags' | 'waypointNodeFlags' | 'pinProxies' | 'log'>;

/**
 * A two-node cluster with the control plane, a ztunnel per node (the memory-dump
 * handler preloaded) and the kubelet; `built` receives the cluster and mesh as
 * soon as they exist.
 */
export async function startMesh(
  set: ProcessSet, dir: string, options: MeshOptionsForStart, built: (parts: { cluster: LocalCluster; mesh?: LocalMesh }) => void,
): Promise<{ cluster: LocalCluster; mesh: LocalMesh; ztunnels: Proxy[] }> {
  const cluster = await LocalCluster.create({ stateDir: join(dir, 'cluster'), nodes: 2 });
  built({ cluster });
  options.log(`cluster ${cluster.id}: nodes ${cluster.nodes.map((n) => `${n.name} ${n.address}`).join(', ')}`);
  // drain-deadline: the run ends by stopping the ztunnels; nothing is in flight by then.
  const mesh = new LocalMesh(cluster, {
    logLevel: options.logLevel, ztunnelSettings: { 'drain-deadline': '1s' },
    ztunnelNodeFlags: nodeFlags('ztunnel-node-flags', options.ztunnelNodeFlags),
    waypointNodeFlags: nodeFlags('waypoint-node-flags', options.waypointNodeFlags),
  });
  built({ cluster, mesh });
  await withEnvironment({
    // The mesh's processes inherit our environment: preload the memory-dump handler into them.
    NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import=${MEMDUMP_PRELOAD} ${options.meshNodeFlags ?? ''}`.trim(),
    AMBIT_BENCH_HEAP_SNAPSHOT_DIR: options.heapSnapshotDir,
  }, () => mesh.start());
  const ztunnels = await ztunnelProcesses(cluster);
  if (options.pinProxies !== undefined) for (const z of ztunnels) await pin(set, z.pid, options.pinProxies);
  options.log(`control plane and ztunnels running (ztunnel pids ${ztunnels.map((z) => `${z.node} ${z.pid}`).join(', ')})`);
  return { cluster, mesh, ztunnels };
}

/** The route's URLs, one per request path. */
export function routeUrls(route: HttpRoute<string>): string[] {
  return (route.requestPaths ?? [BODY_PATH]).map((path) => `http://${route.host}:${route.httpPort}${path}`);
}

/** The route's first URL. */
export function routeUrl(route: HttpRoute<string>): string {
  return routeUrls(route)[0]!;
}

/** nginx serving the 1 KiB file in a pod (see writeNginxConfig for `serve`). */
export async function startNginx(
  set: ProcessSet, dir: string, pod: string, netns: string, cpus: string | undefined, serve: NginxServe = {},
): Promise<Managed> {
  // nginx's worker drops privileges when started as root: the temp dir must be traversable.
  await chmod(dir, 0o755);
  const nginxDir = join(dir, pod.replace('/', '-'));
  await mkdir(nginxDir, { recursive: true });
  const nginxConfig = await writeNginxConfig(nginxDir, SERVER_PORTS.http, '0.0.0.0', serve);
  return set.start({
    name: `nginx:${pod}`, command: 'nginx', args: ['-p', nginxDir, '-e', join(nginxDir, 'nginx-error.log'), '-c', nginxConfig], netns, cpus,
  });
}

/** iperf3 -s, nginx and the holder's echo server in a server pod. */
async function startServers(set: ProcessSet, dir: string, pod: string, netns: string, cpus: string | undefined): Promise<Managed[]> {
  const iperf = set.start({ name: `iperf3-server:${pod}`, command: 'iperf3', args: ['-s', '-p', String(SERVER_PORTS.iperf), '--forceflush'], netns, cpus });
  const nginx = await startNginx(set, dir, pod, netns, cpus);
  const echo = set.start({ name: `holder-echo:${pod}`, command: process.execPath, args: [HOLDER_SCRIPT, 'serve', '--port', String(SERVER_PORTS.hold)], netns, cpus });
  await Promise.all([iperf.waitForLine(/Server listening/, READY_TIMEOUT_MS), echo.waitForLine(/"event":"listening"/, READY_TIMEOUT_MS)]);
  return [iperf, nginx, echo];
}

/**
 * One stunnel of the pair, in a node's namespace: the server on node-2's
 * bridge address forwarding to plain/server, a client on its node's pod
 * gateway (which that node's pods reach) connecting to the server.
 */
async function startStunnel(
  set: ProcessSet, dir: string, pem: PemFiles, cluster: LocalCluster, role: 'client' | 'server', node: string, cpus: string | undefined,
): Promise<{ managed: Managed; proxy: Proxy }> {
  const serverAddress = cluster.nodeAddress(SERVER_NODE);
  const services = (['iperf', 'http', 'hold'] as const).map((s) => (role === 'server'
    ? { name: s, acceptHost: serverAddress, accept: STUNNEL_SERVER_PORTS[s], connectHost: cluster.podIp('plain/server'), connect: SERVER_PORTS[s] }
    : { name: s, acceptHost: cluster.node(node).gateway, accept: STUNNEL_CLIENT_PORTS[s], connectHost: serverAddress, connect: STUNNEL_SERVER_PORTS[s] }));
  // One directory per process: the config file is named after the role.
  const configDir = join(dir, `stunnel-${role}-${node}`);
  await mkdir(configDir, { recursive: true });
  const config = await writeStunnelConfig(configDir, role, pem, services);
  const name = role === 'server' ? 'stunnel-server' : node === CLIENT_NODE ? 'stunnel-client' : `stunnel-client-${node}`;
  const managed = set.start({ name, command: stunnelBinary(), args: [config], netns: cluster.nodeNetns(node), cpus });
  return { managed, proxy: { name, node, pid: managed.pid, metric: role } };
}

/**
 * Retries one GET through the route until it answers 200 (servers and capture
 * take a moment), by default for the route's first URL; with `body`, until
 * the answer's body is exactly that.
 */
export async function waitForRoute(
  set: ProcessSet, route: HttpRoute<string>, servers: readonly Managed[], expect: { url?: string; body?: string } = {},
): Promise<void> {
  const url = expect.url ?? routeUrl(route);
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let last = '';
  while (Date.now() < deadline) {
    set.checkAlive(servers);
    const result = await run(set, {
      name: `check:${route.path}`, command: process.execPath, args: [CLIENT_BIN, 'http', url, '--timeout', '3000'], netns: route.clientNetns,
    }, 15_000);
    if (result.code === 0 && /^\{"status":200,/.test(result.stdout)
      && (expect.body === undefined || (JSON.parse(result.stdout) as { body: unknown }).body === expect.body)) return;
    last = `${result.stdout.trim()} ${result.stderr.trim()}`.slice(0, 300);
    await sleep(250);
  }
  throw new Error(`${route.path}: GET ${url} did not ${expect.body === undefined ? 'succeed' : `answer ${JSON.stringify(expect.body)}`} within ${READY_TIMEOUT_MS} ms: ${last}`);
}

/** The ztunnel path must really be HBONE: node-2's ztunnel counted a mutual-TLS connection from `<namespace>/client`. */
export async function provedCaptured(mesh: LocalMesh, namespace = 'mesh'): Promise<void> {
  const text = (await mesh.admin(SERVER_NODE, '/metrics')).body;
  const counted = text.split('\n').some((line) => line.startsWith('istio_tcp_connections_opened_total{')
    && line.includes('reporter="destination"') && line.includes('connection_security_policy="mutual_tls"')
    && line.includes(`source_principal="spiffe://cluster.local/ns/${namespace}/sa/client"`) && Number(line.slice(line.lastIndexOf(' ') + 1)) >= 1);
  if (!counted) throw new Error(`node-2's ztunnel counted no mutual-TLS connection from ${namespace}/client: the mesh path is not captured`);
}

async function ztunnelProcesses(cluster: LocalCluster): Promise<Proxy[]> {
  const found: Proxy[] = [];
  for (const record of await cluster.processes()) {
    if (record.target.kind === 'node' && record.argv.includes(BINS.ztunnel)) {
      // Each ztunnel's own CPU and RSS are reported too, by its role on the cross-node paths: node-1 the client side, node-2 the server side.
      const metric = record.target.node === CLIENT_NODE ? 'client' : 'server';
      found.push({ name: `ztunnel-${record.target.node}`, node: record.target.node, pid: record.pid, log: record.log, metric });
    }
  }
  found.sort((a, b) => a.node.localeCompare(b.node));
  if (found.length !== 2) throw new Error(`expected 2 ztunnel processes, found ${found.length}`);
  for (const z of found) procStatus(z.pid);
  return found;
}

/** Runs `body` with extra environment variables set (undefined: left alone), then restores them. */
export async function withEnvironment<T>(variables: Record<string, string | undefined>, body: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(variables).map((k) => [k, process.env[k]]));
  for (const [k, v] of Object.entries(variables)) if (v !== undefined) process.env[k] = v;
  try {
    return await body();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

/** Pins every thread of a running process (`taskset -a -p`). */
export async function pin(set: ProcessSet, pid: number, cpus: string): Promise<void> {
  const result = await run(set, { name: `taskset:${pid}`, command: 'taskset', args: ['-a', '-p', '-c', cpus, String(pid)] }, 5_000);
  if (result.code !== 0) throw new Error(`taskset -a -p -c ${cpus} ${pid} failed: ${result.stderr}`);
}
