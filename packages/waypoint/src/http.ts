// The small HTTP endpoints: Prometheus metrics (15020) and readiness
// (15021) on TCP, the admin API on a unix socket. Each is one route table;
// all are bound by app.ts before anything is served.
import http from 'node:http';
import { lstat, unlink, chmod } from 'node:fs/promises';
import net from 'node:net';
import type { Registry } from 'prom-client';
import { AmbitError } from '@ambit/core';

export type Route = (request: http.IncomingMessage, url: URL, response: http.ServerResponse) => void;

/** A server answering a fixed table of paths (404 naming them otherwise). */
export function routeServer(routes: Record<string, Route>): http.Server {
  return http.createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://local');
    const route = routes[url.pathname];
    if (route === undefined) return sendJson(response, 404, { error: `no such endpoint ${url.pathname}`, endpoints: Object.keys(routes) });
    try {
      route(request, url, response);
    } catch (error) {
      sendJson(response, 500, { error: (error as Error).message });
    }
  });
}

/** Binds `server` to host:port or a unix socket path; a bind failure says what to do. */
export async function bind(server: http.Server, where: { host: string; port: number } | string, what: string): Promise<void> {
  const label = typeof where === 'string' ? where : `${where.host}:${where.port}`;
  if (typeof where === 'string') await removeStaleSocket(where);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => reject(new AmbitError('unavailable', `cannot listen for ${what} on ${label}: ${error.code ?? error.message}`, {
      cause: error, hint: error.code === 'EADDRINUSE' ? 'another process holds the address; stop it or choose another' : undefined,
    })));
    if (typeof where === 'string') server.listen(where, resolve);
    else server.listen(where.port, where.host, resolve);
  });
  if (typeof where === 'string') await chmod(where, 0o600);
}

export function stopServer(server: http.Server): Promise<void> {
  if (!server.listening) return Promise.resolve();
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

export function boundPort(server: http.Server): number {
  const address = server.address();
  return typeof address === 'object' && address !== null ? address.port : 0;
}

export const metricsRoute = (registry: Registry): Route => (_request, _url, response) => {
  registry.metrics().then(
    (text) => response.writeHead(200, { 'content-type': registry.contentType }).end(text),
    (error: Error) => response.writeHead(500).end(`${error.message}\n`),
  );
};

export const readinessRoute = (reason: () => string | undefined): Route => (_request, _url, response) => {
  const why = reason();
  response.writeHead(why === undefined ? 200 : 503, { 'content-type': 'text/plain' }).end(why === undefined ? 'ready\n' : `not ready: ${why}\n`);
};

export function sendJson(response: http.ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' }).end(`${JSON.stringify(body, null, 2)}\n`);
}

/** A unix socket nobody answers on is removed; a live one, or any other file, is an error. */
async function removeStaleSocket(path: string): Promise<void> {
  const stats = await lstat(path).catch(() => undefined);
  if (stats === undefined) return;
  if (!stats.isSocket()) throw new AmbitError('invalid-config', `admin-socket ${path} exists and is not a socket`, { hint: 'choose another path or remove the file' });
  const live = await new Promise<boolean>((resolve) => {
    const probe = net.connect(path, () => { probe.destroy(); resolve(true); });
    probe.once('error', () => resolve(false));
  });
  if (live) throw new AmbitError('unavailable', `another process serves the admin socket ${path}`, { hint: 'is another waypoint running for this Gateway?' });
  await unlink(path);
}
