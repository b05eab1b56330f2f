// The waypoint's configuration, parsed from a plain record (the bin merges
// flags and AMBIT_WAYPOINT_* variables; tests pass records). Errors name the
// key, the value and the reason.
import { isIP } from 'node:net';
import { ConfigReader, DEFAULT_TRUST_DOMAIN, isLogLevel, SpiffeId, type ConfigRecord, type LogLevel } from '@ambit/core';

export interface HostPort {
  host: string;
  port: number;
}

export interface WaypointConfig {
  /** The Gateway this waypoint runs, as namespace/name: its identity is spiffe://<td>/ns/<ns>/sa/<name>. */
  gateway: { namespace: string; name: string };
  /** The control plane's discovery + CA endpoint (15012). */
  controlPlane: HostPort;
  controlPlaneIdentity: SpiffeId;
  /** PEM roots that verify the control plane before the waypoint holds a certificate. */
  caRootFile: string;
  /** A workload bootstrap token for the gateway identity. */
  bootstrapTokenFile: string;
  trustDomain: string;
  /** HBONE inbound listener. */
  hbone: HostPort;
  /** The HBONE port dialled on mesh endpoints' pod addresses (their ztunnel's). */
  upstreamHbonePort: number;
  metrics: HostPort;
  readiness: HostPort;
  adminSocket: string;
  drainDeadlineMs: number;
  /** Upstream TCP/HBONE connect deadline. */
  connectTimeoutMs: number;
  logLevel: LogLevel;
}

export const CONFIG_KEYS = [
  'gateway', 'control-plane', 'control-plane-identity', 'ca-root-file', 'bootstrap-token-file', 'trust-domain', 'hbone',
  'upstream-hbone-port', 'metrics', 'readiness', 'admin-socket', 'drain-deadline', 'connect-timeout', 'log-level',
] as const;

export type ConfigKey = (typeof CONFIG_KEYS)[number];

export const DEFAULT_HBONE = '0.0.0.0:15008';
export const DEFAULT_UPSTREAM_HBONE_PORT = 15008;
export const DEFAULT_METRICS = '127.0.0.1:15020';
export const DEFAULT_READINESS = '127.0.0.1:15021';
export const DEFAULT_DRAIN_DEADLINE_MS = 10_000;
export const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;

// sockaddr_un.sun_path: 108 bytes including the NUL.
const MAX_UNIX_SOCKET_PATH_BYTES = 107;
// Kubernetes object names (DNS-1123 labels for namespaces, subdomains for Gateways).
const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

export function parseWaypointConfig(record: ConfigRecord, source = 'waypoint config'): WaypointConfig {
  const reader = new ConfigReader(record, source);
  const gatewayText = reader.required('gateway');
  const [namespace, name, extra] = gatewayText.split('/');
  if (namespace === undefined || name === undefined || extra !== undefined || !NAMESPACE.test(namespace) || !NAME.test(name)) {
    throw reader.error('gateway', gatewayText, 'must be the Gateway as namespace/name, e.g. demo/waypoint');
  }
  const controlPlane = address(reader, 'control-plane', undefined, false);
  const caRootFile = reader.required('ca-root-file');
  const bootstrapTokenFile = reader.required('bootstrap-token-file');
  const trustDomain = reader.string('trust-domain', DEFAULT_TRUST_DOMAIN);
  try {
    SpiffeId.of(trustDomain, namespace, name);
  } catch (error) {
    throw reader.error('trust-domain', trustDomain, (error as Error).message);
  }
  const identityText = reader.string('control-plane-identity', `spiffe://${trustDomain}/ns/ambit-system/sa/control-plane`);
  const controlPlaneIdentity = SpiffeId.tryParse(identityText);
  if (controlPlaneIdentity === undefined) throw reader.error('control-plane-identity', identityText, 'is not a workload SPIFFE ID');
  const adminSocket = reader.required('admin-socket');
  if (Buffer.byteLength(adminSocket) > MAX_UNIX_SOCKET_PATH_BYTES) {
    throw reader.error('admin-socket', adminSocket, `is longer than ${MAX_UNIX_SOCKET_PATH_BYTES} bytes, the limit for a unix socket path`);
  }
  const logLevel = reader.string('log-level', 'info');
  if (!isLogLevel(logLevel)) throw reader.error('log-level', logLevel, 'must be one of fatal, error, warn, info, debug, trace, silent');
  const config: WaypointConfig = {
    gateway: { namespace, name },
    controlPlane,
    controlPlaneIdentity,
    caRootFile,
    bootstrapTokenFile,
    trustDomain,
    hbone: address(reader, 'hbone', DEFAULT_HBONE, true),
    upstreamHbonePort: reader.int('upstream-hbone-port', DEFAULT_UPSTREAM_HBONE_PORT, { min: 1, max: 65535 }),
    metrics: address(reader, 'metrics', DEFAULT_METRICS, true),
    readiness: address(reader, 'readiness', DEFAULT_READINESS, true),
    adminSocket,
    drainDeadlineMs: reader.durationMs('drain-deadline', DEFAULT_DRAIN_DEADLINE_MS),
    connectTimeoutMs: reader.durationMs('connect-timeout', DEFAULT_CONNECT_TIMEOUT_MS),
    logLevel,
  };
  if (config.connectTimeoutMs <= 0) throw reader.error('connect-timeout', record['connect-timeout'], 'must be more than 0');
  const unknown = reader.unused()[0];
  if (unknown !== undefined) throw reader.error(unknown, record[unknown], `is not a setting; known: ${CONFIG_KEYS.join(', ')}`);
  return config;
}

/** The Gateway's namespace/name key. */
export function gatewayKey(config: Pick<WaypointConfig, 'gateway'>): string {
  return `${config.gateway.namespace}/${config.gateway.name}`;
}

/** `host:port` or `[v6]:port`; a control-plane host may be a name (resolved once, at start). */
function address(reader: ConfigReader, key: ConfigKey, fallback: string | undefined, listen: boolean): HostPort {
  const text = fallback === undefined ? reader.required(key) : reader.string(key, fallback);
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(text);
  const host = match?.[1] ?? match?.[2];
  const port = Number(match?.[3]);
  const valid = host !== undefined && port <= 65535 && (match?.[1] === undefined || isIP(host) === 6) && (!listen || isIP(host) !== 0);
  if (!valid) throw reader.error(key, text, `must be ${listen ? 'ip' : 'host'}:port, e.g. 127.0.0.1:15012 or [::1]:15012`);
  if (port === 0 && !listen) throw reader.error(key, text, 'needs a port other than 0');
  return { host, port };
}
