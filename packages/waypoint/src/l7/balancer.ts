// Endpoint choice for a backend: the healthy endpoints of the service (or
// the one workload), least-request by power of two choices (Envoy's
// default least-request), with outlier ejection: an endpoint with
// `consecutiveFailures` 5xx or connect failures in a row is left out for
// `ejectionMs`. If every endpoint is ejected, all are used again (Envoy's
// panic mode) rather than failing everything. An ejection this balancer
// makes is reported through `onEject`; one another process made (a
// waypoint's other workers, workers.ts) is applied with eject().
import { formatAuthority, socketAddress, type Workload } from '@ambit/api';
import type { Backend, Endpoint } from './exchange.js';

export interface EndpointLookup {
  workload(uid: string): Workload | undefined;
}

export interface BalancerOptions {
  consecutiveFailures?: number;
  ejectionMs?: number;
  random?: () => number;
  now?: () => number;
  /** Called when this balancer ejects an endpoint (not for ejections given to eject()). */
  onEject?: (ejection: Ejection, endpoint: Endpoint) => void;
}

/** An endpoint (`address:port`) left out of the choice until `until` (ms since the epoch). */
export interface Ejection {
  endpoint: string;
  until: number;
}

interface Health {
  active: number;
  failures: number;
  ejectedUntil: number;
}

export class Balancer {
  private readonly health = new Map<string, Health>();
  private readonly consecutiveFailures: number;
  private readonly ejectionMs: number;
  private readonly random: () => number;
  private readonly now: () => number;
  private readonly onEject: ((ejection: Ejection, endpoint: Endpoint) => void) | undefined;

  constructor(private readonly lookup: EndpointLookup, options: BalancerOptions = {}) {
    this.consecutiveFailures = options.consecutiveFailures ?? 5;
    this.ejectionMs = options.ejectionMs ?? 30_000;
    this.random = options.random ?? Math.random;
    this.now = options.now ?? Date.now;
    this.onEject = options.onEject;
  }

  /** The endpoints a backend has now, healthy ones only. */
  endpoints(backend: Backend): Endpoint[] {
    if (backend.kind === 'workload') {
      const ip = backend.workload.addresses[0];
      return ip === undefined ? [] : [{ address: socketAddress(ip, backend.port), workload: backend.workload }];
    }
    const servicePort = backend.service.ports.find((p) => p.port === backend.port);
    const result: Endpoint[] = [];
    for (const endpoint of backend.service.endpoints) {
      if (!endpoint.healthy) continue;
      const target = endpoint.ports[backend.port] ?? servicePort?.targetPort;
      if (target === undefined || target === 0) continue;
      result.push({ address: socketAddress(endpoint.address, target), workload: this.lookup.workload(endpoint.workloadUid) });
    }
    return result;
  }

  /** Picks one endpoint; `avoid` (the last attempt's) is skipped when there is another. */
  pick(candidates: readonly Endpoint[], avoid?: Endpoint): Endpoint | undefined {
    const now = this.now();
    let usable = candidates.filter((e) => (this.health.get(key(e))?.ejectedUntil ?? 0) <= now);
    if (usable.length === 0) usable = [...candidates];
    if (avoid !== undefined && usable.length > 1) usable = usable.filter((e) => key(e) !== key(avoid));
    if (usable.length <= 1) return usable[0];
    const a = usable[Math.floor(this.random() * usable.length)] as Endpoint;
    const b = usable[Math.floor(this.random() * usable.length)] as Endpoint;
    return this.activeOf(b) < this.activeOf(a) ? b : a;
  }

  /** An attempt starts on `endpoint`; the returned function reports how it went. */
  begin(endpoint: Endpoint): (outcome: 'success' | 'failure' | 'neutral') => void {
    const health = this.entry(key(endpoint));
    health.active++;
    let ended = false;
    return (outcome) => {
      if (ended) return;
      ended = true;
      health.active--;
      if (outcome === 'success') health.failures = 0;
      if (outcome === 'failure' && ++health.failures >= this.consecutiveFailures) {
        health.ejectedUntil = this.now() + this.ejectionMs;
        health.failures = 0;
        this.onEject?.({ endpoint: key(endpoint), until: health.ejectedUntil }, endpoint);
      }
    };
  }

  /** Leaves out an endpoint another process ejected, until its ejection ends (a later one here stands). */
  eject(ejection: Ejection): void {
    if (ejection.until <= this.now()) return;
    const health = this.entry(ejection.endpoint);
    health.ejectedUntil = Math.max(health.ejectedUntil, ejection.until);
    health.failures = 0;
  }

  /** Endpoints ejected now, for the admin dump. */
  ejected(): string[] {
    const now = this.now();
    return [...this.health].filter(([, h]) => h.ejectedUntil > now).map(([k]) => k);
  }

  private activeOf(endpoint: Endpoint): number {
    return this.health.get(key(endpoint))?.active ?? 0;
  }

  private entry(endpoint: string): Health {
    let health = this.health.get(endpoint);
    if (health === undefined) {
      if (this.health.size > 10_000) this.prune();
      this.health.set(endpoint, (health = { active: 0, failures: 0, ejectedUntil: 0 }));
    }
    return health;
  }

  private prune(): void {
    const now = this.now();
    for (const [k, h] of this.health) if (h.active === 0 && h.ejectedUntil <= now) this.health.delete(k);
  }
}

function key(endpoint: Endpoint): string {
  return formatAuthority(endpoint.address);
}
