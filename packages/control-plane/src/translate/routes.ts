// HTTPRoute (Gateway API v1) → HttpRoute for waypoints, plus the route's
// `status.parents` entries. Two attachments, as in Istio ambient:
// - parentRef kind Service (group '' or core): GAMMA "producer" mesh routing,
//   applied by the waypoint the Service is bound to; the route must live in
//   the Service's namespace (consumer routes are not supported);
// - parentRef kind Gateway of class ambit-waypoint: applied to all traffic the
//   waypoint serves (allowedRoutes is Same namespace, the Gateway default).
// Parents we do not own (Gateways of other classes, kinds of other APIs) get
// no entry from us. Rules are emitted one per match (precedence is per match),
// already in Gateway API precedence order within the route (see
// route-precedence.ts). The waypoint merges the routes of one parent: it
// compares the rules' matches with the same `compareMatches` and breaks ties by
// route key (namespace/name), then emitted order — the contract carries no
// creationTimestamp, so "oldest route first" is not applied across routes.
import type { HttpRoute, HttpRouteRule } from '@ambit/api';
import type { Condition, Gateway, HTTPRoute, ParentReference, RouteParentStatus, Service } from '../resources.js';
import { WAYPOINT_PORT } from '../resources.js';
import { compare } from './labels.js';
import { compareMatches } from '@ambit/api';
import { CONDITION_ACCEPTED } from './status.js';
import { convertRule, type RuleContext, type RuleIssues } from './route-rules.js';
import {
  ANNOTATION_FAULT_ABORT, ANNOTATION_FAULT_DELAY, ANNOTATION_PER_TRY_TIMEOUT, ANNOTATION_RETRY_ON,
  parseDuration, parseFaultAbort, parseFaultDelay, parseRetryOn,
} from './route-values.js';
import type { RouteStatusUpdate } from './types.js';
import { isWaypointGateway, type Waypoint } from './waypoints.js';

export const ROUTE_CONTROLLER_NAME = 'ambit.dev/waypoint-controller';
export const CONDITION_RESOLVED_REFS = 'ResolvedRefs';
export const CONDITION_PARTIALLY_INVALID = 'PartiallyInvalid';
const GATEWAY_GROUP = 'gateway.networking.k8s.io';

export interface RouteContext {
  /** Kubernetes Services by namespace/name. */
  services: ReadonlyMap<string, Service>;
  /** The waypoint each Service is bound to (namespace/name of the Gateway), for bound Services only. */
  serviceWaypoints: ReadonlyMap<string, string>;
  /** Every Gateway by namespace/name (any class: other classes are not ours). */
  gateways: ReadonlyMap<string, Gateway>;
  waypoints: ReadonlyMap<string, Waypoint>;
}

export interface RouteOutcome {
  /** Undefined when no parent accepted the route: nothing for a waypoint to apply. */
  route?: HttpRoute;
  /** Our status.parents entries (one per parentRef we own). */
  status?: RouteStatusUpdate;
}

/** Every route, by key. */
export function translateRoutes(routes: readonly HTTPRoute[], context: RouteContext): { routes: HttpRoute[]; status: RouteStatusUpdate[] } {
  const result: HttpRoute[] = [];
  const status: RouteStatusUpdate[] = [];
  for (const route of [...routes].sort(byKey)) {
    const outcome = translateRoute(route, context);
    if (outcome.route !== undefined) result.push(outcome.route);
    if (outcome.status !== undefined) status.push(outcome.status);
  }
  return { routes: result, status };
}

export function translateRoute(route: HTTPRoute, context: RouteContext): RouteOutcome {
  const namespace = route.metadata.namespace ?? 'default';
  const name = route.metadata.name;
  const spec = route.spec ?? {};
  const parents: HttpRoute['parents'] = [];
  const accepted: { ref: ParentReference; condition: Condition }[] = [];
  for (const ref of spec.parentRefs ?? []) {
    const resolved = resolveParent(ref, namespace, context);
    if (resolved === undefined) continue;
    const c = resolved.condition;
    accepted.push({ ref, condition: condition(CONDITION_ACCEPTED, c.status, c.reason, c.message, route) });
    const parent = resolved.parent;
    if (parent !== undefined && !parents.some((p) => p.kind === parent.kind && p.key === parent.key && p.port === parent.port)) parents.push(parent);
  }
  if (accepted.length === 0) return {};

  const issues: RuleIssues = { refs: [], dropped: [] };
  const firstServicePort = parents.find((p) => p.kind === 'Service' && p.port !== undefined)?.port;
  const ruleContext: RuleContext = {
    namespace, services: context.services, ...annotationExtensions(route.metadata.annotations ?? {}, issues),
    ...(firstServicePort !== undefined ? { defaultPort: firstServicePort } : {}),
  };
  const entries: { match: HttpRouteRule['matches'][number]; rule: Omit<HttpRouteRule, 'matches'>; order: number }[] = [];
  (spec.rules ?? []).forEach((rule, i) => {
    const converted = convertRule(rule, i, ruleContext, issues);
    for (const match of converted?.matches ?? []) entries.push({ match, rule: converted!.rule, order: entries.length });
  });
  entries.sort((a, b) => compareMatches(a.match, b.match) || a.order - b.order);

  const resolvedRefs = issues.refs.length === 0
    ? condition(CONDITION_RESOLVED_REFS, 'True', 'ResolvedRefs', 'all references resolved', route)
    : condition(CONDITION_RESOLVED_REFS, 'False', issues.refs[0]!.reason, issues.refs.map((r) => r.message).join('; '), route);
  const partiallyInvalid = issues.dropped.length === 0
    ? undefined
    : condition(CONDITION_PARTIALLY_INVALID, 'True', 'UnsupportedValue', issues.dropped.join('; '), route);
  const status: RouteStatusUpdate = {
    kind: 'HTTPRoute', namespace, name,
    parents: accepted.map(({ ref, condition: c }): RouteParentStatus => ({
      parentRef: ref,
      controllerName: ROUTE_CONTROLLER_NAME,
      conditions: [c, resolvedRefs, ...(partiallyInvalid === undefined ? [] : [partiallyInvalid])],
    })),
  };
  if (parents.length === 0) return { status };
  return {
    route: {
      key: `${namespace}/${name}`, namespace, name, parents,
      hostnames: (spec.hostnames ?? []).map((h) => h.toLowerCase()),
      rules: entries.map((e) => ({ matches: [e.match], ...e.rule })),
    },
    status,
  };
}

// --- parents ---------------------------------------------------------------------------

interface ResolvedParent {
  /** Set when accepted. */
  parent?: HttpRoute['parents'][number];
  condition: Pick<Condition, 'status' | 'reason' | 'message'>;
}

function resolveParent(ref: ParentReference, routeNamespace: string, context: RouteContext): ResolvedParent | undefined {
  const group = ref.group ?? GATEWAY_GROUP;
  const kind = ref.kind ?? 'Gateway';
  const namespace = ref.namespace ?? routeNamespace;
  const key = `${namespace}/${ref.name}`;
  const refuse = (reason: string, message: string): ResolvedParent => ({ condition: { status: 'False', reason, message } });
  const core = group === '' || group === 'core';

  if (core && kind === 'Service') {
    if (namespace !== routeNamespace) {
      return refuse('UnsupportedValue', `Service ${key} is in another namespace: consumer routes are not supported by waypoints; create the HTTPRoute in namespace ${namespace}`);
    }
    const service = context.services.get(key);
    if (service === undefined) return refuse('NoMatchingParent', `Service ${key} not found`);
    const ports = service.spec?.ports ?? [];
    let port = ref.port;
    if (ref.sectionName !== undefined) {
      const named = ports.find((p) => p.name === ref.sectionName);
      if (named === undefined) return refuse('NoMatchingParent', `Service ${key} has no port named ${JSON.stringify(ref.sectionName)}`);
      if (port !== undefined && port !== named.port) return refuse('NoMatchingParent', `Service ${key} port ${JSON.stringify(ref.sectionName)} is ${named.port}, not ${port}`);
      port = named.port;
    }
    if (port !== undefined && !ports.some((p) => p.port === port)) return refuse('NoMatchingParent', `Service ${key} has no port ${port}`);
    const waypoint = context.serviceWaypoints.get(key);
    const message = waypoint !== undefined
      ? `attached to Service ${key}${port === undefined ? '' : ` port ${port}`}; applied by the waypoint ${waypoint}`
      : `attached to Service ${key}, but the Service has no waypoint (label ambit.dev/use-waypoint): ztunnel sends its traffic straight to the endpoints and this route has no effect until a waypoint is bound`;
    return { parent: { kind: 'Service', key, ...(port === undefined ? {} : { port }) }, condition: { status: 'True', reason: 'Accepted', message } };
  }
  if (core) return refuse('UnsupportedValue', `parentRef kind ${kind} is not supported; use a Service (mesh routing) or a Gateway of class ambit-waypoint`);
  if (group !== GATEWAY_GROUP || kind !== 'Gateway') return undefined;

  const gateway = context.gateways.get(key);
  if (gateway === undefined) return refuse('NoMatchingParent', `Gateway ${key} not found`);
  if (!isWaypointGateway(gateway)) return undefined;
  const waypoint = context.waypoints.get(key);
  if (waypoint?.invalid !== undefined) return refuse('NotAllowedByListeners', `Gateway ${key} is not a valid waypoint: ${waypoint.invalid}`);
  if (namespace !== routeNamespace) {
    return refuse('NotAllowedByListeners', `waypoint ${key} admits routes from its own namespace only (allowedRoutes: Same); create the HTTPRoute in namespace ${namespace}`);
  }
  const listeners = gateway.spec?.listeners ?? [];
  if (ref.sectionName !== undefined && !listeners.some((l) => l.name === ref.sectionName)) {
    return refuse('NoMatchingParent', `waypoint ${key} has no listener named ${JSON.stringify(ref.sectionName)}`);
  }
  if (ref.port !== undefined && ref.port !== WAYPOINT_PORT) return refuse('NoMatchingParent', `waypoint ${key} listens on ${WAYPOINT_PORT}, not ${ref.port}`);
  return { parent: { kind: 'Gateway', key }, condition: { status: 'True', reason: 'Accepted', message: `attached to the waypoint ${key}` } };
}

// --- annotations ------------------------------------------------------------------------

function annotationExtensions(annotations: Record<string, string>, issues: RuleIssues): Pick<RuleContext, 'retryOn' | 'perTryTimeoutMs' | 'fault'> {
  const result: Pick<RuleContext, 'retryOn' | 'perTryTimeoutMs' | 'fault'> = {};
  const read = <T>(key: string, parse: (text: string) => { ok: true; value: T } | { ok: false; problem: string }): T | undefined => {
    const text = annotations[key];
    if (text === undefined) return undefined;
    const parsed = parse(text);
    if (parsed.ok) return parsed.value;
    issues.dropped.push(`metadata.annotations[${JSON.stringify(key)}]: ${parsed.problem}; ignored`);
    return undefined;
  };
  const retryOn = read(ANNOTATION_RETRY_ON, parseRetryOn);
  const perTry = read(ANNOTATION_PER_TRY_TIMEOUT, parseDuration);
  const delay = read(ANNOTATION_FAULT_DELAY, parseFaultDelay);
  const abort = read(ANNOTATION_FAULT_ABORT, parseFaultAbort);
  if (retryOn !== undefined) result.retryOn = retryOn;
  if (perTry !== undefined && perTry > 0) result.perTryTimeoutMs = perTry;
  if (delay !== undefined || abort !== undefined) result.fault = { ...(delay ? { delay } : {}), ...(abort ? { abort } : {}) };
  return result;
}

// --- helpers --------------------------------------------------------------------------------

function condition(type: string, status: Condition['status'], reason: string, message: string, route: HTTPRoute): Condition {
  const result: Condition = { type, status, reason, message };
  if (route.metadata.generation !== undefined) result.observedGeneration = route.metadata.generation;
  return result;
}

function byKey(a: HTTPRoute, b: HTTPRoute): number {
  return compare(a.metadata.namespace ?? 'default', b.metadata.namespace ?? 'default')
    || compare(a.metadata.name, b.metadata.name);
}
