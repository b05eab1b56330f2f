// The root certificate publisher's metrics, registered once on the control
// plane's registry (publishers come and go with leadership; the counters stay).
import { Counter, type Registry } from 'prom-client';
import type { RootCertAction } from './plan.js';

export class RootCertMetrics {
  readonly writes: Counter<'op'>;
  readonly unmanaged: Counter<'namespace'>;

  constructor(registry: Registry) {
    this.writes = new Counter({
      name: 'ambit_root_cert_writes_total', help: 'Root certificate ConfigMaps created, repaired or removed', labelNames: ['op'], registers: [registry],
    });
    this.unmanaged = new Counter({
      name: 'ambit_root_cert_unmanaged_total',
      help: 'ConfigMaps named ambit-root-cert without the control plane\'s label, found in a namespace that needs the root certificate and left alone',
      labelNames: ['namespace'], registers: [registry],
    });
  }

  written(action: RootCertAction): void {
    this.writes.inc({ op: action.op });
  }
}
