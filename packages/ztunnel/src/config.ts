// The node tunnel's configuration, parsed from a plain record (the bin merges
// flags and AMBIT_ZTUNNEL_* variables; tests pass records). Errors name the
// key, the value and the reason.
import { ConfigReader, type ConfigRecord, type HostPort } from '@ambit/core';
import { readProxySettings, type ProxySettings } from '@ambit/cp-client';

export { DEFAULT_METRICS, DEFAULT_READINESS, DEFAULT_DRAIN_DEADLINE_MS, DEFAULT_CONNECT_TIMEOUT_MS } from '@ambit/cp-client';

export type CaptureMode = 'nftables' | 'none';

/** The shared proxy settings (control plane, probes, admin socket, timings), then the node tunnel's own. */
export interface ZtunnelConfig extends ProxySettings {
  /** The node this ztunnel serves: its workloads are the local ones. */
  node: string;
  capture: CaptureMode;
  /** HBONE inbound; also the port dialled on remote nodes' pod addresses. */
  hbonePort: number;
  /** Outbound capture (nftables mode only). */
  outboundPort: number;
  /** Inbound plaintext capture (nftables mode only). */
  inboundPlaintextPort: number;
  /** SOCKS5 outbound; undefined when `off`. */
  socks5: HostPort | undefined;
  /**
   * SOCKS5 at every local pod's address on this port, the pod being the
   * address connected to (the loopback mode, where pods share one network);
   * undefined when `off` (the default).
   */
  socks5PodsPort: number | undefined;
  /** nftables table name (nftables mode). */
  table: string;
  /**
   * `preserve`: a local pod is dialled from its client's address, so it sees
   * who called (proxy/source-address.ts); `node`: from the node's address.
   */
  sourceIp: 'preserve' | 'node';
  /**
   * Connections one workload's tunnels to a waypoint may be spread over once
   * one is busy (proxy/lanes.ts): each waypoint worker serves whole
   * connections, so one connection would keep that traffic on one worker.
   */
  waypointConnections: number;
}

export const CONFIG_KEYS = [
  'node', 'control-plane', 'control-plane-identity', 'ca-root-file', 'bootstrap-token-file', 'trust-domain', 'capture',
  'hbone-port', 'outbound-port', 'inbound-plaintext-port', 'socks5', 'socks5-pods', 'metrics', 'readiness', 'admin-socket', 'admin-address',
  'drain-deadline', 'connect-timeout', 'log-level', 'table', 'source-ip', 'waypoint-connections',
] as const;

export type ConfigKey = (typeof CONFIG_KEYS)[number];

export const DEFAULT_HBONE_PORT = 15008;
export const DEFAULT_OUTBOUND_PORT = 15001;
export const DEFAULT_INBOUND_PLAINTEXT_PORT = 15006;
export const DEFAULT_SOCKS5 = '127.0.0.1:15080';
export const DEFAULT_TABLE = 'ambit-ztunnel';
/** As many as a waypoint runs workers by default. */
export const DEFAULT_WAYPOINT_CONNECTIONS = 2;

// Kubernetes node names are DNS-1123 subdomains.
const NODE_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const NFT_TABLE = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;

export function parseZtunnelConfig(record: ConfigRecord, source = 'ztunnel config'): ZtunnelConfig {
  const reader = new ConfigReader(record, source);
  // Required settings first, in the documented order, so the first error names the first missing one.
  const node = reader.required('node');
  if (!NODE_NAME.test(node)) throw reader.error('node', node, 'must be a Kubernetes node name (lowercase letters, digits, "-" and ".")');
  const shared = readProxySettings(reader);
  const socks5Text = reader.string('socks5', DEFAULT_SOCKS5);
  const socks5PodsText = reader.string('socks5-pods', 'off');
  const table = reader.string('table', DEFAULT_TABLE);
  if (!NFT_TABLE.test(table)) throw reader.error('table', table, 'must be an nftables name: a letter, then letters, digits, "_" or "-"');
  const config: ZtunnelConfig = {
    ...shared,
    node,
    capture: reader.oneOf('capture', ['nftables', 'none'] as const, 'none'),
    // Peers dial these on pod addresses and the capture rules name them: never 0.
    hbonePort: reader.int('hbone-port', DEFAULT_HBONE_PORT, { min: 1, max: 65535 }),
    outboundPort: reader.int('outbound-port', DEFAULT_OUTBOUND_PORT, { min: 1, max: 65535 }),
    inboundPlaintextPort: reader.int('inbound-plaintext-port', DEFAULT_INBOUND_PLAINTEXT_PORT, { min: 1, max: 65535 }),
    socks5: socks5Text === 'off' ? undefined : reader.hostPort('socks5', DEFAULT_SOCKS5),
    socks5PodsPort: socks5PodsText === 'off' ? undefined : reader.int('socks5-pods', 0, { min: 1, max: 65535 }),
    table,
    sourceIp: reader.oneOf('source-ip', ['preserve', 'node'] as const, 'preserve'),
    waypointConnections: reader.int('waypoint-connections', DEFAULT_WAYPOINT_CONNECTIONS, { min: 1, max: 64 }),
  };
  if (config.socks5PodsPort !== undefined && config.capture === 'nftables') {
    throw reader.error('socks5-pods', socks5PodsText, 'is for the loopback mode (capture none); with nftables capture pods need no proxy');
  }
  if (config.socks5PodsPort !== undefined && config.socks5PodsPort === config.hbonePort) {
    throw reader.error('socks5-pods', socks5PodsText, 'is also hbone-port; per-pod listeners need their own port');
  }
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
