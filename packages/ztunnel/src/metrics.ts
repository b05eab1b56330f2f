// Prometheus metrics of the node tunnel (15020, and /metrics on the admin
// socket). TCP metrics carry Istio's names and labels so existing dashboards
// work; ztunnel's own are prefixed `ambit_ztunnel_`. Labelled children are
// cached per label set: the data path never builds label maps per chunk (bytes
// are counted once, when a connection closes).
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { ResponseFlag } from './proxy/flags.js';

export type Reporter = 'source' | 'destination';
export type SecurityPolicy = 'mutual_tls' | 'none';

/** The standard TCP labels except `response_flags`, which is known only at the end. */
export interface TrafficLabels {
  reporter: Reporter;
  source_workload: string;
  source_workload_namespace: string;
  source_principal: string;
  destination_workload: string;
  destination_workload_namespace: string;
  destination_principal: string;
  destination_service: string;
  destination_service_namespace: string;
  connection_security_policy: SecurityPolicy;
}

const TCP_LABELS = [
  'reporter', 'source_workload', 'source_workload_namespace', 'source_principal', 'destination_workload',
  'destination_workload_namespace', 'destination_principal', 'destination_service', 'destination_service_namespace',
  'connection_security_policy', 'response_flags',
] as const;

type TcpLabel = (typeof TCP_LABELS)[number];

/** The counters of one label set. */
export interface TrafficCounters {
  opened: Counter.Internal;
  closed: Counter.Internal;
  sent: Counter.Internal;
  received: Counter.Internal;
}

/** Enough distinct label sets for a busy node; beyond it the cache starts over (children stay registered). */
const MAX_CACHED_LABEL_SETS = 10_000;

export interface CertificateGaugeSource {
  (): { kind: 'node' | 'workload'; identity: string; state: string; notAfter?: string }[];
}

export class ZtunnelMetrics {
  readonly registry = new Registry();
  readonly tcpOpened: Counter<TcpLabel>;
  readonly tcpClosed: Counter<TcpLabel>;
  readonly tcpSent: Counter<TcpLabel>;
  readonly tcpReceived: Counter<TcpLabel>;
  readonly refusals: Counter<'direction' | 'reason'>;
  readonly activeConnections: Gauge<'direction'>;
  readonly certificateExpiry: Gauge<'kind' | 'identity'>;
  readonly certificates: Gauge<'kind' | 'state'>;
  readonly discoveryConnected: Gauge;
  /** Set by app.ts: what the certificate gauges report at each scrape. */
  certificateSource: CertificateGaugeSource = () => [];
  /** Set by app.ts: live connections by direction at each scrape. */
  activeSource: () => { outbound: number; inbound: number } = () => ({ outbound: 0, inbound: 0 });
  /** Set by app.ts: whether the discovery stream is up. */
  discoverySource: () => boolean = () => false;
  private readonly children = new Map<string, TrafficCounters>();

  constructor() {
    const registers = [this.registry];
    this.tcpOpened = new Counter({ name: 'istio_tcp_connections_opened_total', help: 'TCP connections opened', labelNames: TCP_LABELS, registers });
    this.tcpClosed = new Counter({ name: 'istio_tcp_connections_closed_total', help: 'TCP connections closed', labelNames: TCP_LABELS, registers });
    this.tcpSent = new Counter({
      name: 'istio_tcp_sent_bytes_total', help: 'Bytes sent back to the client (destination to source), counted when the connection closes',
      labelNames: TCP_LABELS, registers,
    });
    this.tcpReceived = new Counter({
      name: 'istio_tcp_received_bytes_total', help: 'Bytes received from the client (source to destination), counted when the connection closes',
      labelNames: TCP_LABELS, registers,
    });
    this.refusals = new Counter({
      name: 'ambit_ztunnel_refusals_total', help: 'Connections and tunnels refused, by direction and reason', labelNames: ['direction', 'reason'], registers,
    });
    this.activeConnections = new Gauge({
      name: 'ambit_ztunnel_active_connections', help: 'Connections being proxied now', labelNames: ['direction'], registers,
      collect: () => {
        const active = this.activeSource();
        this.activeConnections.set({ direction: 'outbound' }, active.outbound);
        this.activeConnections.set({ direction: 'inbound' }, active.inbound);
      },
    });
    this.certificateExpiry = new Gauge({
      name: 'ambit_ztunnel_certificate_expiry_timestamp_seconds', help: 'When each held certificate expires (Unix time)',
      labelNames: ['kind', 'identity'], registers,
      collect: () => {
        this.certificateExpiry.reset();
        for (const cert of this.certificateSource()) {
          if (cert.notAfter !== undefined) this.certificateExpiry.set({ kind: cert.kind, identity: cert.identity }, Date.parse(cert.notAfter) / 1000);
        }
      },
    });
    this.certificates = new Gauge({
      name: 'ambit_ztunnel_certificates', help: 'Certificates held, by kind and state (pending, available, refreshing, failed, expired)',
      labelNames: ['kind', 'state'], registers,
      collect: () => {
        this.certificates.reset();
        for (const cert of this.certificateSource()) this.certificates.inc({ kind: cert.kind, state: cert.state });
      },
    });
    this.discoveryConnected = new Gauge({
      name: 'ambit_ztunnel_discovery_connected', help: '1 while the discovery stream to the control plane is up', registers,
      collect: () => {
        this.discoveryConnected.set(this.discoverySource() ? 1 : 0);
      },
    });
    collectDefaultMetrics({ register: this.registry });
  }

  /** The counters for one label set and flag, built once per distinct set. */
  traffic(labels: TrafficLabels, flag: ResponseFlag): TrafficCounters {
    const key = `${labelKey(labels)}\u0000${flag}`;
    let counters = this.children.get(key);
    if (counters === undefined) {
      if (this.children.size >= MAX_CACHED_LABEL_SETS) this.children.clear();
      const full = { ...labels, response_flags: flag };
      counters = {
        opened: this.tcpOpened.labels(full),
        closed: this.tcpClosed.labels(full),
        sent: this.tcpSent.labels(full),
        received: this.tcpReceived.labels(full),
      };
      this.children.set(key, counters);
    }
    return counters;
  }
}

function labelKey(labels: TrafficLabels): string {
  return [
    labels.reporter, labels.source_workload, labels.source_workload_namespace, labels.source_principal, labels.destination_workload,
    labels.destination_workload_namespace, labels.destination_principal, labels.destination_service,
    labels.destination_service_namespace, labels.connection_security_policy,
  ].join('\u0000');
}
