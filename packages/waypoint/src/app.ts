// The waypoint's composition root. In order: readiness, inputs (roots,
// bootstrap token, control plane address), identity (its one certificate),
// metrics and mesh state, the upstream side (HBONE pool, keep-alive agent,
// balancer), the L7 stack, the front ends and the L4 forwarder, the HBONE
// terminator (openDataPath); then every port is bound (HBONE, metrics,
// readiness, admin), so a conflict fails start-up loudly; then discovery
// starts. Ready once the certificate is issued, the first discovery sync is
// applied and the listeners are bound. The admin socket answers GET
// /config_dump, /routes, /policies, /certificates, plus core's /metrics,
// /healthz/ready and /logging. startWaypoint runs all of it in one process;
// startWaypointWorker only the data path, for workers.ts, whose primary
// serves metrics, readiness and the admin API for all its workers.
import type { Registry } from 'prom-client';
import {
  adminEndpoint, adminServer, AmbitError, describeAdmin, type AdminEndpoint, boundPort, causeChain, closeServer, createLogger, Drain, listen, metricsRoute, Readiness, readinessRoute,
  routeServer, runCleanups, type Cleanup, type DrainResult, type HostPort, type Logger, type LogLevel,
} from '@ambit/core';
import { formatAuthority, socketAddress, type SocketAddress } from '@ambit/api';
import { HboneServer, HbonePool } from '@ambit/hbone';
import { CaClient, DiscoveryClient, MeshIndex, readBootstrapInputs, type ProxyStartOptions } from '@ambit/cp-client';
import { gatewayKey, type WaypointConfig } from './config.js';
import { WaypointIdentity } from './identity.js';
import { Balancer, type Ejection } from './l7/balancer.js';
import type { RetryBudgetOptions } from './l7/retry-budget.js';
import { buildStack } from './l7/stack.js';
import { WaypointMetrics } from './metrics.js';
import { Frontends } from './proxy/frontends.js';
import { L4Forwarder } from './proxy/l4.js';
import { Terminator } from './proxy/terminate.js';
import { Upstream } from './proxy/upstream.js';

export interface StartOptions extends ProxyStartOptions {
  /** The mesh index discovery fills; tests may apply extra updates to it (e.g. routes not yet translated). */
  index?: MeshIndex;
  retryBudget?: RetryBudgetOptions;
  /** Randomness for weighted choice, faults, jitter and endpoint choice. */
  random?: () => number;
  sniffTimeoutMs?: number;
  /** Told of each endpoint this process ejects as an outlier (workers.ts shares it with the other workers). */
  onEject?: (ejection: Ejection) => void;
}

export interface Waypoint {
  readonly config: WaypointConfig;
  readonly identity: string;
  readonly addresses: { hbone: SocketAddress; metrics: SocketAddress; readiness: SocketAddress };
  /** Where the admin API answers (unix socket or loopback address). */
  readonly admin: AdminEndpoint;
  readonly registry: Registry;
  readonly mesh: MeshIndex;
  notReady(): string | undefined;
  ready(): Promise<void>;
  drain(deadlineMs?: number): Promise<DrainResult>;
  close(): Promise<void>;
}

/** The data path of one process, HBONE bound, discovery not yet started (openDataPath). */
interface DataPath {
  identity: WaypointIdentity;
  index: MeshIndex;
  metrics: WaypointMetrics;
  readiness: Readiness;
  hbone: SocketAddress;
  controlPlane: string;
  drain: Drain;
  balancer: Balancer;
  /** What /config_dump shows of this process (the caller adds its listeners). */
  dump(): Record<string, unknown>;
  /** Starts discovery and the certificate; ready once both are in (the caller unblocks 'listeners'). */
  start(): void;
  listenersBound(): void;
}

/**
 * Everything that serves traffic: identity, mesh state, the L7 stack, the
 * HBONE server (bound on return). Cleanups are pushed onto `cleanups`.
 */
async function openDataPath(config: WaypointConfig, options: StartOptions, log: Logger, cleanups: Cleanup[]): Promise<DataPath> {
  const gateway = gatewayKey(config);
  const readiness = new Readiness();
  const certificateIssued = readiness.block('certificate');
  const firstSync = readiness.block('discovery sync');
  const listenersBound = readiness.block('listeners');
  const { roots, bootstrapToken, controlPlane } = await readBootstrapInputs(config, options);

  // Identity: bootstrap with the token, then the CA client authenticates with the certificate itself.
  const held: { identity?: WaypointIdentity } = {};
  const ca = new CaClient({
    address: controlPlane, serverIdentity: config.controlPlaneIdentity, roots,
    credential: () => held.identity?.current(), bootstrapToken, timeoutMs: Math.max(10_000, config.connectTimeoutMs),
  });
  const identity = new WaypointIdentity({
    trustDomain: config.trustDomain, gateway: config.gateway, source: ca.source(), logger: log,
    ...(options.generateKeys === undefined ? {} : { generateKeys: options.generateKeys }),
  });
  held.identity = identity;
  cleanups.push({ name: 'identity', run: () => identity.close() });

  const metrics = new WaypointMetrics();
  const index = options.index ?? new MeshIndex();
  const random = options.random === undefined ? {} : { random: options.random };
  const pool = new HbonePool({ connectTimeoutMs: config.connectTimeoutMs, responseTimeoutMs: 2 * config.connectTimeoutMs + 1_000, logger: log });
  cleanups.push({ name: 'HBONE pool', run: () => pool.close() });
  const upstream = new Upstream({ pool, certificate: () => identity.fetch(), hbonePort: config.upstreamHbonePort, connectTimeoutMs: config.connectTimeoutMs });
  cleanups.push({ name: 'upstream', run: () => upstream.close() });
  const balancer = new Balancer(index, {
    ...random,
    onEject: (ejection, endpoint) => {
      const workload = endpoint.workload;
      metrics.outlierEjections.inc({ destination_workload: workload?.name ?? 'unknown', destination_workload_namespace: workload?.namespace ?? 'unknown' });
      log.warn({ endpoint: ejection.endpoint, workload: workload === undefined ? undefined : `${workload.namespace}/${workload.name}`, until: new Date(ejection.until).toISOString() },
        'endpoint ejected as an outlier after consecutive failures');
      options.onEject?.(ejection);
    },
  });
  const handler = buildStack({
    mesh: index, gateway, balancer, upstream, metrics, accessLog: log.child({ component: 'access' }),
    ...random, ...(options.retryBudget === undefined ? {} : { retryBudget: options.retryBudget }),
  });
  const frontends = new Frontends({ handler, logger: log, identity: identity.id.uri, onRefused: (reason) => metrics.refusals.inc({ reason }) });
  const l4 = new L4Forwarder({ gateway, policies: () => index.authorizations(), balancer, upstream, metrics, logger: log });
  const terminator = new Terminator({
    mesh: index, gateway, frontends, l4, logger: log, ...(options.sniffTimeoutMs === undefined ? {} : { sniffTimeoutMs: options.sniffTimeoutMs }),
  });
  const server = new HboneServer({
    certificate: () => identity.current(),
    trustDomain: config.trustDomain,
    authorize: (request) => terminator.authorize(request),
    serve: (request, tunnel) => terminator.serve(request, tunnel),
    limits: { connectTimeoutMs: config.connectTimeoutMs },
    logger: log,
  });
  server.on('refused', (reason, event) => {
    const ours = (event.error as { details?: { reason?: unknown } } | undefined)?.details?.reason;
    metrics.refusals.inc({ reason: typeof ours === 'string' ? ours : reason });
  });
  cleanups.push({ name: 'HBONE server', run: () => server.close() });
  const drain = new Drain();
  drain.register(server);
  drain.register(frontends);
  metrics.certificateSource = () => identity.status();

  const hbone = await server.listen(config.hbone.port, config.hbone.host).catch((error: NodeJS.ErrnoException) => {
    throw new AmbitError('unavailable', `cannot listen for HBONE on ${config.hbone.host}:${config.hbone.port}: ${error.code ?? error.message}`, { cause: error });
  });

  const discovery = new DiscoveryClient({
    address: controlPlane,
    serverIdentity: config.controlPlaneIdentity,
    certificate: async () => {
      const certificate = await identity.fetch();
      certificateIssued();
      return certificate;
    },
    subscription: { role: 'waypoint', gateway },
    index,
    connectTimeoutMs: config.connectTimeoutMs,
    logger: log,
    ...(options.discoveryBackoff === undefined ? {} : { backoff: options.discoveryBackoff }),
  });
  metrics.discoverySource = () => discovery.connected;
  cleanups.push({ name: 'discovery', run: () => discovery.close() });
  return {
    identity, index, metrics, readiness, hbone, drain, balancer, listenersBound, controlPlane: formatAuthority(controlPlane),
    dump: () => ({
      gateway,
      identity: identity.id.uri,
      config: { ...config, controlPlaneIdentity: config.controlPlaneIdentity.uri },
      readiness: { reason: readiness.notReady(), pending: readiness.blockers() },
      discovery: { connected: discovery.connected, version: index.version, counts: { ...index.counts(), routes: index.routes().length } },
      routes: index.routes(),
      policies: attachedPolicies(index),
      certificates: identity.status(),
      outliers: balancer.ejected(),
      protocols: terminator.protocols,
      hbone: { server: server.stats, pool: pool.stats() },
    }),
    start: () => {
      discovery.once('synced', (version) => {
        firstSync();
        log.info({ version, counts: index.counts(), routes: index.routes().length }, 'first discovery sync applied');
      });
      void discovery.start();
      identity.fetch().then(certificateIssued, (error: unknown) => log.warn({ err: causeChain(error).join(': ') }, 'certificate not issued yet; retrying'));
    },
  };
}

/** The policies a waypoint enforces: those with targetRefs. */
function attachedPolicies(index: MeshIndex): ReturnType<MeshIndex['authorizations']> {
  return index.authorizations().filter((p) => p.scope.kind === 'targets');
}

/** A waypoint in this process: the data path, then its metrics, readiness and admin listeners. */
export async function startWaypoint(config: WaypointConfig, options: StartOptions = {}): Promise<Waypoint> {
  const root = options.logger ?? createLogger({ name: 'waypoint', level: config.logLevel });
  const log = root.child({ gateway: gatewayKey(config) });
  const cleanups: Cleanup[] = [];
  try {
    const path = await openDataPath(config, options, log, cleanups);
    const { readiness, metrics, index, identity } = path;
    // Bind every port before serving anything.
    const metricsServer = routeServer({ '/metrics': metricsRoute(metrics.registry) });
    await listen(metricsServer, config.metrics, 'metrics');
    cleanups.push({ name: 'metrics', run: () => closeServer(metricsServer) });
    const readinessServer = routeServer({ '/healthz/ready': readinessRoute(() => readiness.notReady()) });
    await listen(readinessServer, config.readiness, 'readiness');
    cleanups.push({ name: 'readiness', run: () => closeServer(readinessServer) });
    const addresses = {
      hbone: path.hbone,
      metrics: socketAddress(hostIp(config.metrics), boundPort(metricsServer)),
      readiness: socketAddress(hostIp(config.readiness), boundPort(readinessServer)),
    };
    const listeners = { hbone: formatAuthority(addresses.hbone), metrics: formatAuthority(addresses.metrics), readiness: formatAuthority(addresses.readiness) };
    const admin = adminServer({
      metrics: metrics.registry,
      notReady: () => readiness.notReady(),
      logLevel: { get: () => root.level, set: (level: LogLevel) => { root.level = level; } },
      endpoints: {
        '/config_dump': () => ({ ...path.dump(), listeners }),
        '/routes': () => index.routes(),
        '/policies': () => attachedPolicies(index),
        '/certificates': () => identity.status(),
      },
    }, log);
    await listen(admin, config.admin, 'admin', { busyHint: 'is another waypoint running for this Gateway?' });
    const adminAt = adminEndpoint(admin, config.admin);
    cleanups.push({ name: 'admin', run: () => closeServer(admin) });
    path.listenersBound();
    path.start();
    log.info({ identity: identity.id.uri, controlPlane: path.controlPlane, hbone: listeners.hbone, admin: describeAdmin(adminAt) }, 'waypoint started');

    let closing: Promise<void> | undefined;
    const close = (): Promise<void> => (closing ??= runCleanups(cleanups, log));
    return {
      config,
      identity: identity.id.uri,
      addresses,
      admin: adminAt,
      registry: metrics.registry,
      mesh: index,
      notReady: () => readiness.notReady(),
      ready: () => readiness.whenReady(),
      drain: (deadlineMs = config.drainDeadlineMs) => drainThenClose(path, deadlineMs, close),
      close,
    };
  } catch (error) {
    await runCleanups(cleanups, log);
    throw error;
  }
}

/** One worker of a multi-process waypoint (workers.ts): the data path only; the primary serves the rest. */
export interface WaypointWorker {
  readonly identity: string;
  readonly hbone: SocketAddress;
  readonly registry: Registry;
  notReady(): string | undefined;
  dump(): Record<string, unknown>;
  /** Leaves out an endpoint another worker ejected. */
  eject(ejection: Ejection): void;
  drain(deadlineMs?: number): Promise<DrainResult>;
  close(): Promise<void>;
}

export async function startWaypointWorker(config: WaypointConfig, options: StartOptions & { logger: Logger }): Promise<WaypointWorker> {
  const log = options.logger.child({ gateway: gatewayKey(config) });
  const cleanups: Cleanup[] = [];
  try {
    const path = await openDataPath(config, options, log, cleanups);
    path.listenersBound();
    path.start();
    let closing: Promise<void> | undefined;
    const close = (): Promise<void> => (closing ??= runCleanups(cleanups, log));
    return {
      identity: path.identity.id.uri,
      hbone: path.hbone,
      registry: path.metrics.registry,
      notReady: () => path.readiness.notReady(),
      dump: () => path.dump(),
      eject: (ejection) => path.balancer.eject(ejection),
      drain: (deadlineMs = config.drainDeadlineMs) => drainThenClose(path, deadlineMs, close),
      close,
    };
  } catch (error) {
    await runCleanups(cleanups, log);
    throw error;
  }
}

/** Not ready from now on; the data path drains (until `deadlineMs`), then everything closes. */
async function drainThenClose(path: DataPath, deadlineMs: number, close: () => Promise<void>): Promise<DrainResult> {
  path.readiness.startDraining();
  const result = await path.drain.drain(deadlineMs);
  await close();
  return result;
}

/** Where a listener bound to `where` is reached (0.0.0.0: on loopback). */
export function hostIp(where: HostPort): string {
  return where.host === '0.0.0.0' ? '127.0.0.1' : where.host;
}
