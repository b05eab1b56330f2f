// Waypoint authorization (pure; table-tested). The policies that apply are
// those whose `targetRefs` name this waypoint's Gateway or the called
// Service. As in Istio (and api/rbac.ts at L4): DENY first, any matching
// rule denies; then, if any ALLOW applies, one of its rules must match.
// Matching extends L4's with methods, paths (exact, `prefix*`, `*suffix`,
// `*`), hosts (case-insensitive, with or without port) and request headers.
//
// For plain TCP through the waypoint there is no request: an ALLOW match
// that needs HTTP fields never matches, and a DENY match ignores them (so a
// DENY written for HTTP is stricter on TCP, never looser), as Istio does.
import { SpiffeId } from '@ambit/core';
import { cidrContains, stringMatches, type Authorization, type ConditionMatch } from '@ambit/api';

export interface L7Request {
  /** The HBONE peer's SPIFFE ID. */
  principal: string;
  sourceIp: string;
  /** The called address (a VIP or pod IP) and port. */
  destinationIp: string;
  port: number;
  /** Absent for TCP. */
  http?: { method: string; path: string; host: string; headers: Record<string, string | string[]> };
}

export interface L7Target {
  gateway: string;
  service: string | undefined;
}

export interface L7Decision {
  allowed: boolean;
  policy?: string;
  reason: 'no-policy' | 'denied-by-policy' | 'allowed-by-policy' | 'no-allow-match';
}

export function policyApplies(policy: Authorization, target: L7Target): boolean {
  const scope = policy.scope;
  return scope.kind === 'targets' && scope.targets.some((t) =>
    (t.kind === 'Gateway' && t.key === target.gateway) || (t.kind === 'Service' && target.service !== undefined && t.key === target.service));
}

export function evaluateL7(policies: readonly Authorization[], target: L7Target, request: L7Request): L7Decision {
  const applicable = policies.filter((p) => policyApplies(p, target));
  for (const policy of applicable) {
    if (policy.action === 'DENY' && policyMatches(policy, request, 'DENY')) return { allowed: false, policy: policy.key, reason: 'denied-by-policy' };
  }
  const allows = applicable.filter((p) => p.action === 'ALLOW');
  if (allows.length === 0) return { allowed: true, reason: 'no-policy' };
  for (const policy of allows) {
    if (policyMatches(policy, request, 'ALLOW')) return { allowed: true, policy: policy.key, reason: 'allowed-by-policy' };
  }
  return { allowed: false, reason: 'no-allow-match' };
}

type Action = Authorization['action'];

function policyMatches(policy: Authorization, request: L7Request, action: Action): boolean {
  return policy.rules.some((rule) =>
    clause(rule.from, request, action) && clause(rule.to, request, action) && (rule.when ?? []).every((m) => matchMatches(m, request, action)));
}

function clause(matches: readonly ConditionMatch[], request: L7Request, action: Action): boolean {
  return matches.length === 0 || matches.some((m) => matchMatches(m, request, action));
}

const HTTP_FIELDS = ['methods', 'notMethods', 'paths', 'notPaths', 'hosts', 'notHosts', 'requestHeaders'] as const;

/** Every field present must match; a match with no field set never matches. */
function matchMatches(m: ConditionMatch, request: L7Request, action: Action): boolean {
  if (!Object.values(m).some((v) => Array.isArray(v) && v.length > 0)) return false;
  const http = request.http;
  if (http === undefined && HTTP_FIELDS.some((f) => (m[f]?.length ?? 0) > 0)) {
    if (action === 'ALLOW') return false;
    return l4Matches(m, request);
  }
  if (!l4Matches(m, request)) return false;
  if (http === undefined) return true;
  const path = http.path.split('?')[0] ?? '/';
  const hostMatches = (pattern: string): boolean => {
    const p = pattern.toLowerCase();
    const host = http.host.toLowerCase();
    return stringMatches(p, host) || stringMatches(p, host.replace(/:\d+$/, ''));
  };
  return field(m.methods, m.notMethods, (method) => stringMatches(method.toUpperCase(), http.method.toUpperCase()))
    && field(m.paths, m.notPaths, (p) => stringMatches(p, path))
    && field(m.hosts, m.notHosts, hostMatches)
    && (m.requestHeaders ?? []).every((h) => {
      const raw = http.headers[h.name.toLowerCase()];
      const value = Array.isArray(raw) ? raw.join(',') : raw;
      return field(h.values, h.notValues, (v) => value !== undefined && stringMatches(v, value))
        && (value !== undefined || (h.values?.length ?? 0) === 0);
    });
}

function l4Matches(m: ConditionMatch, request: L7Request): boolean {
  const principal = request.principal.startsWith('spiffe://') ? request.principal.slice('spiffe://'.length) : request.principal;
  const namespace = SpiffeId.tryParse(request.principal)?.namespace;
  return field(m.principals, m.notPrincipals, (p) => stringMatches(p.replace(/^spiffe:\/\//, ''), principal))
    && field(m.namespaces, m.notNamespaces, (n) => namespace !== undefined && stringMatches(n, namespace))
    && field(m.ipBlocks, m.notIpBlocks, (c) => cidrContains(c, request.sourceIp))
    && field(m.ips, m.notIps, (c) => cidrContains(c, request.destinationIp))
    && field(m.ports, m.notPorts, (p) => p === request.port);
}

function field<T>(positive: readonly T[] | undefined, negative: readonly T[] | undefined, predicate: (value: T) => boolean): boolean {
  return (positive === undefined || positive.length === 0 || positive.some(predicate))
    && (negative === undefined || negative.length === 0 || !negative.some(predicate));
}
