// A waypoint in several processes. Node runs a process's JavaScript on one
// thread, and under load that one event loop is a waypoint's limit
// (docs/performance.md), so the bin forks `workers` data-path processes
// with node:cluster, as Envoy runs worker threads. The workers share the
// HBONE listener: the primary accepts and hands connections to them in
// turn, and a connection stays on its worker (ztunnels spread a waypoint's
// tunnels over several connections for that: --waypoint-connections).
//
// Each worker is a whole data path (startWaypointWorker): its own discovery
// subscription, and its own certificate for the waypoint's one identity.
// The primary binds metrics, readiness and the admin API for all of them:
// /metrics sums the workers' metrics (prom-client's AggregatorRegistry) and
// adds its own; ready when every worker is; /config_dump is the first
// worker's, with a `workers` list of each one's state; /logging sets every
// worker's level. An endpoint one worker ejects as an outlier is ejected by
// every worker (the primary passes it on, and gives the ejections still on
// to a worker that starts), as Envoy's workers share outlier detection.
// A worker that dies is replaced after a pause, counted and
// logged; the pause doubles while replacements keep dying soon after they
// start (a crash loop backs off, as a kubelet's does); one that dies while
// the waypoint starts fails the start. Draining sends each worker SIGTERM
// (it drains as a one-process waypoint does) and waits for them; a worker
// whose primary went away drains and exits too.
import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry, Counter, Gauge, Registry } from 'prom-client';
import {
  adminEndpoint, adminServer, AmbitError, boundPort, closeServer, describeAdmin, listen, readinessRoute, routeServer, runCleanups, metricsRoute,
  type AdminEndpoint, type Cleanup, type Logger, type LogLevel, type MetricsSource,
} from '@ambit/core';
import { formatAuthority, socketAddress, type SocketAddress } from '@ambit/api';
import { hostIp, startWaypointWorker, type WaypointWorker } from './app.js';
import { gatewayKey, type WaypointConfig } from './config.js';
import type { Ejection } from './l7/balancer.js';

/** Primary → worker. */
type ToWorker =
  | { type: 'ambit:dump'; id: number }
  | { type: 'ambit:log-level'; level: LogLevel }
  | { type: 'ambit:eject'; ejection: Ejection; by: number };
/** Worker → primary. */
type ToPrimary =
  | { type: 'ambit:started'; hbone: SocketAddress }
  | { type: 'ambit:readiness'; notReady: string | null }
  | { type: 'ambit:dump'; id: number; dump: Record<string, unknown> }
  | { type: 'ambit:eject'; ejection: Ejection };

// A replaced worker starts RESTART_DELAY_MS after its predecessor died;
// each further death in a row of a worker that had served HBONE for less
// than STABLE_WORKER_MS doubles the pause, up to MAX_RESTART_DELAY_MS.
export const RESTART_DELAY_MS = 1_000;
export const STABLE_WORKER_MS = 60_000;
export const MAX_RESTART_DELAY_MS = 30_000;

/** The pause before replacing a worker, after `crashes` consecutive early deaths in its slot (1 = the first). */
export function restartDelay(crashes: number): number {
  return Math.min(RESTART_DELAY_MS * 2 ** Math.max(0, crashes - 1), MAX_RESTART_DELAY_MS);
}

/** How long the primary waits for a worker's answer to an admin question. */
const ASK_TIMEOUT_MS = 5_000;
/** How often a worker checks whether its readiness changed (and tells the primary). */
const READINESS_POLL_MS = 200;

interface Slot {
  /** 1-based, stable across replacements. */
  index: number;
  worker: Worker | undefined;
  started: boolean;
  notReady: string | undefined;
  /** When the current worker began serving HBONE. */
  servingSince: number | undefined;
  /** Deaths of this slot's workers in a row, each before it had served for STABLE_WORKER_MS. */
  crashes: number;
  /** Workers of this slot replaced so far. */
  restarts: number;
}

export interface SupervisedWaypoint {
  readonly admin: AdminEndpoint;
  readonly addresses: { hbone: SocketAddress; metrics: SocketAddress; readiness: SocketAddress };
  notReady(): string | undefined;
  /** The live workers' process IDs, by worker index. */
  pids(): number[];
  drain(deadlineMs?: number): Promise<{ graceful: boolean; workers: number; elapsedMs: number }>;
}

/** The primary: binds the shared listeners, forks the workers, resolves once each serves HBONE. */
export async function superviseWaypoint(config: WaypointConfig, root: Logger): Promise<SupervisedWaypoint> {
  const gateway = gatewayKey(config);
  const log = root.child({ gateway, component: 'primary' });
  const cleanups: Cleanup[] = [];
  const slots: Slot[] = Array.from({ length: config.workers }, (_, i) => ({
    index: i + 1, worker: undefined, started: false, notReady: 'starting', servingSince: undefined, crashes: 0, restarts: 0,
  }));
  const pending = new Map<number, { resolve(dump: Record<string, unknown>): void; timer: NodeJS.Timeout }>();
  let asked = 0;
  let draining = false;
  let hbone: SocketAddress | undefined;
  /** Outlier ejections still on, by endpoint: the worker that made each and when it ends. */
  const ejections = new Map<string, { by: number; until: number }>();

  const own = new Registry();
  const restarts = new Counter({ name: 'ambit_waypoint_worker_restarts_total', help: 'Waypoint workers replaced after they died', registers: [own] });
  new Gauge({
    name: 'ambit_waypoint_workers', help: 'Waypoint workers running and serving HBONE', registers: [own],
    collect() { this.set(slots.filter((s) => s.worker !== undefined && s.started).length); },
  });
  const aggregator = new AggregatorRegistry();
  const metrics: MetricsSource = {
    contentType: own.contentType,
    metrics: async () => `${await aggregator.clusterMetrics()}\n${await own.metrics()}`,
  };
  const notReady = (): string | undefined => {
    if (draining) return 'draining';
    for (const slot of slots) {
      if (slot.worker === undefined) return `worker ${slot.index} is being replaced`;
      if (slot.notReady !== undefined) return `worker ${slot.index}: ${slot.notReady}`;
    }
    return undefined;
  };
  const live = (): Slot[] => slots.filter((s) => s.worker !== undefined && s.started);
  const ask = (slot: Slot): Promise<Record<string, unknown>> => new Promise((resolve, reject) => {
    const id = ++asked;
    const timer = setTimeout(() => {
      pending.delete(id);
      reject(new AmbitError('timeout', `waypoint worker ${slot.index} did not answer within ${ASK_TIMEOUT_MS} ms`));
    }, ASK_TIMEOUT_MS);
    pending.set(id, { resolve, timer });
    slot.worker?.send({ type: 'ambit:dump', id } satisfies ToWorker);
  });
  const dumps = async (): Promise<{ slot: Slot; dump: Record<string, unknown> }[]> => {
    const serving = live();
    if (serving.length === 0) throw new AmbitError('unavailable', 'no waypoint worker is running');
    return Promise.all(serving.map(async (slot) => ({ slot, dump: await ask(slot) })));
  };

  try {
    // Bind every port of the primary before forking anything.
    const metricsServer = routeServer({ '/metrics': metricsRoute(metrics) });
    await listen(metricsServer, config.metrics, 'metrics');
    cleanups.push({ name: 'metrics', run: () => closeServer(metricsServer) });
    const readinessServer = routeServer({ '/healthz/ready': readinessRoute(notReady) });
    await listen(readinessServer, config.readiness, 'readiness');
    cleanups.push({ name: 'readiness', run: () => closeServer(readinessServer) });
    const addresses = {
      metrics: socketAddress(hostIp(config.metrics), boundPort(metricsServer)),
      readiness: socketAddress(hostIp(config.readiness), boundPort(readinessServer)),
    };
    const listeners = (): Record<string, string> => ({
      ...(hbone === undefined ? {} : { hbone: formatAuthority(hbone) }), metrics: formatAuthority(addresses.metrics), readiness: formatAuthority(addresses.readiness),
    });
    const admin = adminServer({
      metrics,
      notReady,
      logLevel: {
        get: () => root.level,
        set: (level: LogLevel) => {
          root.level = level;
          for (const slot of slots) slot.worker?.send({ type: 'ambit:log-level', level } satisfies ToWorker);
        },
      },
      endpoints: {
        '/config_dump': async () => {
          const all = await dumps();
          return {
            ...all[0]?.dump,
            readiness: { reason: notReady() },
            listeners: listeners(),
            workers: all.map(({ slot, dump }) => ({
              worker: slot.index, pid: slot.worker?.process.pid, restarts: slot.restarts, readiness: dump.readiness, discovery: dump.discovery,
              certificates: dump.certificates, outliers: dump.outliers, protocols: dump.protocols, hbone: dump.hbone,
            })),
          };
        },
        '/routes': async () => (await dumps())[0]?.dump.routes,
        '/policies': async () => (await dumps())[0]?.dump.policies,
        '/certificates': async () => (await dumps()).flatMap(({ dump }) => dump.certificates as unknown[]),
      },
    }, log);
    await listen(admin, config.admin, 'admin', { busyHint: 'is another waypoint running for this Gateway?' });
    const adminAt = adminEndpoint(admin, config.admin);
    cleanups.push({ name: 'admin', run: () => closeServer(admin) });

    cluster.on('message', (worker, message: ToPrimary) => {
      const slot = slots.find((s) => s.worker === worker);
      if (slot === undefined) return;
      switch (message.type) {
        case 'ambit:started':
          slot.started = true;
          slot.servingSince = Date.now();
          hbone = message.hbone;
          // A replacement starts at the configured level: give it the one set at run time, and the ejections still on.
          if (root.level !== config.logLevel) worker.send({ type: 'ambit:log-level', level: root.level as LogLevel } satisfies ToWorker);
          for (const [endpoint, { by, until }] of ejections) {
            if (until > Date.now()) worker.send({ type: 'ambit:eject', ejection: { endpoint, until }, by } satisfies ToWorker);
          }
          log.info({ worker: slot.index, pid: worker.process.pid }, 'waypoint worker serving HBONE');
          break;
        case 'ambit:readiness':
          slot.notReady = message.notReady ?? undefined;
          break;
        case 'ambit:eject': {
          const { endpoint, until } = message.ejection;
          // Ended ejections are dropped whenever a new one comes in (a worker that starts is given only those still on).
          for (const [other, ejection] of ejections) if (ejection.until <= Date.now()) ejections.delete(other);
          if (until > (ejections.get(endpoint)?.until ?? 0)) ejections.set(endpoint, { by: slot.index, until });
          for (const other of live()) {
            if (other !== slot) other.worker?.send({ type: 'ambit:eject', ejection: message.ejection, by: slot.index } satisfies ToWorker);
          }
          break;
        }
        case 'ambit:dump': {
          const waiting = pending.get(message.id);
          if (waiting === undefined) return;
          pending.delete(message.id);
          clearTimeout(waiting.timer);
          waiting.resolve(message.dump);
          break;
        }
      }
    });

    let failedStart: ((error: Error) => void) | undefined;
    const fork = (slot: Slot): void => {
      const worker = cluster.fork({ AMBIT_WAYPOINT_WORKER: String(slot.index) });
      slot.worker = worker;
      slot.started = false;
      slot.servingSince = undefined;
      slot.notReady = 'starting';
      worker.once('exit', (code, signal) => {
        slot.worker = undefined;
        const served = slot.servingSince === undefined ? 0 : Date.now() - slot.servingSince;
        if (draining) return;
        const how = signal === null ? `exit code ${code}` : `signal ${signal}`;
        if (!slot.started && failedStart !== undefined) {
          failedStart(new AmbitError('unavailable', `waypoint worker ${slot.index} exited (${how}) before it served HBONE`, {
            hint: 'its log lines above say why',
          }));
          return;
        }
        slot.crashes = served >= STABLE_WORKER_MS ? 1 : slot.crashes + 1;
        slot.restarts += 1;
        restarts.inc();
        const delay = restartDelay(slot.crashes);
        log.error({ worker: slot.index, pid: worker.process.pid, code, signal, servedMs: served, crashes: slot.crashes }, `waypoint worker died (${how}); replacing it in ${delay} ms`);
        setTimeout(() => { if (!draining) fork(slot); }, delay).unref();
      });
    };
    const stopWorkers = (): void => {
      for (const slot of slots) slot.worker?.process.kill('SIGKILL');
    };
    cleanups.push({ name: 'workers', run: stopWorkers });
    await new Promise<void>((resolve, reject) => {
      failedStart = reject;
      const check = (): void => {
        if (slots.every((s) => s.started)) {
          cluster.off('message', check);
          failedStart = undefined;
          resolve();
        }
      };
      cluster.on('message', check);
      for (const slot of slots) fork(slot);
    });
    log.info({ workers: config.workers, ...listeners(), admin: describeAdmin(adminAt) }, 'waypoint started');

    return {
      admin: adminAt,
      addresses: { hbone: hbone ?? socketAddress(config.hbone.host, config.hbone.port), ...addresses },
      notReady,
      pids: () => slots.flatMap((s) => (s.worker?.process.pid === undefined ? [] : [s.worker.process.pid])),
      async drain(deadlineMs = config.drainDeadlineMs) {
        const started = Date.now();
        draining = true;
        const exits = slots.flatMap((slot) => {
          const worker = slot.worker;
          if (worker === undefined) return [];
          return [new Promise<boolean>((resolve) => {
            // A worker that outlives its own deadline (plus a margin for its clean-up) is killed.
            const timer = setTimeout(() => worker.process.kill('SIGKILL'), deadlineMs + 5_000);
            worker.once('exit', (code) => {
              clearTimeout(timer);
              resolve(code === 0);
            });
            worker.process.kill('SIGTERM');
          })];
        });
        const clean = await Promise.all(exits);
        await runCleanups(cleanups, log);
        return { graceful: clean.every(Boolean), workers: clean.length, elapsedMs: Date.now() - started };
      },
    };
  } catch (error) {
    draining = true;
    await runCleanups(cleanups, log);
    throw error;
  }
}

/**
 * A worker's side: starts the data path, reports it to the primary, answers
 * its questions. The daemon's SIGTERM handling drains it; if the primary
 * goes away, it drains and exits by itself.
 */
export async function serveAsWorker(config: WaypointConfig, root: Logger): Promise<WaypointWorker> {
  const index = process.env.AMBIT_WAYPOINT_WORKER ?? String(cluster.worker?.id ?? '?');
  const logger = root.child({ worker: Number(index) });
  const send = (message: ToPrimary): void => {
    if (process.connected) process.send?.(message);
  };
  const worker = await startWaypointWorker(config, { logger, onEject: (ejection) => send({ type: 'ambit:eject', ejection }) });
  AggregatorRegistry.setRegistries([worker.registry]);
  new AggregatorRegistry(); // answers the primary's metrics requests
  process.on('message', (message: ToWorker) => {
    switch (message.type) {
      case 'ambit:dump':
        send({ type: 'ambit:dump', id: message.id, dump: worker.dump() });
        break;
      case 'ambit:log-level':
        root.level = message.level;
        break;
      case 'ambit:eject':
        worker.eject(message.ejection);
        logger.debug({ endpoint: message.ejection.endpoint, byWorker: message.by, until: new Date(message.ejection.until).toISOString() }, 'endpoint ejected by another worker');
        break;
    }
  });
  let reported: string | null | undefined;
  const poll = setInterval(() => {
    const now = worker.notReady() ?? null;
    if (now !== reported) send({ type: 'ambit:readiness', notReady: (reported = now) });
  }, READINESS_POLL_MS);
  poll.unref();
  process.once('disconnect', () => {
    clearInterval(poll);
    logger.warn('the waypoint primary went away; draining');
    void worker.drain(config.drainDeadlineMs).finally(() => process.exit(0));
  });
  send({ type: 'ambit:started', hbone: worker.hbone });
  return worker;
}
