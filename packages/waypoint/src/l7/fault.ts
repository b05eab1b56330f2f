// Layer: fault injection. A share of requests is delayed, a share answered
// with a chosen status without being forwarded (Envoy's flags DI and FI).
import { sleep } from './sleep.js';
import { textResponse, type Layer } from './exchange.js';

export function injectFaults(options: { random?: () => number } = {}): Layer {
  const random = options.random ?? Math.random;
  return (next) => async (exchange) => {
    const fault = exchange.trace.route?.rule.fault;
    if (fault?.delay !== undefined && random() * 100 < fault.delay.percent) {
      exchange.trace.flags.push('DI');
      await sleep(fault.delay.delayMs, exchange.signal);
    }
    if (fault?.abort !== undefined && random() * 100 < fault.abort.percent) {
      exchange.trace.flags.push('FI');
      return textResponse(fault.abort.status, 'fault filter abort');
    }
    return next(exchange);
  };
}
