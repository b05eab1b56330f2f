// Layer: the matched rule's URL filters. A RequestRedirect is answered here
// with its status and a Location built from the request (nothing is
// forwarded); a URLRewrite sends the request on with its path and/or Host
// replaced. The access log and metrics keep what the client sent.
import { formatAuthority } from '@ambit/api';
import type { Exchange, Layer, ProxyResponse } from './exchange.js';
import { hostOf, modifyPath, redirectLocation } from './url-modifier.js';

export function rewriteUrl(): Layer {
  return (next) => async (exchange) => {
    const rule = exchange.trace.route?.rule;
    if (rule?.redirect !== undefined) {
      const location = redirectLocation(rule.redirect, { path: exchange.request.path, host: requestHost(exchange), port: exchange.destination.port });
      return { status: rule.redirect.statusCode, headers: { location }, body: Buffer.alloc(0) } satisfies ProxyResponse;
    }
    const rewrite = rule?.rewrite;
    if (rewrite === undefined) return next(exchange);
    const request = { ...exchange.request };
    if (rewrite.path !== undefined) request.path = modifyPath(request.path, rewrite.path);
    if (rewrite.hostname !== undefined) request.authority = rewrite.hostname;
    return next({ ...exchange, request });
  };
}

/** The Host the client sent; without one (HTTP/1.0), the called service's name, else the address it called. */
function requestHost(exchange: Exchange): string {
  const { authority } = exchange.request;
  if (authority !== '') return hostOf(authority);
  const { destination } = exchange;
  return destination.service?.hostname ?? hostOf(formatAuthority(destination.address));
}
