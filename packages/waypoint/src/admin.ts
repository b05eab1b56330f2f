// The admin API: HTTP on a unix socket (mode 0600), JSON answers. GET
// /config_dump, /routes, /policies, /certificates, /metrics,
// /healthz/ready; GET or POST /logging?level=LEVEL.
import type http from 'node:http';
import type { Registry } from 'prom-client';
import { isLogLevel, type Logger, type LogLevel } from '@ambit/core';
import { metricsRoute, routeServer, sendJson, type Route } from './http.js';

export interface AdminSources {
  configDump(): unknown;
  routes(): unknown;
  policies(): unknown;
  certificates(): unknown;
  registry: Registry;
  notReady(): string | undefined;
  logLevel: { get(): string; set(level: LogLevel): void };
}

export function adminServer(sources: AdminSources, logger: Logger): http.Server {
  const log = logger.child({ component: 'admin' });
  const json = (source: () => unknown): Route => (request, url, response) => {
    if (request.method !== 'GET') return sendJson(response, 405, { error: `${request.method ?? '?'} ${url.pathname} is not supported; use GET` });
    sendJson(response, 200, source());
  };
  return routeServer({
    '/config_dump': json(() => sources.configDump()),
    '/routes': json(() => sources.routes()),
    '/policies': json(() => sources.policies()),
    '/certificates': json(() => sources.certificates()),
    '/metrics': metricsRoute(sources.registry),
    '/healthz/ready': (_request, _url, response) => {
      const reason = sources.notReady();
      sendJson(response, reason === undefined ? 200 : 503, { ready: reason === undefined, reason });
    },
    '/logging': (request, url, response) => {
      if (request.method === 'GET') return sendJson(response, 200, { level: sources.logLevel.get() });
      const level = url.searchParams.get('level');
      if (request.method !== 'POST') return sendJson(response, 405, { error: 'use GET, or POST ?level=LEVEL' });
      if (level === null || !isLogLevel(level)) return sendJson(response, 400, { error: `level=${JSON.stringify(level)} is not a log level; use fatal, error, warn, info, debug, trace or silent` });
      const from = sources.logLevel.get();
      sources.logLevel.set(level);
      log.warn({ from, to: level }, 'log level changed');
      sendJson(response, 200, { level });
    },
  });
}
