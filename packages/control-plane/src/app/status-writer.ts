// Writes the status the translation computed back to the objects, through
// the store (both backends). Only what the control plane owns is touched:
// the condition types below on most kinds, and on HTTPRoute the
// `status.parents` entries whose controllerName is ours (other controllers'
// entries are left alone, as the Gateway API requires). A condition keeps its
// lastTransitionTime while its status does not change; nothing is written when
// nothing changed. A conflict just waits for the next round (the object
// changed, so a new translation is coming).
import { isAmbitError, silentLogger, type Logger } from '@ambit/core';
import { WAYPOINT_GATEWAY_CLASS } from '../resources.js';
import type { Condition, Gateway, HTTPRoute, Kind, KubeObject, ParentReference, RouteParentStatus } from '../resources.js';
import type { Store } from '../store/store.js';
import type { ConditionStatusKind, StatusKind, StatusUpdate } from '../translate/types.js';
import { CONDITION_ACCEPTED, CONDITION_PROGRAMMED, CONDITION_WAYPOINT_BOUND } from '../translate/status.js';
import { ROUTE_CONTROLLER_NAME } from '../translate/routes.js';

/** The condition types this control plane owns, per kind (HTTPRoute: whole parents entries, see above). */
export const OWNED_CONDITIONS: Record<ConditionStatusKind, readonly string[]> = {
  Gateway: [CONDITION_ACCEPTED, CONDITION_PROGRAMMED],
  Service: [CONDITION_WAYPOINT_BOUND],
  AuthorizationPolicy: [CONDITION_ACCEPTED],
  PeerAuthentication: [CONDITION_ACCEPTED],
};

const STATUS_KINDS: readonly StatusKind[] = [...(Object.keys(OWNED_CONDITIONS) as ConditionStatusKind[]), 'HTTPRoute'];

type ObjectLookup = (kind: StatusKind) => readonly KubeObject[];

export class StatusWriter {
  writes = 0;
  private readonly log: Logger;

  constructor(private readonly store: Store, private readonly objects: ObjectLookup, logger: Logger = silentLogger) {
    this.log = logger.child({ component: 'status-writer' });
  }

  /** Brings everything owned in line with `updates`; objects without an update lose what we own on them. */
  async apply(updates: readonly StatusUpdate[], now = new Date()): Promise<void> {
    const wanted = new Map(updates.map((u) => [`${u.kind}/${u.namespace}/${u.name}`, u]));
    const writes: Promise<void>[] = [];
    for (const kind of STATUS_KINDS) {
      for (const object of this.objects(kind)) {
        const update = wanted.get(`${kind}/${object.metadata.namespace ?? ''}/${object.metadata.name}`);
        if (kind === 'HTTPRoute') {
          const current = parentsOf(object);
          const next = mergeParents(current, update?.kind === 'HTTPRoute' ? update.parents : [], ROUTE_CONTROLLER_NAME, now);
          if (canonical(current) !== canonical(next)) writes.push(this.write(kind, object, { parents: next }));
          continue;
        }
        // Gateways of other classes belong to other controllers.
        if (kind === 'Gateway' && (object as Gateway).spec?.gatewayClassName !== WAYPOINT_GATEWAY_CLASS) continue;
        const current = conditionsOf(object);
        const conditionUpdate = update?.kind !== 'HTTPRoute' ? update : undefined;
        const next = merge(current, conditionUpdate?.conditions ?? [], OWNED_CONDITIONS[kind], now);
        const fields: Record<string, unknown> = {};
        if (!sameConditions(current, next)) fields.conditions = next;
        const addresses = conditionUpdate?.addresses;
        if (addresses !== undefined && canonical((object as Gateway).status?.addresses ?? []) !== canonical(addresses)) fields.addresses = addresses;
        if (Object.keys(fields).length > 0) writes.push(this.write(kind, object, fields));
      }
    }
    await Promise.all(writes);
  }

  private async write(kind: Kind, object: KubeObject, fields: Record<string, unknown>): Promise<void> {
    const status = { ...(object.status as Record<string, unknown> | undefined), ...fields };
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

function parentsOf(object: KubeObject): RouteParentStatus[] {
  const parents = (object as HTTPRoute).status?.parents;
  return Array.isArray(parents) ? parents : [];
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

/**
 * Route parents: entries of other controllers kept as they are (in place);
 * ours replaced by `desired`, each condition keeping its lastTransitionTime
 * while its status is unchanged for the same parentRef.
 */
export function mergeParents(
  current: readonly RouteParentStatus[], desired: readonly RouteParentStatus[], controllerName: string, now: Date,
): RouteParentStatus[] {
  const result = current.filter((p) => p.controllerName !== controllerName);
  for (const entry of desired) {
    const previous = current.find((p) => p.controllerName === controllerName && sameParent(p.parentRef, entry.parentRef));
    result.push({ ...entry, conditions: merge(previous?.conditions ?? [], entry.conditions, entry.conditions.map((c) => c.type).concat(ownedTypes(previous)), now) });
  }
  return result;
}

function ownedTypes(entry: RouteParentStatus | undefined): string[] {
  return (entry?.conditions ?? []).map((c) => c.type);
}

function sameParent(a: ParentReference, b: ParentReference): boolean {
  const norm = (r: ParentReference): string => JSON.stringify([
    r.group ?? 'gateway.networking.k8s.io', r.kind ?? 'Gateway', r.namespace ?? '', r.name, r.port ?? null, r.sectionName ?? null,
  ]);
  return norm(a) === norm(b);
}

/** JSON with object keys sorted: API servers do not keep our key order. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (v !== null && typeof v === 'object' && !Array.isArray(v)
    ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
    : v));
}

function sameConditions(a: readonly Condition[], b: readonly Condition[]): boolean {
  if (a.length !== b.length) return false;
  const key = (c: Condition): string => JSON.stringify([c.type, c.status, c.reason, c.message, c.observedGeneration, c.lastTransitionTime]);
  const left = a.map(key).sort();
  const right = b.map(key).sort();
  return left.every((value, i) => value === right[i]);
}
