// Conditions the control plane writes back so `kubectl` and the CLI can say
// why something is (not) in effect. Pure: no timestamps here; the writer
// sets lastTransitionTime when a condition's status changes.
import type { AuthorizationPolicy, Condition, Gateway, Service } from '../resources.js';
import { partialEnforcementMessage } from './authorization.js';
import type { PolicyOutcome } from './authorization.js';
import type { StatusUpdate } from './types.js';
import type { BindingResult, Waypoint } from './waypoints.js';

export const CONDITION_PROGRAMMED = 'Programmed';
export const CONDITION_WAYPOINT_BOUND = 'ambit.dev/WaypointBound';
export const CONDITION_ACCEPTED = 'Accepted';

export function gatewayStatus(gateway: Gateway, waypoint: Waypoint): StatusUpdate {
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
export function serviceStatus(service: Service, binding: BindingResult): StatusUpdate | undefined {
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

export function policyStatus(policy: AuthorizationPolicy, outcome: PolicyOutcome): StatusUpdate {
  let condition: Condition;
  switch (outcome.kind) {
    case 'rejected':
      condition = cond(CONDITION_ACCEPTED, 'False', outcome.reason, outcome.message, policy);
      break;
    case 'waypoint':
      condition = cond(CONDITION_ACCEPTED, 'True', 'Accepted',
        `targets ${outcome.targets.join(', ')}: enforced by the waypoint (L7), not by ztunnel`, policy);
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

function update(kind: StatusUpdate['kind'], object: Gateway | Service | AuthorizationPolicy, conditions: Condition[]): StatusUpdate {
  return { kind, namespace: object.metadata.namespace ?? 'default', name: object.metadata.name, conditions };
}

function cond(
  type: string, status: Condition['status'], reason: string, message: string, object: Gateway | Service | AuthorizationPolicy,
): Condition {
  const condition: Condition = { type, status, reason, message };
  if (object.metadata.generation !== undefined) condition.observedGeneration = object.metadata.generation;
  return condition;
}
