// L4 authorization as the destination ztunnel decides it (pure; shared by
// ztunnel, the waypoint's L4 fallback and the control plane's tests), mirroring
// ztunnel's rbac.rs and Istio's documented precedence: the policies that
// apply are mesh-wide (root namespace), the destination's namespace, and
// selector policies (in its namespace or the root one) whose labels match.
// DENY is checked first: any matching rule denies. Then, if any ALLOW policy
// applies, some rule of one of them must match; with none, allow.
//
// Matching: principals compare against the peer identity without its
// `spiffe://` scheme (Istio writes `td/ns/x/sa/y`); `*` alone means "any
// value present", a leading `*` is a suffix match and a trailing one a prefix
// match. A connection without a peer identity (plaintext) has no principal
// and no namespace: positive matchers never match it and negative ones
// (notPrincipals, notNamespaces) always do — exactly as in ztunnel.
import { BlockList, isIP } from 'node:net';
import type { Authorization, AuthorizationRule, ConditionMatch } from './authorization.js';
import type { Workload } from './workload.js';
import { SpiffeId } from '@ambit/core';
import { matchesLabels, parseCidr } from './selection.js';

/** The namespace whose policies apply mesh-wide. */
export const ROOT_NAMESPACE = 'ambit-system';

export interface L4Request {
  /** The destination workload. */
  workload: Pick<Workload, 'namespace' | 'labels'> & Partial<Pick<Workload, 'addresses'>>;
  /** Destination port. */
  port: number;
  /** Destination address; defaults to the workload's first address. */
  destinationIp?: string;
  source: {
    /** The peer's SPIFFE ID from the HBONE certificate; absent for plaintext. */
    identity?: string;
    /** Only used when the identity is present but not a workload SPIFFE ID. */
    namespace?: string;
    ip: string;
  };
}

export interface L4Decision {
  allowed: boolean;
  /** namespace/name of the policy that decided, when one did. */
  policy?: string;
  reason: 'no-policy' | 'denied-by-policy' | 'allowed-by-policy' | 'no-allow-match';
}

export function appliesTo(authorization: Authorization, workload: L4Request['workload'], rootNamespace: string = ROOT_NAMESPACE): boolean {
  const scope = authorization.scope;
  switch (scope.kind) {
    case 'mesh':
      return true;
    case 'namespace':
      return scope.namespace === workload.namespace;
    case 'workload':
      return (scope.namespace === workload.namespace || scope.namespace === rootNamespace) &&
        matchesLabels(scope.selector, workload.labels);
    case 'targets':
      return false; // waypoint policies: never enforced at L4 by ztunnel
  }
}

export function evaluateL4(
  authorizations: readonly Authorization[], request: L4Request, rootNamespace: string = ROOT_NAMESPACE,
): L4Decision {
  const applicable = authorizations.filter((a) => appliesTo(a, request.workload, rootNamespace));
  const peer = peerOf(request);
  for (const policy of applicable) {
    if (policy.action === 'DENY' && policyMatches(policy, peer)) {
      return { allowed: false, policy: policy.key, reason: 'denied-by-policy' };
    }
  }
  const allows = applicable.filter((a) => a.action === 'ALLOW');
  if (allows.length === 0) return { allowed: true, reason: 'no-policy' };
  for (const policy of allows) {
    if (policyMatches(policy, peer)) return { allowed: true, policy: policy.key, reason: 'allowed-by-policy' };
  }
  return { allowed: false, reason: 'no-allow-match' };
}

interface Peer {
  /** Identity without `spiffe://`, or undefined (plaintext or not a SPIFFE URI). */
  principal: string | undefined;
  namespace: string | undefined;
  sourceIp: string;
  destinationIp: string | undefined;
  port: number;
}

function peerOf(request: L4Request): Peer {
  const identity = request.source.identity;
  let principal: string | undefined;
  let namespace: string | undefined;
  if (identity !== undefined && identity.startsWith('spiffe://')) {
    principal = identity.slice('spiffe://'.length);
    namespace = SpiffeId.tryParse(identity)?.namespace ?? request.source.namespace;
  }
  return {
    principal,
    namespace,
    sourceIp: request.source.ip,
    destinationIp: request.destinationIp ?? request.workload.addresses?.[0],
    port: request.port,
  };
}

/** No rules: matches nothing (an ALLOW with no rules therefore denies everything it applies to). */
function policyMatches(policy: Authorization, peer: Peer): boolean {
  return policy.rules.some((rule) => ruleMatches(rule, peer));
}

function ruleMatches(rule: AuthorizationRule, peer: Peer): boolean {
  return clauseMatches(rule.from, peer) && clauseMatches(rule.to, peer) &&
    (rule.when ?? []).every((condition) => matchMatches(condition, peer));
}

/** An empty clause matches; otherwise some match must. */
function clauseMatches(matches: readonly ConditionMatch[], peer: Peer): boolean {
  return matches.length === 0 || matches.some((m) => matchMatches(m, peer));
}

/** Every field present must match; a match with no field set never matches (ztunnel skips it). */
function matchMatches(m: ConditionMatch, peer: Peer): boolean {
  if (!Object.values(m).some((v) => Array.isArray(v) && v.length > 0)) return false;
  return field(m.principals, m.notPrincipals, (p) => peer.principal !== undefined && stringMatches(stripScheme(p), peer.principal)) &&
    field(m.namespaces, m.notNamespaces, (n) => peer.namespace !== undefined && stringMatches(n, peer.namespace)) &&
    field(m.ipBlocks, m.notIpBlocks, (c) => cidrContains(c, peer.sourceIp)) &&
    field(m.ips, m.notIps, (c) => peer.destinationIp !== undefined && cidrContains(c, peer.destinationIp)) &&
    field(m.ports, m.notPorts, (p) => p === peer.port);
}

function field<T>(positive: readonly T[] | undefined, negative: readonly T[] | undefined, predicate: (value: T) => boolean): boolean {
  const pm = positive === undefined || positive.length === 0 || positive.some(predicate);
  const nm = negative === undefined || negative.length === 0 || !negative.some(predicate);
  return pm && nm;
}

export function stringMatches(pattern: string, value: string): boolean {
  if (pattern === '*') return value !== '';
  if (pattern.startsWith('*')) return value.endsWith(pattern.slice(1));
  if (pattern.endsWith('*')) return value.startsWith(pattern.slice(0, -1));
  return pattern === value;
}

/** Policies may also be written with the scheme; compare without it either way. */
function stripScheme(principal: string): string {
  return principal.startsWith('spiffe://') ? principal.slice('spiffe://'.length) : principal;
}

const blockLists = new Map<string, { list: BlockList; family: 'ipv4' | 'ipv6' } | null>();

/**
 * Whether `ip` is inside `cidr`, IPv4 or IPv6. Families never cross (as with
 * ztunnel's ipnet; node's BlockList alone would put 10.0.0.1 inside ::/0),
 * except that an IPv4-mapped IPv6 address (how a dual-stack socket reports an
 * IPv4 peer) is treated as the IPv4 address it carries.
 */
export function cidrContains(cidr: string, ip: string): boolean {
  let entry = blockLists.get(cidr);
  if (entry === undefined) {
    const parsed = parseCidr(cidr);
    if (parsed === undefined) {
      entry = null;
    } else {
      const list = new BlockList();
      list.addSubnet(parsed.address, parsed.prefix, parsed.family);
      entry = { list, family: parsed.family };
    }
    if (blockLists.size > 4096) blockLists.clear();
    blockLists.set(cidr, entry);
  }
  if (entry === null) return false;
  const address = unmapIPv4(ip);
  const family = isIP(address) === 4 ? 'ipv4' : isIP(address) === 6 ? 'ipv6' : undefined;
  return family === entry.family && entry.list.check(address, family);
}

function unmapIPv4(ip: string): string {
  const match = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip);
  return match?.[1] ?? ip;
}
