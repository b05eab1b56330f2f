// Writes the conditions the translation computed back to the objects'
// status, through the store (both backends). Only the condition types the
// control plane owns are touched; a condition keeps its lastTransitionTime
// while its status does not change; nothing is written when nothing
// changed. A conflict just waits for the next round (the object changed, so
// a new translation is coming).
import { isAmbitError, silentLogger, type Logger } from '@ambit/core';
import type { Condition, Kind, KubeObject } from '../resources.js';
import type { Store } from '../store/store.js';
import type { StatusUpdate, StatusKind } from '../translate/types.js';
import { CONDITION_ACCEPTED, CONDITION_PROGRAMMED, CONDITION_WAYPOINT_BOUND } from '../translate/status.js';

/** The condition types this control plane owns, per kind. */
export const OWNED_CONDITIONS: Record<StatusKind, readonly string[]> = {
  Gateway: [CONDITION_PROGRAMMED],
  Service: [CONDITION_WAYPOINT_BOUND],
  AuthorizationPolicy: [CONDITION_ACCEPTED],
  PeerAuthentication: [CONDITION_ACCEPTED],
};

type ObjectLookup = (kind: StatusKind) => readonly KubeObject[];

export class StatusWriter {
  writes = 0;
  private readonly log: Logger;

  constructor(private readonly store: Store, private readonly objects: ObjectLookup, logger: Logger = silentLogger) {
    this.log = logger.child({ component: 'status-writer' });
  }

  /** Brings every owned condition in line with `updates`; objects without an update lose their owned conditions. */
  async apply(updates: readonly StatusUpdate[], now = new Date()): Promise<void> {
    const wanted = new Map(updates.map((u) => [`${u.kind}/${u.namespace}/${u.name}`, u]));
    const writes: Promise<void>[] = [];
    for (const kind of Object.keys(OWNED_CONDITIONS) as StatusKind[]) {
      for (const object of this.objects(kind)) {
        const update = wanted.get(`${kind}/${object.metadata.namespace ?? ''}/${object.metadata.name}`);
        const current = conditionsOf(object);
        const next = merge(current, update?.conditions ?? [], OWNED_CONDITIONS[kind], now);
        if (sameConditions(current, next)) continue;
        writes.push(this.write(kind, object, next));
      }
    }
    await Promise.all(writes);
  }

  private async write(kind: Kind, object: KubeObject, conditions: Condition[]): Promise<void> {
    const status = { ...(object.status as Record<string, unknown> | undefined), conditions };
    try {
      await this.store.updateStatus(kind, object.metadata.name, object.metadata.namespace, status, object.metadata.resourceVersion);
      this.writes++;
    } catch (error) {
      if (isAmbitError(error, 'conflict') || isAmbitError(error, 'not-found')) return;
      this.log.warn({ kind, object: `${object.metadata.namespace ?? ''}/${object.metadata.name}`, err: (error as Error).message }, 'status write failed');
    }
  }
}

function conditionsOf(object: KubeObject): Condition[] {
  const conditions = (object.status as { conditions?: unknown } | undefined)?.conditions;
  return Array.isArray(conditions) ? (conditions as Condition[]) : [];
}

/** Others' conditions kept as they are; ours replaced, keeping the transition time of an unchanged status. */
export function merge(current: readonly Condition[], desired: readonly Condition[], owned: readonly string[], now: Date): Condition[] {
  const result = current.filter((c) => !owned.includes(c.type));
  for (const condition of desired) {
    const previous = current.find((c) => c.type === condition.type);
    const lastTransitionTime = previous !== undefined && previous.status === condition.status && previous.lastTransitionTime !== undefined
      ? previous.lastTransitionTime
      : now.toISOString();
    result.push({ ...condition, lastTransitionTime });
  }
  return result;
}

function sameConditions(a: readonly Condition[], b: readonly Condition[]): boolean {
  if (a.length !== b.length) return false;
  const key = (c: Condition): string => JSON.stringify([c.type, c.status, c.reason, c.message, c.observedGeneration, c.lastTransitionTime]);
  const left = a.map(key).sort();
  const right = b.map(key).sort();
  return left.every((value, i) => value === right[i]);
}
