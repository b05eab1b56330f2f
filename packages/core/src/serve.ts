// The small HTTP servers every daemon runs beside its data path: metrics
// (15020), readiness (15021) and the admin API on a unix socket. Each is a
// fixed route table; `listen` binds it on host:port or a unix socket path
// with errors that say what to do, so the app can bind every port before
// serving anything.
import { chmod, lstat, unlink } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import type { HostPort } from './config.js';
import { AmbitError } from './errors.js';

export type Route = (request: http.IncomingMessage, url: URL, response: http.ServerResponse) => void;

/** What a metrics endpoint serves; a prom-client `Registry` is one. */
export interface MetricsSource {
  metrics(): Promise<string>;
  readonly contentType: string;
}

export interface ListenOptions {
  /** For a unix socket: who probably answers there when another process does, e.g. "is another ztunnel running for this node?". */
  busyHint?: string;
}

/** A server answering a fixed table of paths (404 naming them otherwise; 500 when a route throws). */
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

/**
 * Binds `server` to host:port, or to a unix socket path with mode 0600 (a
 * socket left behind by a dead process is removed first; a live one, or any
 * other file there, is an error and never touched).
 */
export async function listen(server: http.Server, where: HostPort | string, what: string, options: ListenOptions = {}): Promise<void> {
  const label = typeof where === 'string' ? where : `${where.host}:${where.port}`;
  if (typeof where === 'string') await removeStaleSocket(where, what, options.busyHint);
  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException): void => reject(bindError(error, label, what));
    server.once('error', onError);
    const listening = (): void => {
      server.off('error', onError);
      resolve();
    };
    if (typeof where === 'string') server.listen(where, listening);
    else server.listen(where.port, where.host, listening);
  });
  if (typeof where === 'string') await chmod(where, 0o600);
}

/** Closes now, open connections included (node removes a unix socket's file on close). */
export function closeServer(server: http.Server): Promise<void> {
  if (!server.listening) return Promise.resolve();
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

/** The TCP port a server is bound to (0 when it is not, or listens on a path). */
export function boundPort(server: net.Server): number {
  const address = server.address();
  return typeof address === 'object' && address !== null ? address.port : 0;
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

/** `/healthz/ready`: 200 `ready`, or 503 with the reason. */
export function readinessRoute(notReady: () => string | undefined): Route {
  return (_request, _url, response) => {
    const problem = notReady();
    response.writeHead(problem === undefined ? 200 : 503, { 'content-type': 'text/plain' })
      .end(problem === undefined ? 'ready\n' : `not ready: ${problem}\n`);
  };
}

/** `/metrics` in the source's exposition format. */
export function metricsRoute(source: MetricsSource): Route {
  return (_request, _url, response) => {
    source.metrics().then(
      (text) => response.writeHead(200, { 'content-type': source.contentType }).end(text),
      (error: Error) => response.writeHead(500, { 'content-type': 'text/plain' }).end(`${error.message}\n`),
    );
  };
}

export function sendJson(response: http.ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' }).end(`${JSON.stringify(body, null, 2)}\n`);
}

async function removeStaleSocket(path: string, what: string, busyHint = 'stop it or choose another path'): Promise<void> {
  const stats = await lstat(path).catch(() => undefined);
  if (stats === undefined) return;
  if (!stats.isSocket()) {
    throw new AmbitError('invalid-config', `${what} socket ${path} exists and is not a socket`, { hint: 'choose another path or remove the file' });
  }
  const live = await new Promise<boolean>((resolve) => {
    const probe = net.connect(path, () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (live) throw new AmbitError('unavailable', `another process is serving on the ${what} socket ${path}`, { hint: busyHint });
  await unlink(path);
}

/**
 * A request or response body, whole, up to `limit` bytes. Beyond it the
 * promise rejects with `limit` and the rest is drained, so the connection can
 * still carry an answer.
 */
export function readBody(stream: NodeJS.ReadableStream, limit = Number.POSITIVE_INFINITY): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        stream.off('data', onData);
        stream.resume();
        reject(new AmbitError('limit', `body larger than ${limit} bytes`, { details: { limit } }));
        return;
      }
      chunks.push(chunk);
    };
    stream.on('data', onData);
    stream.once('end', () => resolve(Buffer.concat(chunks)));
    stream.once('error', reject);
  });
}
