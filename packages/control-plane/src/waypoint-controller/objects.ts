// What runs a waypoint: for each Gateway of class ambit-waypoint, a
// ServiceAccount (the waypoint's identity), a Deployment (its pods) and a
// Service (its address, the VIP ztunnels send to). The same objects serve
// both backends. Kubernetes runs the container as rendered: `ambit-waypoint`
// with the flags that wire it to its pod (the root certificate and the
// bootstrap token from volumes, listeners, the admin API on loopback), as a
// non-root process with a read-only root filesystem and no capabilities, so
// a namespace at Pod Security level `restricted` admits it. The local
// cluster's kubelet reads only the image, the env (the waypoint's identity
// and control plane) and the ports, and supplies files and listeners of its
// own. Pure: the controller diffs these against what the store holds.
import type { Container, Deployment, Gateway, Kind, KubeObject, OwnerReference, Service, ServiceAccount } from '../resources.js';
import { LABEL_DATAPLANE_MODE, LABEL_MANAGED_BY, LABEL_USE_WAYPOINT, RESOURCE_TYPES, WAYPOINT_PORT } from '../resources.js';
import { LABEL_GATEWAY_NAME } from '../translate/waypoints.js';
import { ROOT_CERT_CONFIGMAP, ROOT_CERT_KEY } from '../root-cert/plan.js';

export { LABEL_MANAGED_BY } from '../resources.js';
/** On every object the controller owns; it lists, updates and deletes only these. */
export const MANAGED_BY = 'waypoint-controller';
export const MANAGED_SELECTOR = `${LABEL_MANAGED_BY}=${MANAGED_BY}`;
/** The image name the local cluster's kubelet knows how to run. */
export const DEFAULT_WAYPOINT_IMAGE = 'ambit/waypoint';
export const WAYPOINT_CONTAINER = 'waypoint';
/** The waypoint's entry point in the Ambit image (Dockerfile). */
export const WAYPOINT_COMMAND = 'ambit-waypoint';
export const READINESS_PORT = 15021;
export const METRICS_PORT = 15020;
/** The admin API: loopback only, reached through the API server's port-forward. */
export const ADMIN_ADDRESS = '127.0.0.1:15000';
/** The waypoint's drain deadline; the pod's grace period outlasts it by GRACE_MARGIN_SECONDS. */
export const DRAIN_DEADLINE_SECONDS = 10;
/** Data-path processes a waypoint pod runs (the waypoint's --workers). */
export const WAYPOINT_WORKERS = 2;
const GRACE_MARGIN_SECONDS = 5;
/** The projected token's audience: what the control plane's TokenReview asks for (DEFAULT_TOKEN_AUDIENCE). */
export const TOKEN_AUDIENCE = 'ambit';
/** The shortest lifetime Kubernetes issues; the kubelet rotates it at 80%. */
const TOKEN_EXPIRATION_SECONDS = 600;
const TOKEN_DIR = '/var/run/secrets/tokens';
const TOKEN_FILE = 'ambit-token';
const CA_DIR = '/var/run/ambit/ca';
/** The image's user (Dockerfile: USER 1000:1000), stated so runAsNonRoot holds for any image. */
const RUN_AS = 1000;

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
  return {
    // No API token: the waypoint talks to the control plane only, with its projected token.
    serviceAccount: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: metadata('ServiceAccount'), automountServiceAccountToken: false },
    deployment: {
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: metadata('Deployment'),
      spec: {
        replicas: 1,
        selector: { matchLabels: { [LABEL_GATEWAY_NAME]: name } },
        template: {
          metadata: {
            // Never captured (its HBONE is its own) and never sent through a waypoint.
            labels: { [LABEL_GATEWAY_NAME]: name, [LABEL_DATAPLANE_MODE]: 'none', [LABEL_USE_WAYPOINT]: 'none' },
            annotations: { 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(METRICS_PORT), 'prometheus.io/path': '/metrics' },
          },
          spec: {
            serviceAccountName: name,
            automountServiceAccountToken: false,
            enableServiceLinks: false,
            terminationGracePeriodSeconds: DRAIN_DEADLINE_SECONDS + GRACE_MARGIN_SECONDS,
            securityContext: { runAsNonRoot: true, runAsUser: RUN_AS, runAsGroup: RUN_AS, seccompProfile: { type: 'RuntimeDefault' } },
            containers: [waypointContainer(namespace, name, options)],
            volumes: [
              // The bootstrap credential: bound to this pod, rotated by the kubelet; checked by the control plane's TokenReview.
              {
                name: 'ambit-token',
                projected: { sources: [{ serviceAccountToken: { audience: TOKEN_AUDIENCE, expirationSeconds: TOKEN_EXPIRATION_SECONDS, path: TOKEN_FILE } }] },
              },
              // The root certificate (never its key), which the control plane publishes in this namespace.
              { name: 'ca-root', configMap: { name: ROOT_CERT_CONFIGMAP, items: [{ key: ROOT_CERT_KEY, path: ROOT_CERT_KEY }] } },
            ],
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

/** The identity and control plane in env (both runtimes read them); the pod's wiring in args (only Kubernetes runs them). */
function waypointContainer(namespace: string, name: string, options: WaypointObjectOptions): Container {
  return {
    name: WAYPOINT_CONTAINER, image: options.image,
    command: [WAYPOINT_COMMAND],
    args: [
      '--ca-root-file', `${CA_DIR}/${ROOT_CERT_KEY}`,
      '--bootstrap-token-file', `${TOKEN_DIR}/${TOKEN_FILE}`,
      // Every address of the pod: the kubelet probes and Prometheus scrapes the pod IP.
      '--hbone', `0.0.0.0:${WAYPOINT_PORT}`,
      '--metrics', `0.0.0.0:${METRICS_PORT}`,
      '--readiness', `0.0.0.0:${READINESS_PORT}`,
      '--admin-address', ADMIN_ADDRESS,
      '--drain-deadline', `${DRAIN_DEADLINE_SECONDS}s`,
      // Two data-path processes (as the CPU limit allows two cores) under a primary.
      '--workers', String(WAYPOINT_WORKERS),
    ],
    env: [
      { name: 'AMBIT_WAYPOINT_GATEWAY', value: `${namespace}/${name}` },
      { name: 'AMBIT_WAYPOINT_TRUST_DOMAIN', value: options.trustDomain },
      ...(options.controlPlane === undefined ? [] : [{ name: 'AMBIT_WAYPOINT_CONTROL_PLANE', value: options.controlPlane }]),
    ],
    ports: [
      { name: 'mesh', containerPort: WAYPOINT_PORT, protocol: 'TCP' },
      { name: 'metrics', containerPort: METRICS_PORT, protocol: 'TCP' },
      { name: 'readiness', containerPort: READINESS_PORT, protocol: 'TCP' },
    ],
    // Ready once it holds a certificate and the mesh state. No liveness probe: a failing process exits.
    readinessProbe: { httpGet: { path: '/healthz/ready', port: READINESS_PORT }, periodSeconds: 5, failureThreshold: 3 },
    // Three Node processes (the primary and two workers): about 60 MiB each when idle.
    resources: { requests: { cpu: '100m', memory: '256Mi' }, limits: { cpu: String(WAYPOINT_WORKERS), memory: '1Gi' } },
    securityContext: {
      runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, privileged: false,
      capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' },
    },
    volumeMounts: [
      { name: 'ambit-token', mountPath: TOKEN_DIR, readOnly: true },
      { name: 'ca-root', mountPath: CA_DIR, readOnly: true },
    ],
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
