// `ambit namespace enroll|unenroll NS [--wait]`: the dataplane-mode label,
// and with --wait, until every pod of the namespace shows the protocol the
// label asks for in discovery (a ztunnel's view of its workloads). And what
// `ambit delete namespace` waits for in the local mesh.
import { setTimeout as sleep } from 'node:timers/promises';
import { AmbitError } from '@ambit/core';
import { LABEL_DATAPLANE_MODE } from '@ambit/control-plane';
import type { Backend, LocalContext } from '../context.js';
import { ztunnelJson, type MeshView } from '../mesh-view.js';

interface WorkloadView { namespace: string; name: string; protocol: string; node: string }

/** With --wait, `view` reads each ztunnel's view of the namespace's pods. */
export async function setEnrollment(backend: Backend, view: MeshView | undefined, namespace: string, enrolled: boolean, waitMs: number | undefined): Promise<string[]> {
  await backend.labelNamespace(namespace, { [LABEL_DATAPLANE_MODE]: enrolled ? 'ambient' : null });
  const lines = [`namespace/${namespace} ${enrolled ? 'enrolled' : 'unenrolled'} (${LABEL_DATAPLANE_MODE}${enrolled ? '=ambient' : ' removed'})`];
  if (waitMs === undefined || view === undefined) return lines;
  const want = enrolled ? 'HBONE' : 'TCP';
  // Scheduled pods (a pending one has no node, and no ztunnel shows it yet).
  const pods = (await view.pods()).filter((p) => p.namespace === namespace && p.node !== '' && p.labels[LABEL_DATAPLANE_MODE] !== 'none');
  const deadline = Date.now() + waitMs;
  for (;;) {
    const lagging: string[] = [];
    // One read per node (on a cluster each is a port-forward), not per pod.
    const views = new Map<string, WorkloadView[]>();
    for (const node of new Set(pods.map((p) => p.node))) views.set(node, await ztunnelJson<WorkloadView[]>(view, node, '/workloads').catch(() => []));
    for (const pod of pods) {
      const shown = views.get(pod.node)?.find((w) => w.namespace === namespace && w.name === pod.name);
      if (shown?.protocol !== want) lagging.push(`${pod.name} (ztunnel on ${pod.node} shows ${shown?.protocol ?? 'nothing'})`);
    }
    if (lagging.length === 0) break;
    if (Date.now() > deadline) {
      throw new AmbitError('timeout', `after ${Math.round(waitMs / 1000)} s, ${lagging.length} pod(s) of ${namespace} are not ${want} yet: ${lagging.join(', ')}`, {
        hint: 'check the control plane and those ztunnels: `ambit status`',
      });
    }
    await sleep(200);
  }
  lines.push(`all ${pods.length} pod(s) of ${namespace} show protocol ${want}`);
  return lines;
}

export const NAMESPACE_REMOVAL_MS = 60_000;

/** Waits until the local kubelet has removed a deleted namespace's pods and services (as kubectl waits out Terminating). */
export async function namespaceRemoved(local: LocalContext, namespace: string, waitMs = NAMESPACE_REMOVAL_MS): Promise<void> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    await local.cluster.refresh();
    if (!local.cluster.namespaces.some((n) => n.name === namespace)) return;
    if (Date.now() > deadline) {
      const pods = local.cluster.pods.filter((p) => p.namespace === namespace).length;
      throw new AmbitError('timeout', `namespace ${namespace} is deleted, but after ${Math.round(waitMs / 1000)} s its ${pods} pod(s) still run`, {
        hint: 'the kubelet removes them: see logs/_host/kubelet.log in the state directory; `ambit up` starts it again',
      });
    }
    await sleep(200);
  }
}
