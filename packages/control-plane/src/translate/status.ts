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

/**
 * How a controller-run waypoint is doing, beyond its Gateway: what the
 * controller could not do, its pods, and whether one of them has
 * acknowledged the mesh state.
 */
export interface WaypointRuntime {
  problem?: string;
  pods: number;
  readyPods: number;
  synced: boolean;
}

/**
 * Accepted and Programmed, and the address. Without `runtime` (nobody runs
 * waypoints here) Programmed follows the address alone.
 */
export function gatewayStatus(gateway: Gateway, waypoint: Waypoint, runtime?: WaypointRuntime): ConditionStatusUpdate {
  const accepted = waypoint.invalid !== undefined
    ? cond(CONDITION_ACCEPTED, 'False', 'Invalid', `not a waypoint: ${waypoint.invalid}`, gateway)
    : cond(CONDITION_ACCEPTED, 'True', 'Accepted', `waypoint for ${waypoint.for} traffic`, gateway);
  const programmed = cond(CONDITION_PROGRAMMED, ...programmedOf(waypoint, runtime), gateway);
  const result = update('Gateway', gateway, [accepted, programmed]);
  result.addresses = waypoint.invalid !== undefined || waypoint.address === undefined ? [] : [{ type: 'IPAddress', value: waypoint.address }];
  return result;
}

function programmedOf(waypoint: Waypoint, runtime: WaypointRuntime | undefined): [Condition['status'], string, string] {
  if (waypoint.invalid !== undefined) return ['False', 'Invalid', `not a waypoint: ${waypoint.invalid}`];
  if (runtime?.problem !== undefined) return ['False', 'Invalid', runtime.problem];
  if (waypoint.address === undefined) return ['False', 'AddressNotAssigned', 'the waypoint has no address yet: its Service has no cluster IP'];
  if (runtime === undefined) return ['True', 'Programmed', `waypoint for ${waypoint.for} traffic at ${waypoint.address}`];
  if (runtime.readyPods === 0) {
    return ['False', 'Pending', runtime.pods === 0 ? 'no waypoint pod is running yet' : `0 of ${runtime.pods} waypoint pod(s) ready`];
  }
  if (!runtime.synced) return ['False', 'Pending', 'the waypoint is running but has not acknowledged the mesh state yet'];
  return ['True', 'Programmed', `waypoint for ${waypoint.for} traffic at ${waypoint.address} (${runtime.readyPods} of ${runtime.pods} pod(s) ready)`];
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
