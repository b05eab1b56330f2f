// The waypoint controller's decisions, as data: given the Gateways and the
// objects the controller already owns, what to create, update and delete.
// Drift is detected through a hash of what the controller wants, kept in an
// annotation, so fields an API server defaults (or an autoscaler's replica
// count) never cause an update loop.
import { createHash } from 'node:crypto';
import type { Gateway, KubeObject } from '../resources.js';
import { toWaypoint, isWaypointGateway } from '../translate/waypoints.js';
import { MANAGED_KINDS, managedGatewayKey, waypointObjects, type ManagedKind, type WaypointObjectOptions } from './objects.js';

export const ANNOTATION_DESIRED_HASH = 'ambit.dev/desired-hash';

export type Action =
  | { op: 'create'; kind: ManagedKind; gateway: string; object: KubeObject }
  | { op: 'update'; kind: ManagedKind; gateway: string; namespace: string; name: string; patch: Record<string, unknown> }
  | { op: 'delete'; kind: ManagedKind; gateway: string; namespace: string; name: string; reason: string };

export type Owned = Readonly<Record<ManagedKind, readonly KubeObject[]>>;

export function planWaypoints(gateways: readonly Gateway[], owned: Owned, options: WaypointObjectOptions): Action[] {
  const actions: Action[] = [];
  const wanted = new Map<string, Gateway>();
  for (const gateway of gateways) {
    if (!isWaypointGateway(gateway) || gateway.metadata.deletionTimestamp !== undefined) continue;
    // A Gateway without the HBONE listener gets no pods; its status says why.
    if (toWaypoint(gateway, options.trustDomain).invalid !== undefined) continue;
    wanted.set(`${gateway.metadata.namespace ?? 'default'}/${gateway.metadata.name}`, gateway);
  }
  for (const [key, gateway] of wanted) {
    const desired = waypointObjects(gateway, options);
    for (const kind of MANAGED_KINDS) {
      const object = kind === 'ServiceAccount' ? desired.serviceAccount : kind === 'Deployment' ? desired.deployment : desired.service;
      const hash = desiredHash(object);
      const existing = owned[kind].find((o) => o.metadata.name === object.metadata.name && o.metadata.namespace === object.metadata.namespace);
      const annotated = withHash(object, hash);
      if (existing === undefined) {
        actions.push({ op: 'create', kind, gateway: key, object: annotated });
      } else if (existing.metadata.annotations?.[ANNOTATION_DESIRED_HASH] !== hash) {
        actions.push({
          op: 'update', kind, gateway: key, namespace: object.metadata.namespace ?? 'default', name: object.metadata.name,
          patch: updatePatch(kind, annotated),
        });
      }
    }
  }
  for (const kind of MANAGED_KINDS) {
    for (const object of owned[kind]) {
      const key = managedGatewayKey(object);
      if (key === undefined || wanted.has(key)) continue;
      actions.push({
        op: 'delete', kind, gateway: key, namespace: object.metadata.namespace ?? 'default', name: object.metadata.name,
        reason: `Gateway ${key} no longer asks for a waypoint (deleted, another class, or no HBONE listener)`,
      });
    }
  }
  return actions;
}

/**
 * What the controller wants of an object, hashed: labels, owner, spec
 * (replicas excluded: scaling is not drift) and any other top-level field
 * (a ServiceAccount's automountServiceAccountToken).
 */
export function desiredHash(object: KubeObject): string {
  const spec = object.kind === 'Deployment' ? { ...(object.spec as Record<string, unknown>), replicas: undefined } : object.spec;
  const rest = topLevel(object);
  // Without other fields, the hash is what it was before they were hashed: no needless update.
  const parts = [object.metadata.labels, object.metadata.ownerReferences, spec, ...(Object.keys(rest).length === 0 ? [] : [rest])];
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 16);
}

/** Top-level fields other than type, metadata, spec and status. */
function topLevel(object: KubeObject): Record<string, unknown> {
  const { apiVersion: _apiVersion, kind: _kind, metadata: _metadata, spec: _spec, status: _status, ...rest } = object;
  return rest;
}

function withHash(object: KubeObject, hash: string): KubeObject {
  return { ...object, metadata: { ...object.metadata, annotations: { ...(object.metadata.annotations ?? {}), [ANNOTATION_DESIRED_HASH]: hash } } };
}

/** A merge patch bringing labels, owner, the hash, other top-level fields and the spec (not replicas) to what we want. */
function updatePatch(kind: ManagedKind, object: KubeObject): Record<string, unknown> {
  const metadata = {
    labels: object.metadata.labels, annotations: object.metadata.annotations,
    ...(object.metadata.ownerReferences === undefined ? {} : { ownerReferences: object.metadata.ownerReferences }),
  };
  if (object.spec === undefined) return { metadata, ...topLevel(object) };
  const { replicas: _replicas, ...spec } = object.spec as Record<string, unknown>;
  return { metadata, ...topLevel(object), spec: kind === 'Deployment' ? spec : object.spec };
}
