// The discovery protocol: one long-lived stream per proxy. The control plane
// sends a full snapshot, then deltas; each carries a version the proxy
// acknowledges or rejects. Messages are JSON, one per line (NDJSON) on an
// HTTP/2 stream.
import type { Authorization } from './authorization.js';
import type { HttpRoute } from './route.js';
import { serviceKey, type Service, type Workload } from './workload.js';

export type ProxyRole = 'ztunnel' | 'waypoint';

/** Who is subscribing; the control plane checks it against the caller's certificate. */
export interface SubscribeRequest {
  role: ProxyRole;
  /** ztunnel: the node it serves. */
  node?: string;
  /** waypoint: the Gateway namespace/name it runs. */
  gateway?: string;
  /** Version the proxy already has, to resume without a full snapshot when possible. */
  lastVersion?: string;
}

export type Resource =
  | { kind: 'workload'; value: Workload }
  | { kind: 'service'; value: Service }
  | { kind: 'authorization'; value: Authorization }
  | { kind: 'route'; value: HttpRoute };

export type ResourceKind = Resource['kind'];

export interface Removal {
  kind: ResourceKind;
  key: string;
}

export interface DiscoveryUpdate {
  type: 'update';
  version: string;
  /** A snapshot replaces everything the proxy had; a delta applies on top. */
  snapshot: boolean;
  upserts: Resource[];
  removals: Removal[];
}

export interface DiscoveryAck {
  type: 'ack';
  version: string;
  /** Set for a NACK: why the proxy rejected the version (it keeps its last good state). */
  error?: string;
}

/** The key a resource is stored and removed under: workload uid, service namespace/name, policy namespace/name. */
export function resourceKey(resource: Resource): string {
  switch (resource.kind) {
    case 'workload':
      return resource.value.uid;
    case 'service':
      return serviceKey(resource.value);
    case 'authorization':
    case 'route':
      return resource.value.key;
  }
}
