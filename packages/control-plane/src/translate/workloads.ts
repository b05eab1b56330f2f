// Pod → Workload: what a ztunnel needs to know about one pod.
import type { WaypointBinding, Workload } from '@ambit/api';
import type { Pod } from '../resources.js';
import { isHealthy, podIPs } from './enrollment.js';

export interface WorkloadInputs {
  trustDomain: string;
  enrolled: boolean;
  /** Keys (namespace/name) of the services whose selector picks this pod. */
  services: readonly string[];
  waypoint?: WaypointBinding;
}

export const DEFAULT_SERVICE_ACCOUNT = 'default';
export const DEFAULT_REVISION = 'latest';

export function toWorkload(pod: Pod, inputs: WorkloadInputs): Workload {
  const namespace = pod.metadata.namespace ?? 'default';
  const serviceAccount = nonEmpty(pod.spec?.serviceAccountName) ?? DEFAULT_SERVICE_ACCOUNT;
  const labels = { ...(pod.metadata.labels ?? {}) };
  const workload: Workload = {
    uid: pod.metadata.uid ?? `${namespace}/${pod.metadata.name}`,
    name: pod.metadata.name,
    namespace,
    serviceAccount,
    identity: `spiffe://${inputs.trustDomain}/ns/${namespace}/sa/${serviceAccount}`,
    addresses: podIPs(pod),
    node: pod.spec?.nodeName ?? '',
    protocol: inputs.enrolled ? 'HBONE' : 'TCP',
    services: [...inputs.services].sort(),
    canonicalName: canonicalName(pod),
    canonicalRevision: canonicalRevision(pod),
    healthy: isHealthy(pod),
    labels,
  };
  if (inputs.waypoint !== undefined) workload.waypoint = inputs.waypoint;
  return workload;
}

export function canonicalName(pod: Pod): string {
  const labels = pod.metadata.labels;
  return nonEmpty(labels?.['app']) ?? nonEmpty(labels?.['app.kubernetes.io/name']) ?? pod.metadata.name;
}

export function canonicalRevision(pod: Pod): string {
  const labels = pod.metadata.labels;
  return nonEmpty(labels?.['version']) ?? nonEmpty(labels?.['app.kubernetes.io/version']) ?? DEFAULT_REVISION;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}
