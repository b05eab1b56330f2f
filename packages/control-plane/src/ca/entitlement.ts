// Who may hold which identity. Node-bound issuance: a ztunnel (a node
// principal) may obtain identity I only while a pod with service account I
// is scheduled on its own node, plus its own node certificate; a workload
// principal (a waypoint) only its own identity. Pure and table-tested.
import type { SpiffeId } from '@ambit/core';
import type { Pod } from '../resources.js';

export type Principal =
  | { kind: 'node'; node: string; via: 'certificate' | 'bootstrap' }
  | { kind: 'workload'; identity: SpiffeId; via: 'certificate' | 'bootstrap' };

export type RefusalReason =
  | 'no-credential'
  | 'bad-bootstrap-token'
  | 'invalid-request'
  | 'not-on-node'
  | 'other-identity'
  | 'wrong-node'
  | 'not-a-node'
  | 'foreign-trust-domain';

export type Decision = { allowed: true } | { allowed: false; reason: RefusalReason; message: string };

export interface EntitlementRequest {
  identity: SpiffeId;
  /** Set when a node certificate is asked for. */
  node?: string;
}

export interface EntitlementContext {
  /** The SPIFFE ID node certificates carry (the ztunnel service account). */
  ztunnelIdentity: SpiffeId;
  /** Pods currently scheduled on `node`. */
  podsOnNode(node: string): readonly Pod[];
}

export function entitle(principal: Principal, request: EntitlementRequest, context: EntitlementContext): Decision {
  const { identity } = request;
  if (identity.trustDomain !== context.ztunnelIdentity.trustDomain) {
    return refuse('foreign-trust-domain', `${identity.uri} is outside trust domain ${context.ztunnelIdentity.trustDomain}`);
  }
  if (principal.kind === 'workload') {
    if (request.node !== undefined) return refuse('not-a-node', `${principal.identity.uri} is not a node and cannot obtain a node certificate`);
    if (!principal.identity.equals(identity)) {
      return refuse('other-identity', `${principal.identity.uri} may only obtain its own identity, not ${identity.uri}`);
    }
    return { allowed: true };
  }
  if (request.node !== undefined) {
    if (request.node !== principal.node) {
      return refuse('wrong-node', `node ${principal.node} cannot obtain a certificate for node ${request.node}`);
    }
    if (!identity.equals(context.ztunnelIdentity)) {
      return refuse('other-identity', `a node certificate carries ${context.ztunnelIdentity.uri}, not ${identity.uri}`);
    }
    return { allowed: true };
  }
  const scheduled = context.podsOnNode(principal.node).some((pod) =>
    pod.metadata.namespace === identity.namespace
    && (pod.spec?.serviceAccountName ?? 'default') === identity.serviceAccount
    && pod.metadata.deletionTimestamp === undefined
    && pod.status?.phase !== 'Succeeded' && pod.status?.phase !== 'Failed');
  if (!scheduled) {
    return refuse('not-on-node', `no running pod with service account ${identity.namespace}/${identity.serviceAccount} is scheduled on node ${principal.node}`);
  }
  return { allowed: true };
}

function refuse(reason: RefusalReason, message: string): Decision {
  return { allowed: false, reason, message };
}
