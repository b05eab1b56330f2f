// The settings every proxy (ztunnel, waypoint) shares, read from its config
// record: how to reach and trust the control plane, then its own probe ports,
// admin endpoint and timings. Each proxy's config module reads its own identity
// first, then these, then what is its alone; errors name the key, the value
// and the reason.
import { DEFAULT_TRUST_DOMAIN, isLogLevel, SpiffeId, type ConfigReader, type HostPort, type LogLevel } from '@ambit/core';

export interface ProxySettings {
  /** The control plane's discovery + CA endpoint (15012); a name is resolved once, at start. */
  controlPlane: HostPort;
  /** The SPIFFE ID the control plane must present. */
  controlPlaneIdentity: SpiffeId;
  /** PEM roots that verify the control plane before the proxy holds a certificate. */
  caRootFile: string;
  /** The bootstrap token (a local token file, or a projected service-account token). */
  bootstrapTokenFile: string;
  trustDomain: string;
  metrics: HostPort;
  readiness: HostPort;
  /**
   * Where the admin API listens: a unix socket path (mode 0600; `admin-socket`)
   * or a loopback address (`admin-address`, for Kubernetes, where the CLI
   * reaches it through the API server's port-forward).
   */
  admin: string | HostPort;
  drainDeadlineMs: number;
  /** Upstream TCP and HBONE connect deadline. */
  connectTimeoutMs: number;
  logLevel: LogLevel;
}

export const DEFAULT_METRICS = '127.0.0.1:15020';
export const DEFAULT_READINESS = '127.0.0.1:15021';
export const DEFAULT_DRAIN_DEADLINE_MS = 10_000;
export const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;

// sockaddr_un.sun_path holds 108 bytes including the terminating NUL.
const MAX_UNIX_SOCKET_PATH_BYTES = 107;

export interface ProxySettingsOptions {
  /** The metrics and readiness hosts must be IP addresses (otherwise a name is bound as resolved). */
  listenIp?: boolean;
}

/** Reads the shared settings, required ones first so the first error names the first missing one. */
export function readProxySettings(reader: ConfigReader, options: ProxySettingsOptions = {}): ProxySettings {
  const controlPlane = reader.hostPort('control-plane', undefined, { nonZeroPort: true });
  const caRootFile = reader.required('ca-root-file');
  const bootstrapTokenFile = reader.required('bootstrap-token-file');
  const admin = readAdmin(reader);
  const trustDomain = reader.string('trust-domain', DEFAULT_TRUST_DOMAIN);
  let controlPlaneIdentity: SpiffeId;
  try {
    controlPlaneIdentity = SpiffeId.of(trustDomain, 'ambit-system', 'control-plane');
  } catch (error) {
    throw reader.error('trust-domain', trustDomain, (error as Error).message);
  }
  const identityText = reader.string('control-plane-identity', controlPlaneIdentity.uri);
  try {
    controlPlaneIdentity = SpiffeId.parse(identityText);
  } catch (error) {
    throw reader.error('control-plane-identity', identityText, `is not a workload SPIFFE ID (${(error as Error).message})`);
  }
  const logLevel = reader.string('log-level', 'info');
  if (!isLogLevel(logLevel)) throw reader.error('log-level', logLevel, 'must be one of fatal, error, warn, info, debug, trace, silent');
  const connectTimeoutMs = reader.durationMs('connect-timeout', DEFAULT_CONNECT_TIMEOUT_MS);
  if (connectTimeoutMs <= 0) throw reader.error('connect-timeout', reader.string('connect-timeout'), 'must be more than 0');
  const ip = options.listenIp === true;
  return {
    controlPlane,
    controlPlaneIdentity,
    caRootFile,
    bootstrapTokenFile,
    trustDomain,
    metrics: reader.hostPort('metrics', DEFAULT_METRICS, { ip }),
    readiness: reader.hostPort('readiness', DEFAULT_READINESS, { ip }),
    admin,
    drainDeadlineMs: reader.durationMs('drain-deadline', DEFAULT_DRAIN_DEADLINE_MS),
    connectTimeoutMs,
    logLevel,
  };
}

/**
 * `admin-socket PATH` or `admin-address HOST:PORT`, exactly one. The admin API
 * shows the mesh state and changes the log level, so an address must be
 * loopback: from outside the host it is reached by port-forward, as kubectl
 * and RBAC allow.
 */
export function readAdmin(reader: ConfigReader): string | HostPort {
  const socket = reader.string('admin-socket');
  const address = reader.string('admin-address');
  if (socket !== undefined && socket !== '' && address !== undefined && address !== '') {
    throw reader.error('admin-address', address, 'and admin-socket are alternatives; give one of them');
  }
  if (address !== undefined && address !== '') {
    return reader.hostPort('admin-address', undefined, { ip: true, loopback: true });
  }
  if (socket === undefined || socket === '') throw reader.error('admin-socket', socket, 'is required (or admin-address, a loopback HOST:PORT)');
  if (Buffer.byteLength(socket) > MAX_UNIX_SOCKET_PATH_BYTES) {
    throw reader.error('admin-socket', socket, `is longer than ${MAX_UNIX_SOCKET_PATH_BYTES} bytes, the limit for a unix socket path`);
  }
  return socket;
}
