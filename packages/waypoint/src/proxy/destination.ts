// Who a tunnel is from and for (pure over a mesh view). The CONNECT
// :authority names what the client called: a service VIP:port (routing is by
// that service; the Host header is informational) or a workload podIP:port.
// The source is the peer identity the certificate proved, with the workload
// at the `forwarded` address when it holds that identity.
import type { SocketAddress } from '@ambit/api';
import type { MeshView } from '@ambit/cp-client';
import { failure } from '../flags.js';
import type { Destination, Source } from '../l7/exchange.js';

export type DestinationLookup = Pick<MeshView, 'serviceByVip' | 'workloadByAddress'>;

/** Throws NR (503) when the address is neither a known service port nor a mesh workload. */
export function resolveDestination(mesh: DestinationLookup, target: SocketAddress, gateway: string): Destination {
  const service = mesh.serviceByVip(target.ip);
  if (service !== undefined) {
    if (!service.ports.some((p) => p.port === target.port)) {
      throw failure('not-found', 'NR', `service ${service.namespace}/${service.name} has no port ${target.port}`, {
        status: 503, details: { reason: 'unknown-port' }, hint: `its ports: ${service.ports.map((p) => p.port).join(', ')}`,
      });
    }
    refuseForeign(service.waypoint?.gateway, gateway, `service ${service.namespace}/${service.name}`);
    return { address: target, service, workload: undefined, port: target.port };
  }
  const workload = mesh.workloadByAddress(target.ip);
  if (workload !== undefined) {
    refuseForeign(workload.waypoint?.gateway, gateway, `workload ${workload.namespace}/${workload.name}`);
    return { address: target, service: undefined, workload, port: target.port };
  }
  throw failure('not-found', 'NR', `no service VIP or workload has address ${target.ip}`, {
    status: 503, details: { reason: 'unknown-destination' }, hint: 'is the service known to the control plane?',
  });
}

export function resolveSource(mesh: Pick<MeshView, 'workloadByAddress'>, principal: string, ip: string): Source {
  const candidate = mesh.workloadByAddress(ip);
  return { principal, ip, workload: candidate?.identity === principal ? candidate : undefined };
}

/** A destination bound to another waypoint is that waypoint's to serve. */
function refuseForeign(bound: string | undefined, gateway: string, what: string): void {
  if (bound === undefined || bound === gateway) return;
  throw failure('no-upstream', 'NR', `${what} uses waypoint ${bound}, not ${gateway}`, { status: 503, details: { reason: 'other-waypoint' } });
}
