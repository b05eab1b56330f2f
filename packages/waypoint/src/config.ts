// The waypoint's configuration, parsed from a plain record (the bin merges
// flags and AMBIT_WAYPOINT_* variables; tests pass records). Errors name the
// key, the value and the reason.
import { ConfigReader, type ConfigRecord, type HostPort } from '@ambit/core';
import { readProxySettings, type ProxySettings } from '@ambit/cp-client';

export { DEFAULT_METRICS, DEFAULT_READINESS, DEFAULT_DRAIN_DEADLINE_MS, DEFAULT_CONNECT_TIMEOUT_MS } from '@ambit/cp-client';

/** The shared proxy settings (control plane, probes, admin socket, timings), then the waypoint's own. */
export interface WaypointConfig extends ProxySettings {
  /** The Gateway this waypoint runs, as namespace/name: its identity is spiffe://<td>/ns/<ns>/sa/<name>. */
  gateway: { namespace: string; name: string };
  /** HBONE inbound listener. */
  hbone: HostPort;
  /** The HBONE port dialled on mesh endpoints' pod addresses (their ztunnel's). */
  upstreamHbonePort: number;
  /**
   * Data-path processes the bin runs (workers.ts): 1 serves everything in
   * one process; more fork workers that share the HBONE listener under a
   * primary that serves metrics, readiness and the admin API.
   */
  workers: number;
}

export const CONFIG_KEYS = [
  'gateway', 'control-plane', 'control-plane-identity', 'ca-root-file', 'bootstrap-token-file', 'trust-domain', 'hbone',
  'upstream-hbone-port', 'metrics', 'readiness', 'admin-socket', 'admin-address', 'drain-deadline', 'connect-timeout', 'log-level',
  'workers',
] as const;

export type ConfigKey = (typeof CONFIG_KEYS)[number];

/** Each setting may come from the environment variable `AMBIT_WAYPOINT_<SETTING with - as _>` (flags win). */
export const ENV_PREFIX = 'AMBIT_WAYPOINT_';

export const DEFAULT_HBONE = '0.0.0.0:15008';
export const DEFAULT_UPSTREAM_HBONE_PORT = 15008;
/** As Istio's waypoints run Envoy with two worker threads. */
export const DEFAULT_WORKERS = 2;
export const MAX_WORKERS = 16;

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
  const shared = readProxySettings(reader, { listenIp: true });
  const config: WaypointConfig = {
    ...shared,
    gateway: { namespace, name },
    hbone: reader.hostPort('hbone', DEFAULT_HBONE, { ip: true }),
    upstreamHbonePort: reader.int('upstream-hbone-port', DEFAULT_UPSTREAM_HBONE_PORT, { min: 1, max: 65535 }),
    workers: reader.int('workers', DEFAULT_WORKERS, { min: 1, max: MAX_WORKERS }),
  };
  const unknown = reader.unused()[0];
  if (unknown !== undefined) throw reader.error(unknown, record[unknown], `is not a setting; known: ${CONFIG_KEYS.join(', ')}`);
  return config;
}

/** The Gateway's namespace/name key. */
export function gatewayKey(config: Pick<WaypointConfig, 'gateway'>): string {
  return `${config.gateway.namespace}/${config.gateway.name}`;
}
