// Whether a pod is in the mesh (its traffic is captured and carried over
// HBONE) and whether it can serve traffic. Mirrors Istio ambient: the pod's
// own `dataplane-mode` label wins over its namespace's; `none` opts out.
import { LABEL_DATAPLANE_MODE } from '../resources.js';
import type { Namespace, Pod } from '../resources.js';

export type EnrollmentReason =
  | 'pod-label' | 'namespace-label' | 'pod-opted-out' | 'not-labelled' | 'host-network' | 'no-ip';

export interface Enrollment {
  enrolled: boolean;
  reason: EnrollmentReason;
}

export function enrollment(pod: Pod, namespace: Namespace | undefined): Enrollment {
  if (pod.spec?.hostNetwork === true) return { enrolled: false, reason: 'host-network' };
  if (podIPs(pod).length === 0) return { enrolled: false, reason: 'no-ip' };
  const podMode = pod.metadata.labels?.[LABEL_DATAPLANE_MODE];
  if (podMode === 'none') return { enrolled: false, reason: 'pod-opted-out' };
  if (podMode === 'ambient') return { enrolled: true, reason: 'pod-label' };
  // Any other pod value is not a decision: the namespace decides (as Istio does).
  if (namespace?.metadata.labels?.[LABEL_DATAPLANE_MODE] === 'ambient') return { enrolled: true, reason: 'namespace-label' };
  return { enrolled: false, reason: 'not-labelled' };
}

export function isEnrolled(pod: Pod, namespace: Namespace | undefined): boolean {
  return enrollment(pod, namespace).enrolled;
}

/** The pod's addresses: `podIPs` when set, else `podIP`; duplicates and empties removed. */
export function podIPs(pod: Pod): string[] {
  const fromList = (pod.status?.podIPs ?? []).map((entry) => entry.ip).filter((ip) => ip !== '');
  const all = fromList.length > 0 ? fromList : [pod.status?.podIP ?? ''].filter((ip) => ip !== '');
  return [...new Set(all)];
}

export function isTerminating(pod: Pod): boolean {
  return pod.metadata.deletionTimestamp !== undefined && pod.metadata.deletionTimestamp !== '';
}

/** Succeeded or Failed: the pod will never run again and its IP may be reused. */
export function isTerminal(pod: Pod): boolean {
  const phase = pod.status?.phase;
  return phase === 'Succeeded' || phase === 'Failed';
}

/** Running, Ready condition True and not terminating. */
export function isHealthy(pod: Pod): boolean {
  if (isTerminating(pod) || pod.status?.phase !== 'Running') return false;
  return (pod.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
}
