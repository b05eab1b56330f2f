// The control plane's configuration, parsed from a plain record (flags and
// AMBIT_* environment variables are merged by the bin; tests pass records).
import { join } from 'node:path';
import { ConfigReader, DEFAULT_TRUST_DOMAIN, isLogLevel, SpiffeId, type ConfigRecord, type LogLevel } from '@ambit/core';
import { API_SOCKET_FILE } from '../store/api-server.js';
import { DEFAULT_WAYPOINT_IMAGE } from '../waypoint-controller/objects.js';

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
  trustDomain: string;
  clusterDomain: string;
  workloadCertTtlMs: number;
  debounceMs: number;
  drainDeadlineMs: number;
  logLevel: LogLevel;
  /** The waypoint controller: the image its Deployments run, or undefined when it is off. */
  waypointImage: string | undefined;
  /** host:port of the control plane as waypoint pods reach it (their AMBIT_WAYPOINT_CONTROL_PLANE); unset, the runtime supplies it. */
  waypointControlPlane: string | undefined;
}

export const CONFIG_KEYS = [
  'backend', 'state-dir', 'kubeconfig', 'api-socket', 'listen', 'metrics', 'readiness', 'trust-domain', 'cluster-domain', 'cert-ttl',
  'debounce', 'drain-deadline', 'log-level', 'waypoint-image', 'waypoint-control-plane',
] as const;

export function parseConfig(record: ConfigRecord, source = 'control plane config'): ControlPlaneConfig {
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
    trustDomain,
    clusterDomain: reader.string('cluster-domain', 'cluster.local'),
    workloadCertTtlMs: reader.durationMs('cert-ttl', 24 * 3_600_000),
    debounceMs: reader.durationMs('debounce', 100),
    drainDeadlineMs: reader.durationMs('drain-deadline', 10_000),
    logLevel,
    waypointImage: undefined,
    waypointControlPlane: reader.string('waypoint-control-plane'),
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

function hostPort(reader: ConfigReader, key: string, fallback: string): HostPort {
  const text = reader.string(key, fallback);
  const colon = text.lastIndexOf(':');
  const host = text.slice(0, colon).replace(/^\[|\]$/g, '');
  const port = Number(text.slice(colon + 1));
  if (colon <= 0 || !Number.isInteger(port) || port < 0 || port > 65535) throw reader.error(key, text, 'must be host:port, e.g. 127.0.0.1:15012');
  return { host, port };
}
