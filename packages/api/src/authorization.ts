// L4 authorization as proxies evaluate it: the translation of an
// AuthorizationPolicy with L7-only parts already resolved (dropped or
// kept per Istio's semantics, see the control plane's translation).

export type AuthorizationAction = 'ALLOW' | 'DENY';

/** Where a policy applies. */
export type AuthorizationScope =
  | { kind: 'mesh' }
  | { kind: 'namespace'; namespace: string }
  | { kind: 'workload'; namespace: string; selector: Record<string, string> }
  /** `targetRefs`: enforced by waypoints only (the waypoint Gateway itself, or the Services it serves). */
  | { kind: 'targets'; namespace: string; targets: { kind: 'Gateway' | 'Service'; key: string }[] };

/** One `from` source or `to` operation: every present field must match (AND); values inside a field are OR. */
export interface SourceMatch {
  principals?: string[];
  notPrincipals?: string[];
  namespaces?: string[];
  notNamespaces?: string[];
  /** CIDRs or single IPs. */
  ipBlocks?: string[];
  notIpBlocks?: string[];
}

export interface DestinationMatch {
  ports?: number[];
  notPorts?: number[];
  /** L7 (waypoint policies only): HTTP methods, request paths and Host values, with Istio's `*` prefix/suffix matching. */
  methods?: string[];
  notMethods?: string[];
  paths?: string[];
  notPaths?: string[];
  hosts?: string[];
  notHosts?: string[];
  /** Destination addresses (CIDRs or single IPs): only from an L4 `when` on `destination.ip`. */
  ips?: string[];
  notIps?: string[];
}

/**
 * One `when` condition (source.ip, source.namespace, source.principal, destination.ip, destination.port; and for
 * waypoints `request.headers[<name>]`, names lower-case).
 */
export interface ConditionMatch extends SourceMatch, DestinationMatch {
  requestHeaders?: { name: string; values?: string[]; notValues?: string[] }[];
}

/**
 * A rule matches when some `from` matches (or there is none), some `to` matches (or there is none) and
 * every `when` condition matches. A match with no field set never matches (as in ztunnel).
 */
export interface AuthorizationRule {
  from: SourceMatch[];
  to: DestinationMatch[];
  /** AND: every condition must match. */
  when?: ConditionMatch[];
}

export interface Authorization {
  /** namespace/name of the policy. */
  key: string;
  name: string;
  namespace: string;
  scope: AuthorizationScope;
  action: AuthorizationAction;
  /** No rules: ALLOW matches nothing, DENY matches nothing (Istio: an empty rule list selects no traffic). */
  rules: AuthorizationRule[];
}
