// A Kubernetes API server in one process, for the Kubernetes store backend's
// tests (no real API server exists on these machines). It speaks the real
// wire protocol over HTTP/1.1 on 127.0.0.1, port 0: discovery, get, list
// (label and field selectors, all namespaces), create, replace, merge/JSON
// patch, the status subresource, delete with preconditions, and watch
// (newline-delimited events from a resourceVersion, bookmarks, 410 Expired
// past the retained history) with one global, monotonically increasing
// resourceVersion, as etcd gives; and port-forward to pods over WebSocket
// (fake-apiserver-portforward.ts), to loopback addresses a test registers; pods' logs
// (fake-apiserver-logs.ts), from what a test writes as a container's output. Errors are Status objects as
// kube-apiserver writes them.
//
// Deliberate simplifications (documented so nobody mistakes them for the
// real thing):
// - server-side apply (application/apply-patch+yaml) is a JSON merge patch
//   of the applied configuration (JSON bodies only): no managedFields, no
//   field ownership conflicts, fields dropped from the configuration stay;
// - strategic merge patch is accepted for built-in kinds and treated as a
//   merge patch (no list merge keys); custom kinds refuse it with 415, as
//   the real server does;
// - JSON patch implements add/remove/replace/test;
// - deletes are immediate unless the object has finalizers (then
//   deletionTimestamp is set); deleting a Namespace does not cascade;
// - list ignores limit/continue and resourceVersion (always the latest);
// - history is global (etcd-like), not per resource type.
import http from 'node:http';
import type net from 'node:net';
import { randomUUID, randomBytes } from 'node:crypto';
import { RESOURCE_TYPES } from '@ambit/control-plane';
import {
  statuses, requiredCause, parseLabelSelector, parseFieldSelector, mergePatch, jsonPatch, jsonEqual, isPlainObject,
  type Json, type KubeStatus, type StatusSubject,
} from './kube-semantics.js';
import { servePortForward, type ForwardTarget } from './fake-apiserver-portforward.js';
import { FakePodLogs } from './fake-apiserver-logs.js';
import { answerTokenReview, apiVersion, discoveryDocument, type FakeKind, type TokenReviewAnswer } from './fake-apiserver-discovery.js';

export { EXTRA_KINDS, INSTALL_KINDS } from './fake-apiserver-discovery.js';
export type { FakeKind, TokenReviewAnswer } from './fake-apiserver-discovery.js';

export interface FakeApiServerOptions {
  /** Watch events retained; a watch from before them gets 410 Expired. Default 1000. */
  historySize?: number;
  /**
   * Kinds served; defaults to every kind in RESOURCE_TYPES but GatewayClass,
   * which tests register when they want it (a cluster without it is how the
   * install tests see a missing Gateway API).
   */
  kinds?: FakeKind[];
  /** Milliseconds between BOOKMARK events on watches that allow them. Default 1000. */
  bookmarkIntervalMs?: number;
  /** When set, every request must carry `Authorization: Bearer <token>`. */
  bearerToken?: string;
  /** Refuse namespaced creates in a namespace that does not exist (as the real server does). Default true. */
  requireNamespaces?: boolean;
  /** TokenReview answers by token. */
  tokens?: Record<string, TokenReviewAnswer>;
}

export interface RecordedRequest { method: string; path: string; query: string }

/** A custom endpoint: answer with a status code and a JSON body. */
export type RouteHandler = (request: { body: unknown; query: URLSearchParams; headers: http.IncomingHttpHeaders }) => { status: number; body: unknown };

interface HistoryEntry {
  rv: number;
  kind: FakeKind;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: Json;
  /** The object before a MODIFIED, for selector transitions. */
  previous?: Json;
}

interface Watcher {
  kind: FakeKind;
  namespace: string | undefined;
  matches: (object: Json) => boolean;
  response: http.ServerResponse;
  timers: NodeJS.Timeout[];
}

interface Target {
  kind: FakeKind;
  namespace: string | undefined;
  name: string | undefined;
  subresource: string | undefined;
}

class HttpError extends Error {
  constructor(readonly status: KubeStatus) {
    super(status.message);
  }
}

const MAX_BODY_BYTES = 3 * 1024 * 1024;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

export class FakeApiServer {
  /** Every request served, in order (for tests that assert what the client sent). */
  readonly requests: RecordedRequest[] = [];
  /** What pods' containers log (GET pods/log serves it). */
  readonly podLogs = new FakePodLogs();
  private readonly kinds = new Map<string, FakeKind>();
  private readonly objects = new Map<FakeKind, Map<string, Json>>();
  private readonly routes = new Map<string, RouteHandler>();
  private readonly tokens = new Map<string, TokenReviewAnswer>();
  private readonly watchers = new Set<Watcher>();
  private readonly sockets = new Set<net.Socket>();
  private readonly forwards = new Map<string, ForwardTarget>();
  private stopForwards: () => void = () => undefined;
  private history: HistoryEntry[] = [];
  private revision = 100;
  /** Events at or below this revision are gone. */
  private compactedThrough = 0;
  private historySize: number;
  private readonly bookmarkIntervalMs: number;
  private readonly bearerToken: string | undefined;
  private readonly requireNamespaces: boolean;

  private constructor(private readonly server: http.Server, options: FakeApiServerOptions) {
    this.historySize = options.historySize ?? 1000;
    this.bookmarkIntervalMs = options.bookmarkIntervalMs ?? 1000;
    this.bearerToken = options.bearerToken;
    this.requireNamespaces = options.requireNamespaces ?? true;
    for (const kind of options.kinds ?? defaultKinds()) this.registerKind(kind);
    for (const [token, answer] of Object.entries(options.tokens ?? {})) this.tokens.set(token, answer);
    this.route('POST', '/apis/authentication.k8s.io/v1/tokenreviews', (request) => answerTokenReview(request.body, this.tokens));
  }

  static async start(options: FakeApiServerOptions = {}): Promise<FakeApiServer> {
    const server = http.createServer();
    const fake = new FakeApiServer(server, options);
    server.on('request', (req, res) => fake.serve(req, res));
    fake.stopForwards = servePortForward(server, {
      target: (namespace, pod, port) => fake.forwards.get(`${namespace}/${pod}:${port}`),
      refuse: (req, namespace, pod) => {
        if (fake.bearerToken !== undefined && req.headers.authorization !== `Bearer ${fake.bearerToken}`) return { status: 401, message: 'Unauthorized' };
        const pods = [...fake.objects].find(([kind]) => kind.kind === 'Pod')?.[1];
        return pods?.has(key(namespace, pod)) === true ? undefined : { status: 404, message: `pods "${pod}" not found` };
      },
      onForward: (namespace, pod, port) => fake.requests.push({ method: 'PORTFORWARD', path: `/api/v1/namespaces/${namespace}/pods/${pod}/portforward`, query: `?ports=${port}` }),
    });
    server.on('connection', (socket) => {
      fake.sockets.add(socket);
      socket.on('close', () => fake.sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return fake;
  }

  get url(): string {
    const address = this.server.address() as net.AddressInfo;
    return `http://127.0.0.1:${address.port}`;
  }

  /** The latest resourceVersion handed out. */
  get resourceVersion(): string {
    return String(this.revision);
  }

  get openWatches(): number {
    return this.watchers.size;
  }

  /** Serves `kind` too; registering a kind that is already served changes nothing (its objects stay). */
  registerKind(kind: FakeKind): void {
    const path = `${kind.group}/${kind.version}/${kind.plural}`;
    if (this.kinds.has(path)) return;
    const full = { ...kind, custom: kind.custom ?? kind.group !== '' };
    this.kinds.set(path, full);
    this.objects.set(full, new Map());
  }

  /**
   * Where port-forwards to (namespace, pod, port) connect: a loopback address
   * standing for the port inside the pod (undefined: connection refused, as
   * when nothing listens there). The pod must exist as an object.
   */
  forwardPort(namespace: string, pod: string, port: number, target: ForwardTarget | undefined): void {
    if (target === undefined) this.forwards.delete(`${namespace}/${pod}:${port}`);
    else this.forwards.set(`${namespace}/${pod}:${port}`, target);
  }

  /** Serves `method path` (exact path) with `handler`; for endpoints beyond the object kinds. */
  route(method: string, path: string, handler: RouteHandler): void {
    this.routes.set(`${method} ${path}`, handler);
  }

  setToken(token: string, answer: TokenReviewAnswer | undefined): void {
    if (answer === undefined) this.tokens.delete(token);
    else this.tokens.set(token, answer);
  }

  setHistorySize(size: number): void {
    this.historySize = size;
    this.trimHistory();
  }

  /** Forgets all history: a watch from any version before now gets 410 Expired. */
  compact(): void {
    this.compactedThrough = this.revision;
    this.history = [];
  }

  /** Ends every open watch with an ERROR 410 Expired event, as when a watcher falls out of the window. */
  expireWatches(): void {
    for (const watcher of [...this.watchers]) {
      this.writeEvent(watcher, 'ERROR', statuses.expired(`too old resource version: ${this.compactedThrough} (${this.revision})`));
      this.endWatch(watcher);
    }
  }

  /** Ends every open watch cleanly, as the server does at a watch's timeout. */
  closeWatches(): void {
    for (const watcher of [...this.watchers]) this.endWatch(watcher);
  }

  /** Sends a BOOKMARK on every watch now. */
  sendBookmarks(): void {
    for (const watcher of this.watchers) this.bookmark(watcher);
  }

  /** Stored objects of a kind (copies), for assertions. */
  stored(kindName: string): Json[] {
    for (const [kind, objects] of this.objects) {
      if (kind.kind === kindName) return [...objects.values()].map((o) => structuredClone(o));
    }
    return [];
  }

  async close(): Promise<void> {
    this.closeWatches();
    this.stopForwards();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      for (const socket of this.sockets) socket.destroy();
    });
  }

  // --- HTTP ---------------------------------------------------------------------

  private serve(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://fake');
    const method = req.method ?? 'GET';
    this.requests.push({ method, path: url.pathname, query: url.search });
    void this.readBody(req).then(
      (raw) => this.dispatch(method, url, req, res, raw),
      (error: unknown) => this.sendError(res, error),
    ).catch((error: unknown) => this.sendError(res, error));
  }

  private readBody(req: http.IncomingMessage): Promise<string> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_BODY_BYTES) reject(new HttpError({ ...statuses.badRequest('request entity too large'), code: 413, reason: 'RequestEntityTooLarge' }));
        else chunks.push(chunk);
      });
      req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      req.on('error', reject);
    });
  }

  private dispatch(method: string, url: URL, req: http.IncomingMessage, res: http.ServerResponse, raw: string): void {
    if (this.bearerToken !== undefined && req.headers.authorization !== `Bearer ${this.bearerToken}`) {
      throw new HttpError(statuses.unauthorized());
    }
    const path = url.pathname.replace(/\/+$/, '') || '/';
    const custom = this.routes.get(`${method} ${path}`);
    if (custom !== undefined) {
      const answer = custom({ body: parseJson(raw), query: url.searchParams, headers: req.headers });
      return send(res, answer.status, answer.body);
    }
    if (method === 'GET') {
      const discovery = discoveryDocument(path, [...this.kinds.values()], new URL(this.url).host);
      if (discovery !== undefined) return send(res, 200, discovery);
      if (path === '/healthz' || path === '/readyz' || path === '/livez') {
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
        return;
      }
    }
    const target = this.resolve(path);
    if (target === undefined) throw new HttpError(statuses.noResource());
    const query = url.searchParams;
    const { name, subresource } = target;
    if (subresource === 'log' && target.kind.kind === 'Pod' && name !== undefined) {
      if (method !== 'GET') throw new HttpError(statuses.methodNotAllowed(method));
      const refused = this.podLogs.serve(this.existing(target, name), query, res);
      if (refused !== undefined) send(res, refused.code, refused.status);
      return;
    }
    if (subresource !== undefined && (subresource !== 'status' || !target.kind.hasStatus)) throw new HttpError(statuses.noResource());
    if (name === undefined) {
      if (method === 'GET') {
        if (query.get('watch') === 'true' || query.get('watch') === '1') return this.watch(target, query, res);
        return send(res, 200, this.list(target, query));
      }
      if (method === 'POST') return send(res, 201, this.create(target, parseBody(raw)));
      throw new HttpError(statuses.methodNotAllowed(method));
    }
    switch (method) {
      case 'GET': return send(res, 200, this.existing(target, name));
      case 'PUT': return send(res, 200, this.replace(target, name, parseBody(raw)));
      case 'PATCH': return this.patch(target, name, req.headers['content-type'] ?? '', raw, query, res);
      case 'DELETE': return send(res, 200, this.remove(target, name, raw === '' ? {} : parseBody(raw)));
      default: throw new HttpError(statuses.methodNotAllowed(method));
    }
  }

  private sendError(res: http.ServerResponse, error: unknown): void {
    const status = error instanceof HttpError ? error.status : statuses.internal(error instanceof Error ? error.message : String(error));
    if (res.headersSent) {
      res.destroy();
      return;
    }
    send(res, status.code, status);
  }

  /** `/api/v1[/namespaces/{ns}]/{plural}[/{name}[/{sub}]]` or the same under `/apis/{group}/{version}`. */
  private resolve(path: string): Target | undefined {
    const segments = path.split('/').slice(1).map(decodeURIComponent);
    let group: string;
    let rest: string[];
    if (segments[0] === 'api' && segments.length >= 2) {
      group = '';
      rest = segments.slice(1);
    } else if (segments[0] === 'apis' && segments.length >= 3) {
      group = segments[1]!;
      rest = segments.slice(2);
    } else {
      return undefined;
    }
    const version = rest[0]!;
    const find = (plural: string | undefined): FakeKind | undefined => plural === undefined ? undefined : this.kinds.get(`${group}/${version}/${plural}`);
    const namespacedKind = rest[1] === 'namespaces' ? find(rest[3]) : undefined;
    if (namespacedKind?.namespaced === true && rest.length >= 4) {
      if (rest.length > 6) return undefined;
      return { kind: namespacedKind, namespace: rest[2], name: rest[4], subresource: rest[5] };
    }
    const kind = find(rest[1]);
    if (kind === undefined || rest.length > 4) return undefined;
    if (kind.namespaced && rest[2] !== undefined) return undefined; // namespaced objects need their namespace
    return { kind, namespace: undefined, name: rest[2], subresource: rest[3] };
  }

  // --- reads --------------------------------------------------------------------

  private existing(target: Target, name: string): Json {
    const object = this.objects.get(target.kind)!.get(key(target.namespace, name));
    if (object === undefined) throw new HttpError(statuses.notFound(subject(target.kind), name));
    return structuredClone(object);
  }

  private list(target: Target, query: URLSearchParams): Json {
    const matches = this.matcher(target, query);
    const items = [...this.objects.get(target.kind)!.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, object]) => object)
      .filter(matches)
      .map((object) => {
        const copy = structuredClone(object);
        // kube-apiserver leaves kind/apiVersion off the items of built-in lists.
        if (!target.kind.custom) {
          delete copy.kind;
          delete copy.apiVersion;
        }
        return copy;
      });
    return { kind: `${target.kind.kind}List`, apiVersion: apiVersion(target.kind), metadata: { resourceVersion: this.resourceVersion }, items };
  }

  private matcher(target: Target, query: URLSearchParams): (object: Json) => boolean {
    let labels: ReturnType<typeof parseLabelSelector>;
    let fields: ReturnType<typeof parseFieldSelector>;
    try {
      labels = parseLabelSelector(query.get('labelSelector') ?? '');
      fields = parseFieldSelector(query.get('fieldSelector') ?? '');
    } catch (error) {
      throw new HttpError(statuses.badRequest((error as Error).message));
    }
    return (object) => {
      const meta = object.metadata as Json;
      if (target.namespace !== undefined && meta.namespace !== target.namespace) return false;
      return labels(meta.labels as Record<string, string> | undefined) && fields(object);
    };
  }

  // --- watch --------------------------------------------------------------------

  private watch(target: Target, query: URLSearchParams, res: http.ServerResponse): void {
    const matches = this.matcher(target, query);
    const from = query.get('resourceVersion') ?? '';
    if (from !== '' && !/^\d+$/.test(from)) throw new HttpError(statuses.badRequest(`invalid resource version "${from}"`));
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked', 'cache-control': 'no-cache, private' });
    res.flushHeaders();
    const watcher: Watcher = { kind: target.kind, namespace: target.namespace, matches, response: res, timers: [] };
    if (from === '' || from === '0') {
      // "Get state and start at most recent": synthetic ADDED for what exists.
      const current = [...this.objects.get(target.kind)!.entries()].sort(([a], [b]) => (a < b ? -1 : 1));
      for (const [, object] of current) if (matches(object)) this.writeEvent(watcher, 'ADDED', object);
    } else {
      const since = Number(from);
      if (since < this.compactedThrough) {
        this.writeEvent(watcher, 'ERROR', statuses.expired(`too old resource version: ${since} (${this.compactedThrough})`));
        res.end();
        return;
      }
      for (const entry of this.history) if (entry.rv > since && entry.kind === target.kind) this.deliver(watcher, entry);
    }
    this.watchers.add(watcher);
    res.on('close', () => this.endWatch(watcher));
    const timeoutSeconds = Number(query.get('timeoutSeconds') ?? '0');
    if (timeoutSeconds > 0) watcher.timers.push(setTimeout(() => this.endWatch(watcher), timeoutSeconds * 1000));
    if (query.get('allowWatchBookmarks') === 'true') watcher.timers.push(setInterval(() => this.bookmark(watcher), this.bookmarkIntervalMs));
  }

  private deliver(watcher: Watcher, entry: HistoryEntry): void {
    const now = watcher.matches(entry.object);
    if (entry.type !== 'MODIFIED') {
      if (now) this.writeEvent(watcher, entry.type, entry.object);
      return;
    }
    const before = entry.previous !== undefined && watcher.matches(entry.previous);
    if (now && before) this.writeEvent(watcher, 'MODIFIED', entry.object);
    else if (now) this.writeEvent(watcher, 'ADDED', entry.object);
    else if (before) this.writeEvent(watcher, 'DELETED', entry.object);
  }

  private bookmark(watcher: Watcher): void {
    this.writeEvent(watcher, 'BOOKMARK', { kind: watcher.kind.kind, apiVersion: apiVersion(watcher.kind), metadata: { resourceVersion: this.resourceVersion } });
  }

  private writeEvent(watcher: Watcher, type: string, object: unknown): void {
    if (!watcher.response.writableEnded) watcher.response.write(`${JSON.stringify({ type, object })}\n`);
  }

  private endWatch(watcher: Watcher): void {
    for (const timer of watcher.timers) clearTimeout(timer);
    this.watchers.delete(watcher);
    if (!watcher.response.writableEnded) watcher.response.end();
  }

  private record(entry: Omit<HistoryEntry, 'rv'>): void {
    const full = { ...entry, rv: this.revision };
    this.history.push(full);
    this.trimHistory();
    for (const watcher of this.watchers) if (watcher.kind === entry.kind) this.deliver(watcher, full);
  }

  private trimHistory(): void {
    while (this.history.length > this.historySize) this.compactedThrough = this.history.shift()!.rv;
  }

  // --- writes -------------------------------------------------------------------

  private create(target: Target, body: Json): Json {
    const { kind } = target;
    checkTypeMeta(kind, body);
    const meta: Json = isPlainObject(body.metadata) ? { ...body.metadata } : {};
    if (kind.namespaced) {
      if (target.namespace === undefined) throw new HttpError(statuses.methodNotAllowed('POST'));
      if (meta.namespace !== undefined && meta.namespace !== '' && meta.namespace !== target.namespace) {
        throw new HttpError(statuses.badRequest('the namespace of the provided object does not match the namespace sent on the request'));
      }
      meta.namespace = target.namespace;
    } else {
      delete meta.namespace;
    }
    if ((meta.name === undefined || meta.name === '') && typeof meta.generateName === 'string' && meta.generateName !== '') {
      meta.name = `${meta.generateName}${randomBytes(3).toString('hex').slice(0, 5)}`;
    }
    const name = typeof meta.name === 'string' ? meta.name : '';
    if (name === '') throw new HttpError(statuses.invalid(subject(kind), '', [requiredCause('metadata.name', 'Required value: name or generateName is required')]));
    validateMeta(kind, name, meta);
    if (meta.resourceVersion !== undefined && meta.resourceVersion !== '') {
      throw new HttpError(statuses.badRequest('resourceVersion should not be set on objects to be created'));
    }
    if (this.requireNamespaces && kind.namespaced && !this.namespaceExists(target.namespace!)) {
      throw new HttpError(statuses.notFound({ plural: 'namespaces', group: '', kind: 'Namespace' }, target.namespace!));
    }
    const objects = this.objects.get(kind)!;
    const k = key(target.namespace, name);
    if (objects.has(k)) throw new HttpError(statuses.alreadyExists(subject(kind), name));
    this.revision++;
    const object: Json = {
      ...body,
      apiVersion: apiVersion(kind),
      kind: kind.kind,
      metadata: {
        ...meta,
        uid: randomUUID(),
        resourceVersion: this.resourceVersion,
        generation: 1,
        creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      },
    };
    delete (object.metadata as Json).deletionTimestamp;
    if (kind.hasStatus) {
      if (kind.initialStatus === undefined) delete object.status;
      else object.status = structuredClone(kind.initialStatus);
    }
    objects.set(k, object);
    this.record({ kind, type: 'ADDED', object });
    return structuredClone(object);
  }

  private replace(target: Target, name: string, body: Json): Json {
    checkTypeMeta(target.kind, body);
    const meta = isPlainObject(body.metadata) ? body.metadata : {};
    if (meta.name !== undefined && meta.name !== name) {
      throw new HttpError(statuses.badRequest(`the name of the object (${text(meta.name)}) does not match the name on the URL (${name})`));
    }
    if (target.kind.namespaced && meta.namespace !== undefined && meta.namespace !== '' && meta.namespace !== target.namespace) {
      throw new HttpError(statuses.badRequest('the namespace of the provided object does not match the namespace sent on the request'));
    }
    const existing = this.existing(target, name);
    return this.commit(target, name, existing, body, target.subresource === 'status');
  }

  private patch(target: Target, name: string, contentType: string, raw: string, query: URLSearchParams, res: http.ServerResponse): void {
    const type = contentType.split(';')[0]!.trim();
    const statusOnly = target.subresource === 'status';
    const body = parseJson(raw);
    if (type === 'application/apply-patch+yaml') {
      if ((query.get('fieldManager') ?? '') === '') {
        throw new HttpError(statuses.invalid({ plural: 'patchoptions', group: 'meta.k8s.io', kind: 'PatchOptions' }, '',
          [requiredCause('fieldManager', 'Required value: is required for apply patch')]));
      }
      if (!isPlainObject(body)) throw new HttpError(statuses.badRequest('this fake API server accepts apply configurations as JSON only'));
      const current = this.objects.get(target.kind)!.get(key(target.namespace, name));
      if (current === undefined) {
        const created = this.create(target, { ...body, metadata: { ...(isPlainObject(body.metadata) ? body.metadata : {}), name } });
        return send(res, 201, created);
      }
      return send(res, 200, this.commit(target, name, structuredClone(current), mergePatch(current, body) as Json, statusOnly));
    }
    const existing = this.existing(target, name);
    let next: Json;
    if (type === 'application/merge-patch+json' || (type === 'application/strategic-merge-patch+json' && !target.kind.custom)) {
      if (!isPlainObject(body)) throw new HttpError(statuses.badRequest('a merge patch must be a JSON object'));
      next = mergePatch(existing, body) as Json;
    } else if (type === 'application/json-patch+json') {
      try {
        next = jsonPatch(existing, body);
      } catch (error) {
        throw new HttpError(statuses.invalid(subject(target.kind), name, [{ reason: 'FieldValueInvalid', message: (error as Error).message, field: 'patch' }]));
      }
    } else {
      throw new HttpError(statuses.unsupportedMediaType(type));
    }
    // A patch keeps the current version unless it names one (then it is a precondition).
    const patchedMeta = isPlainObject(next.metadata) ? next.metadata : {};
    if (patchedMeta.resourceVersion === undefined) patchedMeta.resourceVersion = (existing.metadata as Json).resourceVersion;
    send(res, 200, this.commit(target, name, existing, { ...next, metadata: patchedMeta }, statusOnly, true));
  }

  /** The one update path: preconditions, immutable fields, status separation, generation, no-op detection. */
  private commit(target: Target, name: string, existing: Json, candidate: Json, statusOnly: boolean, patched = false): Json {
    const { kind } = target;
    const s = subject(kind);
    const current = existing.metadata as Json;
    const proposed = isPlainObject(candidate.metadata) ? candidate.metadata : {};
    const rv = proposed.resourceVersion;
    if (rv === undefined || rv === '') {
      if (kind.custom && !patched) {
        throw new HttpError(statuses.invalid(s, name, [{ reason: 'FieldValueInvalid', message: 'Invalid value: 0x0: must be specified for an update', field: 'metadata.resourceVersion' }]));
      }
    } else if (rv !== current.resourceVersion) {
      throw new HttpError(statuses.conflict(s, name));
    }
    if (proposed.uid !== undefined && proposed.uid !== '' && proposed.uid !== current.uid) {
      throw new HttpError(statuses.preconditionFailed(s, name, `Precondition failed: UID in precondition: ${text(proposed.uid)}, UID in object meta: ${text(current.uid)}`));
    }
    let next: Json;
    if (statusOnly) {
      next = { ...existing, status: candidate.status };
      if (candidate.status === undefined) delete next.status;
    } else {
      validateMeta(kind, name, proposed);
      next = {
        ...candidate,
        apiVersion: apiVersion(kind),
        kind: kind.kind,
        metadata: {
          ...proposed,
          name,
          uid: current.uid,
          creationTimestamp: current.creationTimestamp,
          generation: current.generation,
          ...(current.deletionTimestamp === undefined ? {} : { deletionTimestamp: current.deletionTimestamp }),
        },
      };
      if (kind.namespaced) (next.metadata as Json).namespace = target.namespace;
      else delete (next.metadata as Json).namespace;
      if (kind.hasStatus) {
        if (existing.status === undefined) delete next.status;
        else next.status = existing.status;
      }
      if (!jsonEqual(withoutMetaAndStatus(next), withoutMetaAndStatus(existing))) {
        (next.metadata as Json).generation = Number(current.generation ?? 0) + 1;
      }
    }
    (next.metadata as Json).resourceVersion = current.resourceVersion;
    if (jsonEqual(next, existing)) return structuredClone(existing); // a no-op write changes nothing, not even the version
    this.revision++;
    (next.metadata as Json).resourceVersion = this.resourceVersion;
    const objects = this.objects.get(kind)!;
    const finalizers = (next.metadata as Json).finalizers;
    if ((next.metadata as Json).deletionTimestamp !== undefined && (!Array.isArray(finalizers) || finalizers.length === 0)) {
      objects.delete(key(target.namespace, name));
      this.record({ kind, type: 'DELETED', object: next });
    } else {
      objects.set(key(target.namespace, name), next);
      this.record({ kind, type: 'MODIFIED', object: next, previous: existing });
    }
    return structuredClone(next);
  }

  private remove(target: Target, name: string, options: Json): Json {
    const existing = this.existing(target, name);
    const meta = existing.metadata as Json;
    const s = subject(target.kind);
    const preconditions = isPlainObject(options.preconditions) ? options.preconditions : {};
    if (preconditions.resourceVersion !== undefined && preconditions.resourceVersion !== meta.resourceVersion) {
      throw new HttpError(statuses.preconditionFailed(s, name,
        `Precondition failed: ResourceVersion in precondition: ${text(preconditions.resourceVersion)}, ResourceVersion in object meta: ${text(meta.resourceVersion)}`));
    }
    if (preconditions.uid !== undefined && preconditions.uid !== meta.uid) {
      throw new HttpError(statuses.preconditionFailed(s, name, `Precondition failed: UID in precondition: ${text(preconditions.uid)}, UID in object meta: ${text(meta.uid)}`));
    }
    const finalizers = meta.finalizers;
    if (Array.isArray(finalizers) && finalizers.length > 0) {
      if (meta.deletionTimestamp !== undefined) return existing;
      return this.commit(target, name, existing, {
        ...existing, metadata: { ...meta, deletionTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z') },
      }, false, true);
    }
    this.revision++;
    const deleted = { ...existing, metadata: { ...meta, resourceVersion: this.resourceVersion } };
    this.objects.get(target.kind)!.delete(key(target.namespace, name));
    this.record({ kind: target.kind, type: 'DELETED', object: deleted });
    return structuredClone(deleted);
  }

  private namespaceExists(name: string): boolean {
    for (const [kind, objects] of this.objects) if (kind.kind === 'Namespace' && kind.group === '') return objects.has(name);
    return true;
  }
}

// --- helpers --------------------------------------------------------------------------

function defaultKinds(): FakeKind[] {
  return Object.values(RESOURCE_TYPES).filter((t) => t.kind !== 'GatewayClass').map((t) => ({
    kind: t.kind, group: t.group, version: t.version, plural: t.plural, namespaced: t.namespaced, hasStatus: t.hasStatus,
    ...(t.kind === 'Namespace' ? { initialStatus: { phase: 'Active' } } : {}),
    ...(t.kind === 'Pod' ? { initialStatus: { phase: 'Pending' } } : {}),
  }));
}

function subject(kind: FakeKind): StatusSubject {
  return { plural: kind.plural, group: kind.group, kind: kind.kind };
}

function key(namespace: string | undefined, name: string): string {
  return namespace === undefined ? name : `${namespace}/${name}`;
}

function withoutMetaAndStatus(object: Json): Json {
  const { metadata: _m, status: _s, ...rest } = object;
  return rest;
}

function send(res: http.ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** A JSON value as it reads in a message. */
function text(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value) ?? 'undefined';
}

function parseJson(raw: string): unknown {
  if (raw === '') return undefined;
  try {
    return JSON.parse(raw) as unknown;
  } catch (error) {
    throw new HttpError(statuses.badRequest(`error decoding body: ${(error as Error).message}`));
  }
}

function parseBody(raw: string): Json {
  const body = parseJson(raw);
  if (!isPlainObject(body)) throw new HttpError(statuses.badRequest('the body of the request must be a JSON object'));
  return body;
}

/** Missing kind/apiVersion default from the URL; a mismatch is a 400, as in kube-apiserver. */
function checkTypeMeta(kind: FakeKind, body: Json): void {
  if (body.apiVersion !== undefined && body.apiVersion !== apiVersion(kind)) {
    throw new HttpError(statuses.badRequest(`the API version in the data (${text(body.apiVersion)}) does not match the expected API version (${apiVersion(kind)})`));
  }
  if (body.kind !== undefined && body.kind !== kind.kind) {
    throw new HttpError(statuses.badRequest(`the kind in the data (${text(body.kind)}) does not match the expected kind (${kind.kind})`));
  }
}

function validateMeta(kind: FakeKind, name: string, meta: Json): void {
  const causes = [];
  if (name.length > 253 || !DNS_SUBDOMAIN.test(name)) {
    causes.push({
      reason: 'FieldValueInvalid', field: 'metadata.name',
      message: `Invalid value: "${name}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character`,
    });
  }
  const labels = isPlainObject(meta.labels) ? meta.labels : {};
  for (const [labelKey, value] of Object.entries(labels)) {
    if (typeof value !== 'string' || value.length > 63 || !LABEL_VALUE.test(value)) {
      causes.push({
        reason: 'FieldValueInvalid', field: `metadata.labels`,
        message: `Invalid value: "${String(value)}": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.' (label ${labelKey})`,
      });
    }
  }
  if (causes.length > 0) throw new HttpError(statuses.invalid(subject(kind), name, causes));
}
