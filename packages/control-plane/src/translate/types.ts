// The translation's input (a consistent read of the cluster) and output
// (what proxies receive plus the conditions to write back).
import type { Authorization, HttpRoute, Service as MeshService, Workload } from '@ambit/api';
import type {
  AuthorizationPolicy, Condition, PeerAuthentication, Gateway, HTTPRoute, Namespace, Pod, RouteParentStatus, Service, ServiceAccount,
} from '../resources.js';

export interface ClusterSnapshot {
  namespaces: Namespace[];
  pods: Pod[];
  services: Service[];
  gateways: Gateway[];
  httpRoutes: HTTPRoute[];
  policies: AuthorizationPolicy[];
  /** mTLS modes; absent means PERMISSIVE everywhere. */
  peerAuthentications?: PeerAuthentication[];
  serviceAccounts?: ServiceAccount[];
  /**
   * Set when this control plane runs waypoints (its controller): Gateways
   * whose waypoint acknowledged discovery, and what the controller could not
   * do per Gateway. Absent, a waypoint is programmed once it has an address.
   * `readyMeansSynced`: several replicas serve discovery (leader election), so
   * a waypoint may subscribe to another replica than the one writing status;
   * its pod's readiness, which waits for its first sync, stands for the
   * acknowledgement.
   */
  waypointRuntime?: { synced: ReadonlySet<string>; problems: ReadonlyMap<string, string>; readyMeansSynced?: boolean };
}

export interface TranslateOptions {
  /** SPIFFE trust domain, e.g. `cluster.local`. */
  trustDomain: string;
  /** Service DNS suffix after `svc.`; default `cluster.local`. */
  clusterDomain?: string;
}

export type StatusKind = 'Gateway' | 'Service' | 'AuthorizationPolicy' | 'PeerAuthentication' | 'HTTPRoute';
export type ConditionStatusKind = Exclude<StatusKind, 'HTTPRoute'>;

/**
 * The conditions the control plane owns on one object. A writer replaces the
 * conditions of these types and leaves any others alone.
 */
export interface ConditionStatusUpdate {
  kind: ConditionStatusKind;
  namespace: string;
  name: string;
  conditions: Condition[];
  /** Gateway only: status.addresses (owned entirely by the control plane for waypoints). */
  addresses?: { type: string; value: string }[];
}

/**
 * A route's `status.parents` entries with our controllerName (Gateway API
 * route status). A writer replaces the entries of our controller and leaves
 * other controllers' entries alone.
 */
export interface RouteStatusUpdate {
  kind: 'HTTPRoute';
  namespace: string;
  name: string;
  parents: RouteParentStatus[];
}

export type StatusUpdate = ConditionStatusUpdate | RouteStatusUpdate;

export interface MeshState {
  workloads: Workload[];
  services: MeshService[];
  authorizations: Authorization[];
  /** HTTPRoutes with at least one accepted parent, by key. */
  routes: HttpRoute[];
  status: StatusUpdate[];
}

export const DEFAULT_CLUSTER_DOMAIN = 'cluster.local';
/** Policies here apply mesh-wide (Istio's root namespace, `istio-system` there). */
export { ROOT_NAMESPACE } from '@ambit/api';
