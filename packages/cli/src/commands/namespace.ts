// `ambit namespace enroll|unenroll NS [--wait]`: the dataplane-mode label,
// and with --wait, until every pod of the namespace shows the protocol the
// label asks for in discovery (a ztunnel's view of its workloads).
import { setTimeout as sleep } from 'node:timers/promises';
import { AmbitError } from '@ambit/core';
import { LABEL_DATAPLANE_MODE } from '@ambit/control-plane';
import type { Backend, LocalContext } from '../context.js';


interface WorkloadView { namespace: string; name: string; protocol: string; node: string }

export async function setEnrollment(backend: Backend, namespace: string, enrolled: boolean, waitMs: number | undefined): Promise<string[]> {
  if (waitMs !== undefined && backend.context !== 'local') {
    throw new AmbitError('unavailable', '--wait reads each ztunnel\'s view of the pods, which the CLI reaches on the local mesh only so far', {
      hint: 'enroll without --wait; `kubectl get pods -n ' + namespace + '` and the ztunnel logs show the result',
    });
  }
  await backend.labelNamespace(namespace, { [LABEL_DATAPLANE_MODE]: enrolled ? 'ambient' : null });
  const lines = [`namespace/${namespace} ${enrolled ? 'enrolled' : 'unenrolled'} (${LABEL_DATAPLANE_MODE}${enrolled ? '=ambient' : ' removed'})`];
  if (waitMs === undefined) return lines;
  const local = backend as LocalContext;
  const want = enrolled ? 'HBONE' : 'TCP';
  const pods = local.cluster.pods.filter((p) => p.namespace === namespace && p.labels[LABEL_DATAPLANE_MODE] !== 'none');
  const deadline = Date.now() + waitMs;
  for (;;) {
    const lagging: string[] = [];
    for (const pod of pods) {
      const seen = await local.mesh.adminJson<WorkloadView[]>(pod.node, '/workloads').catch(() => [] as WorkloadView[]);
      const view = seen.find((w) => w.namespace === namespace && w.name === pod.name);
      if (view?.protocol !== want) lagging.push(`${pod.name} (ztunnel on ${pod.node} shows ${view?.protocol ?? 'nothing'})`);
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
