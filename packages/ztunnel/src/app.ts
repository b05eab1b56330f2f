// The node tunnel's composition root. In order: readiness, identity (CA
// client, node and workload certificates), metrics, state, the HBONE pool and
// server, the proxies; then every port is bound (metrics, readiness, admin,
// SOCKS5, and with capture the three transparent listeners), so a conflict
// fails start-up loudly; then capture is programmed and discovery starts.
// Readiness turns green after the first discovery sync has been applied
// (enrolled set, certificates prefetched, per-pod listeners bound).
// The admin socket answers GET /config_dump, /workloads, /services,
// /policies, /certificates, /connections, plus core's /metrics,
// /healthz/ready and /logging.
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Registry } from 'prom-client';
import {
  adminEndpoint, adminServer, causeChain, describeAdmin, closeServer, createLogger, Drain, listen, metricsRoute, Readiness, readinessRoute, routeServer, runCleanups,
  type AdminEndpoint, type Cleanup, type DrainResult, type HostPort, type Logger, type LogLevel,
} from '@ambit/core';
import { formatAuthority, normalizeIp, socketAddress, type SocketAddress } from '@ambit/api';
import { HbonePool } from '@ambit/hbone';
import { CaClient, DiscoveryClient, MeshIndex, readBootstrapInputs, type ProxyStartOptions } from '@ambit/cp-client';
import { NoCapture, type Capture } from './capture/capture.js';
import { NftCapture } from './capture/nftables.js';
import { podDialer } from './proxy/source-address.js';
import type { ZtunnelConfig } from './config.js';
import { ZtunnelIdentity, type IdentityStatus } from './identity.js';
import { ZtunnelMetrics } from './metrics.js';
import { ConnectionTable } from './proxy/connections.js';
import { reset } from './proxy/copy.js';
import { WorkloadListeners } from './proxy/hbone-listeners.js';
import { Inbound } from './proxy/inbound.js';
import { InboundPlaintext } from './proxy/inbound-plaintext.js';
import { TcpListener } from './proxy/listener.js';
import { Outbound } from './proxy/outbound.js';
import type { Picker } from './proxy/resolve.js';
import { socks5Handler } from './proxy/socks5.js';
import { resolveName } from './proxy/names.js';
import { ZtunnelState } from './state.js';

export interface StartOptions extends ProxyStartOptions {
  /** A capture implementation; by default the one `capture` names. */
  capture?: Capture;
  /** Endpoint choice among healthy endpoints (default: random). */
  pick?: Picker;
}

export interface ZtunnelAddresses {
  /** HBONE: one listener per local enrolled address without capture, one wildcard listener with it. */
  readonly hbone: SocketAddress[];
  /** Outbound capture (nftables mode only). */
  readonly outbound: SocketAddress | undefined;
  /** Inbound plaintext capture (nftables mode only). */
  readonly inboundPlaintext: SocketAddress | undefined;
  readonly socks5: SocketAddress | undefined;
  /** Per-pod SOCKS5 (the loopback mode): one listener per address of every pod on this node. */
  readonly socks5Pods: SocketAddress[];
  readonly metrics: SocketAddress;
  readonly readiness: SocketAddress;
}

export interface Ztunnel {
  readonly config: ZtunnelConfig;
  readonly addresses: ZtunnelAddresses;
  /** Where the admin API answers (unix socket or loopback address). */
  readonly admin: AdminEndpoint;
  readonly registry: Registry;
  /** The read-only mesh view for this node. */
  readonly mesh: ZtunnelState;
  readonly connections: ConnectionTable;
  readonly capture: Capture;
  identityStatus(): IdentityStatus;
  /** Why it is not ready, or undefined when it is. */
  notReady(): string | undefined;
  /** Resolves once ready. */
  ready(): Promise<void>;
  /** Stops accepting everywhere, lets connections finish until the deadline, then closes everything. */
  drain(deadlineMs?: number): Promise<DrainResult>;
  /** Closes everything now. */
  close(): Promise<void>;
}

export async function startZtunnel(config: ZtunnelConfig, options: StartOptions = {}): Promise<Ztunnel> {
  const root = options.logger ?? createLogger({ name: 'ztunnel', level: config.logLevel });
  const log = root.child({ node: config.node });
  const cleanups: Cleanup[] = [];
  const readiness = new Readiness();
  const listenersBound = readiness.block('listeners');
  const nodeCertificate = readiness.block('node certificate');
  const firstSync = readiness.block('discovery sync');
  const captureProgrammed = readiness.block('capture');
  try {
    // Inputs: the roots that verify the control plane, the token that proves the node, the control plane's address.
    const { roots, bootstrapToken, controlPlane } = await readBootstrapInputs(config, options);

    // Identity: the CA client authenticates with the node certificate once there is one (it rotates too).
    const held: { identity?: ZtunnelIdentity } = {};
    const ca = new CaClient({
      address: controlPlane, serverIdentity: config.controlPlaneIdentity, roots,
      credential: () => held.identity?.nodeCertificate(), bootstrapToken, timeoutMs: Math.max(10_000, config.connectTimeoutMs),
    });
    const identity = new ZtunnelIdentity({
      trustDomain: config.trustDomain, sources: { node: ca.source(config.node), workload: ca.source() }, logger: log,
      ...(options.generateKeys === undefined ? {} : { generateKeys: options.generateKeys }),
    });
    held.identity = identity;
    cleanups.push({ name: 'identity', run: () => identity.close() });

    const metrics = new ZtunnelMetrics();
    const connections = new ConnectionTable(metrics, log);
    const index = new MeshIndex();
    const state = new ZtunnelState(index, config.node);
    const pool = new HbonePool({ connectTimeoutMs: config.connectTimeoutMs, responseTimeoutMs: 2 * config.connectTimeoutMs + 1_000, logger: log });
    cleanups.push({ name: 'HBONE pool', run: () => pool.close() });
    const preserveSources = config.sourceIp === 'preserve';
    const capture = options.capture ?? (config.capture === 'nftables'
      ? new NftCapture({
        ports: { outbound: config.outboundPort, inboundPlaintext: config.inboundPlaintextPort, hbone: config.hbonePort },
        table: config.table, logger: log, preserveSources,
      })
      : new NoCapture({ preserveSources }));
    // The source mode is decided when the capture starts (it may fail to allow non-local binds).
    const dialPod = podDialer(() => capture.sourceMode(), log);
    const inbound = new Inbound({
      node: config.node, state, identity, connections, trustDomain: config.trustDomain, connectTimeoutMs: config.connectTimeoutMs, dialPod, logger: log,
    });
    cleanups.push({ name: 'HBONE server', run: () => inbound.server.close() });
    const selfAddresses = new Set<string>();
    const selfPorts = new Set<number>(config.capture === 'nftables' ? [config.outboundPort, config.inboundPlaintextPort] : []);
    const outbound = new Outbound({
      node: config.node, state, identity, pool, connections, hbonePort: config.hbonePort, connectTimeoutMs: config.connectTimeoutMs,
      waypointConnections: config.waypointConnections,
      isSelf: (d) => selfPorts.has(d.port) || selfAddresses.has(formatAuthority(d)) || podSocks5?.has(d) === true, dialPod, logger: log,
      ...(options.pick === undefined ? {} : { pick: options.pick }),
    });
    const drain = new Drain();
    drain.register(inbound.server);
    metrics.certificateSource = () => flattenCertificates(identity.status());
    metrics.activeSource = () => connections.counts();

    // Bind every port before serving anything.
    const metricsServer = routeServer({ '/metrics': metricsRoute(metrics.registry) });
    await listen(metricsServer, config.metrics, 'metrics');
    cleanups.push({ name: 'metrics', run: () => closeServer(metricsServer) });
    const readinessServer = routeServer({ '/healthz/ready': readinessRoute(() => readiness.notReady()) });
    await listen(readinessServer, config.readiness, 'readiness');
    cleanups.push({ name: 'readiness', run: () => closeServer(readinessServer) });
    const bind = async (listener: TcpListener, where: HostPort, transparent: boolean): Promise<TcpListener> => {
      await listener.listen(where.host, where.port);
      if (transparent) capture.prepareListener(listener.server);
      drain.register(listener);
      cleanups.push({ name: listener.name, run: () => listener.close() });
      return listener;
    };
    const socks5Options = {
      outbound, connections, handshakeTimeoutMs: 10_000, logger: log,
      resolveName: (name: string, sourceIp: string) => resolveName(state, name, sourceIp),
    };
    let socks5: TcpListener | undefined;
    if (config.socks5 !== undefined) {
      socks5 = await bind(new TcpListener('SOCKS5', socks5Handler(socks5Options), log), config.socks5, false);
      selfAddresses.add(formatAuthority(socks5.address));
    }
    let podSocks5: WorkloadListeners | undefined;
    if (config.socks5PodsPort !== undefined) {
      const perPod = new WorkloadListeners(config.socks5PodsPort, socks5Handler({ ...socks5Options, perPod: true }), log, 'SOCKS5');
      podSocks5 = perPod;
      drain.register(perPod);
      cleanups.push({ name: 'SOCKS5 listeners', run: () => perPod.close() });
    }
    let captureListeners: { hbone: TcpListener; outbound: TcpListener; plaintext: TcpListener } | undefined;
    let workloadListeners: WorkloadListeners | undefined;
    if (config.capture === 'nftables') {
      const plaintext = new InboundPlaintext({ node: config.node, state, connections, connectTimeoutMs: config.connectTimeoutMs, dialPod, logger: log });
      const any = (port: number): HostPort => ({ host: '0.0.0.0', port });
      captureListeners = {
        hbone: await bind(new TcpListener('HBONE', (socket) => inbound.accept(socket), log, { allowHalfOpen: false }), any(config.hbonePort), true),
        outbound: await bind(new TcpListener('outbound', (socket) => {
          const destination = originalDestination(socket);
          if (destination === undefined) return reset(socket);
          outbound.handle({ socket, destination, via: 'capture' }).catch(unexpected(socket, log));
        }, log), any(config.outboundPort), true),
        plaintext: await bind(new TcpListener('inbound plaintext', (socket) => {
          plaintext.handle(socket).catch(unexpected(socket, log));
        }, log), any(config.inboundPlaintextPort), true),
      };
    } else {
      const perWorkload = new WorkloadListeners(config.hbonePort, (socket) => inbound.accept(socket), log);
      workloadListeners = perWorkload;
      drain.register(perWorkload);
      cleanups.push({ name: 'HBONE listeners', run: () => perWorkload.close() });
    }
    const logLevel = {
      get: (): string => root.level,
      set: (level: LogLevel): void => { root.level = level; },
    };
    const addresses: ZtunnelAddresses = {
      get hbone() { return captureListeners === undefined ? workloadListeners?.addresses() ?? [] : [captureListeners.hbone.address]; },
      outbound: captureListeners?.outbound.address,
      inboundPlaintext: captureListeners?.plaintext.address,
      socks5: socks5?.address,
      get socks5Pods() { return podSocks5?.addresses() ?? []; },
      metrics: boundAddress(metricsServer.address()),
      readiness: boundAddress(readinessServer.address()),
    };
    const discovery = new DiscoveryClient({
      address: controlPlane,
      serverIdentity: config.controlPlaneIdentity,
      certificate: async () => {
        const certificate = await identity.fetchNode();
        nodeCertificate();
        return certificate;
      },
      subscription: { role: 'ztunnel', node: config.node },
      index,
      connectTimeoutMs: config.connectTimeoutMs,
      logger: log,
      ...(options.discoveryBackoff === undefined ? {} : { backoff: options.discoveryBackoff }),
    });
    metrics.discoverySource = () => discovery.connected;
    const admin = adminServer({
      metrics: metrics.registry,
      notReady: () => readiness.notReady(),
      logLevel,
      endpoints: {
        '/config_dump': () => ({
          node: config.node,
          version: state.version,
          config: { ...config, controlPlaneIdentity: config.controlPlaneIdentity.uri },
          readiness: { ready: readiness.ready, reason: readiness.notReady(), blockers: readiness.blockers() },
          discovery: { connected: discovery.connected, version: state.version, counts: state.counts() },
          capture: capture.status(),
          listeners: { ...addressesJson(addresses), failures: [...workloadListeners?.failures() ?? [], ...podSocks5?.failures() ?? []] },
          localWorkloads: state.localWorkloads().map((w) => `${w.namespace}/${w.name}`),
          workloads: state.workloads(),
          services: state.services(),
          policies: state.authorizations(),
          certificates: flattenCertificates(identity.status()),
          connections: connections.list(),
          hbone: { server: inbound.server.stats, pool: pool.stats() },
        }),
        '/workloads': () => state.workloads().map((w) => ({ ...w, local: w.node === config.node && w.protocol === 'HBONE' })),
        '/services': () => state.services(),
        '/policies': () => state.authorizations(),
        '/certificates': () => flattenCertificates(identity.status()),
        '/connections': () => connections.list(),
      },
    }, log);
    await listen(admin, config.admin, 'admin', { busyHint: 'is another ztunnel running for this node? stop it or choose another admin-socket' });
    const adminAt = adminEndpoint(admin, config.admin);
    log.info({ admin: describeAdmin(adminAt) }, 'admin listening');
    cleanups.push({ name: 'admin', run: () => closeServer(admin) });
    listenersBound();

    // Capture: the rules go in before any pod is enrolled (the enrolled set starts empty).
    await capture.start();
    captureProgrammed();
    cleanups.push({ name: 'capture', run: () => capture.stop() });

    // Discovery drives everything local: the enrolled set, certificates, per-pod listeners.
    let reconciling = Promise.resolve();
    const reconcile = (): void => {
      identity.reconcile(state.localIdentities());
      const local = state.localAddresses();
      reconciling = reconciling
        .then(async () => {
          await capture.setEnrolled(local);
          await workloadListeners?.reconcile(local);
          await podSocks5?.reconcile(state.nodeAddresses());
        })
        .catch((error: unknown) => log.error({ err: causeChain(error).join(': ') }, 'could not apply the local workloads'));
    };
    index.on('change', reconcile);
    discovery.once('synced', (version) => {
      void reconciling.then(() => {
        firstSync();
        log.info({ version, localWorkloads: state.localWorkloads().length }, 'first discovery sync applied');
      });
    });
    cleanups.push({ name: 'discovery', run: () => discovery.close() });
    void discovery.start();
    log.info({
      controlPlane: formatAuthority(controlPlane), capture: capture.mode, ...addressesJson(addresses), admin: describeAdmin(adminAt),
    }, 'ztunnel started');

    let closing: Promise<void> | undefined;
    const close = (): Promise<void> => {
      readiness.startDraining();
      closing ??= runCleanups(cleanups, log);
      return closing;
    };
    return {
      config,
      addresses,
      admin: adminAt,
      registry: metrics.registry,
      mesh: state,
      connections,
      capture,
      identityStatus: () => identity.status(),
      notReady: () => readiness.notReady(),
      ready: () => readiness.whenReady(),
      drain: async (deadlineMs = config.drainDeadlineMs) => {
        readiness.startDraining();
        log.info({ deadlineMs }, 'draining');
        const result = await drain.drain(deadlineMs);
        log.info(result, 'drained');
        await close();
        return result;
      },
      close,
    };
  } catch (error) {
    await runCleanups(cleanups, log);
    throw error;
  }
}

/** A handler failing is a bug, not a refusal: keep serving, drop that connection, say so loudly. */
function unexpected(socket: Socket, log: Logger): (error: unknown) => void {
  return (error) => {
    log.error({ err: causeChain(error).join(': ') }, 'connection handling failed unexpectedly');
    socket.destroy();
  };
}

/** TPROXY keeps the original destination as the accepted socket's local address. */
function originalDestination(socket: Socket): SocketAddress | undefined {
  try {
    return socketAddress(normalizeIp(socket.localAddress ?? ''), socket.localPort ?? 0);
  } catch {
    return undefined;
  }
}

function boundAddress(address: ReturnType<Server['address']>): SocketAddress {
  if (address === null || typeof address === 'string') return socketAddress('127.0.0.1', 1);
  return socketAddress(address.address, address.port);
}

function addressesJson(addresses: ZtunnelAddresses): Record<string, string | string[] | undefined> {
  const one = (a: SocketAddress | undefined): string | undefined => (a === undefined ? undefined : formatAuthority(a));
  return {
    hbone: addresses.hbone.map(formatAuthority),
    outbound: one(addresses.outbound),
    inboundPlaintext: one(addresses.inboundPlaintext),
    socks5: one(addresses.socks5),
    socks5Pods: addresses.socks5Pods.map(formatAuthority),
    metrics: one(addresses.metrics),
    readiness: one(addresses.readiness),
  };
}

function flattenCertificates(status: IdentityStatus): (IdentityStatus['workloads'][number] | NonNullable<IdentityStatus['node']>)[] {
  return status.node === undefined ? status.workloads : [status.node, ...status.workloads];
}
