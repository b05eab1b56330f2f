// The admin API: HTTP on a unix socket (mode 0600, so only this node's
// operator reaches it), JSON answers. GET /config_dump, /workloads,
// /services, /policies, /certificates, /connections, /metrics,
// /healthz/ready; GET or POST /logging?level=LEVEL. A socket left behind by
// a previous run is removed on start; a live one (another ztunnel answering
// there) or any other file at the path is an error, never overwritten.
import http from 'node:http';
import net from 'node:net';
import { chmod, lstat, unlink } from 'node:fs/promises';
import type { Registry } from 'prom-client';
import { AmbitError, isLogLevel, type Logger, type LogLevel } from '@ambit/core';
import { bindError, writeMetrics } from './http.js';

export interface AdminSources {
  configDump(): unknown;
  workloads(): unknown;
  services(): unknown;
  policies(): unknown;
  certificates(): unknown;
  connections(): unknown;
  registry: Registry;
  notReady(): string | undefined;
  logLevel: { get(): string; set(level: LogLevel): void };
}

const ROUTES = ['/config_dump', '/workloads', '/services', '/policies', '/certificates', '/connections', '/metrics', '/healthz/ready', '/logging'];

export class AdminServer {
  private readonly server: http.Server;
  private readonly log: Logger;
  private path: string | undefined;

  constructor(private readonly sources: AdminSources, logger: Logger) {
    this.log = logger.child({ component: 'admin' });
    this.server = http.createServer((request, response) => this.route(request, response));
  }

  async listen(path: string): Promise<void> {
    await removeStaleSocket(path);
    await new Promise<void>((resolve, reject) => {
      const onError = (error: NodeJS.ErrnoException): void => reject(bindError(error, path, 'admin'));
      this.server.once('error', onError);
      this.server.listen(path, () => {
        this.server.off('error', onError);
        resolve();
      });
    });
    this.path = path;
    await chmod(path, 0o600);
    this.log.info({ socket: path }, 'admin listening');
  }

  async close(): Promise<void> {
    if (this.server.listening) {
      this.server.closeAllConnections();
      await new Promise<void>((resolve) => this.server.close(() => resolve()));
    }
    if (this.path !== undefined) {
      await unlink(this.path).catch(() => undefined);
      this.path = undefined;
    }
  }

  private route(request: http.IncomingMessage, response: http.ServerResponse): void {
    const url = new URL(request.url ?? '/', 'http://admin');
    const method = request.method ?? 'GET';
    if (url.pathname === '/logging') return this.logging(method, url, response);
    if (method !== 'GET') return json(response, 405, { error: `${method} ${url.pathname} is not supported; use GET` });
    try {
      switch (url.pathname) {
        case '/config_dump': return json(response, 200, this.sources.configDump());
        case '/workloads': return json(response, 200, this.sources.workloads());
        case '/services': return json(response, 200, this.sources.services());
        case '/policies': return json(response, 200, this.sources.policies());
        case '/certificates': return json(response, 200, this.sources.certificates());
        case '/connections': return json(response, 200, this.sources.connections());
        case '/metrics': return writeMetrics(this.sources.registry, response);
        case '/healthz/ready': {
          const problem = this.sources.notReady();
          return json(response, problem === undefined ? 200 : 503, { ready: problem === undefined, ...(problem === undefined ? {} : { reason: problem }) });
        }
        default:
          return json(response, 404, { error: `no such endpoint ${url.pathname}`, endpoints: ROUTES });
      }
    } catch (error) {
      this.log.error({ path: url.pathname, err: (error as Error).message }, 'admin request failed');
      return json(response, 500, { error: (error as Error).message });
    }
  }

  private logging(method: string, url: URL, response: http.ServerResponse): void {
    if (method === 'GET') return json(response, 200, { level: this.sources.logLevel.get() });
    if (method !== 'POST') return json(response, 405, { error: `${method} /logging is not supported; use GET or POST ?level=LEVEL` });
    const level = url.searchParams.get('level');
    if (level === null || !isLogLevel(level)) {
      return json(response, 400, { error: `level=${JSON.stringify(level)} is not a log level; use fatal, error, warn, info, debug, trace or silent` });
    }
    const previous = this.sources.logLevel.get();
    this.sources.logLevel.set(level);
    this.log.warn({ from: previous, to: level }, 'log level changed');
    return json(response, 200, { level });
  }
}

function json(response: http.ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' }).end(`${JSON.stringify(body, null, 2)}\n`);
}

/** Removes a unix socket nobody answers on; refuses to touch anything else. */
async function removeStaleSocket(path: string): Promise<void> {
  let stats;
  try {
    stats = await lstat(path);
  } catch {
    return; // nothing there
  }
  if (!stats.isSocket()) {
    throw new AmbitError('invalid-config', `admin-socket ${path} exists and is not a socket`, { hint: 'choose another path or remove the file' });
  }
  const live = await new Promise<boolean>((resolve) => {
    const probe = net.connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (live) {
    throw new AmbitError('unavailable', `another process is serving on the admin socket ${path}`, {
      hint: 'is another ztunnel running for this node? stop it or choose another admin-socket',
    });
  }
  await unlink(path);
}
