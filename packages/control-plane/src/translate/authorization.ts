// AuthorizationPolicy → L4 Authorization, following Istio's ambient
// translation (istiod: pilot/pkg/serviceregistry/kube/controller/ambient/
// authorization.go, convertAuthorizationPolicy/handleRule) and the documented
// behaviour (istio.io docs/ambient/usage/l4-policy, "Allowed policy
// attributes" and "Policies with Layer 7 conditions"):
//
// - L4 attributes: principals/notPrincipals, namespaces/notNamespaces,
//   ipBlocks/notIpBlocks, ports/notPorts, and `when` keys source.ip,
//   source.namespace, source.principal, destination.ip, destination.port.
//   Everything else (hosts, methods, paths and their not-forms,
//   requestPrincipals, remoteIpBlocks and their not-forms, any other `when`
//   key such as request.headers[...] or request.auth.*) is L7.
// - ALLOW: a rule using any L7 attribute is omitted ("rules matching HTTP
//   attributes are omitted. This will be more restrictive than requested");
//   an ALLOW policy left with no rules matches nothing, so it denies all
//   traffic to what it selects (the docs: it "fails safe by becoming a DENY").
// - DENY: the rule is kept with only its L4 parts ("DENY policy with HTTP
//   attributes is enforced without the HTTP rules. This will be more
//   restrictive than requested"). A from/to/when entry left with no L4 field
//   is an empty match, which ztunnel never matches (rbac.rs skips empty
//   matches), so a DENY rule whose from, to or when is L7-only matches nothing.
//   We drop such entries and rules here so no consumer has to know that.
// - targetRefs: the policy is for waypoints (L7), never for ztunnel.
// - AUDIT and CUSTOM: not supported by ztunnel ("UnsupportedValue").
import { parseCidr } from '@ambit/api';
import type {
  Authorization, AuthorizationAction, AuthorizationRule, AuthorizationScope, ConditionMatch, DestinationMatch, SourceMatch,
} from '@ambit/api';
import type { AuthorizationPolicy, PolicyCondition, PolicyOperation, PolicyRule, PolicySource } from '../resources.js';
import { ROOT_NAMESPACE } from './types.js';

export type PolicyOutcome =
  /** Enforced by ztunnels; `l7Fields` lists what was dropped, `invalid` what could not be parsed. */
  | { kind: 'l4'; authorization: Authorization; l7Fields: string[]; invalid: string[] }
  /** targetRefs: enforced by the waypoint(s) in front of these targets. */
  | { kind: 'waypoint'; targets: string[] }
  | { kind: 'rejected'; reason: 'UnsupportedValue' | 'Invalid'; message: string };

const L4_WHEN_KEYS = new Set(['source.ip', 'source.namespace', 'source.principal', 'destination.ip', 'destination.port']);
const TARGET_KINDS = new Set(['Gateway', 'Service']);

export function translatePolicy(policy: AuthorizationPolicy, rootNamespace: string = ROOT_NAMESPACE): PolicyOutcome {
  const spec = policy.spec ?? {};
  const namespace = policy.metadata.namespace ?? 'default';
  const action = spec.action ?? 'ALLOW';
  if (action !== 'ALLOW' && action !== 'DENY') {
    return { kind: 'rejected', reason: 'UnsupportedValue', message: `ztunnel does not support the ${action} action` };
  }
  const targetRefs = spec.targetRefs ?? [];
  if (targetRefs.length > 0) {
    if (spec.selector !== undefined) {
      return { kind: 'rejected', reason: 'Invalid', message: 'selector and targetRefs are mutually exclusive' };
    }
    const unsupported = targetRefs.filter((ref) => !TARGET_KINDS.has(ref.kind));
    if (unsupported.length > 0) {
      return {
        kind: 'rejected', reason: 'UnsupportedValue',
        message: `targetRefs kind ${unsupported.map((r) => r.kind).join(', ')} is not supported; use Gateway (a waypoint) or Service`,
      };
    }
    return { kind: 'waypoint', targets: targetRefs.map((ref) => `${ref.kind}/${ref.namespace ?? namespace}/${ref.name}`).sort() };
  }

  const l7 = new Set<string>();
  const invalid = new Set<string>();
  const rules: AuthorizationRule[] = [];
  for (const rule of spec.rules ?? []) {
    const converted = convertRule(rule, action, l7, invalid);
    if (converted !== undefined) rules.push(converted);
  }
  return {
    kind: 'l4',
    authorization: {
      key: `${namespace}/${policy.metadata.name}`,
      name: policy.metadata.name,
      namespace,
      scope: scopeOf(policy, rootNamespace),
      action,
      rules,
    },
    l7Fields: [...l7].sort(),
    invalid: [...invalid].sort(),
  };
}

export function scopeOf(policy: AuthorizationPolicy, rootNamespace: string = ROOT_NAMESPACE): AuthorizationScope {
  const namespace = policy.metadata.namespace ?? 'default';
  const selector = policy.spec?.selector;
  // As istiod: any selector (even an empty one) makes a workload-scoped policy.
  if (selector !== undefined) return { kind: 'workload', namespace, selector: { ...(selector.matchLabels ?? {}) } };
  return namespace === rootNamespace ? { kind: 'mesh' } : { kind: 'namespace', namespace };
}

/** Why an L4 policy is enforced differently from what it says (for the status message). */
export function partialEnforcementMessage(action: AuthorizationAction, l7Fields: readonly string[]): string {
  const consequence = action === 'ALLOW'
    ? 'Within an ALLOW policy, rules matching HTTP attributes are omitted.'
    : 'A DENY policy with HTTP attributes is enforced without the HTTP parts.';
  return `ztunnel does not support HTTP attributes (found: ${l7Fields.join(', ')}). ${consequence} ` +
    'This is more restrictive than requested; bind a waypoint and target it with targetRefs to enforce HTTP rules.';
}

function convertRule(rule: PolicyRule, action: AuthorizationAction, l7: Set<string>, invalid: Set<string>): AuthorizationRule | undefined {
  const found = new Set<string>();
  const from = (rule.from ?? []).map((f) => convertSource(f.source ?? {}, found, invalid));
  const to = (rule.to ?? []).map((t) => convertOperation(t.operation ?? {}, found, invalid));
  const when = (rule.when ?? []).map((c) => convertCondition(c, found, invalid));
  for (const field of found) l7.add(field);
  if (action === 'ALLOW' && found.size > 0) return undefined;

  // An entry with no L4 field never matches: drop it; a clause of only such entries can never match.
  const keptFrom = from.filter(nonEmpty);
  const keptTo = to.filter(nonEmpty);
  const keptWhen = when.filter(nonEmpty);
  if (keptFrom.length < from.length && keptFrom.length === 0) return undefined;
  if (keptTo.length < to.length && keptTo.length === 0) return undefined;
  if (keptWhen.length < when.length) return undefined;
  const result: AuthorizationRule = { from: keptFrom, to: keptTo };
  if (keptWhen.length > 0) result.when = keptWhen;
  return result;
}

function convertSource(source: PolicySource, l7: Set<string>, invalid: Set<string>): SourceMatch {
  for (const field of ['requestPrincipals', 'notRequestPrincipals', 'remoteIpBlocks', 'notRemoteIpBlocks'] as const) {
    if ((source[field] ?? []).length > 0) l7.add(field);
  }
  const match: SourceMatch = {};
  setIfAny(match, 'principals', source.principals);
  setIfAny(match, 'notPrincipals', source.notPrincipals);
  setIfAny(match, 'namespaces', source.namespaces);
  setIfAny(match, 'notNamespaces', source.notNamespaces);
  setIfAny(match, 'ipBlocks', cidrs(source.ipBlocks, 'ipBlocks', invalid));
  setIfAny(match, 'notIpBlocks', cidrs(source.notIpBlocks, 'notIpBlocks', invalid));
  return match;
}

function convertOperation(operation: PolicyOperation, l7: Set<string>, invalid: Set<string>): DestinationMatch {
  for (const field of ['hosts', 'notHosts', 'methods', 'notMethods', 'paths', 'notPaths'] as const) {
    if ((operation[field] ?? []).length > 0) l7.add(field);
  }
  const match: DestinationMatch = {};
  setIfAny(match, 'ports', ports(operation.ports, 'ports', invalid));
  setIfAny(match, 'notPorts', ports(operation.notPorts, 'notPorts', invalid));
  return match;
}

function convertCondition(condition: PolicyCondition, l7: Set<string>, invalid: Set<string>): ConditionMatch {
  const match: ConditionMatch = {};
  const values = condition.values;
  const notValues = condition.notValues;
  switch (condition.key) {
    case 'source.ip':
      setIfAny(match, 'ipBlocks', cidrs(values, 'when source.ip', invalid));
      setIfAny(match, 'notIpBlocks', cidrs(notValues, 'when source.ip', invalid));
      break;
    case 'source.namespace':
      setIfAny(match, 'namespaces', values);
      setIfAny(match, 'notNamespaces', notValues);
      break;
    case 'source.principal':
      setIfAny(match, 'principals', values);
      setIfAny(match, 'notPrincipals', notValues);
      break;
    case 'destination.ip':
      setIfAny(match, 'ips', cidrs(values, 'when destination.ip', invalid));
      setIfAny(match, 'notIps', cidrs(notValues, 'when destination.ip', invalid));
      break;
    case 'destination.port':
      setIfAny(match, 'ports', ports(values, 'when destination.port', invalid));
      setIfAny(match, 'notPorts', ports(notValues, 'when destination.port', invalid));
      break;
    default:
      if (!L4_WHEN_KEYS.has(condition.key)) l7.add(`when ${condition.key}`);
  }
  return match;
}

/** Istio skips values it cannot parse; we do too, and say so in the status. */
function ports(values: readonly string[] | undefined, field: string, invalid: Set<string>): number[] | undefined {
  if (values === undefined) return undefined;
  const result: number[] = [];
  for (const value of values) {
    const port = /^\d{1,5}$/.test(value) ? Number(value) : NaN;
    if (Number.isInteger(port) && port <= 65535) result.push(port);
    else invalid.add(`${field}: ${JSON.stringify(value)}`);
  }
  return result;
}

function cidrs(values: readonly string[] | undefined, field: string, invalid: Set<string>): string[] | undefined {
  if (values === undefined) return undefined;
  const result: string[] = [];
  for (const value of values) {
    if (parseCidr(value) !== undefined) result.push(value);
    else invalid.add(`${field}: ${JSON.stringify(value)}`);
  }
  return result;
}
export { parseCidr };

function setIfAny<T extends object, K extends keyof T>(target: T, key: K, values: T[K] & (readonly unknown[] | undefined)): void {
  if (values !== undefined && values.length > 0) target[key] = values;
}

function nonEmpty(match: object): boolean {
  return Object.values(match).some((v) => Array.isArray(v) && v.length > 0);
}
