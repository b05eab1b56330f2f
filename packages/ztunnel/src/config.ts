// The node tunnel's configuration, parsed from a plain record (the bin merges
// flags and AMBIT_ZTUNNEL_* variables; tests pass records). Errors name the
// key, the value and the reason.
import { isIP } from 'node:net';
import { ConfigReader, DEFAULT_TRUST_DOMAIN, isLogLevel, SpiffeId, type ConfigRecord, type LogLevel } from '@ambit/core';

export interface HostPort {
  host: string;
  port: number;
}

export type CaptureMode = 'nftables' | 'none';

export interface ZtunnelConfig {
  /** The node this ztunnel serves: its workloads are the local ones. */
  node: string;
  /** The control plane's discovery + CA endpoint (15012). */
  controlPlane: HostPort;
  /** The SPIFFE ID the control plane must present. */
  controlPlaneIdentity: SpiffeId;
  /** PEM roots that verify the control plane before this ztunnel holds a certificate. */
  caRootFile: string;
  /** The node's bootstrap token (a local token file, or a projected service-account token). */
  bootstrapTokenFile: string;
  trustDomain: string;
  capture: CaptureMode;
  /** HBONE inbound; also the port dialled on remote nodes' pod addresses. */
  hbonePort: number;
  /** Outbound capture (nftables mode only). */
  outboundPort: number;
  /** Inbound plaintext capture (nftables mode only). */
  inboundPlaintextPort: number;
  /** SOCKS5 outbound; undefined when `off`. */
  socks5: HostPort | undefined;
  metrics: HostPort;
  readiness: HostPort;
  /** Admin HTTP over a unix socket (mode 0600). */
  adminSocket: string;
  drainDeadlineMs: number;
  connectTimeoutMs: number;
  logLevel: LogLevel;
  /** nftables table name (nftables mode). */
  table: string;
}

export const CONFIG_KEYS = [
  'node', 'control-plane', 'control-plane-identity', 'ca-root-file', 'bootstrap-token-file', 'trust-domain', 'capture',
  'hbone-port', 'outbound-port', 'inbound-plaintext-port', 'socks5', 'metrics', 'readiness', 'admin-socket',
  'drain-deadline', 'connect-timeout', 'log-level', 'table',
] as const;

export type ConfigKey = (typeof CONFIG_KEYS)[number];

export const DEFAULT_HBONE_PORT = 15008;
export const DEFAULT_OUTBOUND_PORT = 15001;
export const DEFAULT_INBOUND_PLAINTEXT_PORT = 15006;
export const DEFAULT_SOCKS5 = '127.0.0.1:15080';
export const DEFAULT_METRICS = '127.0.0.1:15020';
export const DEFAULT_READINESS = '127.0.0.1:15021';
export const DEFAULT_DRAIN_DEADLINE_MS = 10_000;
export const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
export const DEFAULT_TABLE = 'ambit-ztunnel';

// sockaddr_un.sun_path holds 108 bytes including the terminating NUL.
const MAX_UNIX_SOCKET_PATH_BYTES = 107;
// Kubernetes node names are DNS-1123 subdomains.
const NODE_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const NFT_TABLE = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;

export function parseZtunnelConfig(record: ConfigRecord, source = 'ztunnel config'): ZtunnelConfig {
  const reader = new ConfigReader(record, source);
  // Required settings first, in the documented order, so the first error names the first missing one.
  const node = reader.required('node');
  if (!NODE_NAME.test(node)) throw reader.error('node', node, 'must be a Kubernetes node name (lowercase letters, digits, "-" and ".")');
  const controlPlane = hostPort(reader, 'control-plane', undefined, { allowZero: false });
  const caRootFile = reader.required('ca-root-file');
  const bootstrapTokenFile = reader.required('bootstrap-token-file');
  const trustDomain = reader.string('trust-domain', DEFAULT_TRUST_DOMAIN);
  try {
    SpiffeId.of(trustDomain, 'ambit-system', 'ztunnel');
  } catch (error) {
    throw reader.error('trust-domain', trustDomain, (error as Error).message);
  }
  const identityText = reader.string('control-plane-identity', `spiffe://${trustDomain}/ns/ambit-system/sa/control-plane`);
  let controlPlaneIdentity: SpiffeId;
  try {
    controlPlaneIdentity = SpiffeId.parse(identityText);
  } catch (error) {
    throw reader.error('control-plane-identity', identityText, `is not a workload SPIFFE ID (${(error as Error).message})`);
  }
  const logLevel = reader.string('log-level', 'info');
  if (!isLogLevel(logLevel)) throw reader.error('log-level', logLevel, 'must be one of fatal, error, warn, info, debug, trace, silent');
  const socks5Text = reader.string('socks5', DEFAULT_SOCKS5);
  const adminSocket = reader.required('admin-socket');
  if (Buffer.byteLength(adminSocket) > MAX_UNIX_SOCKET_PATH_BYTES) {
    throw reader.error('admin-socket', adminSocket, `is longer than ${MAX_UNIX_SOCKET_PATH_BYTES} bytes, the limit for a unix socket path`);
  }
  const table = reader.string('table', DEFAULT_TABLE);
  if (!NFT_TABLE.test(table)) throw reader.error('table', table, 'must be an nftables name: a letter, then letters, digits, "_" or "-"');
  const config: ZtunnelConfig = {
    node,
    controlPlane,
    controlPlaneIdentity,
    caRootFile,
    bootstrapTokenFile,
    trustDomain,
    capture: reader.oneOf('capture', ['nftables', 'none'] as const, 'none'),
    // Peers dial these on pod addresses and the capture rules name them: never 0.
    hbonePort: reader.int('hbone-port', DEFAULT_HBONE_PORT, { min: 1, max: 65535 }),
    outboundPort: reader.int('outbound-port', DEFAULT_OUTBOUND_PORT, { min: 1, max: 65535 }),
    inboundPlaintextPort: reader.int('inbound-plaintext-port', DEFAULT_INBOUND_PLAINTEXT_PORT, { min: 1, max: 65535 }),
    socks5: socks5Text === 'off' ? undefined : hostPort(reader, 'socks5', DEFAULT_SOCKS5),
    metrics: hostPort(reader, 'metrics', DEFAULT_METRICS),
    readiness: hostPort(reader, 'readiness', DEFAULT_READINESS),
    adminSocket,
    drainDeadlineMs: reader.durationMs('drain-deadline', DEFAULT_DRAIN_DEADLINE_MS),
    connectTimeoutMs: reader.durationMs('connect-timeout', DEFAULT_CONNECT_TIMEOUT_MS),
    logLevel,
    table,
  };
  if (config.connectTimeoutMs <= 0) throw reader.error('connect-timeout', record['connect-timeout'], 'must be more than 0');
  if (config.capture === 'nftables') {
    const ports = new Map<number, string>();
    for (const [key, port] of [['hbone-port', config.hbonePort], ['outbound-port', config.outboundPort], ['inbound-plaintext-port', config.inboundPlaintextPort]] as const) {
      const other = ports.get(port);
      if (other !== undefined) throw reader.error(key, port, `is also ${other}; the capture ports must differ`);
      ports.set(port, key);
    }
  }
  const unknown = reader.unused();
  if (unknown.length > 0) {
    const key = unknown[0] as string;
    throw reader.error(key, record[key], `is not a setting; known: ${CONFIG_KEYS.join(', ')}`);
  }
  return config;
}

/** `host:port` or `[v6]:port`; the host may be a name (resolved once, at start). */
export function parseHostPort(text: string): HostPort | undefined {
  let host: string;
  let portText: string;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0 || text[close + 1] !== ':') return undefined;
    host = text.slice(1, close);
    if (isIP(host) !== 6) return undefined;
    portText = text.slice(close + 2);
  } else {
    const colon = text.lastIndexOf(':');
    if (colon <= 0) return undefined;
    host = text.slice(0, colon);
    // An unbracketed IPv6 address is ambiguous.
    if (host.includes(':')) return undefined;
    portText = text.slice(colon + 1);
  }
  if (!/^\d{1,5}$/.test(portText)) return undefined;
  const port = Number(portText);
  if (port > 65535 || host.trim() !== host || host === '') return undefined;
  return { host, port };
}

function hostPort(reader: ConfigReader, key: ConfigKey, fallback: string | undefined, options: { allowZero?: boolean } = {}): HostPort {
  const text = fallback === undefined ? reader.required(key) : reader.string(key, fallback);
  const parsed = parseHostPort(text);
  if (parsed === undefined) throw reader.error(key, text, 'must be host:port, e.g. 127.0.0.1:15012 or [::1]:15012');
  if (parsed.port === 0 && options.allowZero === false) throw reader.error(key, text, 'needs a port other than 0');
  return parsed;
}
