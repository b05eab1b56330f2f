// Prometheus metrics of the waypoint (15020, and /metrics on the admin
// socket). Request metrics carry Istio's names, labels and types so existing
// dashboards work: istio_requests_total (counter),
// istio_request_duration_milliseconds, istio_request_bytes and
// istio_response_bytes (histograms, as Istio's are); TCP fallback traffic
// gets istio_tcp_*; the waypoint's own metrics are prefixed ambit_waypoint_.
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import { RequestMetrics, type SnapshotSource as SnapshotMetric } from './request-metrics.js';

export const REQUEST_LABELS = [
  'reporter', 'source_workload', 'source_workload_namespace', 'source_principal', 'destination_workload',
  'destination_workload_namespace', 'destination_principal', 'destination_service', 'destination_service_namespace',
  'request_protocol', 'response_code', 'response_flags', 'connection_security_policy',
] as const;

export type RequestLabels = Record<(typeof REQUEST_LABELS)[number], string>;

const TCP_LABELS = REQUEST_LABELS.filter((l) => l !== 'response_code' && l !== 'request_protocol');
export type TcpLabels = Omit<RequestLabels, 'response_code' | 'request_protocol'>;

// Istio's default buckets.
const DURATION_BUCKETS_MS = [0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000];
const SIZE_BUCKETS_BYTES = [1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000];

/** Distinct request label sets kept (a bound against unbounded label values, far above a namespace's). */
const MAX_REQUEST_SERIES = 10_000;

export class WaypointMetrics {
  readonly registry = new Registry();
  private readonly requestMetrics: RequestMetrics<(typeof REQUEST_LABELS)[number]>;
  /** The request metrics as scraped (recorded through request()). */
  readonly requests: SnapshotMetric;
  readonly duration: SnapshotMetric;
  readonly requestBytes: SnapshotMetric;
  readonly responseBytes: SnapshotMetric;
  readonly tcpOpened: Counter<string>;
  readonly tcpClosed: Counter<string>;
  readonly tcpSent: Counter<string>;
  readonly tcpReceived: Counter<string>;
  readonly refusals: Counter<'reason'>;
  readonly retryOverflows: Counter<'backend'>;
  readonly outlierEjections: Counter<'destination_workload' | 'destination_workload_namespace'>;
  readonly certificateExpiry: Gauge<'identity'>;
  readonly discoveryConnected: Gauge;
  /** Set by app.ts. */
  certificateSource: () => { identity: string; notAfter?: string }[] = () => [];
  discoverySource: () => boolean = () => false;

  constructor() {
    const registers = [this.registry];
    this.requestMetrics = new RequestMetrics({
      registry: this.registry,
      labelNames: REQUEST_LABELS,
      counter: { name: 'istio_requests_total', help: 'Requests handled, by outcome' },
      histograms: [
        { name: 'istio_request_duration_milliseconds', help: 'Request duration, until the last response byte', buckets: DURATION_BUCKETS_MS },
        { name: 'istio_request_bytes', help: 'Request body sizes', buckets: SIZE_BUCKETS_BYTES },
        { name: 'istio_response_bytes', help: 'Response body sizes', buckets: SIZE_BUCKETS_BYTES },
      ],
      maxSeries: MAX_REQUEST_SERIES,
    });
    this.requests = this.requestMetrics.counter;
    [this.duration, this.requestBytes, this.responseBytes] = this.requestMetrics.histograms as [SnapshotMetric, SnapshotMetric, SnapshotMetric];
    this.tcpOpened = new Counter({ name: 'istio_tcp_connections_opened_total', help: 'TCP connections opened (L4 fallback)', labelNames: TCP_LABELS, registers });
    this.tcpClosed = new Counter({ name: 'istio_tcp_connections_closed_total', help: 'TCP connections closed (L4 fallback)', labelNames: TCP_LABELS, registers });
    this.tcpSent = new Counter({ name: 'istio_tcp_sent_bytes_total', help: 'Bytes sent back to the client (L4 fallback)', labelNames: TCP_LABELS, registers });
    this.tcpReceived = new Counter({ name: 'istio_tcp_received_bytes_total', help: 'Bytes received from the client (L4 fallback)', labelNames: TCP_LABELS, registers });
    this.refusals = new Counter({ name: 'ambit_waypoint_refusals_total', help: 'Requests, connections and tunnels refused, by reason', labelNames: ['reason'], registers });
    this.retryOverflows = new Counter({
      name: 'ambit_waypoint_retry_overflow_total', help: 'Retries the retry budget refused, by backend', labelNames: ['backend'], registers,
    });
    this.outlierEjections = new Counter({
      name: 'ambit_waypoint_outlier_ejections_total', help: 'Endpoints ejected after consecutive failures, by workload (counted by the worker that ejected)',
      labelNames: ['destination_workload', 'destination_workload_namespace'], registers,
    });
    this.certificateExpiry = new Gauge({
      name: 'ambit_waypoint_certificate_expiry_timestamp_seconds', help: 'When the waypoint certificate expires (Unix time)', labelNames: ['identity'], registers,
      // Workers (workers.ts) hold a certificate each: the primary reports the soonest expiry.
      aggregator: 'min',
      collect: () => {
        this.certificateExpiry.reset();
        for (const c of this.certificateSource()) if (c.notAfter !== undefined) this.certificateExpiry.set({ identity: c.identity }, Date.parse(c.notAfter) / 1000);
      },
    });
    this.discoveryConnected = new Gauge({
      name: 'ambit_waypoint_discovery_connected', help: '1 while the discovery stream to the control plane is up', registers,
      // 1 only while every worker's stream is up.
      aggregator: 'min',
      collect: () => this.discoveryConnected.set(this.discoverySource() ? 1 : 0),
    });
    collectDefaultMetrics({ register: this.registry });
  }

  request(labels: RequestLabels, durationMs: number, requestBytes: number, responseBytes: number): void {
    this.requestMetrics.record(labels, durationMs, requestBytes, responseBytes);
  }
}
