// The Kubernetes backend: the cluster's own API server (and etcd) hold the
// state. Standard API semantics only, so it works against any conformant
// server: list + watch from a resourceVersion with bookmarks, optimistic
// concurrency through metadata.resourceVersion, JSON merge patch for
// patches, the status subresource for status.
//
// Credentials and TLS come from @kubernetes/client-node's KubeConfig
// (kubeconfig file, in-cluster service account, exec/OIDC plugins); watches
// use its Watch. Plain requests go through node:http(s) with the options
// KubeConfig.applyToHTTPSOptions fills in (kube-http.ts), not through KubernetesObjectApi:
// that client deserializes built-in kinds into its model classes, which
// drops fields it does not model and turns timestamps into Date objects,
// and it has no status subresource.
import type { Readable } from 'node:stream';
import { Watch as KubeWatch, type KubeConfig } from '@kubernetes/client-node';
import { AmbitError, silentLogger, type Logger } from '@ambit/core';
import { RESOURCE_TYPES, isKind, type Kind, type KubeObject, type ResourceType } from '../resources.js';
import type {
  DeleteOptions, ListOptions, ListResult, Store, Watch, WatchHandlers, WatchOptions,
} from './store.js';
import { closedError, isStatus, statusError, watchFailure, type KubeStatus, type Operation } from './kube-errors.js';
import { podHttpGet, type PodHttpResponse } from './kube-port-forward.js';
import { inClusterKubeConfig, kubeRequest, kubeStream, loadKubeConfig, serverKubeConfig, serverOf, type KubeResponse, type ServerKubeConfigOptions } from './kube-http.js';

export interface PodLogOptions {
  /** Which container (the API server requires one when the pod has several). */
  container?: string;
  tailLines?: number;
  sinceSeconds?: number;
  follow?: boolean;
}

export interface KubernetesStoreOptions {
  logger?: Logger;
  /** Bound on every non-watch request. */
  requestTimeoutMs?: number;
  /** Delay before re-opening a watch the server ended normally (its timeout), doubled while they keep ending empty. */
  rewatchDelayMs?: number;
}

const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
const DEFAULT_REWATCH_DELAY_MS = 100;
const MAX_REWATCH_DELAY_MS = 10_000;

export class KubernetesStore implements Store {
  readonly backend = 'kubernetes' as const;
  private readonly server: URL;
  private readonly log: Logger;
  private readonly requestTimeoutMs: number;
  private readonly rewatchDelayMs: number;
  private readonly watches = new Set<Watch>();
  private closed = false;

  constructor(private readonly kubeConfig: KubeConfig, options: KubernetesStoreOptions = {}) {
    this.server = serverOf(kubeConfig);
    this.log = (options.logger ?? silentLogger).child({ component: 'store-kubernetes' });
    this.requestTimeoutMs = positive('requestTimeoutMs', options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS);
    this.rewatchDelayMs = positive('rewatchDelayMs', options.rewatchDelayMs ?? DEFAULT_REWATCH_DELAY_MS);
  }

  /** From a kubeconfig file, or the default chain ($KUBECONFIG, ~/.kube/config, in-cluster) without one. */
  static fromKubeconfig(path?: string, options?: KubernetesStoreOptions): KubernetesStore {
    return new KubernetesStore(loadKubeConfig(path), options);
  }

  /** The pod's service account, as mounted by Kubernetes. */
  static inCluster(options?: KubernetesStoreOptions): KubernetesStore {
    return new KubernetesStore(inClusterKubeConfig(), options);
  }

  /** A server URL with an optional bearer token; plain http is allowed (tests, `kubectl proxy`). */
  static fromServer(url: string, options: KubernetesStoreOptions & ServerKubeConfigOptions = {}): KubernetesStore {
    return new KubernetesStore(serverKubeConfig(url, options), options);
  }

  async get<T extends KubeObject = KubeObject>(kind: Kind, name: string, namespace?: string): Promise<T | undefined> {
    const type = resourceType(kind);
    try {
      return withTypeMeta(await this.request<T>('GET', objectPath(type, name, namespace), { what: `get ${describe(kind, name, namespace)}`, type, name }), type);
    } catch (error) {
      // Only "this object is not there"; a missing resource type (no CRD) stays an error.
      if (error instanceof AmbitError && error.code === 'not-found' && error.details.name === name) return undefined;
      throw error;
    }
  }

  async list<T extends KubeObject = KubeObject>(kind: Kind, options: ListOptions = {}): Promise<ListResult<T>> {
    const type = resourceType(kind);
    const query = new URLSearchParams();
    if (options.labelSelector !== undefined && options.labelSelector !== '') query.set('labelSelector', options.labelSelector);
    const list = await this.request<{ items?: T[]; metadata?: { resourceVersion?: string } }>(
      'GET', `${collectionPath(type, options.namespace)}${queryString(query)}`, { what: `list ${type.plural}`, type },
    );
    // Built-in lists carry kind/apiVersion on the list only.
    return { items: (list.items ?? []).map((item) => withTypeMeta(item, type)), resourceVersion: list.metadata?.resourceVersion ?? '' };
  }

  watch<T extends KubeObject = KubeObject>(kind: Kind, options: WatchOptions, handlers: WatchHandlers<T>): Watch {
    const type = resourceType(kind);
    const path = collectionPath(type, options.namespace);
    const log = this.log.child({ kind, namespace: options.namespace });
    const watcher = new KubeWatch(this.kubeConfig);
    let resourceVersion = options.resourceVersion;
    let controller: AbortController | undefined;
    let timer: NodeJS.Timeout | undefined;
    let ended = false;
    let emptyRuns = 0;
    let delivered = false;

    const end = (error?: Error): void => {
      if (ended) return;
      ended = true;
      clearTimeout(timer);
      controller?.abort();
      this.watches.delete(handle);
      if (error !== undefined) handlers.onError(error);
    };
    const handle: Watch = { close: () => end() };

    const onEvent = (phase: string, object: unknown): void => {
      if (ended) return;
      if (phase === 'ERROR') {
        end(statusError(object as KubeStatus, 500, { what: `watch ${type.plural}`, type }));
        return;
      }
      const meta = (object as KubeObject | undefined)?.metadata;
      if (meta?.resourceVersion !== undefined) resourceVersion = meta.resourceVersion;
      if (phase === 'BOOKMARK') return;
      if (phase !== 'ADDED' && phase !== 'MODIFIED' && phase !== 'DELETED') {
        log.warn({ phase }, 'ignoring a watch event of unknown type');
        return;
      }
      delivered = true;
      try {
        handlers.onEvent({ type: phase, object: withTypeMeta(object as T, type) });
      } catch (error) {
        // client-node would swallow it silently; say so at least.
        log.error({ err: error }, 'watch event handler threw');
      }
    };

    const onDone = (error: unknown): void => {
      if (ended) return;
      controller = undefined;
      if (error !== null && error !== undefined) {
        end(watchFailure(error, this.server, type));
        return;
      }
      // The server ended the watch (its timeout): carry on from the last version seen.
      emptyRuns = delivered ? 0 : emptyRuns + 1;
      delivered = false;
      const delay = Math.min(this.rewatchDelayMs * 2 ** Math.max(0, emptyRuns - 1), MAX_REWATCH_DELAY_MS);
      log.debug({ resourceVersion, delay }, 'watch ended by the server; resuming');
      timer = setTimeout(start, delay);
    };

    const start = (): void => {
      if (ended) return;
      const query: Record<string, string | boolean> = { allowWatchBookmarks: true };
      if (resourceVersion !== '') query.resourceVersion = resourceVersion;
      if (options.labelSelector !== undefined && options.labelSelector !== '') query.labelSelector = options.labelSelector;
      watcher.watch(path, query, onEvent, onDone).then(
        (abort) => {
          if (ended) abort.abort();
          else controller = abort;
        },
        (error: unknown) => end(watchFailure(error, this.server, type)),
      );
    };

    if (this.closed) {
      queueMicrotask(() => end(closedError()));
      return handle;
    }
    this.watches.add(handle);
    start();
    return handle;
  }

  async create<T extends KubeObject>(object: T): Promise<T> {
    const type = typeOf(object);
    const namespace = namespaceOf(type, object);
    const { resourceVersion: _rv, ...metadata } = object.metadata;
    const created = await this.request<T>('POST', collectionPath(type, namespace), {
      what: `create ${describe(type.kind, object.metadata.name, namespace)}`, type, name: object.metadata.name,
    }, { ...object, metadata });
    return withTypeMeta(created, type);
  }

  async update<T extends KubeObject>(object: T): Promise<T> {
    const type = typeOf(object);
    const namespace = namespaceOf(type, object);
    const name = requireName(object.metadata.name, type.kind);
    return withTypeMeta(await this.request<T>('PUT', objectPath(type, name, namespace), {
      what: `update ${describe(type.kind, name, namespace)}`, type, name,
    }, object), type);
  }

  async patch<T extends KubeObject = KubeObject>(kind: Kind, name: string, namespace: string | undefined, patch: Record<string, unknown>): Promise<T> {
    const type = resourceType(kind);
    requireName(name, kind);
    return withTypeMeta(await this.request<T>('PATCH', objectPath(type, name, namespace), {
      what: `patch ${describe(kind, name, namespace)}`, type, name,
    }, patch, 'application/merge-patch+json'), type);
  }

  async updateStatus<T extends KubeObject = KubeObject>(
    kind: Kind, name: string, namespace: string | undefined, status: unknown, resourceVersion?: string,
  ): Promise<T> {
    const type = resourceType(kind);
    requireName(name, kind);
    if (!type.hasStatus) throw new AmbitError('invalid-argument', `${kind} has no status subresource`);
    const operation = { what: `update status of ${describe(kind, name, namespace)}`, type, name };
    const path = `${objectPath(type, name, namespace)}/status`;
    // With a version, a PUT makes it a precondition (409 when stale); without
    // one, a JSON patch replaces status unconditionally (a PUT without a
    // version is refused for custom resources).
    const result = resourceVersion === undefined
      ? await this.request<T>('PATCH', path, operation, [{ op: 'add', path: '/status', value: status ?? {} }], 'application/json-patch+json')
      : await this.request<T>('PUT', path, operation, {
        apiVersion: type.apiVersion, kind: type.kind,
        metadata: { name, ...(type.namespaced ? { namespace } : {}), resourceVersion },
        status,
      });
    return withTypeMeta(result, type);
  }

  async delete(kind: Kind, name: string, namespace?: string, options: DeleteOptions = {}): Promise<void> {
    const type = resourceType(kind);
    requireName(name, kind);
    const body = options.resourceVersion === undefined
      ? undefined
      : { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { resourceVersion: options.resourceVersion } };
    await this.request('DELETE', objectPath(type, name, namespace), { what: `delete ${describe(kind, name, namespace)}`, type, name }, body);
  }

  close(): Promise<void> {
    this.closed = true;
    for (const watch of [...this.watches]) watch.close();
    return Promise.resolve();
  }

  // --- HTTP ---------------------------------------------------------------------------

  /**
   * A request outside the Store's kinds (discovery, /version, access
   * reviews), with the same credentials and timeout; any status comes back.
   */
  async raw(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', path: string, what: string, body?: unknown, contentType = 'application/json'): Promise<KubeResponse> {
    if (this.closed) throw closedError();
    return kubeRequest(this.kubeConfig, this.server, { method, path, what, body, contentType, timeoutMs: this.requestTimeoutMs });
  }

  /** GET `path` from `port` inside a pod's network namespace, through the API server's port-forward (as kubectl does). */
  async podGet(namespace: string, pod: string, port: number, path: string): Promise<PodHttpResponse> {
    if (this.closed) throw closedError();
    return podHttpGet(this.kubeConfig, namespace, pod, port, path, this.requestTimeoutMs);
  }

  /**
   * A container's log, as `kubectl logs` reads it (pods/log): the last
   * `tailLines`, those of the last `sinceSeconds`, and with `follow` what it
   * writes from now on, until `signal` aborts or the container ends. A pod or
   * container that does not exist, or RBAC refusing pods/log, is an error
   * with the server's message.
   */
  async podLog(namespace: string, pod: string, options: PodLogOptions = {}, signal?: AbortSignal): Promise<Readable> {
    if (this.closed) throw closedError();
    const query = new URLSearchParams();
    if (options.container !== undefined) query.set('container', options.container);
    if (options.tailLines !== undefined) query.set('tailLines', String(options.tailLines));
    if (options.sinceSeconds !== undefined) query.set('sinceSeconds', String(options.sinceSeconds));
    if (options.follow === true) query.set('follow', 'true');
    const operation = { what: `logs of pod ${namespace}/${pod}${options.container === undefined ? '' : ` container ${options.container}`}`, type: RESOURCE_TYPES.Pod, name: pod };
    const path = `${objectPath(RESOURCE_TYPES.Pod, pod, namespace)}/log?${query.toString()}`;
    const answer = await kubeStream(this.kubeConfig, this.server, { path, what: operation.what, timeoutMs: this.requestTimeoutMs }, signal);
    if ('stream' in answer) return answer.stream;
    const status = answer.error.body;
    throw statusError(isStatus(status) ? status : {}, answer.error.status, operation);
  }

  /** The API server's URL (for messages). */
  get serverUrl(): string {
    return this.server.toString();
  }

  private async request<T>(method: string, path: string, operation: Operation, body?: unknown, contentType = 'application/json'): Promise<T> {
    if (this.closed) throw closedError();
    const { status, body: parsed } = await kubeRequest(this.kubeConfig, this.server, {
      method, path, what: operation.what, body, contentType, timeoutMs: this.requestTimeoutMs,
    });
    if (status >= 200 && status < 300) return parsed as T;
    throw statusError(isStatus(parsed) ? parsed : {}, status, operation);
  }
}

// --- paths and objects ---------------------------------------------------------------

function resourceType(kind: Kind): ResourceType {
  if (!isKind(kind)) throw new AmbitError('invalid-argument', `unknown kind "${String(kind)}"`, { hint: `one of ${Object.keys(RESOURCE_TYPES).join(', ')}` });
  return RESOURCE_TYPES[kind];
}

function typeOf(object: KubeObject): ResourceType {
  if (typeof object.kind !== 'string' || !isKind(object.kind)) {
    throw new AmbitError('invalid-resource', `kind: unknown kind "${String(object.kind)}"`, { hint: `one of ${Object.keys(RESOURCE_TYPES).join(', ')}` });
  }
  const type = RESOURCE_TYPES[object.kind];
  if (object.apiVersion !== type.apiVersion) {
    throw new AmbitError('invalid-resource', `apiVersion: ${object.kind} is served as ${type.apiVersion}, not "${String(object.apiVersion)}"`);
  }
  if (typeof object.metadata !== 'object' || object.metadata === null) throw new AmbitError('invalid-resource', 'metadata: Required value');
  return type;
}

function namespaceOf(type: ResourceType, object: KubeObject): string | undefined {
  if (!type.namespaced) return undefined;
  const namespace = object.metadata.namespace;
  if (namespace === undefined || namespace === '') {
    throw new AmbitError('invalid-resource', `metadata.namespace: Required value: ${type.kind} "${object.metadata.name}" is namespaced`);
  }
  return namespace;
}

function requireName(name: string, kind: string): string {
  if (typeof name !== 'string' || name === '') throw new AmbitError('invalid-resource', `metadata.name: Required value: ${kind} needs a name`);
  return name;
}

function prefix(type: ResourceType): string {
  return type.group === '' ? `/api/${type.version}` : `/apis/${type.group}/${type.version}`;
}

function collectionPath(type: ResourceType, namespace: string | undefined): string {
  const ns = type.namespaced && namespace !== undefined && namespace !== '' ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  return `${prefix(type)}${ns}/${type.plural}`;
}

function objectPath(type: ResourceType, name: string, namespace: string | undefined): string {
  if (type.namespaced && (namespace === undefined || namespace === '')) {
    throw new AmbitError('invalid-argument', `${type.kind} "${name}" is namespaced: pass its namespace`);
  }
  return `${collectionPath(type, namespace)}/${encodeURIComponent(name)}`;
}

function withTypeMeta<T extends KubeObject>(object: T, type: ResourceType): T {
  if (object.kind === type.kind && object.apiVersion === type.apiVersion) return object;
  return { ...object, apiVersion: type.apiVersion, kind: type.kind };
}

function positive(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) throw new AmbitError('invalid-config', `${name} must be a positive number of milliseconds, got ${value}`);
  return value;
}

function describe(kind: string, name: string, namespace: string | undefined): string {
  return namespace === undefined || namespace === '' ? `${kind} ${name}` : `${kind} ${namespace}/${name}`;
}

function queryString(query: URLSearchParams): string {
  const text = query.toString();
  return text === '' ? '' : `?${text}`;
}
