// Layer: the rule's request timeout (`timeouts.request`), covering every
// attempt and backoff until the response headers arrive: past it the client
// gets 504 (flag UT) and the upstream attempt is cancelled.
import { failure } from '../flags.js';
import { following } from './cancellation.js';
import { aborted } from './sleep.js';
import type { Layer } from './exchange.js';

export function requestTimeout(): Layer {
  return (next) => async (exchange) => {
    const timeoutMs = exchange.trace.route?.rule.timeoutMs;
    if (timeoutMs === undefined || timeoutMs <= 0) return next(exchange);
    const { signal, detach } = following(exchange.signal);
    const timer = setTimeout(() => signal.abort(failure('timeout', 'UT', `upstream request timeout after ${timeoutMs} ms`, { status: 504 })), timeoutMs);
    const deadline = aborted(signal);
    try {
      return await Promise.race([next({ ...exchange, signal }), deadline.promise]);
    } finally {
      clearTimeout(timer);
      deadline.dispose();
      detach();
    }
  };
}
