// The control plane's configuration, parsed from a plain record (flags and
// AMBIT_* environment variables are merged by the bin; tests pass records).
import { hostname } from 'node:os';
import { join } from 'node:path';
import { ConfigReader, DEFAULT_TRUST_DOMAIN, isLogLevel, SpiffeId, type ConfigRecord, type LogLevel } from '@ambit/core';
import { API_SOCKET_FILE } from '../store/api-server.js';
import { DEFAULT_WAYPOINT_IMAGE } from '../waypoint-controller/objects.js';
import {
  DEFAULT_LEASE_DURATION_MS, DEFAULT_RENEW_DEADLINE_MS, DEFAULT_RETRY_PERIOD_MS, LEASE_NAME, leaseTimingProblem, type LeaseTimings,
} from '../leader-election/elector.js';

export interface HostPort {
  host: string;
  port: number;
}

export interface ControlPlaneConfig {
  backend: 'local' | 'kubernetes';
  /** Local backend: store, CA root and bootstrap tokens. (Kubernetes keeps the root in the ambit-system/ambit-root-ca Secret.) */
  stateDir: string;
  /** Kubernetes backend: a kubeconfig path; unset means in-cluster, then the default kubeconfig. */
  kubeconfig: string | undefined;
  /** Local backend: the store API's unix socket (RemoteStore); undefined when disabled or on Kubernetes. */
  apiSocket: string | undefined;
  /** Discovery + CA (15012). Port 0 picks a free port (tests). */
  listen: HostPort;
  metrics: HostPort;
  readiness: HostPort;
  /**
   * The admin API (GET /status, /metrics, /healthz/ready, /logging) on a
   * loopback address; on Kubernetes the CLI reaches it by port-forward. Undefined when off.
   */
  adminAddress: HostPort | undefined;
  trustDomain: string;
  clusterDomain: string;
  workloadCertTtlMs: number;
  debounceMs: number;
  drainDeadlineMs: number;
  logLevel: LogLevel;
  /** The waypoint controller: the image its Deployments run, or undefined when it is off. */
  waypointImage: string | undefined;
  /** host:port of the control plane as waypoint pods reach it (their AMBIT_WAYPOINT_CONTROL_PLANE); Kubernetes default: its Service in its namespace; local: unset, the kubelet supplies it. */
  waypointControlPlane: string | undefined;
  /** Kubernetes backend: leader election for the writers (status writer, waypoint controller); undefined when off. */
  leaderElection: LeaderElectionSettings | undefined;
}

export interface LeaderElectionSettings extends LeaseTimings {
  /** The Lease's namespace and name. */
  namespace: string;
  name: string;
  /** This replica's holderIdentity. */
  identity: string;
}

/** Defaults a pod gets from the downward API (POD_NAME, POD_NAMESPACE); the bin passes them. */
export interface PodEnvironment {
  podName?: string | undefined;
  podNamespace?: string | undefined;
}

export const CONFIG_KEYS = [
  'backend', 'state-dir', 'kubeconfig', 'api-socket', 'listen', 'metrics', 'readiness', 'trust-domain', 'cluster-domain', 'cert-ttl',
  'debounce', 'drain-deadline', 'log-level', 'waypoint-image', 'waypoint-control-plane', 'admin-address',
  'leader-election', 'lease-namespace', 'leader-id', 'lease-duration', 'lease-renew-deadline', 'lease-retry-period',
] as const;

export function parseConfig(record: ConfigRecord, source = 'control plane config', pod: PodEnvironment = {}): ControlPlaneConfig {
  const reader = new ConfigReader(record, source);
  const backend = reader.oneOf('backend', ['local', 'kubernetes'] as const, 'local');
  const trustDomain = reader.string('trust-domain', DEFAULT_TRUST_DOMAIN);
  try {
    SpiffeId.of(trustDomain, 'ambit-system', 'control-plane');
  } catch (error) {
    throw reader.error('trust-domain', trustDomain, (error as Error).message);
  }
  const logLevel = reader.string('log-level', 'info');
  const apiSocket = reader.string('api-socket');
  if (!isLogLevel(logLevel)) throw reader.error('log-level', logLevel, 'must be one of fatal, error, warn, info, debug, trace, silent');
  const config: ControlPlaneConfig = {
    backend,
    stateDir: backend === 'local' ? reader.required('state-dir') : reader.string('state-dir', '/var/lib/ambit'),
    kubeconfig: reader.string('kubeconfig'),
    apiSocket: undefined,
    listen: hostPort(reader, 'listen', '127.0.0.1:15012'),
    metrics: hostPort(reader, 'metrics', '127.0.0.1:15020'),
    readiness: hostPort(reader, 'readiness', '127.0.0.1:15021'),
    adminAddress: reader.string('admin-address') === undefined ? undefined : reader.hostPort('admin-address', undefined, { ip: true, loopback: true }),
    trustDomain,
    clusterDomain: reader.string('cluster-domain', 'cluster.local'),
    workloadCertTtlMs: reader.durationMs('cert-ttl', 24 * 3_600_000),
    debounceMs: reader.durationMs('debounce', 100),
    drainDeadlineMs: reader.durationMs('drain-deadline', 10_000),
    logLevel,
    waypointImage: undefined,
    // On Kubernetes waypoint pods reach the control plane through its Service in its own namespace.
    waypointControlPlane: reader.string('waypoint-control-plane') ?? (backend === 'kubernetes' ? `ambit-control-plane.${nonEmpty(pod.podNamespace) ?? 'ambit-system'}.svc:15012` : undefined),
    leaderElection: leaderElection(reader, backend, pod),
  };
  const waypointImage = reader.string('waypoint-image', DEFAULT_WAYPOINT_IMAGE);
  if (waypointImage !== 'off') config.waypointImage = waypointImage;
  if (backend === 'local' && apiSocket !== 'off') config.apiSocket = apiSocket ?? join(config.stateDir, API_SOCKET_FILE);
  if (backend === 'kubernetes' && apiSocket !== undefined && apiSocket !== 'off') {
    throw reader.error('api-socket', apiSocket, 'is for the local backend; on Kubernetes clients use the API server');
  }
  if (config.workloadCertTtlMs < 60_000) throw reader.error('cert-ttl', record['cert-ttl'], 'must be at least 1m');
  const unknown = reader.unused();
  if (unknown.length > 0) throw reader.error(unknown[0] as string, record[unknown[0] as string], `is not a setting; known: ${CONFIG_KEYS.join(', ')}`);
  return config;
}

/** Read on both backends (so no setting is reported unknown); the local backend runs one control plane and refuses `true`. */
function leaderElection(reader: ConfigReader, backend: ControlPlaneConfig['backend'], pod: PodEnvironment): LeaderElectionSettings | undefined {
  const enabled = reader.bool('leader-election', backend === 'kubernetes');
  const settings: LeaderElectionSettings = {
    namespace: reader.string('lease-namespace', nonEmpty(pod.podNamespace) ?? 'ambit-system'),
    name: LEASE_NAME,
    identity: reader.string('leader-id', nonEmpty(pod.podName) ?? `${hostname()}-${process.pid}`),
    leaseDurationMs: reader.durationMs('lease-duration', DEFAULT_LEASE_DURATION_MS),
    renewDeadlineMs: reader.durationMs('lease-renew-deadline', DEFAULT_RENEW_DEADLINE_MS),
    retryPeriodMs: reader.durationMs('lease-retry-period', DEFAULT_RETRY_PERIOD_MS),
  };
  if (backend === 'local' && enabled) throw reader.error('leader-election', reader.string('leader-election'), 'is for the kubernetes backend; the local backend runs one control plane');
  if (settings.namespace === '') throw reader.error('lease-namespace', '', 'must name a namespace');
  if (settings.identity === '') throw reader.error('leader-id', '', 'must not be empty: replicas tell each other apart by it');
  const problem = leaseTimingProblem(settings);
  if (problem !== undefined) throw reader.error(problem.key, reader.string(problem.key, `${settingMs(settings, problem.key)}ms`), problem.reason);
  return enabled ? settings : undefined;
}

function settingMs(timings: LeaseTimings, key: 'lease-duration' | 'lease-renew-deadline' | 'lease-retry-period'): number {
  return key === 'lease-duration' ? timings.leaseDurationMs : key === 'lease-renew-deadline' ? timings.renewDeadlineMs : timings.retryPeriodMs;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

function hostPort(reader: ConfigReader, key: string, fallback: string): HostPort {
  const text = reader.string(key, fallback);
  const colon = text.lastIndexOf(':');
  const host = text.slice(0, colon).replace(/^\[|\]$/g, '');
  const port = Number(text.slice(colon + 1));
  if (colon <= 0 || !Number.isInteger(port) || port < 0 || port > 65535) throw reader.error(key, text, 'must be host:port, e.g. 127.0.0.1:15012');
  return { host, port };
}
