// A read-through cache of one kind, fed by list + watch, for any Store. The
// loop is Kubernetes' reflector: list, watch from the list's version, apply
// events; when the watch fails (`gone` or anything else) relist after a
// backoff and emit synthetic add/update/delete events for whatever changed
// while it was not watching, so listeners see every difference exactly once.
// Cached objects are frozen: they are shared with every reader.
import { Backoff, silentLogger, systemClock, isAmbitError, type BackoffOptions, type Clock, type Logger, type TimerHandle } from '@ambit/core';
import { objectKey, type Kind, type KubeObject } from '../resources.js';
import type { Store, Watch, WatchEvent } from './store.js';

export type InformerEvent<T extends KubeObject = KubeObject> =
  | { type: 'add'; object: T }
  | { type: 'update'; object: T; old: T }
  | { type: 'delete'; object: T };

export type InformerListener<T extends KubeObject = KubeObject> = (event: InformerEvent<T>) => void;

export interface InformerOptions {
  /** Only this namespace (namespaced kinds). */
  namespace?: string;
  /** Only objects matching this label selector; one that stops matching is deleted from the cache. */
  labelSelector?: string;
  logger?: Logger;
  clock?: Clock;
  /** Delay between failed lists / watches. */
  backoff?: BackoffOptions;
}

export const DEFAULT_INFORMER_BACKOFF: BackoffOptions = { initialMs: 100, maxMs: 10_000 };

export class Informer<T extends KubeObject = KubeObject> {
  /** Resolves once the first list has been applied. */
  readonly synced: Promise<void>;
  /**
   * True once the first list has been applied; false if the informer was
   * stopped before that (synced then never resolves). For starters that must
   * not wait forever on an informer stopped early, e.g. on losing leadership.
   */
  readonly ready: Promise<boolean>;
  private readonly cache = new Map<string, T>();
  private readonly listeners = new Set<InformerListener<T>>();
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly backoff: Backoff;
  private markSynced: () => void = () => undefined;
  private markStoppedEarly: () => void = () => undefined;
  private isSynced = false;
  private started = false;
  private stopped = false;
  private watch: Watch | undefined;
  private retry: TimerHandle | undefined;
  /** Tells the handlers of a replaced watch that they are stale. */
  private watchGeneration = 0;
  private lastVersion: string | undefined;
  private listCount = 0;

  constructor(private readonly store: Store, readonly kind: Kind, private readonly options: InformerOptions = {}) {
    this.logger = (options.logger ?? silentLogger).child({ component: 'informer', kind });
    this.clock = options.clock ?? systemClock;
    this.backoff = new Backoff(options.backoff ?? DEFAULT_INFORMER_BACKOFF);
    this.synced = new Promise((resolve) => {
      this.markSynced = resolve;
    });
    const stoppedEarly = new Promise<boolean>((resolve) => {
      this.markStoppedEarly = () => resolve(false);
    });
    this.ready = Promise.race([this.synced.then(() => true), stoppedEarly]);
  }

  /** Starts listing and watching; returns this for chaining. */
  start(): this {
    if (this.started) return this;
    this.started = true;
    void this.relist();
    return this;
  }

  stop(): void {
    this.stopped = true;
    this.markStoppedEarly();
    this.watchGeneration++;
    this.watch?.close();
    this.watch = undefined;
    this.retry?.cancel();
    this.retry = undefined;
  }

  get hasSynced(): boolean {
    return this.isSynced;
  }

  /** The version of the last list or event applied. */
  get resourceVersion(): string | undefined {
    return this.lastVersion;
  }

  /** How many lists have been applied (the first one included). */
  get lists(): number {
    return this.listCount;
  }

  get(name: string, namespace?: string): T | undefined {
    return this.cache.get(namespace === undefined || namespace === '' ? name : `${namespace}/${name}`);
  }

  /** Cached objects, optionally of one namespace, in key order. */
  list(namespace?: string): T[] {
    const items = [...this.cache.values()].filter((object) => namespace === undefined || object.metadata.namespace === namespace);
    return items.sort((a, b) => (objectKey(a) < objectKey(b) ? -1 : 1));
  }

  get size(): number {
    return this.cache.size;
  }

  /** Calls `listener` for every change from now on; returns the unsubscribe function. */
  on(listener: InformerListener<T>): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  // --- the loop ------------------------------------------------------------------

  private async relist(): Promise<void> {
    this.retry = undefined;
    if (this.stopped) return;
    const { namespace, labelSelector } = this.options;
    let listed;
    try {
      listed = await this.store.list<T>(this.kind, {
        ...(namespace === undefined ? {} : { namespace }),
        ...(labelSelector === undefined ? {} : { labelSelector }),
      });
    } catch (error) {
      this.scheduleRelist(error, 'list failed');
      return;
    }
    if (this.stopped) return;
    this.listCount++;
    this.replace(listed.items);
    this.lastVersion = listed.resourceVersion;
    this.backoff.reset();
    if (!this.isSynced) {
      this.isSynced = true;
      this.markSynced();
      this.logger.debug({ objects: this.cache.size, resourceVersion: listed.resourceVersion }, 'synced');
    }
    this.startWatch(listed.resourceVersion);
  }

  private startWatch(resourceVersion: string): void {
    const generation = ++this.watchGeneration;
    const { namespace, labelSelector } = this.options;
    try {
      this.watch = this.store.watch<T>(this.kind, {
        resourceVersion,
        ...(namespace === undefined ? {} : { namespace }),
        ...(labelSelector === undefined ? {} : { labelSelector }),
      }, {
        onEvent: (event) => {
          if (generation === this.watchGeneration) this.apply(event);
        },
        onError: (error) => {
          if (generation !== this.watchGeneration) return;
          this.watch = undefined;
          this.scheduleRelist(error, 'watch ended');
        },
      });
    } catch (error) {
      this.scheduleRelist(error, 'watch failed');
    }
  }

  private scheduleRelist(error: unknown, what: string): void {
    if (this.stopped) return;
    this.watchGeneration++;
    this.watch?.close();
    this.watch = undefined;
    const delayMs = this.backoff.next();
    const fields = { err: error, delayMs, attempt: this.backoff.attempts };
    if (isAmbitError(error, 'gone')) this.logger.info(fields, `${what}: version gone, relisting`);
    else this.logger.warn(fields, `${what}, relisting after backoff`);
    this.retry?.cancel();
    this.retry = this.clock.schedule(delayMs, () => void this.relist());
  }

  // --- the cache -------------------------------------------------------------------

  private apply(event: WatchEvent<T>): void {
    const object = deepFreeze(event.object);
    const key = objectKey(object);
    const old = this.cache.get(key);
    if (object.metadata.resourceVersion !== undefined) this.lastVersion = object.metadata.resourceVersion;
    if (event.type === 'DELETED') {
      if (old === undefined) return;
      this.cache.delete(key);
      this.emit({ type: 'delete', object });
      return;
    }
    if (old !== undefined && old.metadata.resourceVersion === object.metadata.resourceVersion) return;
    this.cache.set(key, object);
    this.emit(old === undefined ? { type: 'add', object } : { type: 'update', object, old });
  }

  // A fresh list replaces the cache; listeners hear only what differs.
  private replace(items: T[]): void {
    const seen = new Set<string>();
    for (const item of items) {
      const object = deepFreeze(item);
      const key = objectKey(object);
      seen.add(key);
      const old = this.cache.get(key);
      if (old !== undefined && old.metadata.resourceVersion === object.metadata.resourceVersion) continue;
      this.cache.set(key, object);
      this.emit(old === undefined ? { type: 'add', object } : { type: 'update', object, old });
    }
    for (const [key, old] of [...this.cache]) {
      if (seen.has(key)) continue;
      this.cache.delete(key);
      this.emit({ type: 'delete', object: old });
    }
  }

  private emit(event: InformerEvent<T>): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (error) {
        this.logger.warn({ err: error, type: event.type, key: objectKey(event.object) }, 'informer listener threw');
      }
    }
  }
}

function deepFreeze<V>(value: V): V {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
