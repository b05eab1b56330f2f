// What a waypoint needs of the mesh state (pure): the services bound to its
// Gateway and the services its routes send to, the routes attached to the
// Gateway or to a bound service, the `targetRefs` policies naming the Gateway
// or one of those services, and every workload: a waypoint names its callers
// (request metrics, access log) from the workload at the source address, and
// those can be anywhere in the mesh, as in Istio. The index is built
// once per state version; each Gateway's scope then costs time in proportion
// to the scope, which the workloads make about the size of the mesh.
import { resourceKey, type HttpRoute, type Resource, type Service } from '@ambit/api';
import { resourceId } from './state.js';

export class ScopeIndex {
  private readonly services = new Map<string, Service>();
  private readonly servicesByGateway = new Map<string, string[]>();
  /** By parent, `Gateway/<key>` or `Service/<key>`. */
  private readonly routesByParent = new Map<string, HttpRoute[]>();
  /** Policy keys by target, `Gateway/<key>` or `Service/<key>`. */
  private readonly authorizationsByTarget = new Map<string, string[]>();
  private readonly workloadUids = new Set<string>();

  constructor(resources: Iterable<Resource>) {
    for (const resource of resources) {
      switch (resource.kind) {
        case 'service': {
          const key = resourceKey(resource);
          this.services.set(key, resource.value);
          if (resource.value.waypoint !== undefined) push(this.servicesByGateway, resource.value.waypoint.gateway, key);
          break;
        }
        case 'route':
          for (const parent of resource.value.parents) push(this.routesByParent, `${parent.kind}/${parent.key}`, resource.value);
          break;
        case 'authorization': {
          // Only `targetRefs` policies are the waypoint's to enforce (see the waypoint's l7/rbac.ts).
          const scope = resource.value.scope;
          if (scope.kind !== 'targets') break;
          for (const target of scope.targets) push(this.authorizationsByTarget, `${target.kind}/${target.key}`, resource.value.key);
          break;
        }
        case 'workload':
          this.workloadUids.add(resource.value.uid);
          break;
      }
    }
  }

  /** The ids (`kind/key`, as VersionedState names them) of every resource the waypoint of `gateway` needs. */
  scopeOf(gateway: string): Set<string> {
    const ids = new Set<string>();
    const bound = this.servicesByGateway.get(gateway) ?? [];
    const routes = new Set(this.routesByParent.get(`Gateway/${gateway}`));
    for (const key of bound) for (const route of this.routesByParent.get(`Service/${key}`) ?? []) routes.add(route);
    const services = new Set(bound);
    for (const route of routes) {
      ids.add(resourceId('route', route.key));
      // A backend the control plane could not resolve (`!unresolved:...`) names no service and is not found.
      for (const rule of route.rules) for (const backend of rule.backends) if (this.services.has(backend.service)) services.add(backend.service);
    }
    const targets = [`Gateway/${gateway}`];
    for (const key of services) {
      ids.add(resourceId('service', key));
      targets.push(`Service/${key}`);
    }
    for (const target of targets) for (const key of this.authorizationsByTarget.get(target) ?? []) ids.add(resourceId('authorization', key));
    for (const uid of this.workloadUids) ids.add(resourceId('workload', uid));
    return ids;
  }
}

function push<T>(map: Map<string, T[]>, key: string, value: T): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else list.push(value);
}
