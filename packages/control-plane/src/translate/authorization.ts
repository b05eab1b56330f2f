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
// - targetRefs: the policy is for waypoints (L7), never for ztunnel: it is
//   published with scope `targets` and keeps hosts, methods, paths (and their
//   not-forms) and `when` request.headers[<name>] (name lower-cased). What a
//   waypoint cannot evaluate either (requestPrincipals, remoteIpBlocks and
//   their not-forms, request.auth.* and any other `when` key) is handled as
//   L7 fields are for ztunnel: an ALLOW rule using one is dropped, a DENY rule
//   keeps the rest. Targets must be in the policy's namespace (as Istio).
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
  /** targetRefs: enforced by the waypoint(s) of these targets; `unsupported` lists what waypoints cannot evaluate. */
  | { kind: 'waypoint'; authorization: Authorization; targets: PolicyTarget[]; unsupported: string[]; invalid: string[] }
  | { kind: 'rejected'; reason: 'UnsupportedValue' | 'Invalid'; message: string };

export type PolicyTarget = Extract<AuthorizationScope, { kind: 'targets' }>['targets'][number];

type Level = 'l4' | 'l7';

const L4_WHEN_KEYS = new Set(['source.ip', 'source.namespace', 'source.principal', 'destination.ip', 'destination.port']);
const TARGET_GROUPS: Record<string, readonly string[]> = { Gateway: ['gateway.networking.k8s.io'], Service: ['', 'core'] };
const REQUEST_HEADER_KEY = /^request\.headers\[([^\]]+)\]$/;

export function translatePolicy(policy: AuthorizationPolicy, rootNamespace: string = ROOT_NAMESPACE): PolicyOutcome {
  const spec = policy.spec ?? {};
  const namespace = policy.metadata.namespace ?? 'default';
  const action = spec.action ?? 'ALLOW';
  if (action !== 'ALLOW' && action !== 'DENY') {
    return { kind: 'rejected', reason: 'UnsupportedValue', message: `ztunnel does not support the ${action} action` };
  }
  const targetRefs = spec.targetRefs ?? [];
  let targets: PolicyTarget[] | undefined;
  if (targetRefs.length > 0) {
    if (spec.selector !== undefined) {
      return { kind: 'rejected', reason: 'Invalid', message: 'selector and targetRefs are mutually exclusive' };
    }
    const unsupported = targetRefs.filter((ref) => !(ref.kind in TARGET_GROUPS));
    if (unsupported.length > 0) {
      return {
        kind: 'rejected', reason: 'UnsupportedValue',
        message: `targetRefs kind ${unsupported.map((r) => r.kind).join(', ')} is not supported; use Gateway (a waypoint) or Service`,
      };
    }
    const wrongGroup = targetRefs.find((ref) => ref.group !== undefined && !(TARGET_GROUPS[ref.kind] ?? []).includes(ref.group));
    if (wrongGroup !== undefined) {
      return {
        kind: 'rejected', reason: 'UnsupportedValue',
        message: `targetRefs group ${JSON.stringify(wrongGroup.group)} does not serve ${wrongGroup.kind} (use ${JSON.stringify(TARGET_GROUPS[wrongGroup.kind]?.[0])})`,
      };
    }
    const elsewhere = targetRefs.find((ref) => ref.namespace !== undefined && ref.namespace !== '' && ref.namespace !== namespace);
    if (elsewhere !== undefined) {
      return {
        kind: 'rejected', reason: 'Invalid',
        message: `targetRefs may only name objects in the policy's namespace ${namespace}, not ${elsewhere.kind} ${elsewhere.namespace}/${elsewhere.name}`,
      };
    }
    targets = uniqueTargets(targetRefs.map((ref) => ({ kind: ref.kind as PolicyTarget['kind'], key: `${namespace}/${ref.name}` })));
  }

  const level: Level = targets === undefined ? 'l4' : 'l7';
  const dropped = new Set<string>();
  const invalid = new Set<string>();
  const rules: AuthorizationRule[] = [];
  for (const rule of spec.rules ?? []) {
    const converted = convertRule(rule, action, level, dropped, invalid);
    if (converted !== undefined) rules.push(converted);
  }
  const authorization: Authorization = {
    key: `${namespace}/${policy.metadata.name}`,
    name: policy.metadata.name,
    namespace,
    scope: targets === undefined ? scopeOf(policy, rootNamespace) : { kind: 'targets', namespace, targets },
    action,
    rules,
  };
  if (targets !== undefined) {
    return { kind: 'waypoint', authorization, targets, unsupported: [...dropped].sort(), invalid: [...invalid].sort() };
  }
  return { kind: 'l4', authorization, l7Fields: [...dropped].sort(), invalid: [...invalid].sort() };
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

/** Why a waypoint policy is enforced differently from what it says. */
export function waypointPartialMessage(action: AuthorizationAction, unsupported: readonly string[]): string {
  const consequence = action === 'ALLOW'
    ? 'Within an ALLOW policy, rules using them are omitted.'
    : 'A DENY policy is enforced without those parts.';
  return `the waypoint does not support ${unsupported.join(', ')}. ${consequence} This is more restrictive than requested.`;
}

function convertRule(
  rule: PolicyRule, action: AuthorizationAction, level: Level, dropped: Set<string>, invalid: Set<string>,
): AuthorizationRule | undefined {
  const found = new Set<string>();
  const from = (rule.from ?? []).map((f) => convertSource(f.source ?? {}, found, invalid));
  const to = (rule.to ?? []).map((t) => convertOperation(t.operation ?? {}, level, found, invalid));
  const when = (rule.when ?? []).map((c) => convertCondition(c, level, found, invalid));
  for (const field of found) dropped.add(field);
  if (action === 'ALLOW' && found.size > 0) return undefined;

  // An entry with no field left never matches: drop it; a clause of only such entries can never match.
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

function convertOperation(operation: PolicyOperation, level: Level, l7: Set<string>, invalid: Set<string>): DestinationMatch {
  const match: DestinationMatch = {};
  for (const field of ['hosts', 'notHosts', 'methods', 'notMethods', 'paths', 'notPaths'] as const) {
    if ((operation[field] ?? []).length === 0) continue;
    if (level === 'l7') match[field] = [...(operation[field] ?? [])];
    else l7.add(field);
  }
  setIfAny(match, 'ports', ports(operation.ports, 'ports', invalid));
  setIfAny(match, 'notPorts', ports(operation.notPorts, 'notPorts', invalid));
  return match;
}

function convertCondition(condition: PolicyCondition, level: Level, l7: Set<string>, invalid: Set<string>): ConditionMatch {
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
    default: {
      const header = REQUEST_HEADER_KEY.exec(condition.key);
      if (level === 'l7' && header !== null) {
        const entry: NonNullable<ConditionMatch['requestHeaders']>[number] = { name: (header[1] ?? '').trim().toLowerCase() };
        setIfAny(entry, 'values', values);
        setIfAny(entry, 'notValues', notValues);
        if (entry.values !== undefined || entry.notValues !== undefined) match.requestHeaders = [entry];
      } else if (!L4_WHEN_KEYS.has(condition.key)) {
        l7.add(`when ${condition.key}`);
      }
    }
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

function uniqueTargets(targets: PolicyTarget[]): PolicyTarget[] {
  const seen = new Map(targets.map((t) => [`${t.kind}/${t.key}`, t]));
  return [...seen.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, t]) => t);
}

function nonEmpty(match: object): boolean {
  return Object.values(match).some((v) => Array.isArray(v) && v.length > 0);
}
