// The synthetic cluster of the control-plane benchmark, written into a local
// store before the control plane starts (the store's directory has one owner
// at a time): namespaces of 200 pods and 20 services each, every service
// selecting 10 pods by `app`, pods spread round-robin over the nodes with
// IPs from per-node /24s, Running and Ready; every other namespace enrolled.
import { LocalStore, LABEL_DATAPLANE_MODE, type Namespace, type Pod, type Service } from '@ambit/control-plane';

export const PODS_PER_NAMESPACE = 200;
export const SERVICES_PER_NAMESPACE = 20;

export interface Scale {
  name: string;
  pods: number;
  services: number;
  nodes: number;
}

export interface Cluster {
  namespaces: string[];
  enrolled: string[];
  /** Pod name → uid, for the pods the changes touch (one per namespace). */
  podUids: Record<string, string>;
  nodes: string[];
  objects: number;
}

export function nodeName(index: number): string {
  return `node-${index}`;
}

/** The pod's IP: node i owns 10.(100 + i / 256).(i % 256).0/24. */
export function podIp(node: number, slot: number): string {
  if (slot > 250) throw new Error(`at most 250 pods per node (slot ${slot})`);
  return `10.${100 + Math.floor(node / 256)}.${node % 256}.${slot + 2}`;
}

function serviceVip(index: number): string {
  return `10.96.${Math.floor(index / 250)}.${(index % 250) + 2}`;
}

export function namespaceName(index: number): string {
  return `bench-${index}`;
}

/** Creates the cluster in the store at `storeDir` (which must not hold one yet), then closes the store. */
export async function populate(storeDir: string, scale: Scale): Promise<Cluster> {
  const namespaceCount = Math.ceil(scale.pods / PODS_PER_NAMESPACE);
  if (Math.ceil(scale.services / SERVICES_PER_NAMESPACE) !== namespaceCount) {
    throw new Error(`scale ${scale.name}: ${scale.pods} pods and ${scale.services} services do not fill the same namespaces (200 pods, 20 services each)`);
  }
  const store = await LocalStore.open(storeDir);
  const cluster: Cluster = { namespaces: [], enrolled: [], podUids: {}, nodes: [], objects: 0 };
  try {
    for (let n = 0; n < scale.nodes; n++) cluster.nodes.push(nodeName(n));
    for (let i = 0; i < namespaceCount; i++) {
      const name = namespaceName(i);
      const enrolled = i % 2 === 0;
      await store.create<Namespace>({
        apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: enrolled ? { [LABEL_DATAPLANE_MODE]: 'ambient' } : {} },
      });
      cluster.namespaces.push(name);
      if (enrolled) cluster.enrolled.push(name);
      cluster.objects++;
    }
    for (let s = 0; s < scale.services; s++) {
      const namespace = namespaceName(Math.floor(s / SERVICES_PER_NAMESPACE));
      await store.create<Service>({
        apiVersion: 'v1', kind: 'Service',
        metadata: { name: `svc-${s}`, namespace },
        spec: {
          selector: { app: `svc-${s}` }, clusterIP: serviceVip(s), clusterIPs: [serviceVip(s)],
          ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP', appProtocol: 'http' }],
        },
      });
      cluster.objects++;
    }
    const perService = scale.pods / scale.services;
    const slots = new Array<number>(scale.nodes).fill(0);
    for (let p = 0; p < scale.pods; p++) {
      const namespace = namespaceName(Math.floor(p / PODS_PER_NAMESPACE));
      const node = p % scale.nodes;
      const ip = podIp(node, slots[node]!++);
      const name = `pod-${p}`;
      const created = await store.create<Pod>({
        apiVersion: 'v1', kind: 'Pod',
        metadata: { name, namespace, labels: { app: `svc-${Math.floor(p / perService)}`, version: 'v1' } },
        spec: { nodeName: nodeName(node), serviceAccountName: `sa-${p % 10}`, containers: [{ name: 'app', ports: [{ containerPort: 8080 }] }] },
      });
      await store.updateStatus<Pod>('Pod', name, namespace, {
        phase: 'Running', podIP: ip, podIPs: [{ ip }], conditions: [{ type: 'Ready', status: 'True' }],
      });
      if (p % PODS_PER_NAMESPACE === 0) cluster.podUids[`${namespace}/${name}`] = created.metadata.uid!;
      cluster.objects++;
    }
  } finally {
    await store.close();
  }
  return cluster;
}
