// Service → Service: hostname, VIPs, ports and the endpoints picked by the
// selector. Endpoints are derived here (no EndpointSlices in the store):
// every non-terminal pod with an IP in the same namespace whose labels match.
import type { Endpoint, Service as MeshService, ServicePort, WaypointBinding } from '@ambit/api';
import type { Pod, Service, ServiceSpecPort } from '../resources.js';
import { isHealthy, isTerminal, podIPs } from './enrollment.js';
import { matchesLabels } from './labels.js';

export interface ServiceInputs {
  clusterDomain: string;
  /** Pods of the service's namespace (others are ignored). */
  pods: readonly Pod[];
  waypoint?: WaypointBinding;
}

export function toService(service: Service, inputs: ServiceInputs): MeshService {
  const namespace = service.metadata.namespace ?? 'default';
  const name = service.metadata.name;
  const specPorts = (service.spec?.ports ?? []).filter(isTcp);
  const result: MeshService = {
    name,
    namespace,
    hostname: `${name}.${namespace}.svc.${inputs.clusterDomain}`,
    vips: serviceVips(service),
    ports: specPorts.map(toServicePort),
    endpoints: selectedPods(service, inputs.pods).map((pod) => toEndpoint(pod, specPorts)),
  };
  if (inputs.waypoint !== undefined) result.waypoint = inputs.waypoint;
  return result;
}

/** clusterIPs (else clusterIP), without `None` (headless) and empties. */
export function serviceVips(service: Service): string[] {
  const spec = service.spec;
  const list = spec?.clusterIPs !== undefined && spec.clusterIPs.length > 0 ? spec.clusterIPs : [spec?.clusterIP ?? ''];
  return [...new Set(list.filter((ip) => ip !== '' && ip !== 'None'))];
}

/** Whether the service's selector picks the pod. No (or an empty) selector picks nothing, as in Kubernetes. */
export function selects(service: Service, pod: Pod): boolean {
  const selector = service.spec?.selector;
  if (selector === undefined || Object.keys(selector).length === 0) return false;
  if ((pod.metadata.namespace ?? 'default') !== (service.metadata.namespace ?? 'default')) return false;
  return matchesLabels(selector, pod.metadata.labels);
}

export function selectedPods(service: Service, pods: readonly Pod[]): Pod[] {
  return pods
    .filter((pod) => selects(service, pod) && podIPs(pod).length > 0 && !isTerminal(pod))
    .sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0));
}

export function toServicePort(port: ServiceSpecPort): ServicePort {
  const result: ServicePort = { port: port.port, targetPort: port.port };
  if (port.name !== undefined) result.name = port.name;
  if (typeof port.targetPort === 'number') {
    result.targetPort = port.targetPort;
  } else if (typeof port.targetPort === 'string' && port.targetPort !== '') {
    // A numeric string is a number (Kubernetes IntOrString); a name resolves per endpoint.
    if (/^\d+$/.test(port.targetPort)) {
      result.targetPort = Number(port.targetPort);
    } else {
      result.targetPort = 0;
      result.targetPortName = port.targetPort;
    }
  }
  if (port.appProtocol !== undefined) result.appProtocol = port.appProtocol;
  return result;
}

/**
 * One endpoint per pod. A named target port missing from the pod's
 * containers leaves that service port out of the endpoint's map, as
 * Kubernetes leaves the pod out of that port's endpoints.
 */
export function toEndpoint(pod: Pod, specPorts: readonly ServiceSpecPort[]): Endpoint {
  const ports: Record<number, number> = {};
  for (const specPort of specPorts) {
    const resolved = resolveTargetPort(toServicePort(specPort), pod);
    if (resolved !== undefined) ports[specPort.port] = resolved;
  }
  return {
    workloadUid: pod.metadata.uid ?? `${pod.metadata.namespace ?? 'default'}/${pod.metadata.name}`,
    address: podIPs(pod)[0] ?? '',
    ports,
    healthy: isHealthy(pod),
  };
}

export function resolveTargetPort(port: ServicePort, pod: Pod): number | undefined {
  if (port.targetPortName === undefined) return port.targetPort;
  for (const container of pod.spec?.containers ?? []) {
    for (const containerPort of container.ports ?? []) {
      if (containerPort.name === port.targetPortName && (containerPort.protocol ?? 'TCP') === 'TCP') {
        return containerPort.containerPort;
      }
    }
  }
  return undefined;
}

/** The mesh carries TCP only; UDP and SCTP ports are left to the cluster network. */
function isTcp(port: ServiceSpecPort): boolean {
  return (port.protocol ?? 'TCP') === 'TCP';
}
