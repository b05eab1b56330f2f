// Where an outbound connection goes (pure; table-tested). The original
// destination is a Service VIP, a mesh workload, or unknown:
//
// - VIP: the service's waypoint if it has one (`:authority` stays VIP:port);
//   else one healthy endpoint serving that port, chosen at random, and then
//   the rules for a workload address with the endpoint's target port.
// - Workload: its waypoint if it has one (as in ztunnel, a service's
//   waypoint wins over the workload's); else HBONE if it is enrolled (in
//   process when it is on this node), plain TCP if it is not.
// - Unknown: passthrough, plain TCP to the original destination.
//
// A waypoint never routes to itself: traffic a waypoint sends on is not sent
// back to it.
import { formatAuthority, socketAddress, type Endpoint, type Service, type SocketAddress, type WaypointBinding, type Workload } from '@ambit/api';
import type { MeshLookup } from '../state.js';
import { refusal } from './flags.js';

export type Route =
  /**
   * HBONE to the waypoint, presenting the source identity and expecting the
   * waypoint's. `hop` is where: one ready pod of the waypoint's Service when
   * its address is a VIP, else the address itself.
   */
  | { kind: 'waypoint'; waypoint: WaypointBinding; hop: SocketAddress; target: SocketAddress; service?: Service; workload?: Workload }
  /** HBONE to an enrolled workload: in process when `local`, else to its node's ztunnel at podIP:hbonePort. */
  | { kind: 'hbone'; workload: Workload; target: SocketAddress; service?: Service; local: boolean }
  /** Plain TCP to a workload outside the mesh. */
  | { kind: 'tcp'; workload: Workload; target: SocketAddress; service?: Service }
  /** Plain TCP to an address the mesh does not know (or an endpoint without a workload). */
  | { kind: 'passthrough'; target: SocketAddress; service?: Service };

export interface ResolveRequest {
  /** The local workload that opened the connection. */
  source: Workload;
  /** The original destination. */
  destination: SocketAddress;
  /** This ztunnel's node. */
  node: string;
}

/** Picks an index in [0, count). */
export type Picker = (count: number) => number;

export const randomPicker: Picker = (count) => Math.floor(Math.random() * count);

/** Throws a refusal (flag NR) when a service has nothing healthy to send to. */
export function resolveOutbound(lookup: MeshLookup, request: ResolveRequest, pick: Picker = randomPicker): Route {
  const { source, destination } = request;
  const service = lookup.serviceByVip(destination.ip);
  if (service !== undefined) {
    if (service.waypoint !== undefined && !isWaypointItself(source, service.waypoint)) {
      return { kind: 'waypoint', waypoint: service.waypoint, hop: waypointHop(lookup, service.waypoint, pick), target: destination, service };
    }
    const endpoint = chooseEndpoint(service, destination, pick);
    const port = endpoint.ports[destination.port] as number;
    const target = socketAddress(endpoint.address, port);
    const workload = lookup.workload(endpoint.workloadUid) ?? lookup.workloadByAddress(endpoint.address);
    if (workload === undefined) return { kind: 'passthrough', target, service };
    return toWorkload(lookup, workload, target, request, service, pick);
  }
  const workload = lookup.workloadByAddress(destination.ip);
  if (workload === undefined) return { kind: 'passthrough', target: destination };
  return toWorkload(lookup, workload, destination, request, undefined, pick);
}

function toWorkload(
  lookup: MeshLookup, workload: Workload, target: SocketAddress, request: ResolveRequest, service: Service | undefined, pick: Picker,
): Route {
  const withService = service === undefined ? {} : { service };
  if (workload.waypoint !== undefined && !isWaypointItself(request.source, workload.waypoint)) {
    return { kind: 'waypoint', waypoint: workload.waypoint, hop: waypointHop(lookup, workload.waypoint, pick), target, workload, ...withService };
  }
  if (workload.protocol === 'HBONE') return { kind: 'hbone', workload, target, local: workload.node === request.node, ...withService };
  return { kind: 'tcp', workload, target, ...withService };
}

/** A waypoint addressed by its Service's VIP is reached at one of that Service's ready pods. */
function waypointHop(lookup: MeshLookup, waypoint: WaypointBinding, pick: Picker): SocketAddress {
  const address = socketAddress(waypoint.address, waypoint.port);
  const service = lookup.serviceByVip(waypoint.address);
  if (service === undefined) return address;
  const endpoint = chooseEndpoint(service, address, pick);
  return socketAddress(endpoint.address, endpoint.ports[waypoint.port] as number);
}

function chooseEndpoint(service: Service, destination: SocketAddress, pick: Picker): Endpoint {
  const vip = formatAuthority(destination);
  const name = `${service.namespace}/${service.name}`;
  if (!service.ports.some((p) => p.port === destination.port)) {
    throw refusal('no-upstream', 'no-service-port', 'NR', `service ${name} has no port ${destination.port} (connection to ${vip})`, {
      hint: `its ports are ${service.ports.map((p) => p.port).join(', ') || 'none'}`,
    });
  }
  const serving = service.endpoints.filter((e) => validPort(e.ports[destination.port]));
  const healthy = serving.filter((e) => e.healthy);
  if (healthy.length === 0) {
    throw refusal('no-upstream', 'no-healthy-endpoint', 'NR', `service ${name} has no healthy endpoint for port ${destination.port} (connection to ${vip})`, {
      hint: serving.length === 0 ? 'no ready pod matches its selector' : `${serving.length} endpoint(s) exist but none is ready`,
    });
  }
  const index = Math.min(healthy.length - 1, Math.max(0, Math.floor(pick(healthy.length))));
  return healthy[index] as Endpoint;
}

function validPort(port: number | undefined): boolean {
  return port !== undefined && Number.isInteger(port) && port >= 1 && port <= 65535;
}

function isWaypointItself(source: Workload, waypoint: WaypointBinding): boolean {
  return source.addresses.includes(waypoint.address) || source.identity === waypoint.identity;
}

/** The route as a short string for logs and the connection table. */
export function describeRoute(route: Route): string {
  switch (route.kind) {
    case 'waypoint': return `waypoint ${route.waypoint.gateway} (${formatAuthority(route.hop)}) for ${formatAuthority(route.target)}`;
    case 'hbone': return `${route.local ? 'same-node' : 'hbone'} ${formatAuthority(route.target)}`;
    case 'tcp': return `tcp ${formatAuthority(route.target)}`;
    case 'passthrough': return `passthrough ${formatAuthority(route.target)}`;
  }
}

/**
 * The VIP of the service `name` stands for, as a pod in `namespace` would
 * resolve it: `svc.ns.svc.<domain>`, `svc.ns.svc`, `svc.ns`, or `svc` in the
 * pod's own namespace. Undefined when no service (with a VIP) has that name.
 */
export function serviceVipByName(services: readonly Service[], name: string, namespace: string | undefined): string | undefined {
  const wanted = name.toLowerCase().replace(/\.$/, '');
  const found = services.find((service) => {
    if (service.vips.length === 0) return false;
    const short = `${service.name}.${service.namespace}`;
    return service.hostname === wanted || short === wanted || `${short}.svc` === wanted
      || (namespace !== undefined && service.namespace === namespace && service.name === wanted);
  });
  return found?.vips[0];
}

/**
 * Where a pod outside the mesh reaches `destination` (the loopback mode's
 * kube-proxy): a service VIP becomes one healthy endpoint, anything else is
 * itself. No waypoint, no HBONE: the pod is not in the mesh.
 */
export function resolveDirect(lookup: MeshLookup, destination: SocketAddress, pick: Picker = randomPicker): { target: SocketAddress; service?: Service; workload?: Workload } {
  const service = lookup.serviceByVip(destination.ip);
  if (service === undefined) {
    const workload = lookup.workloadByAddress(destination.ip);
    return { target: destination, ...(workload === undefined ? {} : { workload }) };
  }
  const endpoint = chooseEndpoint(service, destination, pick);
  const target = socketAddress(endpoint.address, endpoint.ports[destination.port] as number);
  const workload = lookup.workload(endpoint.workloadUid) ?? lookup.workloadByAddress(endpoint.address);
  return { target, service, ...(workload === undefined ? {} : { workload }) };
}
