// Layer: load balancing. Each attempt (retries come through here again)
// gets an endpoint of the chosen backend from the Balancer, avoiding the one
// the previous attempt failed on; its outcome feeds outlier ejection. No
// healthy endpoint: 503, flag UH.
import { failure } from '../flags.js';
import type { Balancer } from './balancer.js';
import type { Layer } from './exchange.js';

export function balance(balancer: Balancer): Layer {
  return (next) => async (exchange) => {
    const backend = exchange.trace.backend;
    if (backend === undefined) throw failure('internal', 'NR', 'no backend was chosen before load balancing');
    const endpoint = balancer.pick(balancer.endpoints(backend), exchange.trace.upstream);
    if (endpoint === undefined) {
      const what = backend.kind === 'service' ? `service ${backend.service.namespace}/${backend.service.name} port ${backend.port}` : `workload ${backend.workload.name}`;
      throw failure('no-upstream', 'UH', `no healthy upstream for ${what}`, { status: 503, hint: 'are its pods ready?' });
    }
    exchange.trace.upstream = endpoint;
    const end = balancer.begin(endpoint);
    try {
      const response = await next(exchange);
      end(response.status >= 500 ? 'failure' : 'success');
      return response;
    } catch (error) {
      end(exchange.signal.aborted ? 'neutral' : 'failure');
      throw error;
    }
  };
}
