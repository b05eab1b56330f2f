// Names SOCKS5 clients send (`socks5h://`): a mesh service name resolves to
// its VIP, as the pod's cluster DNS would answer (short names in the pod's
// own namespace); anything else goes to the system resolver. A name nobody
// knows is a refusal (NR), reported like any other.
import { lookup } from 'node:dns/promises';
import { refusal } from './flags.js';
import { serviceVipByName } from './resolve.js';
import type { ZtunnelState } from '../state.js';

const CLUSTER_NAME = /\.svc(\.cluster\.local)?$|\.cluster\.local$/;

export async function resolveName(state: Pick<ZtunnelState, 'services' | 'workloadByAddress'>, name: string, sourceIp: string): Promise<string> {
  const namespace = state.workloadByAddress(sourceIp)?.namespace;
  const vip = serviceVipByName(state.services(), name, namespace);
  if (vip !== undefined) return vip;
  // The cluster's own domain is answered here or nowhere (as cluster DNS is authoritative for it).
  if (CLUSTER_NAME.test(name)) {
    throw refusal('no-upstream', 'unknown-name', 'NR', `no service in the mesh is named ${name}`, {
      hint: 'see `ambit ztunnel services` for the names this ztunnel knows',
    });
  }
  try {
    return (await lookup(name, { family: 4 })).address;
  } catch (cause) {
    throw refusal('no-upstream', 'unknown-name', 'NR', `${name} is no service in the mesh and the system resolver does not know it`, {
      cause,
      hint: namespace === undefined
        ? 'use a service name (name.namespace) or an IP address'
        : `use a service name (name in ${namespace}, or name.namespace) or an IP address`,
    });
  }
}
