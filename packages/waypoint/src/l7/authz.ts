// Layer: L7 authorization. Evaluates the waypoint policies (rbac.ts) for the
// called service; a denial is answered 403 naming the policy, and counted.
import type { Authorization } from '@ambit/api';
import { serviceKey } from '@ambit/api';
import { failure } from '../flags.js';
import type { Layer } from './exchange.js';
import { evaluateL7 } from './rbac.js';

export interface AuthorizeOptions {
  policies: () => readonly Authorization[];
  /** This waypoint's Gateway, namespace/name. */
  gateway: string;
}

export function authorize(options: AuthorizeOptions): Layer {
  return (next) => async (exchange) => {
    const { request, source, destination } = exchange;
    const decision = evaluateL7(options.policies(), {
      gateway: options.gateway,
      service: destination.service === undefined ? undefined : serviceKey(destination.service),
    }, {
      principal: source.principal,
      sourceIp: source.ip,
      destinationIp: destination.address.ip,
      port: destination.port,
      http: { method: request.method, path: request.path, host: request.authority, headers: request.headers },
    });
    if (decision.policy !== undefined) exchange.trace.policy = decision.policy;
    if (!decision.allowed) {
      const why = decision.reason === 'denied-by-policy' ? `denied by policy ${decision.policy ?? '?'}` : 'no ALLOW policy matches';
      throw failure('denied', 'DENY', `RBAC: access denied: ${request.method} ${request.path} from ${source.principal} ${why}`, {
        status: 403, details: { reason: decision.reason, policy: decision.policy },
      });
    }
    return next(exchange);
  };
}
