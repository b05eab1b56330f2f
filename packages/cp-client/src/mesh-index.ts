// The proxies' view of the mesh: what discovery delivered, indexed for the
// lookups the data path makes (by address, by service VIP, by node, by
// identity). An update is validated whole before anything changes, so a bad
// version is rejected (NACK) and the last good state keeps serving.
import { EventEmitter } from 'node:events';
import { AmbitError } from '@ambit/core';
import { resourceKey, serviceKey, type Authorization, type HttpRoute, type DiscoveryUpdate, type Resource, type Service, type Workload } from '@ambit/api';

export interface MeshChange {
  version: string;
  snapshot: boolean;
  upserted: Resource[];
  removed: Resource[];
}

/** Lookups only: what a proxy component receives (it never applies updates). */
export interface MeshView {
  readonly version: string | undefined;
  workload(uid: string): Workload | undefined;
  workloadByAddress(ip: string): Workload | undefined;
  workloadsOnNode(node: string): Workload[];
  workloadsWithIdentity(identity: string): Workload[];
  service(key: string): Service | undefined;
  serviceByVip(ip: string): Service | undefined;
  authorizations(): Authorization[];
  routes(): HttpRoute[];
  counts(): { workloads: number; services: number; authorizations: number };
}

export interface MeshIndexEvents {
  change: [MeshChange];
}

export class MeshIndex extends EventEmitter<MeshIndexEvents> implements MeshView {
  private currentVersion: string | undefined;
  private readonly workloads = new Map<string, Workload>();
  private readonly services = new Map<string, Service>();
  private readonly policies = new Map<string, Authorization>();
  private readonly httpRoutes = new Map<string, HttpRoute>();
  private readonly byAddress = new Map<string, Workload>();
  private readonly byVip = new Map<string, Service>();
  private readonly byNode = new Map<string, Set<string>>();
  private readonly byIdentity = new Map<string, Set<string>>();

  get version(): string | undefined {
    return this.currentVersion;
  }

  /** Applies a discovery update; throws (and changes nothing) when it is malformed. */
  apply(update: DiscoveryUpdate): MeshChange {
    validate(update);
    const removed: Resource[] = [];
    if (update.snapshot) {
      const incoming = new Set(update.upserts.map((r) => `${r.kind}/${resourceKey(r)}`));
      for (const resource of this.all()) if (!incoming.has(`${resource.kind}/${resourceKey(resource)}`)) removed.push(resource);
    } else {
      for (const removal of update.removals) {
        const existing = this.find(removal.kind, removal.key);
        if (existing !== undefined) removed.push(existing);
      }
    }
    for (const resource of removed) this.remove(resource);
    for (const resource of update.upserts) this.upsert(resource);
    this.currentVersion = update.version;
    const change: MeshChange = { version: update.version, snapshot: update.snapshot, upserted: update.upserts, removed };
    this.emit('change', change);
    return change;
  }

  workload(uid: string): Workload | undefined {
    return this.workloads.get(uid);
  }

  workloadByAddress(ip: string): Workload | undefined {
    return this.byAddress.get(ip);
  }

  workloadsOnNode(node: string): Workload[] {
    return [...(this.byNode.get(node) ?? [])].map((uid) => this.workloads.get(uid)).filter((w): w is Workload => w !== undefined);
  }

  workloadsWithIdentity(identity: string): Workload[] {
    return [...(this.byIdentity.get(identity) ?? [])].map((uid) => this.workloads.get(uid)).filter((w): w is Workload => w !== undefined);
  }

  service(key: string): Service | undefined {
    return this.services.get(key);
  }

  serviceByVip(ip: string): Service | undefined {
    return this.byVip.get(ip);
  }

  routes(): HttpRoute[] {
    return [...this.httpRoutes.values()];
  }

  authorizations(): Authorization[] {
    return [...this.policies.values()];
  }

  counts(): { workloads: number; services: number; authorizations: number } {
    return { workloads: this.workloads.size, services: this.services.size, authorizations: this.policies.size };
  }

  private *all(): Iterable<Resource> {
    for (const value of this.workloads.values()) yield { kind: 'workload', value };
    for (const value of this.services.values()) yield { kind: 'service', value };
    for (const value of this.policies.values()) yield { kind: 'authorization', value };
    for (const value of this.httpRoutes.values()) yield { kind: 'route', value };
  }

  private find(kind: Resource['kind'], key: string): Resource | undefined {
    switch (kind) {
      case 'workload': {
        const value = this.workloads.get(key);
        return value === undefined ? undefined : { kind, value };
      }
      case 'service': {
        const value = this.services.get(key);
        return value === undefined ? undefined : { kind, value };
      }
      case 'authorization': {
        const value = this.policies.get(key);
        return value === undefined ? undefined : { kind, value };
      }
      case 'route': {
        const value = this.httpRoutes.get(key);
        return value === undefined ? undefined : { kind, value };
      }
    }
  }

  private upsert(resource: Resource): void {
    const existing = this.find(resource.kind, resourceKey(resource));
    if (existing !== undefined) this.remove(existing);
    switch (resource.kind) {
      case 'workload': {
        const w = resource.value;
        this.workloads.set(w.uid, w);
        for (const ip of w.addresses) this.byAddress.set(ip, w);
        addTo(this.byNode, w.node, w.uid);
        addTo(this.byIdentity, w.identity, w.uid);
        break;
      }
      case 'service': {
        const s = resource.value;
        this.services.set(serviceKey(s), s);
        for (const vip of s.vips) this.byVip.set(vip, s);
        break;
      }
      case 'authorization':
        this.policies.set(resource.value.key, resource.value);
        break;
      case 'route':
        this.httpRoutes.set(resource.value.key, resource.value);
        break;
    }
  }

  private remove(resource: Resource): void {
    switch (resource.kind) {
      case 'workload': {
        const w = resource.value;
        this.workloads.delete(w.uid);
        for (const ip of w.addresses) if (this.byAddress.get(ip)?.uid === w.uid) this.byAddress.delete(ip);
        removeFrom(this.byNode, w.node, w.uid);
        removeFrom(this.byIdentity, w.identity, w.uid);
        break;
      }
      case 'service': {
        const key = serviceKey(resource.value);
        for (const vip of resource.value.vips) if (this.byVip.get(vip) === resource.value) this.byVip.delete(vip);
        this.services.delete(key);
        break;
      }
      case 'authorization':
        this.policies.delete(resource.value.key);
        break;
      case 'route':
        this.httpRoutes.delete(resource.value.key);
        break;
    }
  }
}

function addTo(index: Map<string, Set<string>>, key: string, uid: string): void {
  let set = index.get(key);
  if (set === undefined) index.set(key, (set = new Set()));
  set.add(uid);
}

function removeFrom(index: Map<string, Set<string>>, key: string, uid: string): void {
  const set = index.get(key);
  set?.delete(uid);
  if (set?.size === 0) index.delete(key);
}

/** Structural checks of everything the indexes rely on; the first problem is reported with its position. */
function validate(update: DiscoveryUpdate): void {
  const fail = (where: string, what: string): never => {
    throw new AmbitError('invalid-argument', `update ${String(update.version)}: ${where}: ${what}`);
  };
  if (update === null || typeof update !== 'object' || update.type !== 'update') fail('(root)', 'not an update message');
  if (typeof update.version !== 'string' || update.version === '') fail('version', 'missing');
  if (typeof update.snapshot !== 'boolean') fail('snapshot', 'must be true or false');
  if (!Array.isArray(update.upserts)) fail('upserts', 'must be a list');
  if (!Array.isArray(update.removals)) fail('removals', 'must be a list');
  update.upserts.forEach((resource, i) => {
    const where = `upserts[${i}]`;
    const value = (resource as { value?: unknown } | null)?.value as Record<string, unknown> | undefined;
    if (value === undefined || value === null || typeof value !== 'object') fail(where, 'has no value');
    const v = value as Record<string, unknown>;
    switch ((resource as { kind?: unknown }).kind) {
      case 'workload':
        if (typeof v.uid !== 'string' || v.uid === '') fail(`${where}.value.uid`, 'missing');
        if (!isStringList(v.addresses)) fail(`${where}.value.addresses`, 'must be a list of addresses');
        if (typeof v.node !== 'string') fail(`${where}.value.node`, 'missing');
        if (typeof v.identity !== 'string' || !v.identity.startsWith('spiffe://')) fail(`${where}.value.identity`, 'must be a SPIFFE ID');
        if (v.protocol !== 'HBONE' && v.protocol !== 'TCP') fail(`${where}.value.protocol`, 'must be HBONE or TCP');
        break;
      case 'service':
        if (typeof v.name !== 'string' || typeof v.namespace !== 'string') fail(`${where}.value`, 'needs name and namespace');
        if (!isStringList(v.vips)) fail(`${where}.value.vips`, 'must be a list of addresses');
        if (!Array.isArray(v.ports) || !Array.isArray(v.endpoints)) fail(`${where}.value`, 'needs ports and endpoints lists');
        break;
      case 'route':
        if (typeof v.key !== 'string') fail(`${where}.value.key`, 'missing');
        if (!Array.isArray(v.parents) || !Array.isArray(v.rules)) fail(`${where}.value`, 'needs parents and rules lists');
        break;
      case 'authorization':
        if (typeof v.key !== 'string') fail(`${where}.value.key`, 'missing');
        if (v.action !== 'ALLOW' && v.action !== 'DENY') fail(`${where}.value.action`, 'must be ALLOW or DENY');
        if (!Array.isArray(v.rules)) fail(`${where}.value.rules`, 'must be a list');
        break;
      default:
        fail(`${where}.kind`, `unknown kind ${JSON.stringify((resource as { kind?: unknown }).kind)}`);
    }
  });
  update.removals.forEach((removal, i) => {
    if (!['workload', 'service', 'authorization', 'route'].includes(removal?.kind) || typeof removal?.key !== 'string') {
      fail(`removals[${i}]`, 'needs a known kind and a key');
    }
  });
}

function isStringList(value: unknown): boolean {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}
