// The admin API every proxy serves on its unix socket: JSON answers to GET on
// the proxy's own endpoints (`/config_dump`, `/workloads`, ...), plus the
// shared `/metrics`, `/healthz/ready` and `/logging` (GET, or POST
// `?level=LEVEL` to change the level at run time). Bind it with `listen`.
import type http from 'node:http';
import { isLogLevel, type Logger, type LogLevel } from './log.js';
import type { HostPort } from './config.js';
import { boundPort, metricsRoute, routeServer, sendJson, type MetricsSource, type Route } from './serve.js';

/** Where a bound admin API answers, in the shape `http.request` takes. */
export type AdminEndpoint = { socketPath: string } | { host: string; port: number };

/** The endpoint of an admin server bound (by `listen`) to a socket path or an address (port 0 resolved). */
export function adminEndpoint(server: http.Server, where: string | HostPort): AdminEndpoint {
  return typeof where === 'string' ? { socketPath: where } : { host: where.host, port: boundPort(server) };
}

/** For logs: the socket path, or host:port. */
export function describeAdmin(endpoint: AdminEndpoint): string {
  return 'socketPath' in endpoint ? endpoint.socketPath : `${endpoint.host.includes(':') ? `[${endpoint.host}]` : endpoint.host}:${endpoint.port}`;
}

export interface AdminSources {
  /** JSON endpoints answering GET, by path, e.g. `{ '/config_dump': () => dump() }`; a Promise is awaited. */
  endpoints: Record<string, () => unknown>;
  metrics: MetricsSource;
  notReady(): string | undefined;
  logLevel: { get(): string; set(level: LogLevel): void };
}

export function adminServer(sources: AdminSources, logger: Logger): http.Server {
  const log = logger.child({ component: 'admin' });
  const get = (route: Route): Route => (request, url, response) => {
    if (request.method !== 'GET') return sendJson(response, 405, { error: `${request.method ?? '?'} ${url.pathname} is not supported; use GET` });
    try {
      route(request, url, response);
    } catch (error) {
      log.error({ path: url.pathname, err: (error as Error).message }, 'admin request failed');
      sendJson(response, 500, { error: (error as Error).message });
    }
  };
  const routes: Record<string, Route> = {};
  for (const [path, source] of Object.entries(sources.endpoints)) {
    routes[path] = get((_request, url, response) => {
      const value = source();
      if (!(value instanceof Promise)) return sendJson(response, 200, value);
      value.then((resolved) => sendJson(response, 200, resolved), (error: Error) => {
        log.error({ path: url.pathname, err: error.message }, 'admin request failed');
        sendJson(response, 500, { error: error.message });
      });
    });
  }
  routes['/metrics'] = get(metricsRoute(sources.metrics));
  routes['/healthz/ready'] = get((_request, _url, response) => {
    const reason = sources.notReady();
    sendJson(response, reason === undefined ? 200 : 503, { ready: reason === undefined, reason });
  });
  routes['/logging'] = (request, url, response) => {
    if (request.method === 'GET') return sendJson(response, 200, { level: sources.logLevel.get() });
    if (request.method !== 'POST') return sendJson(response, 405, { error: `${request.method ?? '?'} /logging is not supported; use GET or POST ?level=LEVEL` });
    const level = url.searchParams.get('level');
    if (level === null || !isLogLevel(level)) {
      return sendJson(response, 400, { error: `level=${JSON.stringify(level)} is not a log level; use fatal, error, warn, info, debug, trace or silent` });
    }
    const from = sources.logLevel.get();
    sources.logLevel.set(level);
    log.warn({ from, to: level }, 'log level changed');
    sendJson(response, 200, { level });
  };
  return routeServer(routes);
}
