// `ambit check`, the mesh's configuration: waypoints programmed, every
// use-waypoint label bound to a waypoint that serves its object, policies
// accepted, HTTPRoutes accepted with their references resolved. Bindings are
// resolved here with the control plane's own rules (resolveWaypoint), since a
// namespace or a pod carries no status; policies and routes are judged by the
// status the control plane wrote.
import {
  CONDITION_PARTIALLY_INVALID, CONDITION_RESOLVED_REFS, LABEL_USE_WAYPOINT, ROUTE_CONTROLLER_NAME, WAYPOINT_GATEWAY_CLASS,
  resolveWaypoint, waypointsOf,
  type AuthorizationPolicy, type BindingResult, type Namespace, type Gateway, type HTTPRoute, type Service, type Store, type Waypoint,
} from '@ambit/control-plane';
import type { NamespaceView, PodView } from '../mesh-view.js';
import type { Add } from './check.js';

export interface ConfigurationInput {
  store: Store;
  trustDomain: string;
  /** Every Gateway of class ambit-waypoint. */
  gateways: Gateway[];
  namespaces: NamespaceView[];
  pods: PodView[];
}

export async function checkConfiguration(input: ConfigurationInput, add: Add): Promise<void> {
  const { store, gateways } = input;
  for (const gateway of gateways) {
    const key = `${gateway.metadata.namespace ?? 'default'}/${gateway.metadata.name}`;
    const programmed = gateway.status?.conditions?.find((c) => c.type === 'Programmed');
    if (programmed?.status === 'True') add('waypoints', 'ok', `waypoint ${key} is programmed`);
    else add('waypoints', 'fail', `waypoint ${key} is programmed`, programmed === undefined ? 'no status yet' : `${programmed.reason}: ${programmed.message}`, `see \`ambit waypoint status -n ${gateway.metadata.namespace ?? 'default'}\``);
  }
  if (gateways.length === 0) add('waypoints', 'ok', 'no waypoints to check');

  const services = (await store.list<Service>('Service')).items;
  const waypoints = waypointsOf(gateways, input.trustDomain, services);
  const bound = checkBindings(input, services, waypoints, add);

  const policies = (await store.list<AuthorizationPolicy>('AuthorizationPolicy')).items;
  for (const policy of policies) {
    const key = `${policy.metadata.namespace ?? 'default'}/${policy.metadata.name}`;
    const accepted = policy.status?.conditions?.find((c) => c.type === 'Accepted');
    if (accepted === undefined) add('policies', 'warn', `policy ${key} is accepted`, 'no status yet', 'wait a moment');
    else if (accepted.status !== 'True') add('policies', 'fail', `policy ${key} is accepted`, `${accepted.reason}: ${accepted.message}`, 'fix the policy and apply it again');
    else if (accepted.reason !== 'Accepted') add('policies', 'warn', `policy ${key} is fully enforced`, `${accepted.reason}: ${accepted.message}`);
    else add('policies', 'ok', `policy ${key} is accepted`);
  }
  if (policies.length === 0) add('policies', 'ok', 'no authorization policies to check');

  const routes = (await store.list<HTTPRoute>('HTTPRoute')).items;
  let ours = 0;
  for (const route of routes) if (checkRoute(route, gateways, bound, add)) ours += 1;
  if (ours === 0) add('routes', 'ok', 'no HTTP routes to check');
}

/**
 * Each namespace, service and pod whose own use-waypoint label names a
 * waypoint (not `none`): bound, or why not. A namespace's label is fine when
 * its waypoint serves either its services or its pods. Returns the services
 * (namespace/name) that are bound, for the routes attached to them.
 */
function checkBindings(input: ConfigurationInput, services: Service[], waypoints: ReadonlyMap<string, Waypoint>, add: Add): Set<string> {
  const group = 'waypoint bindings';
  const namespaces = new Map(input.namespaces.map((ns): [string, Namespace] => [ns.name, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns.name, labels: ns.labels } }]));
  const labelled = (labels: Record<string, string> | undefined): boolean => {
    const value = labels?.[LABEL_USE_WAYPOINT];
    return value !== undefined && value !== 'none';
  };
  let count = 0;
  const report = (what: string, result: BindingResult, hint: string): void => {
    count += 1;
    if (result.state === 'bound') add(group, 'ok', `${what} is bound to waypoint ${result.binding.gateway}`);
    else if (result.state === 'unbound') add(group, 'fail', `${what} is bound to its waypoint`, `${result.reason}: ${result.message}; its traffic goes straight to the destination, without L7 routing or policy`, hint);
  };
  const fix = (kind: string, name: string, namespace?: string): string =>
    `deploy the waypoint (\`ambit waypoint apply\`) or change the label: \`ambit label ${kind} ${name}${namespace === undefined ? '' : ` -n ${namespace}`} ${LABEL_USE_WAYPOINT}-\``;

  for (const ns of input.namespaces) {
    if (!labelled(ns.labels)) continue;
    const object = { metadata: { namespace: ns.name, labels: ns.labels } };
    const results = [resolveWaypoint(object, undefined, 'service', waypoints), resolveWaypoint(object, undefined, 'workload', waypoints)];
    const why = results.find((r) => r.state === 'unbound' && r.reason !== 'WaypointNotForTarget');
    const result = results.find((r) => r.state === 'bound') ?? why;
    if (result !== undefined) {
      report(`namespace ${ns.name}`, result, fix('namespace', ns.name));
    } else if (results[0]!.state === 'unbound') {
      // Neither services nor pods: the waypoint says waypoint-for=none.
      const [gatewayNamespace, name] = results[0]!.gateway.split('/');
      count += 1;
      add(group, 'warn', `namespace ${ns.name}'s waypoint ${results[0]!.gateway} serves its traffic`, results[0]!.message,
        `\`ambit waypoint apply -n ${gatewayNamespace ?? ''} --name ${name ?? ''} --for service\`, or remove the label`);
    }
  }
  const bound = new Set<string>();
  for (const service of services) {
    const key = `${service.metadata.namespace ?? 'default'}/${service.metadata.name}`;
    const result = resolveWaypoint(service, namespaces.get(service.metadata.namespace ?? 'default'), 'service', waypoints);
    if (result.state === 'bound') bound.add(key);
    if (labelled(service.metadata.labels)) report(`service ${key}`, result, fix('service', service.metadata.name, service.metadata.namespace ?? 'default'));
  }
  for (const pod of input.pods) {
    if (!labelled(pod.labels)) continue;
    const object = { metadata: { namespace: pod.namespace, labels: pod.labels } };
    report(`pod ${pod.namespace}/${pod.name}`, resolveWaypoint(object, namespaces.get(pod.namespace), 'workload', waypoints), fix('pod', pod.name, pod.namespace));
  }
  if (count === 0) add(group, 'ok', 'no use-waypoint labels to check');
  return bound;
}

/**
 * One route, by the status.parents entries of our controller. A route none of
 * whose parents is ours (another controller's Gateway) is not checked: false.
 */
function checkRoute(route: HTTPRoute, gateways: Gateway[], boundServices: ReadonlySet<string>, add: Add): boolean {
  const namespace = route.metadata.namespace ?? 'default';
  const key = `${namespace}/${route.metadata.name}`;
  const hint = `see \`ambit get httproute ${route.metadata.name} -n ${namespace} -o yaml\` (status.parents), fix the route and apply it again`;
  const entries = (route.status?.parents ?? []).filter((p) => p.controllerName === ROUTE_CONTROLLER_NAME);
  if (entries.length === 0) {
    const refs = route.spec?.parentRefs ?? [];
    const ours = refs.some((ref) => {
      const group = ref.group ?? 'gateway.networking.k8s.io';
      if (group === '' || group === 'core') return true;
      const gatewayNamespace = ref.namespace ?? namespace;
      return (ref.kind ?? 'Gateway') === 'Gateway'
        && gateways.some((g) => g.spec?.gatewayClassName === WAYPOINT_GATEWAY_CLASS && (g.metadata.namespace ?? 'default') === gatewayNamespace && g.metadata.name === ref.name);
    });
    if (ours) add('routes', 'warn', `route ${key} is accepted`, 'no status yet', 'wait a moment; if it persists, see the control plane\'s log');
    return ours;
  }
  const problems: string[] = [];
  const notes: string[] = [];
  for (const entry of entries) {
    const parent = `${entry.parentRef.kind ?? 'Gateway'} ${entry.parentRef.namespace ?? namespace}/${entry.parentRef.name}`;
    const accepted = entry.conditions.find((c) => c.type === 'Accepted');
    const resolved = entry.conditions.find((c) => c.type === CONDITION_RESOLVED_REFS);
    const partial = entry.conditions.find((c) => c.type === CONDITION_PARTIALLY_INVALID);
    if (accepted?.status !== 'True') problems.push(`not accepted by ${parent}: ${accepted === undefined ? 'no Accepted condition' : `${accepted.reason}: ${accepted.message}`}`);
    else if (entry.parentRef.kind === 'Service' && !boundServices.has(`${entry.parentRef.namespace ?? namespace}/${entry.parentRef.name}`)) {
      notes.push(`${parent} has no waypoint (label ${LABEL_USE_WAYPOINT}), so the route has no effect on its traffic`);
    }
    if (resolved !== undefined && resolved.status !== 'True' && !problems.some((p) => p.endsWith(resolved.message))) {
      problems.push(`${resolved.reason}: ${resolved.message}`);
    }
    if (partial?.status === 'True' && !notes.includes(partial.message)) notes.push(partial.message);
  }
  if (problems.length > 0) add('routes', 'fail', `route ${key} is accepted and its references resolve`, problems.join('; '), hint);
  else if (notes.length > 0) add('routes', 'warn', `route ${key} is fully in effect`, notes.join('; '), hint);
  else add('routes', 'ok', `route ${key} is accepted`);
  return true;
}
