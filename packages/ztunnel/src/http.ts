// Small HTTP servers for probes and scraping: readiness (15021) and metrics
// (15020). Both are bound by app.ts before anything is served.
import http from 'node:http';
import type { Registry } from 'prom-client';
import { AmbitError } from '@ambit/core';
import type { HostPort } from './config.js';

export function listenHttp(address: HostPort, handler: http.RequestListener, what: string): Promise<http.Server> {
  const server = http.createServer(handler);
  return new Promise((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => reject(bindError(error, `${address.host}:${address.port}`, what)));
    server.listen(address.port, address.host, () => resolve(server));
  });
}

export function readinessHandler(notReady: () => string | undefined): http.RequestListener {
  return (request, response) => {
    if (request.url !== '/healthz/ready') {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found: use /healthz/ready\n');
      return;
    }
    const problem = notReady();
    response.writeHead(problem === undefined ? 200 : 503, { 'content-type': 'text/plain' })
      .end(problem === undefined ? 'ready\n' : `not ready: ${problem}\n`);
  };
}

export function metricsHandler(registry: Registry): http.RequestListener {
  return (request, response) => {
    if (request.url !== '/metrics') {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found: use /metrics\n');
      return;
    }
    writeMetrics(registry, response);
  };
}

export function writeMetrics(registry: Registry, response: http.ServerResponse): void {
  registry.metrics().then(
    (text) => response.writeHead(200, { 'content-type': registry.contentType }).end(text),
    (error: Error) => response.writeHead(500, { 'content-type': 'text/plain' }).end(`${error.message}\n`),
  );
}

export function portOf(server: http.Server): number {
  const address = server.address();
  return typeof address === 'object' && address !== null ? address.port : 0;
}

export function closeHttp(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) {
      resolve();
      return;
    }
    server.closeAllConnections();
    server.close(() => resolve());
  });
}

/** A bind failure as a start-up error that says what to do. */
export function bindError(error: NodeJS.ErrnoException, where: string, what: string): AmbitError {
  const hints: Record<string, string> = {
    EADDRINUSE: 'another process holds the address; stop it or choose another',
    EADDRNOTAVAIL: 'the address is not assigned to any interface here',
    EACCES: 'binding this port or path needs more privileges',
  };
  return new AmbitError('unavailable', `cannot listen for ${what} on ${where}: ${error.code ?? error.message}`, {
    cause: error, hint: error.code === undefined ? undefined : hints[error.code], details: { code: error.code },
  });
}
