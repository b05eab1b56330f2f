// Inbound authorization (pure; table-tested): what the destination ztunnel
// checks before it dials a pod, for HBONE (15008), plaintext (15006) and the
// same-node path alike. In order:
//
// 1. the target is a workload enrolled on this node (else 503, `not-local` /
//    `not-enrolled`);
// 2. HBONE only: the target's address is the one the connection arrived at,
//    whose identity the server presented — a certificate for one pod never
//    opens a tunnel to another (else 503, `address-mismatch`);
// 3. a workload behind a waypoint accepts only its waypoint (else 401,
//    `bypassed-waypoint`);
// 4. L4 authorization policies (`evaluateL4`), with the peer identity when
//    there is one (else 401, `denied-by-policy` / `no-allow-match`).
import { evaluateL4, type L4Decision, type SocketAddress, type Workload } from '@ambit/api';
import type { MeshLookup } from './state.js';
import { refusal } from './proxy/flags.js';

export interface InboundCheck {
  /** The SPIFFE ID the peer proved with its certificate; undefined for plaintext. */
  peerIdentity: string | undefined;
  /** The original source address (the `forwarded` header's, else the TCP peer's). */
  sourceIp: string;
  /** Where the bytes are for: the CONNECT authority, or the captured original destination. */
  target: SocketAddress;
  /** HBONE: the local address the connection arrived at. Absent in process and for plaintext. */
  localIp?: string;
}

export interface InboundAllowed {
  workload: Workload;
  decision: L4Decision;
}

/** Throws a refusal (AmbitError with reason and flag) or returns the local workload and the policy decision. */
export function authorizeInbound(lookup: MeshLookup, node: string, check: InboundCheck): InboundAllowed {
  const { target } = check;
  const workload = lookup.workloadByAddress(target.ip);
  if (workload === undefined || workload.node !== node) {
    throw refusal('no-upstream', 'not-local', 'NR', `no workload on node ${node} has address ${target.ip}`, {
      hint: workload === undefined ? 'is the pod running and known to the control plane?' : `it runs on node ${workload.node}`,
    });
  }
  const name = `${workload.namespace}/${workload.name}`;
  if (workload.protocol !== 'HBONE') {
    throw refusal('no-upstream', 'not-enrolled', 'NR', `workload ${name} at ${target.ip} is not enrolled in the mesh`, {
      hint: 'label its namespace or pod ambit.dev/dataplane-mode=ambient',
    });
  }
  if (check.localIp !== undefined && check.localIp !== target.ip) {
    throw refusal('no-upstream', 'address-mismatch', 'NR', `tunnel arrived at ${check.localIp} but asks for ${target.ip}`, {
      hint: 'an HBONE client must connect to the destination pod\'s own address',
    });
  }
  const waypoint = workload.waypoint;
  if (waypoint !== undefined && check.peerIdentity !== waypoint.identity) {
    throw refusal('denied', 'bypassed-waypoint', 'DENY',
      `${check.peerIdentity ?? 'a plaintext client'} bypassed waypoint ${waypoint.gateway}: ${name} accepts traffic only through it`, {
        hint: `send traffic to ${name} through its waypoint (${waypoint.identity})`,
      });
  }
  const decision = evaluateL4(lookup.authorizations(), {
    workload,
    port: target.port,
    destinationIp: target.ip,
    source: { ...(check.peerIdentity === undefined ? {} : { identity: check.peerIdentity }), ip: check.sourceIp },
  });
  if (!decision.allowed) {
    const who = check.peerIdentity ?? `plaintext client ${check.sourceIp}`;
    const why = decision.reason === 'denied-by-policy'
      ? `policy ${decision.policy ?? '?'} denies it`
      : 'no ALLOW policy for it matches';
    throw refusal('denied', decision.reason, 'DENY', `${who} may not connect to ${name} port ${target.port}: ${why}`, {
      details: { policy: decision.policy },
    });
  }
  return { workload, decision };
}
