// Layer: the matched rule's header modifiers, on the request before it goes
// on and on the response on its way back.
import { applyModifier } from './header-modifier.js';
import type { Layer } from './exchange.js';

export function modifyHeaders(): Layer {
  return (next) => async (exchange) => {
    const rule = exchange.trace.route?.rule;
    const forwarded = rule?.requestHeaders === undefined ? exchange
      : { ...exchange, request: { ...exchange.request, headers: applyModifier(exchange.request.headers, rule.requestHeaders) } };
    const response = await next(forwarded);
    return rule?.responseHeaders === undefined ? response : { ...response, headers: applyModifier(response.headers, rule.responseHeaders) };
  };
}
