// translate(): cluster objects → mesh state and status, in one pass over a
// consistent snapshot. Pure; output order is deterministic (by key).
import type { Authorization, Service as MeshService, Workload } from '@ambit/api';
import type { Gateway, Namespace, Pod, Service } from '../resources.js';
import { translatePolicy } from './authorization.js';
import { translatePeerAuthentications } from './peer-authentication.js';
import { isEnrolled, isHealthy, isTerminal, podIPs } from './enrollment.js';
import { byNamespaceName, compare } from './labels.js';
import { selects, toService } from './services.js';
import { translateRoutes } from './routes.js';
import { gatewayStatus, policyStatus, serviceStatus } from './status.js';
import { DEFAULT_CLUSTER_DOMAIN } from './types.js';
import type { ClusterSnapshot, MeshState, StatusUpdate, TranslateOptions } from './types.js';
import { enforcementOf, isWaypointGateway, isWaypointPod, LABEL_GATEWAY_NAME, resolveWaypoint, waypointsOf } from './waypoints.js';
import { toWorkload } from './workloads.js';

export function translate(snapshot: ClusterSnapshot, options: TranslateOptions): MeshState {
  const clusterDomain = options.clusterDomain ?? DEFAULT_CLUSTER_DOMAIN;
  const namespaces = new Map<string, Namespace>(snapshot.namespaces.map((ns) => [ns.metadata.name, ns]));
  const waypoints = waypointsOf(snapshot.gateways, options.trustDomain, snapshot.services);
  const podsByNamespace = groupBy(snapshot.pods, (pod) => pod.metadata.namespace ?? 'default');
  // A service selects only pods of its own namespace: index once, not services × pods.
  const servicesByNamespace = groupBy(snapshot.services, (service) => service.metadata.namespace ?? 'default');
  const status: StatusUpdate[] = [];

  const services: MeshService[] = [];
  const kubeServices = new Map<string, Service>();
  // Every existing Service → the waypoint it is bound to, if any (routes and targetRefs policies ask).
  const serviceWaypoints = new Map<string, string | undefined>();
  for (const service of snapshot.services) {
    const namespace = service.metadata.namespace ?? 'default';
    const binding = resolveWaypoint(service, namespaces.get(namespace), 'service', waypoints);
    const key = `${namespace}/${service.metadata.name}`;
    kubeServices.set(key, service);
    serviceWaypoints.set(key, binding.state === 'bound' ? binding.binding.gateway : undefined);
    const mesh = toService(service, {
      clusterDomain,
      pods: podsByNamespace.get(namespace) ?? [],
      ...(binding.state === 'bound' ? { waypoint: binding.binding } : {}),
    });
    services.push(mesh);
    const update = serviceStatus(service, binding);
    if (update !== undefined) status.push(update);
  }

  const workloads: Workload[] = [];
  for (const pod of snapshot.pods) {
    // No address to reach, or finished for good: nothing for a proxy to know.
    if (podIPs(pod).length === 0 || isTerminal(pod)) continue;
    const namespace = namespaces.get(pod.metadata.namespace ?? 'default');
    const binding = isWaypointPod(pod, waypoints) ? undefined : resolveWaypoint(pod, namespace, 'workload', waypoints);
    workloads.push(toWorkload(pod, {
      trustDomain: options.trustDomain,
      enrolled: isEnrolled(pod, namespace),
      services: backedServices(pod, servicesByNamespace.get(pod.metadata.namespace ?? 'default') ?? []),
      ...(binding?.state === 'bound' ? { waypoint: binding.binding } : {}),
    }));
  }

  const gateways = new Map<string, Gateway>(snapshot.gateways.map((g) => [`${g.metadata.namespace ?? 'default'}/${g.metadata.name}`, g]));
  const authorizations: Authorization[] = [];
  for (const policy of snapshot.policies) {
    const outcome = translatePolicy(policy);
    if (outcome.kind === 'rejected') {
      status.push(policyStatus(policy, outcome));
      continue;
    }
    authorizations.push(outcome.authorization);
    const enforcement = outcome.kind === 'waypoint'
      ? outcome.targets.map((target) => enforcementOf(target, { gateways, waypoints, serviceWaypoints }))
      : [];
    status.push(policyStatus(policy, outcome, enforcement));
  }

  const boundServices = new Map<string, string>();
  for (const [key, waypoint] of serviceWaypoints) if (waypoint !== undefined) boundServices.set(key, waypoint);
  const routes = translateRoutes(snapshot.httpRoutes, { services: kubeServices, serviceWaypoints: boundServices, gateways, waypoints });
  status.push(...routes.status);

  const peer = translatePeerAuthentications(snapshot.peerAuthentications ?? [], snapshot.namespaces);
  authorizations.push(...peer.authorizations);
  status.push(...peer.status);

  for (const gateway of snapshot.gateways) {
    if (!isWaypointGateway(gateway)) continue;
    const key = `${gateway.metadata.namespace ?? 'default'}/${gateway.metadata.name}`;
    const waypoint = waypoints.get(key);
    if (waypoint === undefined) continue;
    const runtime = snapshot.waypointRuntime;
    if (runtime === undefined) {
      status.push(gatewayStatus(gateway, waypoint));
      continue;
    }
    const pods = (podsByNamespace.get(waypoint.namespace) ?? []).filter((pod) => pod.metadata.labels?.[LABEL_GATEWAY_NAME] === waypoint.name && !isTerminal(pod));
    const problem = runtime.problems.get(key);
    status.push(gatewayStatus(gateway, waypoint, {
      pods: pods.length, readyPods: pods.filter(isHealthy).length, synced: runtime.readyMeansSynced === true || runtime.synced.has(key), ...(problem === undefined ? {} : { problem }),
    }));
  }

  return {
    workloads: workloads.sort((a, b) => byNamespaceName(a, b) || compare(a.uid, b.uid)),
    services: services.sort(byNamespaceName),
    authorizations: authorizations.sort(byNamespaceName),
    routes: routes.routes,
    status: status.sort((a, b) => compare(a.kind, b.kind) || byNamespaceName(a, b)),
  };
}

function backedServices(pod: Pod, sameNamespace: readonly Service[]): string[] {
  return sameNamespace.filter((s) => selects(s, pod)).map((s) => `${s.metadata.namespace ?? 'default'}/${s.metadata.name}`);
}

function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const result = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const list = result.get(k);
    if (list === undefined) result.set(k, [item]);
    else list.push(item);
  }
  return result;
}

export { evaluateL4, appliesTo, cidrContains, stringMatches } from '@ambit/api';
export type { L4Request, L4Decision } from '@ambit/api';
export { enrollment, isEnrolled, isHealthy, isTerminating, podIPs } from './enrollment.js';
export type { Enrollment, EnrollmentReason } from './enrollment.js';
export { toWorkload, canonicalName, canonicalRevision } from './workloads.js';
export { toService, serviceVips, selects, resolveTargetPort } from './services.js';
export {
  waypointsOf, toWaypoint, resolveWaypoint, waypointFor, LABEL_USE_WAYPOINT_NAMESPACE, LABEL_GATEWAY_NAME,
} from './waypoints.js';
export { enforcementOf } from './waypoints.js';
export type { Waypoint, BindingResult, UnboundReason, TargetEnforcement } from './waypoints.js';
export { translatePolicy, scopeOf } from './authorization.js';
export type { PolicyOutcome, PolicyTarget } from './authorization.js';
export { translateRoute, translateRoutes, ROUTE_CONTROLLER_NAME, CONDITION_RESOLVED_REFS, CONDITION_PARTIALLY_INVALID } from './routes.js';
export type { RouteContext, RouteOutcome } from './routes.js';
export { compareMatches } from '@ambit/api';
export { UNRESOLVED_BACKEND_PREFIX, DEFAULT_RETRY_ATTEMPTS } from './route-rules.js';
export {
  parseDuration, parseRetryOn, parseFaultDelay, parseFaultAbort,
  ANNOTATION_RETRY_ON, ANNOTATION_PER_TRY_TIMEOUT, ANNOTATION_FAULT_DELAY, ANNOTATION_FAULT_ABORT,
} from './route-values.js';
export { gatewayStatus, serviceStatus, policyStatus, CONDITION_PROGRAMMED, CONDITION_WAYPOINT_BOUND, CONDITION_ACCEPTED } from './status.js';
export { DEFAULT_CLUSTER_DOMAIN, ROOT_NAMESPACE } from './types.js';
export type {
  ClusterSnapshot, TranslateOptions, MeshState, StatusUpdate, StatusKind, ConditionStatusUpdate, ConditionStatusKind, RouteStatusUpdate,
} from './types.js';
export { translatePeerAuthentications, STRICT_POLICY_PREFIX } from './peer-authentication.js';
export type { MtlsMode, PeerAuthenticationResult } from './peer-authentication.js';
