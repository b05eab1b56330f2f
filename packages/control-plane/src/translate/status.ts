// Conditions the control plane writes back so `kubectl` and the CLI can say
// why something is (not) in effect. Pure: no timestamps here; the writer
// sets lastTransitionTime when a condition's status changes.
import type { AuthorizationPolicy, Condition, Gateway, Service } from '../resources.js';
import { partialEnforcementMessage, waypointPartialMessage } from './authorization.js';
import type { PolicyOutcome } from './authorization.js';
import type { ConditionStatusUpdate } from './types.js';
import type { BindingResult, TargetEnforcement, Waypoint } from './waypoints.js';

export const CONDITION_PROGRAMMED = 'Programmed';
export const CONDITION_WAYPOINT_BOUND = 'ambit.dev/WaypointBound';
export const CONDITION_ACCEPTED = 'Accepted';

export function gatewayStatus(gateway: Gateway, waypoint: Waypoint): ConditionStatusUpdate {
  let condition: Condition;
  if (waypoint.invalid !== undefined) {
    condition = cond(CONDITION_PROGRAMMED, 'False', 'Invalid', `not a waypoint: ${waypoint.invalid}`, gateway);
  } else if (waypoint.address === undefined) {
    condition = cond(CONDITION_PROGRAMMED, 'False', 'AddressNotAssigned', 'the waypoint has no address yet: it is not running or not ready', gateway);
  } else {
    condition = cond(CONDITION_PROGRAMMED, 'True', 'Programmed', `waypoint for ${waypoint.for} traffic at ${waypoint.address}`, gateway);
  }
  return update('Gateway', gateway, [condition]);
}

/** Undefined when the service asks for no waypoint (no label, or `none`): nothing of ours to show. */
export function serviceStatus(service: Service, binding: BindingResult): ConditionStatusUpdate | undefined {
  switch (binding.state) {
    case 'none':
      return undefined;
    case 'bound':
      return update('Service', service, [
        cond(CONDITION_WAYPOINT_BOUND, 'True', 'WaypointAccepted', `bound to waypoint ${binding.binding.gateway} at ${binding.binding.address}`, service),
      ]);
    case 'unbound':
      return update('Service', service, [cond(CONDITION_WAYPOINT_BOUND, 'False', binding.reason, binding.message, service)]);
  }
}

/** `enforcement`: for a targetRefs policy, who enforces it for each target (see enforcementOf). */
export function policyStatus(
  policy: AuthorizationPolicy, outcome: PolicyOutcome, enforcement: readonly TargetEnforcement[] = [],
): ConditionStatusUpdate {
  let condition: Condition;
  switch (outcome.kind) {
    case 'rejected':
      condition = cond(CONDITION_ACCEPTED, 'False', outcome.reason, outcome.message, policy);
      break;
    case 'waypoint':
      condition = waypointPolicyCondition(policy, outcome, enforcement);
      break;
    case 'l4': {
      const parts: string[] = [];
      if (outcome.l7Fields.length > 0) parts.push(partialEnforcementMessage(outcome.authorization.action, outcome.l7Fields));
      if (outcome.invalid.length > 0) parts.push(`Ignored values that are not valid: ${outcome.invalid.join('; ')}.`);
      if (outcome.authorization.action === 'ALLOW' && outcome.authorization.rules.length === 0) {
        parts.push('No rule is left: this policy denies all traffic to the workloads it selects.');
      }
      const reason = outcome.l7Fields.length > 0 ? 'PartiallyEnforced' : outcome.invalid.length > 0 ? 'PartiallyInvalid' : 'Accepted';
      condition = cond(CONDITION_ACCEPTED, 'True', reason, parts.length > 0 ? parts.join(' ') : 'enforced by ztunnel', policy);
      break;
    }
  }
  return update('AuthorizationPolicy', policy, [condition]);
}

function waypointPolicyCondition(
  policy: AuthorizationPolicy, outcome: Extract<PolicyOutcome, { kind: 'waypoint' }>, enforcement: readonly TargetEnforcement[],
): Condition {
  const byWaypoint = new Map<string, string[]>();
  const problems: string[] = [];
  for (const e of enforcement) {
    if ('problem' in e) problems.push(e.problem);
    else byWaypoint.set(e.waypoint, [...(byWaypoint.get(e.waypoint) ?? []), `${e.target.kind} ${e.target.key}`]);
  }
  if (byWaypoint.size === 0) {
    return cond(CONDITION_ACCEPTED, 'False', 'NoWaypoint', `no target is served by a waypoint: ${problems.join('; ')}`, policy);
  }
  const enforcers = [...byWaypoint.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([waypoint, targets]) => targets.length === 1 && targets[0] === `Gateway ${waypoint}` ? waypoint : `${waypoint} (for ${targets.join(', ')})`);
  const parts = [`enforced by the waypoint${enforcers.length > 1 ? 's' : ''} ${enforcers.join(', ')}.`];
  if (problems.length > 0) parts.push(`Not enforced for: ${problems.join('; ')}.`);
  if (outcome.unsupported.length > 0) parts.push(waypointPartialMessage(outcome.authorization.action, outcome.unsupported));
  if (outcome.invalid.length > 0) parts.push(`Ignored values that are not valid: ${outcome.invalid.join('; ')}.`);
  if (outcome.authorization.action === 'ALLOW' && outcome.authorization.rules.length === 0) {
    parts.push('No rule is left: this policy denies all requests to its targets.');
  }
  const reason = problems.length > 0 || outcome.unsupported.length > 0 ? 'PartiallyEnforced' : outcome.invalid.length > 0 ? 'PartiallyInvalid' : 'Accepted';
  return cond(CONDITION_ACCEPTED, 'True', reason, parts.join(' '), policy);
}

function update(kind: ConditionStatusUpdate['kind'], object: Gateway | Service | AuthorizationPolicy, conditions: Condition[]): ConditionStatusUpdate {
  return { kind, namespace: object.metadata.namespace ?? 'default', name: object.metadata.name, conditions };
}

function cond(
  type: string, status: Condition['status'], reason: string, message: string, object: Gateway | Service | AuthorizationPolicy,
): Condition {
  const condition: Condition = { type, status, reason, message };
  if (object.metadata.generation !== undefined) condition.observedGeneration = object.metadata.generation;
  return condition;
}
