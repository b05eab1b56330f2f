// Versioned membership of one waypoint's scope. A resource can enter or
// leave the scope without changing itself (a route that starts sending to a
// service pulls in that unchanged service), so a scoped delta cannot come
// from resource versions alone: this records, at every state version, when
// each member entered and a tombstone for each one that left. A receiver of
// the scope at V then needs the members that entered or changed after V and
// the removals of those that left after V.
import type { Removal, Resource } from '@ambit/api';
import { DEFAULT_TOMBSTONE_LIMIT, removalOf, type Changes, type VersionedState } from './state.js';

export class ScopeMembership {
  /** Member id → the version at which it (last) entered. */
  private readonly members = new Map<string, number>();
  private readonly left = new Map<string, { removal: Removal; version: number }>();
  /** Deltas are answerable only for `since >= floor`: the membership was not recorded before. */
  private floor: number;
  private current: number;

  /** Starts recording at `version`, with the scope at that version. */
  constructor(version: number, ids: Iterable<string>, private readonly tombstoneLimit = DEFAULT_TOMBSTONE_LIMIT) {
    this.floor = version;
    this.current = version;
    for (const id of ids) this.members.set(id, version);
  }

  get version(): number {
    return this.current;
  }

  get size(): number {
    return this.members.size;
  }

  /** Records the scope at `version`; must be called for every state version after the first, in order. */
  update(version: number, ids: ReadonlySet<string>): void {
    for (const id of ids) {
      if (this.members.has(id)) continue;
      this.members.set(id, version);
      this.left.delete(id);
    }
    for (const id of this.members.keys()) {
      if (ids.has(id)) continue;
      this.members.delete(id);
      this.left.set(id, { removal: removalOf(id), version });
    }
    this.current = version;
    this.pruneTombstones();
  }

  needsSnapshot(since: number | undefined): boolean {
    return since === undefined || since < this.floor || since > this.current;
  }

  /** What a receiver of this scope at version `since` needs; `state` must be at this membership's version. */
  changesSince(since: number | undefined, state: Pick<VersionedState, 'lookup'>): Changes {
    const upserts: Resource[] = [];
    if (since === undefined || this.needsSnapshot(since)) {
      for (const id of this.members.keys()) {
        const entry = state.lookup(id);
        if (entry !== undefined) upserts.push(entry.resource);
      }
      return { version: this.current, snapshot: true, upserts, removals: [] };
    }
    for (const [id, entered] of this.members) {
      const entry = state.lookup(id);
      if (entry !== undefined && (entered > since || entry.version > since)) upserts.push(entry.resource);
    }
    const removals: Removal[] = [];
    for (const tombstone of this.left.values()) if (tombstone.version > since) removals.push(tombstone.removal);
    return { version: this.current, snapshot: false, upserts, removals };
  }

  private pruneTombstones(): void {
    if (this.left.size <= this.tombstoneLimit) return;
    // Oldest first (Map keeps insertion order and a member that leaves again is re-inserted).
    const excess = this.left.size - this.tombstoneLimit;
    let dropped = 0;
    for (const [id, tombstone] of this.left) {
      if (dropped++ >= excess) break;
      this.left.delete(id);
      this.floor = Math.max(this.floor, tombstone.version);
    }
  }
}
