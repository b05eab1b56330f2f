// What `status`, `check`, `proxy-status`, `ztunnel ...` and `enroll --wait`
// read, from either context. The local mesh: the cluster's state file, the
// ztunnels' admin sockets, the control plane's store API. A cluster: the API
// server for namespaces and pods, and the admin APIs of the ztunnel and
// control-plane pods in ambit-system, which listen on loopback and are read
// through the API server's port-forward (as `kubectl port-forward` does; RBAC
// on pods/portforward decides who may).
import { AmbitError, parseHostPort } from '@ambit/core';
import type { ControlPlaneStatus, Pod, Store } from '@ambit/control-plane';
import type { KubernetesStore } from '@ambit/control-plane/kubernetes';
import type { KubeContext, LocalContext } from './context.js';

export const SYSTEM_NAMESPACE = 'ambit-system';
export const ZTUNNEL_SELECTOR = 'app.kubernetes.io/name=ambit-ztunnel';
export const CONTROL_PLANE_SELECTOR = 'app.kubernetes.io/name=ambit-control-plane';
/** The admin port when a pod's arguments do not name one (deploy/ uses 127.0.0.1:15000). */
export const DEFAULT_ADMIN_PORT = 15000;

export interface ControlPlaneReplica {
  /** The pod's name on a cluster; `control-plane` on the local mesh. */
  name: string;
  status?: ControlPlaneStatus;
  /** Why its status could not be read. */
  error?: string;
}

export interface NamespaceView { name: string; labels: Record<string, string> }
export interface PodView { namespace: string; name: string; node: string; ip: string; labels: Record<string, string> }

export interface MeshView {
  readonly context: 'local' | 'kube';
  readonly store: Store;
  /** The nodes that run (or should run) a ztunnel, sorted. */
  nodes(): Promise<string[]>;
  /** GET on the ztunnel of `node`; throws (unavailable) when it cannot be reached. */
  ztunnel(node: string, path: string): Promise<{ status: number; body: string }>;
  /** GET on the admin API of a waypoint pod; throws (unavailable) when it cannot be reached. */
  waypoint(pod: { namespace: string; name: string }, path: string): Promise<{ status: number; body: string }>;
  controlPlanes(): Promise<ControlPlaneReplica[]>;
  namespaces(): Promise<NamespaceView[]>;
  /** Application pods (not the mesh's own in ambit-system). */
  pods(): Promise<PodView[]>;
  /** Where the ztunnel of `node` logs, for hints. */
  ztunnelLog(node: string): string;
  controlPlaneLog(): string;
  /** How to bring a ztunnel or the control plane back. */
  readonly restart: string;
}

/** JSON from a ztunnel's admin API; a non-200 answer is an error naming the node. */
export async function ztunnelJson<T>(view: MeshView, node: string, path: string): Promise<T> {
  return adminJson(`ztunnel on ${node}`, path, await view.ztunnel(node, path));
}

/** JSON from a waypoint pod's admin API; a non-200 answer is an error naming the pod. */
export async function waypointJson<T>(view: MeshView, pod: { namespace: string; name: string }, path: string): Promise<T> {
  return adminJson(`waypoint ${pod.namespace}/${pod.name}`, path, await view.waypoint(pod, path));
}

function adminJson<T>(who: string, path: string, { status, body }: { status: number; body: string }): T {
  if (status !== 200) throw new AmbitError('unavailable', `${who} answered ${status} for ${path}: ${body.slice(0, 200)}`);
  return JSON.parse(body) as T;
}

/** A node name the user gave, checked against the mesh's nodes. */
export async function nodesOf(view: MeshView, node: string | undefined): Promise<string[]> {
  const nodes = await view.nodes();
  if (node === undefined) return nodes;
  if (!nodes.includes(node)) {
    throw new AmbitError('not-found', `no ztunnel on node ${node}`, { hint: nodes.length === 0 ? 'no node runs a ztunnel' : `nodes with a ztunnel: ${nodes.join(', ')}` });
  }
  return [node];
}

export function localView(local: LocalContext): MeshView {
  return {
    context: 'local', store: local.store,
    nodes: () => Promise.resolve(local.cluster.nodes.map((n) => n.name)),
    ztunnel: (node, path) => local.mesh.admin(node, path),
    waypoint: (pod, path) => local.mesh.waypointAdmin(pod, path),
    controlPlanes: async () => {
      try {
        return [{ name: 'control-plane', status: await local.store.controlPlaneStatus() }];
      } catch (error) {
        return [{ name: 'control-plane', error: (error as Error).message }];
      }
    },
    namespaces: () => namespaceViews(local.store),
    pods: async () => {
      await local.cluster.refresh();
      return local.cluster.pods.map((p) => ({ namespace: p.namespace, name: p.name, node: p.node, ip: p.ip, labels: { ...p.labels } }));
    },
    ztunnelLog: (node) => `logs/_node/${node}/ztunnel.log in the state directory`,
    controlPlaneLog: () => 'logs/_cluster/control-plane.log in the state directory',
    restart: '`ambit up`',
  };
}

/** Namespaces are the store's objects on either backend (their labels say what is enrolled). */
async function namespaceViews(store: Store): Promise<NamespaceView[]> {
  return (await store.list('Namespace')).items.map((n) => ({ name: n.metadata.name, labels: { ...n.metadata.labels } }));
}

export function kubeView(kube: KubeContext): MeshView {
  const store = kube.store;
  let ztunnelPods: Promise<Map<string, Pod>> | undefined;
  const podNames = new Map<string, string>();
  const ztunnels = (): Promise<Map<string, Pod>> => (ztunnelPods ??= (async () => {
    const byNode = new Map<string, Pod>();
    for (const pod of (await store.list<Pod>('Pod', { namespace: SYSTEM_NAMESPACE, labelSelector: ZTUNNEL_SELECTOR })).items) {
      const node = pod.spec?.nodeName;
      if (node === undefined || pod.metadata.deletionTimestamp !== undefined) continue;
      // During a rollout two pods may share a node: the running one answers.
      const held = byNode.get(node);
      if (held === undefined || (held.status?.phase !== 'Running' && pod.status?.phase === 'Running')) byNode.set(node, pod);
    }
    for (const [node, pod] of byNode) podNames.set(node, pod.metadata.name);
    return byNode;
  })());
  const get = (pod: Pod, path: string): Promise<{ status: number; body: string }> => forwardGet(store, pod, path);
  return {
    context: 'kube', store,
    nodes: async () => [...(await ztunnels()).keys()].sort(),
    ztunnel: async (node, path) => {
      const pod = (await ztunnels()).get(node);
      if (pod === undefined) {
        throw new AmbitError('unavailable', `no ztunnel pod on node ${node}`, { hint: `kubectl -n ${SYSTEM_NAMESPACE} get daemonset ambit-ztunnel` });
      }
      return get(pod, path);
    },
    waypoint: async (ref, path) => {
      const pod = await store.get<Pod>('Pod', ref.name, ref.namespace);
      if (pod === undefined) throw new AmbitError('unavailable', `no waypoint pod ${ref.namespace}/${ref.name}`, { hint: `kubectl -n ${ref.namespace} get pods` });
      return get(pod, path);
    },
    controlPlanes: async () => {
      const pods = (await store.list<Pod>('Pod', { namespace: SYSTEM_NAMESPACE, labelSelector: CONTROL_PLANE_SELECTOR })).items
        .filter((p) => p.metadata.deletionTimestamp === undefined)
        .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
      return Promise.all(pods.map(async (pod): Promise<ControlPlaneReplica> => {
        try {
          const { status, body } = await get(pod, '/status');
          if (status !== 200) return { name: pod.metadata.name, error: `GET /status answered ${status}: ${body.slice(0, 200)}` };
          return { name: pod.metadata.name, status: JSON.parse(body) as ControlPlaneStatus };
        } catch (error) {
          return { name: pod.metadata.name, error: (error as Error).message };
        }
      }));
    },
    namespaces: () => namespaceViews(store),
    pods: async () => (await store.list<Pod>('Pod')).items
      .filter((p) => p.metadata.namespace !== SYSTEM_NAMESPACE && p.metadata.deletionTimestamp === undefined && p.spec?.hostNetwork !== true)
      .map((p) => ({
        namespace: p.metadata.namespace ?? 'default', name: p.metadata.name, node: p.spec?.nodeName ?? '', ip: p.status?.podIP ?? '', labels: { ...p.metadata.labels },
      })),
    ztunnelLog: (node) => {
      const pod = podNames.get(node);
      return pod === undefined ? `the ztunnel pod on ${node}: kubectl -n ${SYSTEM_NAMESPACE} get pods -o wide -l ${ZTUNNEL_SELECTOR}` : `kubectl -n ${SYSTEM_NAMESPACE} logs ${pod}`;
    },
    controlPlaneLog: () => `kubectl -n ${SYSTEM_NAMESPACE} logs deployment/ambit-control-plane`,
    restart: `kubectl -n ${SYSTEM_NAMESPACE} get pods (the DaemonSet and Deployment restart their pods)`,
  };
}

/** GET `path` from the pod's admin API: its port is the one its `--admin-address` argument names. */
async function forwardGet(store: KubernetesStore, pod: Pod, path: string): Promise<{ status: number; body: string }> {
  return store.podGet(pod.metadata.namespace ?? SYSTEM_NAMESPACE, pod.metadata.name, adminPortOf(pod), path);
}

export function adminPortOf(pod: Pod): number {
  for (const container of (pod.spec as { containers?: { args?: string[] }[] } | undefined)?.containers ?? []) {
    const args = container.args ?? [];
    for (let i = 0; i < args.length; i++) {
      const arg = args[i] ?? '';
      const value = arg === '--admin-address' ? args[i + 1] : arg.startsWith('--admin-address=') ? arg.slice('--admin-address='.length) : undefined;
      const port = value === undefined ? undefined : parseHostPort(value)?.port;
      if (port !== undefined && port > 0) return port;
    }
  }
  return DEFAULT_ADMIN_PORT;
}
