// The control plane's composition root: store → CA and own certificate →
// discovery + CA services on one endpoint → metrics and readiness → the
// translation pipeline → the writers. Every port is bound before anything is
// served, so a conflict fails start-up loudly; readiness turns green only once
// the informers have synced and the first state is published. With leader
// election (Kubernetes), every replica serves discovery and the CA but only
// the holder of the Lease runs the writers (status writer, waypoint
// controller, GatewayClass status, and on Kubernetes the root certificate's
// ConfigMaps); readiness does not depend on leading.
import type http from 'node:http';
import { join } from 'node:path';
import {
  adminEndpoint, adminServer, closeServer, createLogger, Drain, listen, SpiffeId, type AdminEndpoint, type DrainResult, type Logger,
} from '@ambit/core';
import type { SocketAddress } from '@ambit/api';
import { CertificateAuthority, CertificateManager } from '@ambit/identity';
import { CaService, CA_PATH } from '../ca/service.js';
import { DirectoryBootstrap, type BootstrapAuthenticator } from '../ca/bootstrap.js';
import { loadOrCreateRootSecret } from '../ca/root-secret.js';
import { authorizeSubscriber } from '../discovery/authorize.js';
import { DiscoveryService, DISCOVERY_PATH } from '../discovery/server.js';
import { ControlPlaneEndpoint } from '../endpoint.js';
import { LocalStore } from '../store/local.js';
import { StoreApiServer } from '../store/api-server.js';
import type { Store } from '../store/store.js';
import type { ControlPlaneConfig } from './config.js';
import { listenHttp, metricsHandler, portOf, readinessHandler } from './health.js';
import { ControlPlaneMetrics } from './metrics.js';
import { MeshPipeline } from './pipeline.js';
import type { ControlPlaneStatus, LeaderStatus } from '../store/remote.js';
import { WaypointController } from '../waypoint-controller/controller.js';
import { GatewayClassStatus } from '../waypoint-controller/gateway-class.js';
import { RootCertPublisher } from '../root-cert/publisher.js';
import { RootCertMetrics } from '../root-cert/metrics.js';
import { LeaderElector } from '../leader-election/elector.js';
import type { Gateway } from '../resources.js';

export const CONTROL_PLANE_SERVICE_ACCOUNT = { namespace: 'ambit-system', name: 'control-plane' } as const;
export const ZTUNNEL_SERVICE_ACCOUNT = { namespace: 'ambit-system', name: 'ztunnel' } as const;

export interface ControlPlane {
  readonly config: ControlPlaneConfig;
  readonly store: Store;
  readonly ca: CertificateAuthority;
  readonly discovery: DiscoveryService;
  readonly caService: CaService;
  readonly pipeline: MeshPipeline;
  readonly metrics: ControlPlaneMetrics;
  readonly identity: SpiffeId;
  readonly address: SocketAddress;
  readonly metricsPort: number;
  readonly readinessPort: number;
  /** The admin API's endpoint (admin-address), or undefined when off. */
  readonly admin: AdminEndpoint | undefined;
  readonly startedAt: Date;
  /** Why it is not ready, or undefined when ready. */
  notReady(): string | undefined;
  /** Whether this replica runs the writers, and what it last saw of the leader Lease. */
  leadership(): LeaderStatus;
  /** Stop accepting, let subscriptions end, close within the deadline. */
  drain(deadlineMs?: number): Promise<DrainResult>;
  close(): Promise<void>;
}

export interface StartOptions {
  logger?: Logger;
  /** Kubernetes backend: how bootstrap tokens are checked (TokenReview). */
  bootstrap?: BootstrapAuthenticator;
  /** Use this store instead of opening one from the config (tests). */
  store?: Store;
}

export async function startControlPlane(config: ControlPlaneConfig, options: StartOptions = {}): Promise<ControlPlane> {
  const log = options.logger ?? createLogger({ name: 'control-plane', level: config.logLevel });
  const cleanups: (() => unknown)[] = [];
  try {
    // The Kubernetes client (~80 MB of heap once imported) is loaded only for the kubernetes backend.
    const kube = config.backend === 'kubernetes'
      ? {
        ...(await import('../store/kube.js')), ...(await import('../ca/token-review.js')),
        ...(await import('../store/kube-http.js')), ...(await import('../leader-election/kube-lease.js')),
      }
      : undefined;
    const store = options.store ?? (kube === undefined
      ? await LocalStore.open(join(config.stateDir, 'store'), { logger: log, requireNamespace: true })
      : config.kubeconfig === undefined ? kube.KubernetesStore.inCluster({ logger: log }) : kube.KubernetesStore.fromKubeconfig(config.kubeconfig, { logger: log }));
    if (options.store === undefined) cleanups.push(() => store.close());

    const caOptions = { trustDomain: config.trustDomain, workloadTtlMs: config.workloadCertTtlMs };
    const { ca, created } = config.backend === 'local'
      ? await CertificateAuthority.loadOrCreate(join(config.stateDir, 'ca'), caOptions)
      : await loadOrCreateRootSecret(store, caOptions);
    log.info({ root: ca.rootCertificate.serialNumber, created, notAfter: ca.rootCertificate.validTo }, created ? 'created a new root CA' : 'loaded the root CA');
    const identity = SpiffeId.of(config.trustDomain, CONTROL_PLANE_SERVICE_ACCOUNT.namespace, CONTROL_PLANE_SERVICE_ACCOUNT.name);
    const ownCertificates = new CertificateManager({ source: (id, csr) => ca.issue({ csr, identity: id }, () => ({ allowed: true })), logger: log });
    cleanups.push(() => ownCertificates.close());
    const certificate = await ownCertificates.fetch(identity);

    const metrics = new ControlPlaneMetrics();
    const discovery = new DiscoveryService({ authorize: authorizeSubscriber, debounceMs: config.debounceMs, logger: log });
    cleanups.push(() => discovery.close());
    let controller: WaypointController | undefined;
    let elector: LeaderElector | undefined;
    // With election, nothing is written until this replica holds the Lease (not even the first translation's status).
    const election = kube === undefined ? undefined : config.leaderElection;
    const lease = kube === undefined || election === undefined ? undefined : new kube.KubernetesLease(
      config.kubeconfig === undefined ? kube.inClusterKubeConfig() : kube.loadKubeConfig(config.kubeconfig),
      election.namespace, election.name, Math.max(election.retryPeriodMs, election.renewDeadlineMs / 2),
    );
    let writing = election === undefined;
    const leadership = (): LeaderStatus => {
      if (election === undefined) return { enabled: false, isLeader: true };
      if (elector === undefined) return { enabled: true, isLeader: false, identity: election.identity, lease: `${election.namespace}/${election.name}` };
      const { isLeader, identity, holder, lease, leaseTransitions, lastError } = elector.status();
      return {
        enabled: true, isLeader, identity, lease,
        ...(holder === undefined ? {} : { holder }),
        ...(leaseTransitions === undefined ? {} : { leaseTransitions }),
        ...(lastError === undefined ? {} : { lastError }),
      };
    };
    const pipeline = new MeshPipeline(store, {
      discovery, debounceMs: config.debounceMs, logger: log, writeStatus: () => writing,
      ...(config.waypointImage === undefined ? {} : { waypointRuntime: () => waypointRuntime(discovery, controller, election !== undefined) }),
      translate: { trustDomain: config.trustDomain, clusterDomain: config.clusterDomain },
      onTranslated: (info) => {
        metrics.translations.observe(info.durationMs / 1000);
        metrics.meshObjects.set({ kind: 'workload' }, info.workloads);
        metrics.meshObjects.set({ kind: 'service' }, info.services);
        metrics.meshObjects.set({ kind: 'authorization' }, info.authorizations);
        metrics.meshObjects.set({ kind: 'route' }, info.routes);
      },
    });
    cleanups.push(() => pipeline.stop());
    const bootstrap = options.bootstrap ?? (kube === undefined
      ? new DirectoryBootstrap(config.stateDir)
      : config.kubeconfig === undefined
        ? kube.TokenReviewAuthenticator.inCluster({ trustDomain: config.trustDomain, logger: log })
        : kube.TokenReviewAuthenticator.fromKubeconfig(config.kubeconfig, { trustDomain: config.trustDomain, logger: log }));
    const caService = new CaService({
      issuer: ca, logger: log, podsOnNode: (node) => pipeline.podsOnNode(node),
      ztunnelIdentity: SpiffeId.of(config.trustDomain, ZTUNNEL_SERVICE_ACCOUNT.namespace, ZTUNNEL_SERVICE_ACCOUNT.name),
      ...(bootstrap === undefined ? {} : { bootstrap }),
    });
    wireMetrics(metrics, discovery, caService, pipeline);

    // Bind every port before serving anything.
    const endpoint = new ControlPlaneEndpoint({ certificate, logger: log });
    endpoint.route(DISCOVERY_PATH, discovery.handle);
    endpoint.route(CA_PATH, caService.handle);
    endpoint.onDrain(() => discovery.goAway());
    ownCertificates.on('issued', (cert) => endpoint.setCertificate(cert));
    const address = await endpoint.listen(config.listen.port, config.listen.host);
    cleanups.push(() => endpoint.close());
    let ready = false;
    const notReady = (): string | undefined =>
      ready ? undefined : pipeline.synced ? 'publishing the first mesh state' : 'waiting for the cluster state to sync';
    const started = new Date();
    const status = (): ControlPlaneStatus => {
      const reason = notReady();
      return {
        backend: config.backend, trustDomain: config.trustDomain, startedAt: started.toISOString(), now: new Date().toISOString(), ready: reason === undefined,
        leader: leadership(),
        ...(reason === undefined ? {} : { notReady: reason }),
        version: discovery.version, subscribers: discovery.subscribers(),
        ...(pipeline.last === undefined ? {} : { lastTranslation: pipeline.last }),
        rootCertificate: {
          serialNumber: ca.rootCertificate.serialNumber,
          notBefore: new Date(ca.rootCertificate.validFrom).toISOString(), notAfter: new Date(ca.rootCertificate.validTo).toISOString(),
        },
      };
    };
    if (config.apiSocket !== undefined) {
      const api = new StoreApiServer(store, log, status);
      await api.listen(config.apiSocket);
      cleanups.push(() => api.close());
    }
    // On Kubernetes there is no store API: the same status answers on the admin API (loopback; the CLI port-forwards).
    let adminAt: AdminEndpoint | undefined;
    if (config.adminAddress !== undefined) {
      const admin = adminServer({
        endpoints: { '/status': status }, metrics: metrics.registry, notReady,
        logLevel: { get: () => log.level, set: (level) => { log.level = level; } },
      }, log);
      await listen(admin, config.adminAddress, 'admin');
      adminAt = adminEndpoint(admin, config.adminAddress);
      cleanups.push(() => closeServer(admin));
    }
    const metricsServer = await listenHttp(config.metrics, metricsHandler(metrics.registry), 'metrics');
    cleanups.push(() => closeHttp(metricsServer));
    const readinessServer = await listenHttp(config.readiness, readinessHandler(notReady), 'readiness');
    cleanups.push(() => closeHttp(readinessServer));

    await pipeline.start();
    // The writers beyond the status writer run while this replica writes, a new set each term (stopping releases their
    // watches): the waypoint controller, the GatewayClass status, and on Kubernetes the root certificate's ConfigMaps.
    const waypointImage = config.waypointImage;
    const gateways = pipeline.informers.Gateway;
    const rootCertMetrics = kube === undefined ? undefined : new RootCertMetrics(metrics.registry);
    let publisher: RootCertPublisher | undefined;
    let classes: GatewayClassStatus | undefined;
    const startController = async (): Promise<void> => {
      if (waypointImage === undefined || controller !== undefined) return;
      const started = new WaypointController(store, {
        image: waypointImage, trustDomain: config.trustDomain, debounceMs: config.debounceMs, logger: log,
        ...(config.waypointControlPlane === undefined ? {} : { controlPlane: config.waypointControlPlane }),
        gateways: () => gateways.list() as Gateway[],
        onApplied: () => pipeline.refresh(),
      });
      controller = started;
      await started.start();
    };
    // Neither waits for its informer before the replica is ready: a missing kind or permission leaves only that writer idle.
    const startOthers = (): void => {
      if (classes === undefined) {
        classes = new GatewayClassStatus(store, { logger: log });
        classes.start();
      }
      if (rootCertMetrics !== undefined && publisher === undefined) {
        const started = new RootCertPublisher(store, {
          rootPem: ca.rootPem, namespace: election?.namespace ?? CONTROL_PLANE_SERVICE_ACCOUNT.namespace, debounceMs: config.debounceMs, logger: log,
          gateways: () => gateways.list() as Gateway[],
          onUnmanaged: (namespace) => rootCertMetrics.unmanaged.inc({ namespace }),
          onWritten: (action) => rootCertMetrics.written(action),
        });
        publisher = started;
        started.start().catch((error: unknown) => log.error({ err: error }, 'the root certificate publisher failed to start'));
      }
    };
    const stopWriters = (): void => {
      controller?.stop();
      controller = undefined;
      classes?.stop();
      classes = undefined;
      publisher?.stop();
      publisher = undefined;
    };
    gateways.on(() => {
      controller?.schedule();
      publisher?.schedule();
    });
    if (waypointImage !== undefined) {
      // A waypoint's first acknowledgement (or its going away) changes its Gateway's Programmed condition.
      const waypointChanged = (subscriber: { role: string }): void => { if (subscriber.role === 'waypoint') pipeline.refresh(); };
      discovery.on('ack', waypointChanged);
      discovery.on('disconnected', waypointChanged);
    }
    cleanups.push(stopWriters);
    if (election === undefined || lease === undefined) {
      metrics.leader.set(1);
      startOthers();
      await startController();
    } else {
      // Started only now: a controller planning against Gateway informers that have not synced would delete every waypoint.
      metrics.leader.set(0);
      const running = new LeaderElector({
        ...election, lease, logger: log,
        onStartedLeading: () => {
          writing = true;
          metrics.leader.set(1);
          pipeline.refresh(); // status computed while following was not written
          startOthers();
          startController().catch((error: unknown) => log.error({ err: error }, 'the waypoint controller failed to start'));
        },
        onStoppedLeading: () => {
          writing = false;
          stopWriters();
          metrics.leader.set(0);
        },
      });
      elector = running;
      // Runs first at close: the writers stop, then the Lease is released for a standby.
      cleanups.push(() => running.stop());
      running.start();
    }
    ready = true;
    const startedAt = new Date();
    log.info({ listen: `${address.ip}:${address.port}`, backend: config.backend, metrics: portOf(metricsServer), readiness: portOf(readinessServer) }, 'control plane ready');

    const drain = new Drain();
    drain.register(endpoint);
    const close = async (): Promise<void> => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    };
    return {
      config, store, ca, discovery, caService, pipeline, metrics, identity, address, startedAt,
      metricsPort: portOf(metricsServer), readinessPort: portOf(readinessServer), admin: adminAt,
      notReady, leadership,
      drain: async (deadlineMs = config.drainDeadlineMs) => {
        ready = false;
        const result = await drain.drain(deadlineMs);
        await close();
        return result;
      },
      close,
    };
  } catch (error) {
    for (const cleanup of cleanups.reverse()) {
      try {
        await cleanup();
      } catch { /* the start-up error is the one to report */ }
    }
    throw error;
  }
}

function wireMetrics(metrics: ControlPlaneMetrics, discovery: DiscoveryService, ca: CaService, pipeline: MeshPipeline): void {
  // Push-to-ack latency: when each version was published, for the last versions.
  const publishedAt = new Map<string, number>();
  discovery.on('pushed', ({ version }) => {
    metrics.pushes.inc();
    publishedAt.set(version, performance.now());
    if (publishedAt.size > 256) publishedAt.delete(publishedAt.keys().next().value as string);
  });
  discovery.on('ack', (status) => {
    const at = status.lastAckedVersion === undefined ? undefined : publishedAt.get(status.lastAckedVersion);
    if (at !== undefined) metrics.pushLatency.observe((performance.now() - at) / 1000);
  });
  discovery.on('nack', () => metrics.nacks.inc());
  ca.on('issued', () => metrics.issued.inc());
  ca.on('refused', ({ reason }) => metrics.refused.inc({ reason }));
  let statusWrites = 0;
  metrics.beforeScrape = () => {
    metrics.subscribers.reset();
    for (const subscriber of discovery.subscribers()) metrics.subscribers.inc({ role: subscriber.role });
    const writes = pipeline.status.writes;
    if (writes > statusWrites) metrics.statusWrites.inc(writes - statusWrites);
    statusWrites = writes;
  };
}

function closeHttp(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
}

/**
 * Gateways whose waypoint has a connected subscriber that acknowledged a
 * version, and the controller's problems. With several replicas the waypoint
 * may be subscribed to another one: its pod's readiness stands for it.
 */
function waypointRuntime(discovery: DiscoveryService, controller: WaypointController | undefined, replicated: boolean): { synced: Set<string>; problems: ReadonlyMap<string, string>; readyMeansSynced: boolean } {
  const synced = new Set<string>();
  for (const subscriber of discovery.subscribers()) {
    if (subscriber.role === 'waypoint' && subscriber.gateway !== undefined && subscriber.lastAckedVersion !== undefined) synced.add(subscriber.gateway);
  }
  return { synced, problems: controller?.problems() ?? new Map<string, string>(), readyMeansSynced: replicated };
}
