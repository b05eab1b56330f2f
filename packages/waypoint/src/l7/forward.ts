// Layer: forwarding one attempt as HTTP/1.1 to the chosen endpoint, over
// the upstream's keep-alive connections. Resolves when the response headers
// arrive (the body streams on). A failure before a connection exists is a
// connect failure (UF, retryable as connect-failure); after it, a reset
// (UC, retryable as reset); a cancelled attempt rejects with its signal's
// reason. An idempotent request whose reused keep-alive connection turns
// out closed is sent again once first (not a retry: no budget, no backoff).
import http from 'node:http';
import { failure } from '../flags.js';
import { describeEndpoint, type Upstream } from '../proxy/upstream.js';
import type { HeaderMap, Layer, ProxyResponse } from './exchange.js';

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'http2-settings', 'host']);

export function forward(upstream: Upstream): Layer {
  return () => (exchange) => {
    const endpoint = exchange.trace.upstream;
    if (endpoint === undefined) return Promise.reject(failure('internal', 'UH', 'no endpoint was chosen before forwarding'));
    const { request, signal } = exchange;
    if (signal.aborted) return Promise.reject(signal.reason);
    const where = describeEndpoint(endpoint);
    const headers: http.OutgoingHttpHeaders = withoutHopByHop(request.headers);
    headers.host = request.authority || where;
    const forwardedFor = request.headers['x-forwarded-for'];
    headers['x-forwarded-for'] = forwardedFor === undefined ? exchange.source.ip : `${String(forwardedFor)}, ${exchange.source.ip}`;
    headers['content-length'] = String(request.body.length);
    const options: http.RequestOptions = { ...upstream.requestOptions(endpoint), method: request.method, path: request.path, headers };
    const attempt = (mayResend: boolean): Promise<ProxyResponse> => new Promise<ProxyResponse>((resolve, reject) => {
      let connected = false;
      const outgoing = http.request(options);
      const onAbort = (): void => {
        outgoing.destroy(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      outgoing.once('socket', () => { connected = true; });
      outgoing.once('response', (incoming) => {
        incoming.once('close', () => signal.removeEventListener('abort', onAbort));
        incoming.on('error', () => undefined);
        resolve({ status: incoming.statusCode ?? 502, headers: withoutHopByHop(incoming.headers), body: incoming });
      });
      outgoing.once('error', (error) => {
        signal.removeEventListener('abort', onAbort);
        if (signal.aborted) return reject(signal.reason);
        // An idle keep-alive connection the endpoint closed just as this request took it: the
        // request is sent again, once, as RFC 9112 (9.3.1) allows for idempotent methods.
        if (mayResend && outgoing.reusedSocket && !isConnectError(error) && IDEMPOTENT.has(request.method)) return resolve(attempt(false));
        reject(connected && !isConnectError(error)
          ? failure('protocol', 'UC', `upstream ${where} reset the request: ${error.message}`, { status: 503, cause: error, details: { retryOn: 'reset' } })
          : failure('no-upstream', 'UF', `cannot connect to upstream ${where}: ${error.message}`, { status: 503, cause: error, details: { retryOn: 'connect-failure' } }));
      });
      outgoing.end(request.body);
    });
    return attempt(true);
  };
}

/** Methods whose requests may be sent twice (RFC 9110, 9.2.2). */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/** A copy without pseudo-headers and hop-by-hop headers (one pass: this runs on every request and response). */
export function withoutHopByHop(headers: HeaderMap | http.IncomingHttpHeaders): HeaderMap {
  const result: HeaderMap = {};
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || name.startsWith(':') || HOP_BY_HOP.has(name)) continue;
    result[name] = value;
  }
  return result;
}

/** The agent reports createConnection failures through the request too: tell them apart by their codes. */
function isConnectError(error: Error): boolean {
  const code = (error as { code?: unknown }).code;
  return code === 'no-upstream' || code === 'timeout' || code === 'tls-failure' || code === 'tls-identity-mismatch' || code === 'untrusted-certificate';
}
