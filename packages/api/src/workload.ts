// What a proxy knows about a workload, a service and a waypoint: the mesh
// state the control plane computes from cluster objects and pushes to
// ztunnels and waypoints. Pure data; keys are stable strings.

/** How a workload is reached: through HBONE (enrolled) or plain TCP (not in the mesh). */
export type WorkloadProtocol = 'HBONE' | 'TCP';

/** Which traffic a waypoint handles (`ambit.dev/waypoint-for`). */
export type WaypointFor = 'service' | 'workload' | 'all' | 'none';

/** A waypoint a workload or service is bound to. */
export interface WaypointBinding {
  /** The Gateway's namespace/name. */
  gateway: string;
  /** The waypoint's address (its pod IP or service VIP); HBONE to `address:15008`. */
  address: string;
  port: number;
  /** The SPIFFE ID the waypoint presents. */
  identity: string;
}

export interface Workload {
  /** The pod UID: the workload's key. */
  uid: string;
  name: string;
  namespace: string;
  serviceAccount: string;
  /** spiffe://<td>/ns/<ns>/sa/<sa> */
  identity: string;
  /** Pod IPs. */
  addresses: string[];
  node: string;
  protocol: WorkloadProtocol;
  /** Set when traffic *to* this workload must cross a waypoint (waypoint-for workload|all). */
  waypoint?: WaypointBinding;
  /** Keys (`namespace/name`) of the services this workload backs. */
  services: string[];
  /** From the `app` (or `app.kubernetes.io/name`) label, else the pod name. */
  canonicalName: string;
  /** From the `version` (or `app.kubernetes.io/version`) label, else `latest`. */
  canonicalRevision: string;
  /** Ready and not terminating. */
  healthy: boolean;
  labels: Record<string, string>;
}

export interface ServicePort {
  name?: string;
  port: number;
  /** Resolved to a number per endpoint when the Service names a container port (then 0 here). */
  targetPort: number;
  /** The container port name when the Service's targetPort is a name; see Endpoint.ports. */
  targetPortName?: string;
  appProtocol?: string;
}

export interface Endpoint {
  workloadUid: string;
  address: string;
  /** service port → target port on this endpoint */
  ports: Record<number, number>;
  healthy: boolean;
}

export interface Service {
  name: string;
  namespace: string;
  /** name.namespace.svc.<domain> */
  hostname: string;
  vips: string[];
  ports: ServicePort[];
  endpoints: Endpoint[];
  /** Set when traffic to this service must cross a waypoint (waypoint-for service|all). */
  waypoint?: WaypointBinding;
}

export function workloadKey(workload: Pick<Workload, 'uid'>): string {
  return workload.uid;
}

export function serviceKey(service: Pick<Service, 'namespace' | 'name'>): string {
  return `${service.namespace}/${service.name}`;
}
