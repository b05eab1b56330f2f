// Small HTTP servers for probes and scraping: readiness (15021) and metrics
// (15020). Both bind before the control plane reports ready.
import http from 'node:http';
import type { Registry } from 'prom-client';
import { AmbitError } from '@ambit/core';
import type { HostPort } from './config.js';

export function listenHttp(address: HostPort, handler: http.RequestListener, what: string): Promise<http.Server> {
  const server = http.createServer(handler);
  return new Promise((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      reject(new AmbitError('invalid-config', `cannot listen for ${what} on ${address.host}:${address.port}: ${error.code ?? error.message}`, {
        hint: error.code === 'EADDRINUSE' ? 'another process holds the port; stop it or choose another address' : undefined,
      }));
    });
    server.listen(address.port, address.host, () => resolve(server));
  });
}

export function readinessHandler(check: () => string | undefined): http.RequestListener {
  return (request, response) => {
    if (request.url !== '/healthz/ready') {
      response.writeHead(404).end('not found: use /healthz/ready\n');
      return;
    }
    const problem = check();
    response.writeHead(problem === undefined ? 200 : 503, { 'content-type': 'text/plain' }).end(problem === undefined ? 'ready\n' : `not ready: ${problem}\n`);
  };
}

export function metricsHandler(registry: Registry): http.RequestListener {
  return (request, response) => {
    if (request.url !== '/metrics') {
      response.writeHead(404).end('not found: use /metrics\n');
      return;
    }
    registry.metrics().then(
      (text) => response.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (error: Error) => response.writeHead(500).end(error.message),
    );
  };
}

export function portOf(server: http.Server): number {
  const address = server.address();
  return typeof address === 'object' && address !== null ? address.port : 0;
}
