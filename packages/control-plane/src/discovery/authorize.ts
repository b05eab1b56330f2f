// Who may subscribe as what: a ztunnel only for the node its node
// certificate names; a waypoint only for the Gateway whose identity it holds
// (spiffe://<td>/ns/<gateway namespace>/sa/<gateway name>).
import type { SubscribeRequest } from '@ambit/api';
import type { Caller } from '../endpoint.js';
import type { SubscriberDecision } from './server.js';

export function authorizeSubscriber(caller: Caller, request: SubscribeRequest): SubscriberDecision {
  if (request.role === 'ztunnel') {
    if (caller.node === undefined) return { allowed: false, reason: 'a ztunnel subscribes with its node certificate' };
    if (caller.node !== request.node) return { allowed: false, reason: `its certificate is for node ${caller.node}` };
    return { allowed: true };
  }
  const [namespace, name] = (request.gateway ?? '').split('/');
  const identity = caller.identity;
  if (identity === undefined || identity.namespace !== namespace || identity.serviceAccount !== name) {
    return { allowed: false, reason: `a waypoint for ${request.gateway ?? '?'} must present the identity ${namespace ?? '?'}/${name ?? '?'}` };
  }
  return { allowed: true };
}
