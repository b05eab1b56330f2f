// Waypoints and who is bound to them. A waypoint is a Gateway of class
// `ambit-waypoint` with an HBONE listener on 15008; the controller fills its
// address into status. Binding follows Istio's `istio.io/use-waypoint`:
// the label value is the Gateway's name, in the labelled object's namespace
// unless `use-waypoint-namespace` (on the same object) names another one; the
// pod's or service's own label beats its namespace's; `none` opts out.
import type { WaypointBinding, WaypointFor } from '@ambit/api';
import {
  LABEL_USE_WAYPOINT, LABEL_WAYPOINT_FOR, WAYPOINT_GATEWAY_CLASS, WAYPOINT_PORT,
} from '../resources.js';
import type { Gateway, Namespace, Pod, Service } from '../resources.js';
import { managedServiceAddress } from '../waypoint-controller/objects.js';

export const LABEL_USE_WAYPOINT_NAMESPACE = 'ambit.dev/use-waypoint-namespace';
/** Set by the Gateway API on the pods that run a Gateway (and by our controller). */
export const LABEL_GATEWAY_NAME = 'gateway.networking.k8s.io/gateway-name';

export interface Waypoint {
  /** namespace/name of the Gateway. */
  key: string;
  namespace: string;
  name: string;
  for: WaypointFor;
  /**
   * The clusterIP of the waypoint's managed Service (ztunnels pick one of its
   * ready pods), else status.addresses[0] (a waypoint run by someone else);
   * absent until one exists.
   */
  address?: string;
  identity: string;
  /** Why the Gateway cannot act as a waypoint (no HBONE listener on 15008). */
  invalid?: string;
}

export type BindingTarget = 'service' | 'workload';

export type BindingResult =
  /** No use-waypoint label applies, or it says `none`. */
  | { state: 'none' }
  | { state: 'bound'; binding: WaypointBinding }
  | { state: 'unbound'; gateway: string; reason: UnboundReason; message: string };

export type UnboundReason =
  | 'InvalidReference' | 'WaypointNotFound' | 'WaypointInvalid' | 'WaypointNotReady' | 'WaypointNotForTarget';

export function isWaypointGateway(gateway: Gateway): boolean {
  return gateway.spec?.gatewayClassName === WAYPOINT_GATEWAY_CLASS;
}

/**
 * Gateways of class ambit-waypoint, keyed by namespace/name (invalid ones
 * included, flagged). `services`: where the controller's Services are found.
 */
export function waypointsOf(gateways: readonly Gateway[], trustDomain: string, services: readonly Service[] = []): Map<string, Waypoint> {
  const result = new Map<string, Waypoint>();
  for (const gateway of gateways) {
    if (!isWaypointGateway(gateway)) continue;
    const key = `${gateway.metadata.namespace ?? 'default'}/${gateway.metadata.name}`;
    const waypoint = toWaypoint(gateway, trustDomain, managedServiceAddress(services, key));
    result.set(waypoint.key, waypoint);
  }
  return result;
}

export function toWaypoint(gateway: Gateway, trustDomain: string, managedAddress?: string): Waypoint {
  const namespace = gateway.metadata.namespace ?? 'default';
  const name = gateway.metadata.name;
  const hasHbone = (gateway.spec?.listeners ?? []).some((l) => l.port === WAYPOINT_PORT && l.protocol === 'HBONE');
  const address = managedAddress ?? gateway.status?.addresses?.[0]?.value;
  const waypoint: Waypoint = {
    key: `${namespace}/${name}`,
    namespace,
    name,
    for: waypointFor(gateway.metadata.labels?.[LABEL_WAYPOINT_FOR]),
    identity: `spiffe://${trustDomain}/ns/${namespace}/sa/${name}`,
  };
  if (address !== undefined && address !== '') waypoint.address = address;
  if (!hasHbone) waypoint.invalid = `no listener with port ${WAYPOINT_PORT} and protocol HBONE`;
  return waypoint;
}

/** `service` unless the label names another valid value (Istio's default too). */
export function waypointFor(value: string | undefined): WaypointFor {
  return value === 'workload' || value === 'all' || value === 'none' ? value : 'service';
}

export function serves(waypoint: Waypoint, target: BindingTarget): boolean {
  return waypoint.for === 'all' || waypoint.for === target;
}

interface Labelled {
  metadata: { namespace?: string; labels?: Record<string, string> };
}

/**
 * The waypoint an object (pod or service) must be reached through.
 * `namespace` is the object's Namespace (its labels are the fallback).
 */
export function resolveWaypoint(
  object: Labelled, namespace: Namespace | undefined, target: BindingTarget, waypoints: ReadonlyMap<string, Waypoint>,
): BindingResult {
  const objectNamespace = object.metadata.namespace ?? 'default';
  const own = requested(object.metadata.labels, objectNamespace);
  const ref = own ?? requested(namespace?.metadata.labels, objectNamespace);
  if (ref === undefined || ref === 'none') return { state: 'none' };
  if ('invalid' in ref) {
    return { state: 'unbound', gateway: ref.invalid, reason: 'InvalidReference', message: `${LABEL_USE_WAYPOINT}=${JSON.stringify(ref.invalid)} is not a Gateway name` };
  }
  const key = `${ref.namespace}/${ref.name}`;
  const waypoint = waypoints.get(key);
  if (waypoint === undefined) {
    return { state: 'unbound', gateway: key, reason: 'WaypointNotFound', message: `no Gateway ${key} of class ambit-waypoint` };
  }
  if (waypoint.invalid !== undefined) {
    return { state: 'unbound', gateway: key, reason: 'WaypointInvalid', message: `Gateway ${key} is not a waypoint: ${waypoint.invalid}` };
  }
  if (!serves(waypoint, target)) {
    return {
      state: 'unbound', gateway: key, reason: 'WaypointNotForTarget',
      message: `waypoint ${key} has ${LABEL_WAYPOINT_FOR}=${waypoint.for}; ${target} traffic needs ${target} or all`,
    };
  }
  if (waypoint.address === undefined) {
    return { state: 'unbound', gateway: key, reason: 'WaypointNotReady', message: `waypoint ${key} has no address yet (not programmed)` };
  }
  return { state: 'bound', binding: { gateway: key, address: waypoint.address, port: WAYPOINT_PORT, identity: waypoint.identity } };
}

/** A waypoint's own pods are never sent through a waypoint (that would loop). */
export function isWaypointPod(pod: Pod, waypoints: ReadonlyMap<string, Waypoint>): boolean {
  const gateway = pod.metadata.labels?.[LABEL_GATEWAY_NAME];
  return gateway !== undefined && waypoints.has(`${pod.metadata.namespace ?? 'default'}/${gateway}`);
}

type Reference = 'none' | { namespace: string; name: string } | { invalid: string };

function requested(labels: Record<string, string> | undefined, objectNamespace: string): Reference | undefined {
  const value = labels?.[LABEL_USE_WAYPOINT];
  if (value === undefined) return undefined;
  if (value === 'none') return 'none';
  // Label values cannot hold '/', so `ns/name` is refused rather than guessed at.
  if (value === '' || value.includes('/')) return { invalid: value };
  const namespace = labels?.[LABEL_USE_WAYPOINT_NAMESPACE];
  return { namespace: namespace === undefined || namespace === '' ? objectNamespace : namespace, name: value };
}

/** Which waypoint enforces a targetRefs policy for one target, or why none does. */
export type TargetEnforcement =
  | { target: { kind: 'Gateway' | 'Service'; key: string }; waypoint: string }
  | { target: { kind: 'Gateway' | 'Service'; key: string }; problem: string };

export interface EnforcementContext {
  /** Every Gateway key (any class) → whether it is of class ambit-waypoint. */
  gateways: ReadonlyMap<string, Gateway>;
  waypoints: ReadonlyMap<string, Waypoint>;
  /** Existing Services → the waypoint they are bound to (undefined: none), by namespace/name. */
  serviceWaypoints: ReadonlyMap<string, string | undefined>;
}

export function enforcementOf(target: { kind: 'Gateway' | 'Service'; key: string }, context: EnforcementContext): TargetEnforcement {
  if (target.kind === 'Gateway') {
    const gateway = context.gateways.get(target.key);
    if (gateway === undefined) return { target, problem: `Gateway ${target.key} not found` };
    if (!isWaypointGateway(gateway)) return { target, problem: `Gateway ${target.key} is not of class ${WAYPOINT_GATEWAY_CLASS}` };
    const invalid = context.waypoints.get(target.key)?.invalid;
    if (invalid !== undefined) return { target, problem: `Gateway ${target.key} is not a waypoint: ${invalid}` };
    return { target, waypoint: target.key };
  }
  if (!context.serviceWaypoints.has(target.key)) return { target, problem: `Service ${target.key} not found` };
  const waypoint = context.serviceWaypoints.get(target.key);
  if (waypoint === undefined) {
    return { target, problem: `Service ${target.key} has no waypoint (bind one with ${LABEL_USE_WAYPOINT}), so its traffic bypasses this policy` };
  }
  return { target, waypoint };
}
