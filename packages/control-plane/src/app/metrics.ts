// Prometheus metrics of the control plane (port 15020). Names are prefixed
// `ambit_`; process metrics (RSS, CPU, event-loop lag) come from prom-client's defaults.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export class ControlPlaneMetrics {
  readonly registry = new Registry();
  /** Runs before each scrape, to refresh gauges computed from live state. */
  beforeScrape: () => void = () => undefined;
  readonly subscribers = new Gauge({
    name: 'ambit_discovery_subscribers', help: 'Connected discovery subscribers', labelNames: ['role'], registers: [this.registry],
    collect: () => this.beforeScrape(),
  });
  readonly pushes = new Counter({ name: 'ambit_discovery_pushes_total', help: 'State versions pushed', registers: [this.registry] });
  readonly pushLatency = new Histogram({
    name: 'ambit_discovery_push_to_ack_seconds', help: 'From a version being published to each subscriber acknowledging it',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers: [this.registry],
  });
  readonly nacks = new Counter({ name: 'ambit_discovery_nacks_total', help: 'Versions rejected by a proxy', registers: [this.registry] });
  readonly translations = new Histogram({
    name: 'ambit_translation_duration_seconds', help: 'Time to translate cluster objects into mesh state',
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers: [this.registry],
  });
  readonly meshObjects = new Gauge({ name: 'ambit_mesh_objects', help: 'Objects in the mesh state', labelNames: ['kind'], registers: [this.registry] });
  readonly issued = new Counter({ name: 'ambit_ca_certificates_issued_total', help: 'Workload and node certificates issued', registers: [this.registry] });
  readonly refused = new Counter({ name: 'ambit_ca_certificates_refused_total', help: 'Certificate requests refused', labelNames: ['reason'], registers: [this.registry] });
  readonly statusWrites = new Counter({ name: 'ambit_status_writes_total', help: 'Status updates written back', registers: [this.registry] });
  readonly leader = new Gauge({
    name: 'ambit_control_plane_leader',
    help: '1 while this replica runs the writers (status writer, waypoint controller): it holds the leader Lease, or runs without leader election',
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }
}
