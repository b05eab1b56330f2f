// The local backend's API: the control plane owns the store (one process per
// state directory), so everyone else — the local cluster acting as kubelet,
// the CLI's `apply` and `get` — reads and writes through this server on a unix
// socket in the state directory (mode 0600: only the owner of the state may
// change the cluster). Kubernetes-shaped REST over HTTP/1.1 and JSON:
//   GET    /v1/<Kind>?namespace=&labelSelector=            list
//   GET    /v1/<Kind>?watch=1&resourceVersion=&...          watch (NDJSON events)
//   GET    /v1/<Kind>/<namespace|_>/<name>                  get
//   POST   /v1/<Kind>                                       create
//   PUT    /v1/<Kind>                                       update
//   PATCH  /v1/<Kind>/<namespace|_>/<name>                  merge patch
//   PUT    /v1/<Kind>/<namespace|_>/<name>/status           status {status, resourceVersion?}
//   DELETE /v1/<Kind>/<namespace|_>/<name>?resourceVersion=  delete
// Errors travel as {error: {code, message, hint, details}} and come back out
// of RemoteStore as the same AmbitError.
import http from 'node:http';
import { promises as fs } from 'node:fs';
import { AmbitError, findAmbitError, listen, readBody, silentLogger, type ErrorCode, type Logger } from '@ambit/core';
import { isKind, type Kind, type KubeObject } from '../resources.js';
import type { Store } from './store.js';

export const API_SOCKET_FILE = 'api.sock';
/** A cluster-scoped object's namespace segment in paths. */
export const NO_NAMESPACE = '_';
const MAX_BODY_BYTES = 4 * 1024 * 1024;

export interface WireError {
  code: ErrorCode;
  message: string;
  hint?: string;
  details?: Record<string, unknown>;
}

export class StoreApiServer {
  private readonly server: http.Server;
  private readonly log: Logger;
  private readonly watches = new Set<{ close(): void }>();

  /** `status`: what GET /status answers (the control plane's own state, for `ambit status` and `proxy-status`). */
  constructor(private readonly store: Store, logger: Logger = silentLogger, private readonly status?: () => unknown) {
    this.log = logger.child({ component: 'store-api' });
    this.server = http.createServer((request, response) => void this.handle(request, response));
  }

  /** Binds the socket (replacing a stale one left by a crash) and restricts it to the owner. */
  listen(path: string): Promise<void> {
    return listen(this.server, path, 'the store API', { busyHint: 'is another control plane using this state directory?' });
  }

  async close(): Promise<void> {
    for (const watch of this.watches) watch.close();
    this.watches.clear();
    const path = this.server.address();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
    if (typeof path === 'string') await fs.rm(path, { force: true });
  }

  private async handle(request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
    try {
      const url = new URL(request.url ?? '/', 'http://store');
      const parts = url.pathname.split('/').filter((p) => p !== '').map(decodeURIComponent);
      if (url.pathname === '/status' && request.method === 'GET' && this.status !== undefined) return send(response, 200, this.status());
      if (parts[0] !== 'v1' || parts[1] === undefined) {
        throw new AmbitError('not-found', `${url.pathname} is not a store API path; use /v1/<Kind>[/<namespace>/<name>]`);
      }
      const kind = parts[1];
      if (!isKind(kind)) throw new AmbitError('invalid-resource', `unknown kind ${kind}`);
      const namespace = parts[2] === undefined || parts[2] === NO_NAMESPACE ? undefined : parts[2];
      const name = parts[3];
      const method = request.method ?? 'GET';
      const query = url.searchParams;
      const listOptions = {
        ...(query.get('namespace') === null ? {} : { namespace: query.get('namespace') as string }),
        ...(query.get('labelSelector') === null ? {} : { labelSelector: query.get('labelSelector') as string }),
      };
      if (name === undefined) {
        if (method === 'GET' && query.get('watch') === '1') return this.watch(kind, { ...listOptions, resourceVersion: query.get('resourceVersion') ?? '0' }, response);
        if (method === 'GET') return send(response, 200, await this.store.list(kind, listOptions));
        if (method === 'POST') return send(response, 201, await this.store.create(await readJson<KubeObject>(request)));
        if (method === 'PUT') return send(response, 200, await this.store.update(await readJson<KubeObject>(request)));
      } else if (parts[4] === 'status') {
        if (method === 'PUT') {
          const body = await readJson<{ status?: unknown; resourceVersion?: string }>(request);
          return send(response, 200, await this.store.updateStatus(kind, name, namespace, body.status, body.resourceVersion));
        }
      } else if (parts.length === 4) {
        if (method === 'GET') {
          const object = await this.store.get(kind, name, namespace);
          if (object === undefined) throw new AmbitError('not-found', `${kind} ${namespace === undefined ? '' : `${namespace}/`}${name} not found`);
          return send(response, 200, object);
        }
        if (method === 'PATCH') return send(response, 200, await this.store.patch(kind, name, namespace, await readJson<Record<string, unknown>>(request)));
        if (method === 'DELETE') {
          const resourceVersion = query.get('resourceVersion');
          await this.store.delete(kind, name, namespace, resourceVersion === null ? {} : { resourceVersion });
          return send(response, 200, {});
        }
      }
      throw new AmbitError('bad-request', `${method} ${url.pathname} is not supported`);
    } catch (error) {
      const ambit = findAmbitError(error) ?? new AmbitError('internal', (error as Error).message, { cause: error });
      if (ambit.code === 'internal') this.log.error({ err: (error as Error).message }, 'store API request failed');
      send(response, statusFor(ambit.code), { error: toWire(ambit) });
    }
  }

  private watch(kind: Kind, options: { namespace?: string; labelSelector?: string; resourceVersion: string }, response: http.ServerResponse): void {
    response.writeHead(200, { 'content-type': 'application/x-ndjson' });
    response.flushHeaders();
    const watch = this.store.watch(kind, options, {
      onEvent: (event) => { response.write(`${JSON.stringify(event)}\n`); },
      onError: (error) => {
        const ambit = findAmbitError(error) ?? new AmbitError('unavailable', error.message);
        response.end(`${JSON.stringify({ type: 'ERROR', error: toWire(ambit) })}\n`);
        this.watches.delete(watch);
      },
    });
    this.watches.add(watch);
    response.once('close', () => {
      watch.close();
      this.watches.delete(watch);
    });
  }
}

export function toWire(error: AmbitError): WireError {
  return {
    code: error.code, message: error.message,
    ...(error.hint === undefined ? {} : { hint: error.hint }),
    ...(Object.keys(error.details).length === 0 ? {} : { details: error.details }),
  };
}

export function fromWire(wire: WireError): AmbitError {
  return new AmbitError(wire.code, wire.message, {
    ...(wire.hint === undefined ? {} : { hint: wire.hint }),
    ...(wire.details === undefined ? {} : { details: wire.details }),
  });
}

function statusFor(code: ErrorCode): number {
  switch (code) {
    case 'not-found': return 404;
    case 'already-exists':
    case 'conflict': return 409;
    case 'gone': return 410;
    case 'invalid-resource':
    case 'invalid-argument':
    case 'bad-request': return 400;
    case 'unavailable': return 503;
    default: return 500;
  }
}

function send(response: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  response.end(text);
}

async function readJson<T>(request: http.IncomingMessage): Promise<T> {
  let body: Buffer;
  try {
    body = await readBody(request, MAX_BODY_BYTES);
  } catch (error) {
    throw findAmbitError(error)?.code === 'limit' ? new AmbitError('bad-request', `request body exceeds ${MAX_BODY_BYTES} bytes`) : error;
  }
  try {
    return JSON.parse(body.toString('utf8')) as T;
  } catch (error) {
    throw new AmbitError('bad-request', `request body is not JSON: ${(error as Error).message}`);
  }
}
