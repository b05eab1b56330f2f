// What runs a waypoint: for each Gateway of class ambit-waypoint, a
// ServiceAccount (the waypoint's identity), a Deployment (its pods) and a
// Service (its address, the VIP ztunnels send to). The same objects serve
// both backends: Kubernetes runs them, and the local cluster's kubelet
// realises the Deployment as a pod in a network namespace. Pure: the
// controller diffs these against what the store holds.
import type { Deployment, Gateway, Kind, KubeObject, OwnerReference, Service, ServiceAccount } from '../resources.js';
import { LABEL_DATAPLANE_MODE, LABEL_USE_WAYPOINT, RESOURCE_TYPES, WAYPOINT_PORT } from '../resources.js';
import { LABEL_GATEWAY_NAME } from '../translate/waypoints.js';

/** On every object the controller owns; it lists, updates and deletes only these. */
export const LABEL_MANAGED_BY = 'ambit.dev/managed-by';
export const MANAGED_BY = 'waypoint-controller';
export const MANAGED_SELECTOR = `${LABEL_MANAGED_BY}=${MANAGED_BY}`;
/** The image name the local cluster's kubelet knows how to run. */
export const DEFAULT_WAYPOINT_IMAGE = 'ambit/waypoint';
export const WAYPOINT_CONTAINER = 'waypoint';
export const READINESS_PORT = 15021;
export const METRICS_PORT = 15020;

export interface WaypointObjectOptions {
  /** Container image of the waypoint proxy. */
  image: string;
  trustDomain: string;
  /** host:port of the control plane as pods reach it; omitted, the runtime supplies it (the local kubelet does). */
  controlPlane?: string;
}

export type ManagedKind = 'ServiceAccount' | 'Deployment' | 'Service';
export const MANAGED_KINDS: readonly ManagedKind[] = ['ServiceAccount', 'Deployment', 'Service'];

export interface WaypointObjects {
  serviceAccount: ServiceAccount;
  deployment: Deployment;
  service: Service;
}

export function waypointObjects(gateway: Gateway, options: WaypointObjectOptions): WaypointObjects {
  const namespace = gateway.metadata.namespace ?? 'default';
  const name = gateway.metadata.name;
  const labels = { [LABEL_MANAGED_BY]: MANAGED_BY, [LABEL_GATEWAY_NAME]: name };
  const metadata = (kind: ManagedKind, extra: Record<string, string> = {}): KubeObject['metadata'] => ({
    name, namespace, labels: { ...labels, ...extra }, ...ownerReferences(gateway, kind),
  });
  const env = [
    { name: 'AMBIT_WAYPOINT_GATEWAY', value: `${namespace}/${name}` },
    { name: 'AMBIT_WAYPOINT_TRUST_DOMAIN', value: options.trustDomain },
    ...(options.controlPlane === undefined ? [] : [{ name: 'AMBIT_WAYPOINT_CONTROL_PLANE', value: options.controlPlane }]),
  ];
  return {
    serviceAccount: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: metadata('ServiceAccount') },
    deployment: {
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: metadata('Deployment'),
      spec: {
        replicas: 1,
        selector: { matchLabels: { [LABEL_GATEWAY_NAME]: name } },
        template: {
          // Never captured (its HBONE is its own) and never sent through a waypoint.
          metadata: { labels: { [LABEL_GATEWAY_NAME]: name, [LABEL_DATAPLANE_MODE]: 'none', [LABEL_USE_WAYPOINT]: 'none' } },
          spec: {
            serviceAccountName: name,
            terminationGracePeriodSeconds: 30,
            containers: [{
              name: WAYPOINT_CONTAINER, image: options.image, env,
              ports: [
                { name: 'mesh', containerPort: WAYPOINT_PORT, protocol: 'TCP' },
                { name: 'metrics', containerPort: METRICS_PORT, protocol: 'TCP' },
                { name: 'readiness', containerPort: READINESS_PORT, protocol: 'TCP' },
              ],
              readinessProbe: { httpGet: { path: '/healthz/ready', port: READINESS_PORT } },
            }],
          },
        },
      },
    },
    service: {
      apiVersion: 'v1', kind: 'Service', metadata: metadata('Service', { [LABEL_USE_WAYPOINT]: 'none' }),
      spec: {
        type: 'ClusterIP',
        selector: { [LABEL_GATEWAY_NAME]: name },
        ports: [{ name: 'mesh', port: WAYPOINT_PORT, targetPort: WAYPOINT_PORT, protocol: 'TCP', appProtocol: 'hbone' }],
      },
    },
  };
}

/** Which gateway a managed object belongs to (namespace/name), from its labels. */
export function managedGatewayKey(object: KubeObject): string | undefined {
  if (object.metadata.labels?.[LABEL_MANAGED_BY] !== MANAGED_BY) return undefined;
  const gateway = object.metadata.labels[LABEL_GATEWAY_NAME];
  return gateway === undefined ? undefined : `${object.metadata.namespace ?? 'default'}/${gateway}`;
}

/** The waypoint's address: the clusterIP of its managed Service, once assigned. */
export function managedServiceAddress(services: readonly Service[], gatewayKey: string): string | undefined {
  for (const service of services) {
    if (managedGatewayKey(service) !== gatewayKey) continue;
    const ip = service.spec?.clusterIP;
    if (ip !== undefined && ip !== '' && ip !== 'None') return ip;
  }
  return undefined;
}

function ownerReferences(gateway: Gateway, kind: Kind): { ownerReferences?: OwnerReference[] } {
  // Kubernetes garbage-collects what a deleted Gateway owned; the controller also deletes it (the local store has no GC).
  const uid = gateway.metadata.uid;
  if (uid === undefined || RESOURCE_TYPES[kind].namespaced !== true) return {};
  return {
    ownerReferences: [{
      apiVersion: gateway.apiVersion, kind: 'Gateway', name: gateway.metadata.name, uid, controller: true, blockOwnerDeletion: true,
    }],
  };
}
