// The Store interface over a running control plane's API socket (see
// api-server.ts): what the local cluster and the CLI use while the control
// plane owns the local store. Errors come back as the same AmbitErrors the
// store raised; a control plane that is not running is `unavailable`.
import http from 'node:http';
import { AmbitError, readBody, systemCode } from '@ambit/core';
import { LineSplitter } from '@ambit/api';
import { RESOURCE_TYPES, type Kind, type KubeObject } from '../resources.js';
import { fromWire, NO_NAMESPACE, type WireError } from './api-server.js';
import type { SubscriberStatus } from '../discovery/server.js';
import type { DeleteOptions, ListOptions, ListResult, Store, Watch, WatchEvent, WatchHandlers, WatchOptions } from './store.js';

export interface ControlPlaneStatus {
  backend: string;
  trustDomain: string;
  startedAt: string;
  /** The control plane's clock when it answered. */
  now?: string;
  ready: boolean;
  notReady?: string;
  /** The discovery version being pushed. */
  version: string;
  subscribers: SubscriberStatus[];
  lastTranslation?: { at: string; durationMs: number; workloads: number; services: number; authorizations: number; routes: number };
  rootCertificate: { serialNumber: string; notBefore: string; notAfter: string };
  /** Leader election (absent from control planes that predate it). */
  leader?: LeaderStatus;
}

export interface LeaderStatus {
  /** Off on the local backend, which runs one control plane. */
  enabled: boolean;
  /** Whether this replica runs the writers (status writer, waypoint controller); always true when election is off. */
  isLeader: boolean;
  /** This replica's holderIdentity. */
  identity?: string;
  /** The holder last seen in the Lease ('' when released). */
  holder?: string;
  /** `namespace/name` of the Lease. */
  lease?: string;
  leaseTransitions?: number;
  /** Why the last attempt did not acquire or renew. */
  lastError?: string;
}

export interface RemoteStoreOptions {
  /** Per request (watches excepted). */
  timeoutMs?: number;
}

export class RemoteStore implements Store {
  readonly backend = 'local' as const;
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  private readonly timeoutMs: number;

  constructor(readonly socketPath: string, options: RemoteStoreOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? 30_000;
  }

  async get<T extends KubeObject = KubeObject>(kind: Kind, name: string, namespace?: string): Promise<T | undefined> {
    try {
      return await this.call<T>('GET', objectPath(kind, name, namespace));
    } catch (error) {
      if (error instanceof AmbitError && error.code === 'not-found') return undefined;
      throw error;
    }
  }

  /** The control plane's own state (GET /status): version, subscribers, last translation, root CA. */
  controlPlaneStatus(): Promise<ControlPlaneStatus> {
    return this.call<ControlPlaneStatus>('GET', '/status');
  }

  list<T extends KubeObject = KubeObject>(kind: Kind, options: ListOptions = {}): Promise<ListResult<T>> {
    return this.call<ListResult<T>>('GET', `/v1/${kind}${query(options)}`);
  }

  async create<T extends KubeObject>(object: T): Promise<T> {
    return this.call<T>('POST', `/v1/${kindOf(object)}`, object);
  }

  async update<T extends KubeObject>(object: T): Promise<T> {
    return this.call<T>('PUT', `/v1/${kindOf(object)}`, object);
  }

  patch<T extends KubeObject = KubeObject>(kind: Kind, name: string, namespace: string | undefined, patch: Record<string, unknown>): Promise<T> {
    return this.call<T>('PATCH', objectPath(kind, name, namespace), patch);
  }

  updateStatus<T extends KubeObject = KubeObject>(kind: Kind, name: string, namespace: string | undefined, status: unknown, resourceVersion?: string): Promise<T> {
    return this.call<T>('PUT', `${objectPath(kind, name, namespace)}/status`, { status, ...(resourceVersion === undefined ? {} : { resourceVersion }) });
  }

  async delete(kind: Kind, name: string, namespace?: string, options: DeleteOptions = {}): Promise<void> {
    await this.call('DELETE', `${objectPath(kind, name, namespace)}${query({ resourceVersion: options.resourceVersion })}`);
  }

  watch<T extends KubeObject = KubeObject>(kind: Kind, options: WatchOptions, handlers: WatchHandlers<T>): Watch {
    let closed = false;
    let ended = false;
    const fail = (error: Error): void => {
      if (closed || ended) return;
      ended = true;
      handlers.onError(error);
    };
    const request = http.request({
      socketPath: this.socketPath, method: 'GET',
      path: `/v1/${kind}${query({ ...options, watch: '1' })}`,
    }, (response) => {
      if (response.statusCode !== 200) {
        void readText(response).then((text) => fail(errorFrom(response.statusCode ?? 0, text)), fail);
        return;
      }
      const lines = new LineSplitter();
      response.on('data', (chunk: Buffer) => {
        for (const line of lines.push(chunk)) {
          if (closed || ended) return;
          const event = JSON.parse(line) as WatchEvent<T> | { type: 'ERROR'; error: WireError };
          if (event.type === 'ERROR') fail(fromWire(event.error));
          else handlers.onEvent(event);
        }
      });
      response.once('end', () => fail(new AmbitError('unavailable', `the control plane ended the ${kind} watch`)));
      response.once('error', fail);
    });
    request.once('error', (error) => fail(unavailable(this.socketPath, error)));
    request.end();
    return {
      close: () => {
        closed = true;
        request.destroy();
      },
    };
  }

  close(): Promise<void> {
    this.agent.destroy();
    return Promise.resolve();
  }

  private call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const request = http.request({
        socketPath: this.socketPath, method, path, agent: this.agent, timeout: this.timeoutMs,
        headers: payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
      }, (response) => {
        readText(response).then((text) => {
          const status = response.statusCode ?? 0;
          if (status >= 200 && status < 300) resolve(JSON.parse(text) as T);
          else reject(errorFrom(status, text));
        }, reject);
      });
      request.once('timeout', () => request.destroy(new AmbitError('timeout', `the control plane did not answer ${method} ${path} within ${this.timeoutMs} ms`)));
      request.once('error', (error) => reject(error instanceof AmbitError ? error : unavailable(this.socketPath, error)));
      request.end(payload);
    });
  }
}

function kindOf(object: KubeObject): Kind {
  const kind = object.kind;
  if (typeof kind !== 'string' || !(kind in RESOURCE_TYPES)) {
    throw new AmbitError('invalid-resource', `kind: ${JSON.stringify(kind)} is not a known kind; known: ${Object.keys(RESOURCE_TYPES).join(', ')}`);
  }
  return kind as Kind;
}

function objectPath(kind: Kind, name: string, namespace: string | undefined): string {
  return `/v1/${kind}/${encodeURIComponent(namespace ?? NO_NAMESPACE)}/${encodeURIComponent(name)}`;
}

function query(values: { [key: string]: string | undefined } | ListOptions): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(values) as [string, string | undefined][]) if (value !== undefined) params.set(key, value);
  const text = params.toString();
  return text === '' ? '' : `?${text}`;
}


async function readText(response: http.IncomingMessage): Promise<string> {
  return (await readBody(response)).toString('utf8');
}

function errorFrom(status: number, text: string): AmbitError {
  try {
    const wire = (JSON.parse(text) as { error?: WireError }).error;
    if (wire !== undefined && typeof wire.code === 'string') return fromWire(wire);
  } catch { /* not ours: fall through */ }
  return new AmbitError('internal', `the control plane answered ${status}: ${text.slice(0, 200)}`);
}

function unavailable(socketPath: string, error: Error): AmbitError {
  const code = systemCode(error);
  const notRunning = code === 'ENOENT' || code === 'ECONNREFUSED';
  return new AmbitError('unavailable', `cannot reach the control plane at ${socketPath}: ${error.message}`, {
    cause: error,
    ...(notRunning ? { hint: 'is the control plane running with this state directory? (`ambit up` starts it)' } : {}),
  });
}
