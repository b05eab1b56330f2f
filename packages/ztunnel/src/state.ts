// The proxies' read-only view of the mesh for one node: lookups over what
// discovery delivered, plus the node's own enrolled (local HBONE) workloads.
// Nothing here applies updates: only the discovery client does.
import { serviceKey, type Authorization, type Service, type Workload } from '@ambit/api';
import type { MeshChange, MeshView } from '@ambit/cp-client';

/** The lookups resolution and authorization need; a MeshView or a table in tests. */
export interface MeshLookup {
  workload(uid: string): Workload | undefined;
  workloadByAddress(ip: string): Workload | undefined;
  serviceByVip(ip: string): Service | undefined;
  service(key: string): Service | undefined;
  authorizations(): Authorization[];
}

/** A MeshView that says when it changed (the MeshIndex). */
export interface ObservableMeshView extends MeshView {
  on(event: 'change', listener: (change: MeshChange) => void): unknown;
}

export class ZtunnelState implements MeshLookup {
  // The index answers lookups; listing everything (admin) needs the set, kept here from its changes.
  private readonly allWorkloads = new Map<string, Workload>();
  private readonly allServices = new Map<string, Service>();

  constructor(private readonly view: ObservableMeshView, readonly node: string) {
    view.on('change', (change) => {
      for (const resource of change.removed) {
        if (resource.kind === 'workload') this.allWorkloads.delete(resource.value.uid);
        else if (resource.kind === 'service') this.allServices.delete(serviceKey(resource.value));
      }
      for (const resource of change.upserted) {
        if (resource.kind === 'workload') this.allWorkloads.set(resource.value.uid, resource.value);
        else if (resource.kind === 'service') this.allServices.set(serviceKey(resource.value), resource.value);
      }
    });
  }

  /** Every workload discovery delivered, sorted by namespace/name. */
  workloads(): Workload[] {
    return [...this.allWorkloads.values()].sort((a, b) => compare(`${a.namespace}/${a.name}`, `${b.namespace}/${b.name}`));
  }

  /** Every service discovery delivered, sorted by namespace/name. */
  services(): Service[] {
    return [...this.allServices.values()].sort((a, b) => compare(serviceKey(a), serviceKey(b)));
  }

  get version(): string | undefined {
    return this.view.version;
  }

  workload(uid: string): Workload | undefined {
    return this.view.workload(uid);
  }

  workloadByAddress(ip: string): Workload | undefined {
    return this.view.workloadByAddress(ip);
  }

  serviceByVip(ip: string): Service | undefined {
    return this.view.serviceByVip(ip);
  }

  service(key: string): Service | undefined {
    return this.view.service(key);
  }

  authorizations(): Authorization[] {
    return this.view.authorizations();
  }

  counts(): { workloads: number; services: number; authorizations: number } {
    return this.view.counts();
  }

  /** Workloads scheduled on this node that are in the mesh: the ones this ztunnel serves. */
  localWorkloads(): Workload[] {
    return this.view.workloadsOnNode(this.node).filter(isLocalHbone(this.node));
  }

  /** The local enrolled workload at `ip`, if any. */
  localWorkloadByAddress(ip: string): Workload | undefined {
    const workload = this.view.workloadByAddress(ip);
    return workload !== undefined && isLocalHbone(this.node)(workload) ? workload : undefined;
  }

  /** Every address of every local enrolled workload, sorted. */
  localAddresses(): string[] {
    return [...new Set(this.localWorkloads().flatMap((w) => w.addresses))].sort();
  }

  /** Every address of every workload on this node, in the mesh or not, sorted. */
  nodeAddresses(): string[] {
    return [...new Set(this.view.workloadsOnNode(this.node).flatMap((w) => w.addresses))].sort();
  }

  /** The identities local enrolled workloads run as. */
  localIdentities(): Set<string> {
    return new Set(this.localWorkloads().map((w) => w.identity));
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function isLocalHbone(node: string): (workload: Workload) => boolean {
  return (workload) => workload.node === node && workload.protocol === 'HBONE';
}

/**
 * The service a connection to `workload` on `port` most likely came through
 * (inbound sees only the pod address): the first of the workload's services
 * whose endpoint for it maps some service port to `port`. For metrics only.
 */
export function guessInboundService(lookup: MeshLookup, workload: Workload, port: number): Service | undefined {
  for (const key of workload.services) {
    const service = lookup.service(key);
    const endpoint = service?.endpoints.find((e) => e.workloadUid === workload.uid);
    if (endpoint !== undefined && Object.values(endpoint.ports).includes(port)) return service;
  }
  return undefined;
}
