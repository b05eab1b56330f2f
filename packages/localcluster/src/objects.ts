// What the local cluster tells the control plane: the Kubernetes-shaped
// objects a kubelet and an API server would hold for the same cluster
// (Node, Namespace, ServiceAccount, Pod with a Running/Ready status, Service
// with its clusterIP). Builders are pure; `upsert` makes writes idempotent so
// a cluster can be (re)synced into a store at any time.
import { isAmbitError } from '@ambit/core';
import type { Kind, KubeObject, Namespace, Node, Pod, PodStatus, Service, ServiceAccount, Store } from '@ambit/control-plane';
import type { NamespaceState, NodeState, PodState, ServiceState } from './state.js';

export const CLUSTER_LABEL = 'ambit.dev/local-cluster';
export const CONTAINER_NAME = 'app';
export const CONTAINER_IMAGE = 'ambit/localcluster-workload';

export function nodeObject(clusterId: string, node: NodeState): Node {
  return {
    apiVersion: 'v1', kind: 'Node',
    metadata: { name: node.name, labels: { 'kubernetes.io/hostname': node.name, [CLUSTER_LABEL]: clusterId } },
    spec: { podCIDR: node.podCidr, podCIDRs: [node.podCidr] },
    status: { addresses: [{ type: 'InternalIP', address: node.address }, { type: 'Hostname', address: node.name }] },
  };
}

export function namespaceObject(namespace: NamespaceState): Namespace {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace.name, labels: { ...namespace.labels } }, spec: {}, status: { phase: 'Active' } };
}

export function serviceAccountObject(namespace: string, name: string): ServiceAccount {
  return { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace } };
}

export function podObject(pod: PodState, node: NodeState): Pod {
  const status: PodStatus & { hostIP: string } = {
    phase: 'Running',
    podIP: pod.ip,
    podIPs: [{ ip: pod.ip }],
    hostIP: node.address,
    conditions: [{ type: 'Ready', status: pod.ready ? 'True' : 'False' }, { type: 'ContainersReady', status: pod.ready ? 'True' : 'False' }],
  };
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name: pod.name, namespace: pod.namespace, labels: { ...pod.labels } },
    spec: {
      nodeName: pod.node,
      serviceAccountName: pod.serviceAccount,
      containers: [{ name: pod.container?.name ?? CONTAINER_NAME, image: pod.container?.image ?? CONTAINER_IMAGE, ports: pod.ports.map((port) => ({ ...port, protocol: port.protocol ?? 'TCP' })) }],
    },
    status,
  };
}

export function serviceObject(service: ServiceState): Service {
  return {
    apiVersion: 'v1', kind: 'Service',
    metadata: { name: service.name, namespace: service.namespace, labels: { ...service.labels } },
    spec: {
      type: 'ClusterIP',
      clusterIP: service.vip,
      clusterIPs: [service.vip],
      selector: { ...service.selector },
      ports: service.ports.map((port) => ({
        ...(port.name === undefined ? {} : { name: port.name }),
        port: port.port,
        targetPort: port.targetPort ?? port.port,
        protocol: port.protocol,
      })),
    },
  };
}

/**
 * Creates the object, or brings an existing one's labels and spec to what we
 * hold (a merge patch); then writes its status when it has one.
 */
export async function upsert<T extends KubeObject>(store: Store, object: T): Promise<void> {
  const kind = object.kind as Kind;
  const { name, namespace } = object.metadata;
  const { status, ...rest } = object as KubeObject;
  const body: KubeObject = { ...rest, apiVersion: object.apiVersion, kind: object.kind, metadata: object.metadata };
  try {
    await store.create(body);
  } catch (error) {
    if (!isAmbitError(error, 'already-exists')) throw error;
    const patch: Record<string, unknown> = { metadata: { labels: object.metadata.labels ?? null } };
    if (body.spec !== undefined) patch.spec = body.spec;
    await store.patch(kind, name, namespace, patch);
  }
  if (status !== undefined) await store.updateStatus(kind, name, namespace, status);
}

/**
 * Creates the object unless one of that name exists, which is left as it is
 * (a ServiceAccount another controller made keeps its labels).
 */
export async function ensure<T extends KubeObject>(store: Store, object: T): Promise<void> {
  try {
    await store.create(object);
  } catch (error) {
    if (!isAmbitError(error, 'already-exists')) throw error;
  }
}

/** Deletes, treating `not-found` as done. */
export async function remove(store: Store, kind: Kind, name: string, namespace?: string): Promise<void> {
  try {
    await store.delete(kind, name, namespace);
  } catch (error) {
    if (!isAmbitError(error, 'not-found')) throw error;
  }
}
