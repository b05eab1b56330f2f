// The embedded store: every object in memory for reads, one JSON file per
// object under the state directory for durability, Kubernetes semantics for
// writes. Layout:
//   <stateDir>/lock                               owner pid (see state-lock.ts)
//   <stateDir>/version                            highest resourceVersion handed out, reserved in blocks
//   <stateDir>/objects/<Kind>/<namespace>/<name>.json
//   <stateDir>/objects/<Kind>/<name>.json         (cluster-scoped)
// Files are replaced atomically (temp file + rename). Writes are serialised;
// each gets the next global resourceVersion, so versions only grow, across
// restarts too. Watch history lives in memory only: a watch from before the
// last start is `gone` and the watcher relists.
import { randomUUID } from 'node:crypto';
import { AmbitError, silentLogger, type Logger } from '@ambit/core';
import { RESOURCE_TYPES, isKind, objectKey, type Kind, type KubeObject } from '../resources.js';
import type { DeleteOptions, ListOptions, ListResult, Store, Watch, WatchHandlers, WatchOptions } from './store.js';
import { validateResource } from './manifest.js';
import { applyMergePatch, deepEqual, isPlainObject } from './merge-patch.js';
import { parseSelector } from './selector.js';
import { StateLock } from './state-lock.js';
import { StateFiles } from './state-files.js';
import { WatchHub, type StoredEvent } from './watch-hub.js';

export interface LocalStoreOptions {
  logger?: Logger;
  /** Changes kept in memory for resuming watches (default 10 000). */
  historySize?: number;
  /** Undelivered events per watch before it is dropped with `gone` (default 10 000). */
  watchQueueLimit?: number;
  /**
   * Refuse to create an object in a namespace that has no Namespace object,
   * as the API server does (`default` and the `kube-*` namespaces always
   * exist). Off by default: tests write objects without their Namespace.
   */
  requireNamespace?: boolean;
}

export const DEFAULT_HISTORY_SIZE = 10_000;
export const DEFAULT_WATCH_QUEUE_LIMIT = 10_000;
// Versions are reserved on disk this many at a time, so most writes touch one file.
const VERSION_BLOCK = 1000;
/** Namespaces Kubernetes refuses to delete. */
export const UNDELETABLE_NAMESPACES: readonly string[] = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];

export class LocalStore implements Store {
  readonly backend = 'local' as const;
  private readonly objects = new Map<Kind, Map<string, KubeObject>>();
  private readonly hub: WatchHub;
  private version: number;
  private reserved: number;
  private tail: Promise<unknown> = Promise.resolve();
  private closed = false;
  private readonly requireNamespace: boolean;

  private constructor(
    readonly stateDir: string,
    private readonly files: StateFiles,
    private readonly lock: StateLock,
    private readonly logger: Logger,
    startVersion: number,
    options: LocalStoreOptions,
  ) {
    this.version = startVersion;
    this.reserved = startVersion;
    this.requireNamespace = options.requireNamespace === true;
    for (const kind of Object.keys(RESOURCE_TYPES) as Kind[]) this.objects.set(kind, new Map());
    this.hub = new WatchHub(startVersion, {
      historySize: positive(options.historySize ?? DEFAULT_HISTORY_SIZE, 'historySize'),
      queueLimit: positive(options.watchQueueLimit ?? DEFAULT_WATCH_QUEUE_LIMIT, 'watchQueueLimit'),
      logger,
      name: `local store ${stateDir}`,
    });
  }

  /** Opens (creating if needed) and locks `stateDir`, loading every stored object. */
  static async open(stateDir: string, options: LocalStoreOptions = {}): Promise<LocalStore> {
    const logger = (options.logger ?? silentLogger).child({ component: 'local-store' });
    positive(options.historySize ?? DEFAULT_HISTORY_SIZE, 'historySize');
    positive(options.watchQueueLimit ?? DEFAULT_WATCH_QUEUE_LIMIT, 'watchQueueLimit');
    const files = new StateFiles(stateDir);
    await files.prepare();
    const lock = await StateLock.acquire(stateDir, logger);
    try {
      const loaded = await files.loadObjects(logger);
      const reserved = await files.readVersion();
      const highest = loaded.reduce((max, object) => Math.max(max, Number(object.metadata.resourceVersion ?? 0) || 0), 0);
      const store = new LocalStore(stateDir, files, lock, logger, Math.max(reserved, highest), options);
      for (const object of loaded) store.table(object.kind as Kind).set(objectKey(object), object);
      logger.info({ stateDir, objects: loaded.length, resourceVersion: store.version }, 'local store opened');
      return store;
    } catch (error) {
      await lock.release();
      throw error;
    }
  }

  get<T extends KubeObject = KubeObject>(kind: Kind, name: string, namespace?: string): Promise<T | undefined> {
    return settle(() => {
      this.assertOpen();
      const object = this.table(kind).get(keyOf(kind, name, namespace));
      return object === undefined ? undefined : structuredClone(object) as T;
    });
  }

  list<T extends KubeObject = KubeObject>(kind: Kind, options: ListOptions = {}): Promise<ListResult<T>> {
    return settle(() => {
      this.assertOpen();
      const selector = parseSelector(options.labelSelector);
      const items: T[] = [];
      for (const object of this.table(kind).values()) {
        if (options.namespace !== undefined && object.metadata.namespace !== options.namespace) continue;
        if (!selector.matches(object.metadata.labels)) continue;
        items.push(structuredClone(object) as T);
      }
      items.sort((a, b) => compareKeys(objectKey(a), objectKey(b)));
      return { items, resourceVersion: String(this.hub.version) };
    });
  }

  watch<T extends KubeObject = KubeObject>(kind: Kind, options: WatchOptions, handlers: WatchHandlers<T>): Watch {
    this.assertOpen();
    this.table(kind);
    const selector = parseSelector(options.labelSelector);
    const text = options.resourceVersion;
    // '' and '0' mean "from now, starting with the current state", as in Kubernetes.
    if (text === '' || text === '0') {
      const initial = [...this.table(kind).values()]
        .filter((object) => (options.namespace === undefined || object.metadata.namespace === options.namespace) && selector.matches(object.metadata.labels));
      return this.hub.watch({ kind, namespace: options.namespace, selector, fromVersion: this.hub.version, initial }, handlers);
    }
    const fromVersion = parseVersion(text);
    if (fromVersion === undefined) {
      throw new AmbitError('invalid-argument', `watch of ${kind}: resourceVersion "${text}" is not a version of the local store`, {
        hint: 'use the resourceVersion of a list or of an object from this store',
      });
    }
    return this.hub.watch({ kind, namespace: options.namespace, selector, fromVersion }, handlers);
  }

  create<T extends KubeObject>(object: T): Promise<T> {
    return this.exclusive(async () => {
      const candidate = this.prepare(object);
      const kind = candidate.kind as Kind;
      const key = objectKey(candidate);
      if (this.table(kind).has(key)) {
        throw new AmbitError('already-exists', `${kind} ${key} already exists`, { hint: 'update or patch it instead', details: { kind, key } });
      }
      const type = RESOURCE_TYPES[kind];
      const namespace = candidate.metadata.namespace;
      if (this.requireNamespace && type.namespaced && namespace !== undefined && !UNDELETABLE_NAMESPACES.includes(namespace) && !this.table('Namespace').has(namespace)) {
        throw new AmbitError('not-found', `namespace ${namespace} not found, so ${kind} ${key} cannot be created in it`, {
          hint: `create the Namespace first (kind: Namespace, before what goes in it), or use an existing one: ambit get namespaces`, details: { kind: 'Namespace', key: namespace },
        });
      }
      if (type.hasStatus) delete candidate.status;
      // The API server makes a namespace Active.
      if (kind === 'Namespace') candidate.status = { phase: 'Active' };
      const version = await this.nextVersion();
      const metadata = { ...candidate.metadata };
      delete metadata.deletionTimestamp;
      const created: KubeObject = {
        ...candidate,
        metadata: { ...metadata, uid: randomUUID(), resourceVersion: String(version), generation: 1, creationTimestamp: timestamp() },
      };
      await this.commit(version, 'ADDED', created, undefined);
      return structuredClone(created) as T;
    });
  }

  update<T extends KubeObject>(object: T): Promise<T> {
    return this.exclusive(async () => {
      const candidate = this.prepare(object);
      const existing = this.existing(candidate.kind as Kind, candidate.metadata.name, candidate.metadata.namespace);
      checkVersion(existing, candidate.metadata.resourceVersion, 'update');
      if (candidate.metadata.uid !== undefined && candidate.metadata.uid !== existing.metadata.uid) {
        throw new AmbitError('conflict', `${describeObject(existing)}: uid ${candidate.metadata.uid} does not match ${existing.metadata.uid ?? ''}`, {
          hint: 'the object was deleted and created again; read it again',
        });
      }
      return await this.replace(existing, candidate) as T;
    });
  }

  patch<T extends KubeObject = KubeObject>(kind: Kind, name: string, namespace: string | undefined, patch: Record<string, unknown>): Promise<T> {
    return this.exclusive(async () => {
      if (!isPlainObject(patch)) throw new AmbitError('invalid-argument', `patch of ${kind} ${name}: expected a JSON object`);
      const existing = this.existing(kind, name, namespace);
      const patchMetadata = isPlainObject(patch.metadata) ? patch.metadata : undefined;
      const precondition = patchMetadata?.resourceVersion;
      if (typeof precondition === 'string') checkVersion(existing, precondition, 'patch');
      else if (precondition !== undefined && precondition !== null) throw invalid(existing, 'metadata.resourceVersion', 'expected a string');
      // Status belongs to updateStatus; identity fields are the server's.
      const { status: _status, ...body } = patch;
      const { status: existingStatus, ...base } = existing;
      const merged = applyMergePatch(base, body) as KubeObject;
      if (!isPlainObject(merged.metadata)) throw invalid(existing, 'metadata', 'a patch cannot remove metadata');
      for (const field of ['kind', 'apiVersion'] as const) {
        if (merged[field] !== existing[field]) throw invalid(existing, field, `a patch cannot change ${field}`);
      }
      for (const field of ['name', 'namespace'] as const) {
        if (merged.metadata[field] !== existing.metadata[field]) throw invalid(existing, `metadata.${field}`, `a patch cannot change metadata.${field}`);
      }
      const candidate = validate({ ...merged, ...(existingStatus === undefined ? {} : { status: existingStatus }) });
      return await this.replace(existing, candidate) as T;
    });
  }

  updateStatus<T extends KubeObject = KubeObject>(
    kind: Kind, name: string, namespace: string | undefined, status: unknown, resourceVersion?: string,
  ): Promise<T> {
    return this.exclusive(async () => {
      const existing = this.existing(kind, name, namespace);
      if (!RESOURCE_TYPES[kind].hasStatus) throw invalid(existing, 'status', `${kind} has no status`);
      checkVersion(existing, resourceVersion, 'status update');
      const next: KubeObject = { ...existing };
      if (status === undefined || status === null) delete next.status;
      else next.status = structuredClone(status);
      validate(structuredClone(next));
      if (deepEqual(next.status, existing.status)) return structuredClone(existing) as T;
      const version = await this.nextVersion();
      next.metadata = { ...existing.metadata, resourceVersion: String(version) };
      await this.commit(version, 'MODIFIED', next, existing);
      return structuredClone(next) as T;
    });
  }

  /**
   * Deletes the object. A Namespace goes with everything in it, as Kubernetes' namespace controller
   * removes a deleted namespace's contents (here at once: each object's DELETED event, then the
   * namespace's); the namespaces Kubernetes keeps cannot be deleted.
   */
  delete(kind: Kind, name: string, namespace?: string, options: DeleteOptions = {}): Promise<void> {
    return this.exclusive(async () => {
      const existing = this.existing(kind, name, namespace);
      checkVersion(existing, options.resourceVersion, 'delete');
      if (kind === 'Namespace') {
        if (UNDELETABLE_NAMESPACES.includes(name)) {
          throw new AmbitError('invalid-argument', `namespace ${name} cannot be deleted`, { hint: `Kubernetes keeps ${UNDELETABLE_NAMESPACES.join(', ')}; delete what is in it instead` });
        }
        for (const [contentKind, type] of Object.entries(RESOURCE_TYPES) as [Kind, (typeof RESOURCE_TYPES)[Kind]][]) {
          if (!type.namespaced) continue;
          for (const object of [...this.table(contentKind).values()]) {
            if (object.metadata.namespace === name) await this.remove(object);
          }
        }
      }
      await this.remove(existing);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.tail.catch(() => undefined);
    this.hub.closeAll(new AmbitError('unavailable', `local store ${this.stateDir} closed`));
    await this.lock.release();
    this.logger.info({ stateDir: this.stateDir, resourceVersion: this.hub.version }, 'local store closed');
  }

  // --- writes -------------------------------------------------------------------

  // Writes run one at a time so versions, files and events agree in order.
  private exclusive<T>(operation: () => Promise<T>): Promise<T> {
    const run = this.tail.then(() => {
      this.assertOpen();
      return operation();
    });
    this.tail = run.catch(() => undefined);
    return run;
  }

  private async remove(existing: KubeObject): Promise<void> {
    const version = await this.nextVersion();
    const last: KubeObject = { ...existing, metadata: { ...existing.metadata, resourceVersion: String(version) } };
    await this.commit(version, 'DELETED', last, existing);
  }

  // A validated deep copy of a caller's object.
  private prepare(object: KubeObject): KubeObject {
    this.assertOpen();
    const candidate = validate(structuredClone(object));
    this.table(candidate.kind as Kind);
    return candidate;
  }

  private existing(kind: Kind, name: string, namespace: string | undefined): KubeObject {
    const key = keyOf(kind, name, namespace);
    const object = this.table(kind).get(key);
    if (object === undefined) throw new AmbitError('not-found', `${kind} ${key} not found`, { details: { kind, key } });
    return object;
  }

  // update and patch: the candidate's metadata and spec, the server's identity fields and status.
  private async replace(existing: KubeObject, candidate: KubeObject): Promise<KubeObject> {
    const kind = existing.kind as Kind;
    const next: KubeObject = { ...candidate };
    if (RESOURCE_TYPES[kind].hasStatus) {
      if (existing.status === undefined) delete next.status;
      else next.status = existing.status;
    }
    const specChanged = !deepEqual(body(existing), body(next));
    next.metadata = {
      ...candidate.metadata,
      uid: existing.metadata.uid,
      creationTimestamp: existing.metadata.creationTimestamp,
      generation: (existing.metadata.generation ?? 1) + (specChanged ? 1 : 0),
      resourceVersion: existing.metadata.resourceVersion,
    };
    if (existing.metadata.deletionTimestamp === undefined) delete next.metadata.deletionTimestamp;
    else next.metadata.deletionTimestamp = existing.metadata.deletionTimestamp;
    if (deepEqual(next, existing)) return structuredClone(existing);
    const version = await this.nextVersion();
    next.metadata.resourceVersion = String(version);
    await this.commit(version, 'MODIFIED', next, existing);
    return structuredClone(next);
  }

  private async commit(version: number, type: StoredEvent['type'], object: KubeObject, previous: KubeObject | undefined): Promise<void> {
    const kind = object.kind as Kind;
    try {
      if (type === 'DELETED') await this.files.removeObject(object);
      else await this.files.writeObject(object);
    } catch (error) {
      throw new AmbitError('unavailable', `could not write ${describeObject(object)} to ${this.files.fileOf(object)}: ${(error as Error).message}`, {
        cause: error,
        hint: 'check that the state directory is writable and the disk is not full',
      });
    }
    const table = this.table(kind);
    if (type === 'DELETED') table.delete(objectKey(object));
    else table.set(objectKey(object), object);
    this.hub.publish({ version, kind, type, object, ...(previous === undefined || type !== 'MODIFIED' ? {} : { previous }) });
    this.logger.debug({ kind, key: objectKey(object), type, resourceVersion: version }, 'stored');
  }

  private async nextVersion(): Promise<number> {
    const next = this.version + 1;
    if (next > this.reserved) {
      const reserved = next + VERSION_BLOCK - 1;
      await this.files.writeVersion(reserved);
      this.reserved = reserved;
    }
    this.version = next;
    return next;
  }

  // --- helpers -------------------------------------------------------------------

  private table(kind: Kind): Map<string, KubeObject> {
    const table = this.objects.get(kind);
    if (table === undefined) throw new AmbitError('invalid-argument', `unknown kind "${String(kind)}" (known: ${Object.keys(RESOURCE_TYPES).join(', ')})`);
    return table;
  }

  private assertOpen(): void {
    if (this.closed) throw new AmbitError('unavailable', `local store ${this.stateDir} is closed`);
  }
}

// Runs a synchronous read as a promise, so a thrown error becomes a rejection.
function settle<T>(read: () => T): Promise<T> {
  try {
    return Promise.resolve(read());
  } catch (error) {
    return Promise.reject(error instanceof Error ? error : new Error(String(error)));
  }
}

function validate(object: unknown): KubeObject {
  return validateResource(object);
}

// The key of `name` in `namespace`; the namespace is required for namespaced kinds and ignored otherwise.
function keyOf(kind: Kind, name: string, namespace: string | undefined): string {
  if (!isKind(kind)) throw new AmbitError('invalid-argument', `unknown kind "${String(kind)}" (known: ${Object.keys(RESOURCE_TYPES).join(', ')})`);
  if (!RESOURCE_TYPES[kind].namespaced) return name;
  if (namespace === undefined || namespace === '') {
    throw new AmbitError('invalid-argument', `${kind} ${name}: a namespace is required (${kind} is namespaced)`);
  }
  return `${namespace}/${name}`;
}

function checkVersion(existing: KubeObject, expected: string | undefined, operation: string): void {
  if (expected === undefined || expected === '' || expected === existing.metadata.resourceVersion) return;
  throw new AmbitError('conflict', `${operation} of ${describeObject(existing)}: resourceVersion ${expected} is stale (current ${existing.metadata.resourceVersion ?? '?'})`, {
    hint: 'read the object again, reapply the change and retry',
    details: { expected, current: existing.metadata.resourceVersion },
  });
}

function invalid(object: KubeObject, path: string, reason: string): AmbitError {
  return new AmbitError('invalid-resource', `${describeObject(object)}: ${path}: ${reason}`, { details: { path } });
}

// Everything generation tracks: all but metadata and status.
function body(object: KubeObject): Record<string, unknown> {
  const { metadata: _metadata, status: _status, ...rest } = object;
  return rest;
}

function describeObject(object: KubeObject): string {
  return `${object.kind} ${objectKey(object)}`;
}

function timestamp(): string {
  // Kubernetes timestamps have second precision.
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function parseVersion(text: string): number | undefined {
  if (!/^\d{1,15}$/.test(text)) return undefined;
  return Number(text);
}

function positive(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new AmbitError('invalid-argument', `local store option ${name} must be a whole number of at least 1, got ${value}`);
  }
  return value;
}

function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
