// The waypoint benchmark's cluster: the mesh benchmark's two nodes, control
// plane and ztunnels, plus the kubelet running a waypoint, and four ways from
// a client pod on node-1 to two nginx pods on node-2 (server-a, server-b),
// every request alternating /a/1k and /b/1k:
//
//   no mesh   plain/client ─▶ web.plain VIP (kube-proxy, per connection) ─▶ plain/server-a|b
//   ztunnel   mesh/client ─(captured)▶ ztunnel node-1 ══HBONE══▶ ztunnel node-2 ─▶ mesh/server-a|b   (web.mesh VIP)
//   waypoint  wp/client ─(captured)▶ ztunnel node-1 ══HBONE══▶ waypoint pod ══HBONE══▶ ztunnel node-2 ─▶ wp/server-a|b
//             (web.wp VIP; the namespace is bound to the waypoint, whose HTTPRoute sends /a to server-a, /b to server-b)
//   haproxy   plain/client ─▶ HAProxy TCP leg (node-1 gateway) ══mTLS══▶ HAProxy pod (path_beg /a, /b)
//             ══mTLS══▶ HAProxy TCP leg (node-2) ─▶ plain/server-a|b
//   haproxy-stunnel  the same with a stunnel client and server as the legs (as in the mesh benchmark)
//
// The L7 HAProxy (one process, a listener per kind of leg) runs in a pod of a
// namespace that is not enrolled, on the node the kubelet put the waypoint
// on, so every L7 hop sits in the same place with one encrypted leg in and
// one out, and its legs where the ztunnels are. Every nginx serves both paths (the L4 paths
// balance connections, not requests) and answers `<prefix>/who` with its own
// name, which proves the two L7 paths route by path before anything is measured.
import http from 'node:http';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Condition, Gateway, HTTPRoute } from '@ambit/control-plane';
import type { LocalCluster, LocalMesh } from '@ambit/localcluster';
import { writeHaproxyConfig, writeStunnelConfig, WHO_SUFFIX, type HaproxyFrontend, type PemFiles } from './fixtures.js';
import { stunnelBinary } from './machine.js';
import {
  AMBIENT, CLIENT_BIN, CLIENT_NODE, pin, provedCaptured, SERVER_NODE, SERVER_PORTS, startMesh, startNginx, waitForRoute, withEnvironment,
  type HttpRoute, type MeshOptionsForStart, type Proxy,
} from './mesh-cluster.js';
import { procStatus, run, type Managed, type ProcessSet } from './processes.js';

const PROFILE_PRELOAD = fileURLToPath(new URL('./waypoint-profile.js', import.meta.url));

export type WaypointPath = 'direct' | 'ztunnel' | 'waypoint' | 'haproxy' | 'haproxy-stunnel';
export type WaypointRoute = HttpRoute<WaypointPath>;

/** The two backends and the request paths routed to them. */
export const BACKENDS = [{ name: 'a', prefix: '/a' }, { name: 'b', prefix: '/b' }] as const;
type Backend = (typeof BACKENDS)[number];
export const REQUEST_PATHS = BACKENDS.map((b) => `${b.prefix}/1k`);
const NAMESPACES = { plain: 'plain', mesh: 'mesh', waypoint: 'wp', haproxy: 'edge' } as const;
const GATEWAY = 'waypoint';
const GATEWAY_LABEL = 'gateway.networking.k8s.io/gateway-name';
const SERVICE_PORT = 80;
/** Per kind of TLS leg: the L7 HAProxy's listener in its pod, the client leg's on node-1's gateway, the server leg's per backend on node-2. */
const LEG_PORTS = {
  haproxy: { l7: 8444, client: 28081, server: { a: 38091, b: 38092 } },
  stunnel: { l7: 8443, client: 28080, server: { a: 38081, b: 38082 } },
} as const;
const PROGRAMMED_TIMEOUT_MS = 60_000;
/** Requests per backend that must each come back from the right server before measuring. */
const ROUTING_CHECKS = 10;

export interface WaypointBuildOptions extends MeshOptionsForStart {
  pinLoad: string | undefined;
  /** Where the waypoint writes CPU profiles on SIGUSR2 (waypoint-profile.ts preloaded); none when undefined. */
  cpuProfileDir: string | undefined;
}

export interface WaypointCluster {
  cluster: LocalCluster;
  mesh: LocalMesh;
  /** no mesh, ztunnel only, ztunnel + waypoint, HAProxy with HAProxy legs, HAProxy with stunnel legs. */
  routes: WaypointRoute[];
  ztunnels: Proxy[];
  /** The L7 hops: the waypoint's process and HAProxy's. */
  waypoint: Proxy;
  haproxy: Proxy;
  /** The waypoint pod. */
  waypointPod: `${string}/${string}`;
  /** Managed processes that must stay up (nginx, stunnels, HAProxys). */
  servers: Managed[];
}

/**
 * Builds the cluster and everything on it. `built` receives the cluster and
 * mesh as soon as they exist, so the caller can tear them down even when a
 * later step fails.
 */
export async function buildWaypointCluster(
  set: ProcessSet, dir: string, pem: PemFiles, options: WaypointBuildOptions,
  built: (parts: { cluster: LocalCluster; mesh?: LocalMesh }) => void,
): Promise<WaypointCluster> {
  const { cluster, mesh, ztunnels } = await startMesh(set, dir, options, built);
  const [z1, z2] = ztunnels as [Proxy, Proxy];

  await cluster.addNamespace(NAMESPACES.plain);
  await cluster.addNamespace(NAMESPACES.mesh, AMBIENT);
  await cluster.addNamespace(NAMESPACES.waypoint, AMBIENT);
  await cluster.addNamespace(NAMESPACES.haproxy);
  const servers: Managed[] = [];
  for (const ns of [NAMESPACES.plain, NAMESPACES.mesh, NAMESPACES.waypoint]) {
    await cluster.addPod({ namespace: ns, name: 'client', node: CLIENT_NODE, serviceAccount: 'client' });
    for (const backend of BACKENDS) {
      const name = `server-${backend.name}`;
      await cluster.addPod({ namespace: ns, name, node: SERVER_NODE, serviceAccount: 'server', labels: { app: 'web', backend: backend.name }, ports: [SERVER_PORTS.http] });
      await cluster.addService({ namespace: ns, name, selector: { app: 'web', backend: backend.name }, ports: [{ name: 'http', port: SERVICE_PORT, targetPort: SERVER_PORTS.http }] });
      servers.push(await startNginx(set, dir, `${ns}/${name}`, cluster.podNetns(`${ns}/${name}`), options.pinLoad, { paths: REQUEST_PATHS, name }));
    }
    await cluster.addService({ namespace: ns, name: 'web', selector: { app: 'web' }, ports: [{ name: 'http', port: SERVICE_PORT, targetPort: SERVER_PORTS.http }] });
  }

  const { waypoint, pod: waypointPod } = await startWaypoint(mesh, cluster, options);
  if (options.pinProxies !== undefined) await pin(set, waypoint.pid, options.pinProxies);
  options.log(`waypoint ${waypointPod} running on ${waypoint.node} (pid ${waypoint.pid})`);

  // HAProxy beside the waypoint, between TLS legs on node-1 and node-2 (where the ztunnels are).
  const legs = await startHaproxyPaths(set, dir, pem, cluster, waypoint.node, options.pinProxies);
  servers.push(...legs.managed);

  const vip = (ns: string): string => cluster.service(`${ns}/web`).vip;
  const route = (path: WaypointPath, ns: string, host: string, port: number, proxies: Proxy[]): WaypointRoute => ({
    path, clientNetns: cluster.podNetns(`${ns}/client`), host, httpPort: port, requestPaths: REQUEST_PATHS, proxies,
  });
  const routes: WaypointRoute[] = [
    route('direct', NAMESPACES.plain, vip(NAMESPACES.plain), SERVICE_PORT, []),
    route('ztunnel', NAMESPACES.mesh, vip(NAMESPACES.mesh), SERVICE_PORT, ztunnels),
    route('waypoint', NAMESPACES.waypoint, vip(NAMESPACES.waypoint), SERVICE_PORT, [z1, { ...waypoint, metric: 'l7' }, z2]),
    ...(['haproxy', 'stunnel'] as const).map((kind) => route(kind === 'haproxy' ? 'haproxy' : 'haproxy-stunnel', NAMESPACES.plain,
      cluster.node(CLIENT_NODE).gateway, LEG_PORTS[kind].client, [legs[kind].client, { ...legs.l7, metric: 'l7' }, legs[kind].server])),
  ];
  for (const r of routes) {
    for (const path of REQUEST_PATHS) await waitForRoute(set, r, servers, { url: `http://${r.host}:${r.httpPort}${path}` });
  }
  for (const r of routes.filter((x) => x.path !== 'direct' && x.path !== 'ztunnel')) await provedRouted(set, r, servers);
  await provedCaptured(mesh, NAMESPACES.mesh);
  const requests = await waypointRequests(mesh.waypointAdminSocket(waypointPod));
  if (requests < ROUTING_CHECKS * BACKENDS.length) {
    throw new Error(`the waypoint counted ${requests} requests from ${NAMESPACES.waypoint}/client: its path does not go through it`);
  }
  options.log(`every path serves ${REQUEST_PATHS.join(' and ')}; the waypoint and HAProxy route them by path (each checked ${ROUTING_CHECKS} times), `
    + `the waypoint counted ${requests} requests; the ztunnel path is mutual TLS`);
  return { cluster, mesh, routes, ztunnels, waypoint, haproxy: legs.l7, waypointPod, servers };
}

/**
 * The waypoint Gateway (class ambit-waypoint) in the waypoint namespace: the
 * controller makes a Deployment, the kubelet runs it; once Programmed, the
 * HTTPRoute on the `web` Service and the namespace's use-waypoint label.
 */
async function startWaypoint(mesh: LocalMesh, cluster: LocalCluster, options: WaypointBuildOptions): Promise<{ waypoint: Proxy; pod: `${string}/${string}` }> {
  const ns = NAMESPACES.waypoint;
  const extra = options.cpuProfileDir === undefined ? '' : `--import=${PROFILE_PRELOAD}`;
  await withEnvironment({
    // The kubelet starts the waypoint from this process, with this environment.
    NODE_OPTIONS: extra === '' ? undefined : `${process.env.NODE_OPTIONS ?? ''} ${extra}`.trim(),
    AMBIT_BENCH_CPU_PROFILE_DIR: options.cpuProfileDir,
  }, async () => {
    await mesh.store.create<Gateway>({
      apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: GATEWAY, namespace: ns },
      spec: { gatewayClassName: 'ambit-waypoint', listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] },
    });
    await until(`Gateway ${ns}/${GATEWAY} Programmed=True`, PROGRAMMED_TIMEOUT_MS, async () => {
      const gateway = await mesh.store.get<Gateway>('Gateway', GATEWAY, ns).catch(() => undefined);
      const programmed = gateway?.status?.conditions?.find((c: Condition) => c.type === 'Programmed');
      return programmed?.status === 'True' ? true : `Programmed is ${JSON.stringify(programmed)}`;
    });
  });
  await mesh.store.create<HTTPRoute>({
    apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'web', namespace: ns },
    spec: {
      parentRefs: [{ group: '', kind: 'Service', name: 'web', port: SERVICE_PORT }],
      rules: BACKENDS.map((b) => ({
        matches: [{ path: { type: 'PathPrefix', value: b.prefix } }], backendRefs: [{ name: `server-${b.name}`, port: SERVICE_PORT }],
      })),
    },
  });
  await cluster.addNamespace(ns, { 'ambit.dev/use-waypoint': GATEWAY });

  const pod = cluster.pods.find((p) => p.namespace === ns && p.labels[GATEWAY_LABEL] === GATEWAY);
  if (pod === undefined) throw new Error(`Gateway ${ns}/${GATEWAY} is Programmed but the kubelet runs no pod for it`);
  const record = (await cluster.processes()).find((p) => p.target.kind === 'pod' && p.target.namespace === ns && p.target.name === pod.name);
  if (record === undefined) throw new Error(`no process runs in the waypoint pod ${ns}/${pod.name}`);
  procStatus(record.pid);
  return { waypoint: { name: 'waypoint', node: pod.node, pid: record.pid, log: record.log }, pod: `${ns}/${pod.name}` };
}

interface HaproxyPaths {
  /** The L7 HAProxy, shared by both kinds of legs. */
  l7: Proxy;
  haproxy: { client: Proxy; server: Proxy };
  stunnel: { client: Proxy; server: Proxy };
  managed: Managed[];
}

/**
 * The L7 HAProxy in its pod on `node` (a listener per kind of leg), and each
 * kind's legs: a client leg in node-1's namespace on its pod gateway, a
 * server leg in node-2's namespace on its bridge address with a port per
 * backend, forwarding to plain/server-a and plain/server-b.
 */
async function startHaproxyPaths(
  set: ProcessSet, dir: string, pem: PemFiles, cluster: LocalCluster, node: string, cpus: string | undefined,
): Promise<HaproxyPaths> {
  await cluster.addPod({ namespace: NAMESPACES.haproxy, name: 'haproxy', node, serviceAccount: 'haproxy' });
  const l7Ip = cluster.podIp(`${NAMESPACES.haproxy}/haproxy`);
  const serverAddress = cluster.nodeAddress(SERVER_NODE);
  const gateway = cluster.node(CLIENT_NODE).gateway;
  const podAddress = (b: Backend): { host: string; port: number } => ({ host: cluster.podIp(`${NAMESPACES.plain}/server-${b.name}`), port: SERVER_PORTS.http });

  const l7 = await startHaproxy(set, dir, pem, 'l7', cluster.podNetns(`${NAMESPACES.haproxy}/haproxy`), node, (['haproxy', 'stunnel'] as const).map((kind) => ({
    kind: 'route', name: `${kind}_legs`, listen: `${l7Ip}:${LEG_PORTS[kind].l7}`,
    backends: BACKENDS.map((b) => ({ name: b.name, prefix: b.prefix, address: `${serverAddress}:${LEG_PORTS[kind].server[b.name]}` })),
  })), cpus);
  const haproxyServer = await startHaproxy(set, dir, pem, 'server', cluster.nodeNetns(SERVER_NODE), SERVER_NODE, BACKENDS.map((b) => ({
    kind: 'terminate', name: `to_${b.name}`, listen: `${serverAddress}:${LEG_PORTS.haproxy.server[b.name]}`, upstream: `${podAddress(b).host}:${podAddress(b).port}`,
  })), cpus);
  const haproxyClient = await startHaproxy(set, dir, pem, 'client', cluster.nodeNetns(CLIENT_NODE), CLIENT_NODE, [{
    kind: 'originate', name: 'to_l7', listen: `${gateway}:${LEG_PORTS.haproxy.client}`, upstream: `${l7Ip}:${LEG_PORTS.haproxy.l7}`,
  }], cpus);
  const stunnelServer = await startStunnel(set, dir, pem, cluster, 'server', SERVER_NODE, BACKENDS.map((b) => ({
    name: b.name, acceptHost: serverAddress, accept: LEG_PORTS.stunnel.server[b.name], connectHost: podAddress(b).host, connect: podAddress(b).port,
  })), cpus);
  const stunnelClient = await startStunnel(set, dir, pem, cluster, 'client', CLIENT_NODE, [{
    name: 'http', acceptHost: gateway, accept: LEG_PORTS.stunnel.client, connectHost: l7Ip, connect: LEG_PORTS.stunnel.l7,
  }], cpus);
  return {
    l7: l7.proxy,
    haproxy: { client: haproxyClient.proxy, server: haproxyServer.proxy },
    stunnel: { client: stunnelClient.proxy, server: stunnelServer.proxy },
    managed: [l7, haproxyServer, haproxyClient, stunnelServer, stunnelClient].map((p) => p.managed),
  };
}

/** One HAProxy process (checked with `haproxy -c` first) in a pod's or node's namespace; the L7 one is called `haproxy`. */
async function startHaproxy(
  set: ProcessSet, dir: string, pem: PemFiles, role: 'l7' | 'client' | 'server', netns: string, node: string,
  frontends: readonly HaproxyFrontend[], cpus: string | undefined,
): Promise<{ managed: Managed; proxy: Proxy }> {
  const configDir = join(dir, 'haproxy');
  await mkdir(configDir, { recursive: true });
  const config = await writeHaproxyConfig(configDir, role, pem, frontends);
  const check = await run(set, { name: `haproxy-check-${role}`, command: 'haproxy', args: ['-c', '-f', config] }, 10_000);
  if (check.code !== 0) throw new Error(`haproxy -c rejected ${config}:\n${check.stdout}${check.stderr}`);
  const name = role === 'l7' ? 'haproxy' : `haproxy-${role}`;
  // -db: foreground, no daemon; the pid is HAProxy's own (its threads included).
  const managed = set.start({ name, command: 'haproxy', args: ['-db', '-f', config], netns, cpus });
  return { managed, proxy: { name, node, pid: managed.pid } };
}

/** One stunnel in a node's namespace (see fixtures.ts for its TLS settings). */
async function startStunnel(
  set: ProcessSet, dir: string, pem: PemFiles, cluster: LocalCluster, role: 'client' | 'server', node: string,
  services: Parameters<typeof writeStunnelConfig>[3], cpus: string | undefined,
): Promise<{ managed: Managed; proxy: Proxy }> {
  const configDir = join(dir, `stunnel-${role}`);
  await mkdir(configDir, { recursive: true });
  const config = await writeStunnelConfig(configDir, role, pem, services);
  const name = `stunnel-${role}`;
  const managed = set.start({ name, command: stunnelBinary(), args: [config], netns: cluster.nodeNetns(node), cpus });
  return { managed, proxy: { name, node, pid: managed.pid } };
}

/** Each prefix's `who` answers the backend it routes to, ROUTING_CHECKS times in a row, each on a new connection. */
async function provedRouted(set: ProcessSet, route: WaypointRoute, servers: readonly Managed[]): Promise<void> {
  for (const backend of BACKENDS) {
    const url = `http://${route.host}:${route.httpPort}${backend.prefix}${WHO_SUFFIX}`;
    const expected = `server-${backend.name}`;
    await waitForRoute(set, route, servers, { url, body: expected });
    const result = await run(set, {
      name: `routed:${route.path}`, command: process.execPath, args: [CLIENT_BIN, 'http', url, '--count', String(ROUTING_CHECKS), '--timeout', '3000'], netns: route.clientNetns,
    }, 30_000);
    const bodies = result.stdout.trim().split('\n').map((line) => (JSON.parse(line) as { body: unknown }).body);
    if (bodies.length !== ROUTING_CHECKS || bodies.some((b) => b !== expected)) {
      throw new Error(`${route.path}: ${url} should always reach ${expected}, got ${JSON.stringify(bodies)}`);
    }
  }
}

/** istio_requests_total the waypoint reported (reporter="waypoint"), from its admin socket. */
async function waypointRequests(socketPath: string): Promise<number> {
  const text = await new Promise<string>((resolve, reject) => {
    http.get({ socketPath, path: '/metrics', timeout: 5_000 }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => { body += chunk; });
      response.on('end', () => resolve(body));
    }).on('error', reject);
  });
  return text.split('\n').filter((line) => line.startsWith('istio_requests_total{') && line.includes('reporter="waypoint"')
    && line.includes(`source_workload_namespace="${NAMESPACES.waypoint}"`))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

/** Polls `probe` (true, or why not yet) until true; throws with the last reason after `timeoutMs`. */
async function until(what: string, timeoutMs: number, probe: () => Promise<true | string>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    const result = await probe();
    if (result === true) return;
    last = result;
    await sleep(250);
  }
  throw new Error(`gave up waiting for ${what} after ${timeoutMs} ms: ${last}`);
}
