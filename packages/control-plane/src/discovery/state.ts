// Versioned mesh state for discovery. Each publish diffs the new state
// against the current one, stamps every changed resource with the new
// version and keeps tombstones for removals, so "everything that changed
// since version V" is answerable for any subscriber without per-subscriber
// copies: a subscriber only remembers the last version it was sent.
import { resourceKey, type Removal, type Resource, type ResourceKind } from '@ambit/api';

interface Entry {
  resource: Resource;
  /** Canonical JSON, to detect real changes. */
  json: string;
  version: number;
}

export interface Changes {
  version: number;
  /** True when `since` was too old (or absent): `upserts` is everything and the receiver must drop the rest. */
  snapshot: boolean;
  upserts: Resource[];
  removals: Removal[];
}

export const DEFAULT_TOMBSTONE_LIMIT = 50_000;

export class VersionedState {
  private readonly entries = new Map<string, Entry>();
  private readonly tombstones = new Map<string, { removal: Removal; version: number }>();
  /** Deltas are answerable only for `since >= floor`; older subscribers get a snapshot. */
  private floor = 0;
  private current = 0;

  constructor(private readonly tombstoneLimit = DEFAULT_TOMBSTONE_LIMIT) {}

  get version(): number {
    return this.current;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Replaces the state; returns the number of changed resources (0 = version unchanged). */
  publish(resources: readonly Resource[]): number {
    const next = new Map<string, Resource>();
    for (const resource of resources) next.set(keyOf(resource), resource);
    const version = this.current + 1;
    let changed = 0;
    for (const [key, resource] of next) {
      const json = JSON.stringify(resource.value);
      const existing = this.entries.get(key);
      if (existing !== undefined && existing.json === json) continue;
      this.entries.set(key, { resource, json, version });
      this.tombstones.delete(key);
      changed++;
    }
    for (const [key, entry] of this.entries) {
      if (next.has(key)) continue;
      this.entries.delete(key);
      this.tombstones.set(key, { removal: { kind: entry.resource.kind, key: resourceKey(entry.resource) }, version });
      changed++;
    }
    if (changed === 0) return 0;
    this.current = version;
    this.pruneTombstones();
    return changed;
  }

  /** Whether a receiver at `since` must be sent a snapshot (new, too old, or from another run). */
  needsSnapshot(since: number | undefined): boolean {
    return since === undefined || since < this.floor || since > this.current;
  }

  /** What a receiver at version `since` needs to reach the current version. */
  changesSince(since: number | undefined): Changes {
    if (since === undefined || this.needsSnapshot(since)) {
      return { version: this.current, snapshot: true, upserts: [...this.entries.values()].map((e) => e.resource), removals: [] };
    }
    const upserts: Resource[] = [];
    for (const entry of this.entries.values()) if (entry.version > since) upserts.push(entry.resource);
    const removals: Removal[] = [];
    for (const tombstone of this.tombstones.values()) if (tombstone.version > since) removals.push(tombstone.removal);
    return { version: this.current, snapshot: false, upserts, removals };
  }

  get(kind: ResourceKind, key: string): Resource | undefined {
    return this.entries.get(resourceId(kind, key))?.resource;
  }

  /** A resource by its id (`kind/key`) with the version that last changed it. */
  lookup(id: string): { resource: Resource; version: number } | undefined {
    return this.entries.get(id);
  }

  /** Every current resource. */
  *resources(): IterableIterator<Resource> {
    for (const entry of this.entries.values()) yield entry.resource;
  }

  private pruneTombstones(): void {
    if (this.tombstones.size <= this.tombstoneLimit) return;
    // Oldest first (Map keeps insertion order and re-removals re-insert).
    const excess = this.tombstones.size - this.tombstoneLimit;
    let dropped = 0;
    for (const [key, tombstone] of this.tombstones) {
      if (dropped++ >= excess) break;
      this.tombstones.delete(key);
      this.floor = Math.max(this.floor, tombstone.version);
    }
  }
}

/** How resources are identified across kinds: `kind/key` (keys themselves contain slashes). */
export function resourceId(kind: ResourceKind, key: string): string {
  return `${kind}/${key}`;
}

/** The removal that takes the resource `id` away. */
export function removalOf(id: string): Removal {
  const at = id.indexOf('/');
  return { kind: id.slice(0, at) as ResourceKind, key: id.slice(at + 1) };
}

function keyOf(resource: Resource): string {
  return resourceId(resource.kind, resourceKey(resource));
}
